// Incremental saves (format 1.3 segments, spec: issue 14): a saved file grows by segments that
// carry what changed since the last committed save point. The oracle is the full writer, tested
// elsewhere: for any history, save(load(base + segments)) == save(idx) byte for byte, and the loaded
// index answers, stores metadata and keys exactly as the original does. Random interleavings of every
// mutation over every metric and store, segment sizes, uncommitted segments, every truncation and
// bit flip of a multi-segment file (plain and pushed through chunked_reader in pieces), segments
// on the wrong base, and what forces a full save.
#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <type_traits>

#include "test_util.hpp"

namespace pv = pocketvec;

namespace {

using bytes = std::vector<std::uint8_t>;
using pvtest::error_of;
using pvtest::find_section_in;
using pvtest::fix_header_crc;
using pvtest::fix_section_crc;
using pvtest::rd32;
using pvtest::wr32;

/// The store under test: f32, SQ8 (trained early, or re-ranking), or SQ8 that never trains.
enum class store_kind { f32, sq8, sq8_rerank, sq8_untrained };

const char* store_name(store_kind s) {
  switch (s) {
    case store_kind::f32: return "f32";
    case store_kind::sq8: return "sq8";
    case store_kind::sq8_rerank: return "sq8-rerank";
    case store_kind::sq8_untrained: return "sq8-untrained";
  }
  return "?";
}

bool trains(store_kind s) { return s == store_kind::sq8 || s == store_kind::sq8_rerank; }

pv::index_params params_for(pv::metric m, store_kind s, std::size_t dim, std::uint64_t seed,
                            std::size_t training = 48) {
  pv::index_params p;
  p.dim = dim;
  p.metric_kind = m;
  p.quant = s == store_kind::f32 ? pv::quantization::none : pv::quantization::sq8;
  p.sq8_rerank = s == store_kind::sq8_rerank;
  p.sq8_training_size = s == store_kind::sq8_untrained ? 1000000 : training;
  p.m = 5;
  p.ef_construction = 24;
  p.ef_search = 32;
  p.compact_threshold = 0;
  p.seed = seed;
  return p;
}

/// Offset of the first byte where a and b differ (the shorter length when one is a prefix).
std::size_t first_diff(const bytes& a, const bytes& b) {
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i)
    if (a[i] != b[i]) return i;
  return n;
}

/// REQUIRE(a == b) without printing two whole files when they differ.
#define REQUIRE_SAME_BYTES(a, b)                                                                \
  do {                                                                                          \
    const bytes& pv_a_ = (a);                                                                   \
    const bytes& pv_b_ = (b);                                                                   \
    INFO(#a " has " << pv_a_.size() << " bytes, " #b " has " << pv_b_.size()                    \
                    << ", first difference at " << first_diff(pv_a_, pv_b_));                   \
    const bool same_bytes_ = pv_a_ == pv_b_;                                                    \
    REQUIRE(same_bytes_);                                                                       \
  } while (0)

/// CHECK(a == b), the same way.
#define CHECK_SAME_BYTES(a, b)                                                                  \
  do {                                                                                          \
    const bytes& pv_a_ = (a);                                                                   \
    const bytes& pv_b_ = (b);                                                                   \
    INFO(#a " has " << pv_a_.size() << " bytes, " #b " has " << pv_b_.size()                    \
                    << ", first difference at " << first_diff(pv_a_, pv_b_));                   \
    const bool same_bytes_ = pv_a_ == pv_b_;                                                    \
    CHECK(same_bytes_);                                                                         \
  } while (0)

/// Seeded choices.
struct chooser {
  pvtest::rng r;
  explicit chooser(std::uint64_t seed) : r(seed) {}
  std::size_t below(std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(r.next() % n); }
  bool one_in(std::size_t n) { return below(n) == 0; }
  std::size_t chunk() {  // a chunk size for chunked_writer / a piece size for chunked_reader
    switch (below(6)) {
      case 0: return 1 + below(8);
      case 1: return 7;
      case 2: return 97;
      case 3: return 1 + below(5000);
      case 4: return 4096;
      default: return std::size_t{1} << 20;
    }
  }
};

/// Hard data: tight clusters, uniform noise over several scales, exact duplicates of earlier
/// vectors, near-duplicates (a few ulps or 1e-5 apart), and scaled copies (one direction under
/// cosine, different lengths under ip).
struct data_source {
  chooser c;
  std::size_t dim;
  std::vector<float> centres, seen;
  data_source(std::uint64_t seed, std::size_t d) : c(seed), dim(d) {
    centres.resize(4 * dim);
    for (float& x : centres) x = c.r.normal();
  }
  std::vector<float> next() {
    std::vector<float> v(dim);
    const std::size_t have = seen.size() / dim;
    const std::size_t kind = c.below(12);
    if (have > 0 && kind == 0) {  // exact duplicate
      const std::size_t i = c.below(have);
      std::copy_n(seen.begin() + static_cast<std::ptrdiff_t>(i * dim), dim, v.begin());
    } else if (have > 0 && kind <= 2) {  // near duplicate
      const std::size_t i = c.below(have);
      for (std::size_t d = 0; d < dim; ++d) {
        const float x = seen[i * dim + d];
        v[d] = kind == 1 ? std::nextafter(x, c.one_in(2) ? 1e30f : -1e30f) : x + 1e-5f * c.r.normal();
      }
    } else if (have > 0 && kind == 3) {  // scaled copy
      const std::size_t i = c.below(have);
      const float s = c.one_in(2) ? 2.0f : 0.25f;
      for (std::size_t d = 0; d < dim; ++d) v[d] = s * seen[i * dim + d];
    } else if (kind <= 5) {  // uniform over a random scale
      const float scale = std::pow(10.0f, c.r.uniform() * 2.0f - 1.0f);
      for (float& x : v) x = scale * (2.0f * c.r.uniform() - 1.0f);
    } else {  // a tight cluster
      const std::size_t k = c.below(4);
      for (std::size_t d = 0; d < dim; ++d) v[d] = centres[k * dim + d] + 0.05f * c.r.normal();
    }
    bool zero = true;
    for (float x : v) zero = zero && x == 0.0f;
    if (zero) v[0] = 1.0f;  // cosine takes no zero vector
    seen.insert(seen.end(), v.begin(), v.end());
    return v;
  }
  std::vector<float> rows(std::size_t n) {
    std::vector<float> out;
    for (std::size_t i = 0; i < n; ++i) {
      const auto v = next();
      out.insert(out.end(), v.begin(), v.end());
    }
    return out;
  }
};

/// A record with fields of fixed kinds, each present on some rows.
pv::metadata random_record(chooser& c) {
  static const char* folders[] = {"work", "home", "archive", ""};
  static const char* tags[] = {"a", "draft", "contract", "zz"};
  pv::metadata md;
  if (!c.one_in(4)) md.push_back({"folder", std::string(folders[c.below(4)])});
  if (!c.one_in(3)) md.push_back({"year", 1990.0 + static_cast<double>(c.below(40)) + 0.5 * static_cast<double>(c.below(2))});
  if (c.one_in(3)) md.push_back({"flag", c.one_in(2)});
  if (c.one_in(4)) {
    pv::string_list l;
    for (std::size_t t = c.below(4); t > 0; --t) l.push_back(tags[c.below(4)]);
    md.push_back({"tags", l});
  }
  return md;
}

/// All bytes of a writer, in its chunks (each at most `chunk` long).
bytes drain(pv::chunked_writer& w, std::size_t chunk) {
  bytes out, piece;
  while (w.next(piece)) {
    REQUIRE(piece.size() <= chunk);
    REQUIRE(!piece.empty());
    out.insert(out.end(), piece.begin(), piece.end());
  }
  REQUIRE(out.size() == w.total_bytes());
  return out;
}

struct written {
  bytes data;
  pv::save_point point;
};

/// One save of `idx` in `mode` through chunked_writer; the free save() gives the same bytes and point.
written write(const pv::index& idx, pv::save_mode mode, std::size_t chunk) {
  pv::chunked_writer w(idx, chunk, mode);
  written out{drain(w, chunk), w.point()};
  REQUIRE(out.point.valid);
  pv::save_point again;
  const bytes whole = pv::save(idx, mode, &again);
  REQUIRE_SAME_BYTES(whole, out.data);
  REQUIRE(again.digest == out.point.digest);
  REQUIRE(again.count == out.point.count);
  if (mode == pv::save_mode::full) REQUIRE_SAME_BYTES(out.data, idx.save());
  return out;
}

/// Loads `file` by feeding chunked_reader pieces of `piece` bytes (0: random sizes from `c`).
pv::index load_pieces(const bytes& file, std::size_t piece, chooser* c = nullptr) {
  pv::chunked_reader r;
  std::size_t at = 0;
  while (at < file.size()) {
    const std::size_t n = std::min(file.size() - at, piece ? piece : c->chunk());
    r.feed(std::span<const std::uint8_t>(file.data() + at, n));
    at += n;
  }
  return r.finish();
}

/// A saved copy of an index: the bytes of "the file" and how it is kept up to date.
struct saved_file {
  bytes file;
  std::vector<std::size_t> parts;  // end offset of the base and of each segment
  std::size_t fulls = 0, segments = 0;
};

/// Stores what changed: a full save (replacing the file) when the index is not appendable, else an
/// append segment; then tells the index the bytes are stored.
void store(pv::index& idx, saved_file& f, chooser& c) {
  const bool append = idx.appendable();
  const std::size_t chunk = c.chunk();
  const written w = write(idx, append ? pv::save_mode::append : pv::save_mode::full, chunk);
  if (append) {
    f.file.insert(f.file.end(), w.data.begin(), w.data.end());
    ++f.segments;
  } else {
    f.file = w.data;
    f.parts.clear();
    ++f.fulls;
  }
  f.parts.push_back(f.file.size());
  idx.saved(w.point);
  REQUIRE(idx.appendable());
  CHECK(idx.last_save().digest == w.point.digest);
  CHECK(idx.last_save().count == w.point.count);
  CHECK(idx.last_save().valid);
}

/// Ids below id_bound() that are live.
std::vector<pv::id_t> live_ids(const pv::index& idx) {
  std::vector<pv::id_t> out;
  for (pv::id_t id = 0; id < idx.id_bound(); ++id)
    if (idx.contains(id)) out.push_back(id);
  return out;
}

/// `back` holds the same index as `idx`: the full writer's bytes, searches (ids and distances,
/// plain and filtered), and the metadata and key of every live id.
void require_same_index(pv::index& back, pv::index& idx, const std::vector<float>& queries) {
  REQUIRE_SAME_BYTES(back.save(), idx.save());
  REQUIRE(back.size() == idx.size());
  REQUIRE(back.id_bound() == idx.id_bound());
  for (pv::id_t id = 0; id < idx.id_bound(); ++id) {
    CAPTURE(id);
    REQUIRE(back.contains(id) == idx.contains(id));
    if (!idx.contains(id)) continue;
    REQUIRE(back.get_metadata(id) == idx.get_metadata(id));
    const auto k = idx.key_of(id), kb = back.key_of(id);
    REQUIRE(k.has_value() == kb.has_value());
    if (k) REQUIRE(std::string(*k) == std::string(*kb));
  }
  if (idx.size() == 0) return;
  const std::size_t dim = idx.dim();
  const pv::filter_expr f = pv::where::eq("folder", std::string("work")) || pv::where::gte("year", 2010.0);
  for (std::size_t i = 0; i + dim <= queries.size(); i += dim) {
    std::span<const float> q(queries.data() + i, dim);
    REQUIRE(back.search(q, 10) == idx.search(q, 10));
    REQUIRE(back.search(q, 10, f) == idx.search(q, 10, f));
  }
}

/// The oracle on a stored file: it loads (whole, and through chunked_reader in pieces) into the
/// index `idx` is, appendable.
void check_file(pv::index& idx, const saved_file& f, const std::vector<float>& queries, chooser& c) {
  auto back = pv::index::load(f.file);
  CHECK(back.appendable());
  CHECK(back.last_save().valid);
  require_same_index(back, idx, queries);
  auto pieces = load_pieces(f.file, 0, &c);
  REQUIRE_SAME_BYTES(pieces.save(), idx.save());
  CHECK(pieces.appendable());
}

/// Queries: stored rows (ties with duplicates), and new hard ones.
std::vector<float> make_queries(data_source& src, std::size_t n) {
  data_source q(src.c.r.next(), src.dim);
  q.seen = src.seen;
  return q.rows(n);
}

// ---- the random interleavings ----

/// One copy of the index under test with its file. Every operation is applied to every lane; lanes
/// after the first start from a load of the first lane's file, so they test appends to a file
/// loaded from bytes.
struct lane {
  pv::index idx;
  saved_file f;
};

struct run_stats {
  std::size_t fulls = 0, segments = 0, lanes_loaded = 0, rollbacks_past_point = 0, ops = 0;
};

class interleaving {
 public:
  interleaving(pv::metric m, store_kind s, std::size_t dim, std::uint64_t seed)
      : kind_(s), c_(seed * 7919 + 13), src_(seed, dim) {
    lanes_.push_back({pv::index(params_for(m, s, dim, seed)), {}});
  }

  void run(std::size_t groups) {
    apply_insert_batch(20 + c_.below(20), false);  // the base: no keys or metadata (a 1.1 file)
    save_all();
    for (std::size_t g = 0; g < groups; ++g) {
      CAPTURE(g);
      const std::size_t ops = 1 + c_.below(6);
      for (std::size_t i = 0; i < ops; ++i) one_op();
      save_all();
      if (c_.one_in(5)) add_loaded_lane();
    }
    stats_.fulls = lanes_[0].f.fulls;
    stats_.segments = lanes_[0].f.segments;
  }
  const run_stats& stats() const { return stats_; }

 private:
  pv::index& first() { return lanes_[0].idx; }

  /// Runs `fn` on every lane's index and requires the same result from each.
  template <class F>
  void on_all(F&& fn) {
    ++stats_.ops;
    using R = decltype(fn(first()));
    if constexpr (std::is_void_v<R>) {
      for (auto& l : lanes_) fn(l.idx);
    } else {
      const R want = fn(first());
      for (std::size_t i = 1; i < lanes_.size(); ++i) REQUIRE(fn(lanes_[i].idx) == want);
    }
  }

  std::optional<pv::id_t> random_live() {
    const auto live = live_ids(first());
    if (live.empty()) return std::nullopt;
    return live[c_.below(live.size())];
  }
  std::string fresh_key() { return "key-" + std::to_string(keys_++); }

  void apply_insert_batch(std::size_t n, bool records) {
    const auto rows = src_.rows(n);
    if (!records) {
      on_all([&](pv::index& x) { return x.insert_batch(rows); });
      return;
    }
    std::vector<std::string> keys;
    std::vector<pv::metadata> mds;
    for (std::size_t i = 0; i < n; ++i) {
      keys.push_back(fresh_key());
      mds.push_back(random_record(c_));
    }
    const std::vector<std::string_view> views(keys.begin(), keys.end());
    const bool with_keys = !c_.one_in(3);
    on_all([&](pv::index& x) {
      return x.insert_batch(rows, with_keys ? std::span<const std::string_view>(views) : std::span<const std::string_view>(),
                            mds);
    });
  }

  /// An insert of one of the kinds a batch takes (no upsert by a live key).
  void apply_insert() {
    const auto v = src_.next();
    switch (c_.below(3)) {
      case 0: on_all([&](pv::index& x) { return x.insert(v); }); break;
      case 1: {
        const auto md = random_record(c_);
        on_all([&](pv::index& x) { return x.insert(v, md); });
        break;
      }
      default: {
        const std::string key = fresh_key();
        const auto md = c_.one_in(3) ? pv::metadata{} : random_record(c_);
        on_all([&](pv::index& x) { return x.insert(v, key, md); });
      }
    }
  }

  void one_op() {
    const std::size_t what = c_.below(100);
    if (what < 25) return apply_insert();
    if (what < 35) return apply_insert_batch(2 + c_.below(12), c_.one_in(2));
    if (what < 42) {  // insert under a live key: an upsert of its vector and record
      const auto id = random_live();
      if (!id) return apply_insert();
      const auto k = first().key_of(*id);
      if (!k) return apply_insert();
      const std::string key(*k);
      const auto v = src_.next();
      const auto md = random_record(c_);
      on_all([&](pv::index& x) { return x.insert(v, key, md); });
      return;
    }
    if (what < 55) {  // upsert: a live id mostly, else a deleted or never used one
      std::optional<pv::id_t> id = random_live();
      if (!id || c_.one_in(4)) id = static_cast<pv::id_t>(c_.below(first().id_bound() + 4));
      const auto v = src_.next();
      if (c_.one_in(2)) {
        on_all([&](pv::index& x) { x.upsert(*id, v); });
      } else {
        const auto md = random_record(c_);
        on_all([&](pv::index& x) { x.upsert(*id, v, md); });
      }
      return;
    }
    if (what < 70) {
      const auto id = random_live();
      if (id) on_all([&](pv::index& x) { x.erase(*id); });
      return;
    }
    if (what < 80) {
      const auto id = random_live();
      const auto md = c_.one_in(6) ? pv::metadata{} : random_record(c_);
      if (id) on_all([&](pv::index& x) { x.set_metadata(*id, md); });
      return;
    }
    if (what < 92) return batch();
    if (what < 96) return on_all([](pv::index& x) { x.compact(); });
    if (what < 98) return on_all([](pv::index& x) { x.rebuild(); });
    if (trains(kind_)) {
      const auto sample = src_.rows(10 + c_.below(30));
      on_all([&](pv::index& x) { x.train(sample); });
    }
  }

  /// begin_batch, inserts, sometimes a save (and saved()) in the middle, then commit or rollback.
  void batch() {
    on_all([](pv::index& x) { x.begin_batch(); });
    std::size_t before_save = 0;
    bool saved_inside = false;
    for (std::size_t i = 1 + c_.below(4); i > 0; --i) {
      if (c_.one_in(2)) apply_insert();
      else apply_insert_batch(1 + c_.below(6), c_.one_in(2));
      if (!saved_inside) ++before_save;
      if (!saved_inside && c_.one_in(4)) {
        save_all();
        saved_inside = true;
      }
    }
    if (c_.one_in(2)) {
      on_all([](pv::index& x) { x.commit_batch(); });
    } else {
      on_all([](pv::index& x) { x.rollback_batch(); });
      if (saved_inside && before_save > 0) {  // rolled back past the save point
        ++stats_.rollbacks_past_point;
        for (auto& l : lanes_) REQUIRE_FALSE(l.idx.appendable());
        for (auto& l : lanes_)
          REQUIRE(error_of([&] { pv::chunked_writer w(l.idx, 64, pv::save_mode::append); }).first ==
                  pv::errc::invalid_argument);
      }
    }
  }

  void save_all() {
    for (auto& l : lanes_) {
      store(l.idx, l.f, c_);
      check_file(l.idx, l.f, queries(), c_);
    }
    // Lanes hold the same index with the same save point: their files are the same bytes.
    for (std::size_t i = 1; i < lanes_.size(); ++i) {
      REQUIRE_SAME_BYTES(lanes_[i].idx.save(), first().save());
      CHECK_SAME_BYTES(lanes_[i].f.file, lanes_[0].f.file);
    }
  }

  /// A new lane from lanes_[0]'s file, loaded whole or in pieces (replacing the last when 3 exist).
  void add_loaded_lane() {
    const bytes& file = lanes_[0].f.file;
    lane l{c_.one_in(2) ? pv::index::load(file) : load_pieces(file, 0, &c_), lanes_[0].f};
    REQUIRE(l.idx.appendable());
    ++stats_.lanes_loaded;
    if (lanes_.size() == 3) lanes_.pop_back();
    lanes_.push_back(std::move(l));
  }

  const std::vector<float>& queries() {
    if (queries_.empty() || c_.one_in(4)) queries_ = make_queries(src_, 4);
    return queries_;
  }

  store_kind kind_;
  chooser c_;
  data_source src_;
  std::vector<lane> lanes_;
  std::vector<float> queries_;
  std::size_t keys_ = 0;
  run_stats stats_;
};

/// A small index with records, saved, then three segments: inserts and an erase; an upsert, a
/// keyed insert, set_metadata; a batch. The file and the full image of each of its four states.
struct multi_part {
  bytes file;
  std::vector<std::size_t> ends;  // end of the base, of segment 1, 2, 3
  std::vector<bytes> images;      // save() of the state each prefix ends in
};

multi_part build_multi_part(pv::metric m, store_kind s) {
  chooser c(5);
  data_source src(11, 4);
  pv::index idx(params_for(m, s, 4, 3, 12));
  multi_part out;
  saved_file f;
  auto commit = [&] {
    store(idx, f, c);
    out.images.push_back(idx.save());
  };
  for (int i = 0; i < 14; ++i) idx.insert(src.next(), "b" + std::to_string(i), random_record(c));
  commit();
  REQUIRE(f.fulls == 1);
  idx.insert(src.next());
  idx.insert(src.next(), pv::metadata{{"folder", std::string("work")}});
  idx.erase(3);
  commit();
  idx.upsert(5, src.next());
  idx.insert(src.next(), "b7", pv::metadata{{"year", 1999.0}});  // b7's vector replaced
  idx.insert(src.next(), "new", {});
  idx.set_metadata(1, pv::metadata{{"tags", pv::string_list{"x", "y"}}});
  commit();
  idx.insert_batch(src.rows(3));
  idx.erase(0);
  commit();
  REQUIRE(f.fulls == 1);
  REQUIRE(f.segments == 3);
  out.file = f.file;
  out.ends = f.parts;
  return out;
}

/// Where a truncated or flipped load may legitimately say unsupported_version: a version field
/// (bytes 4..7) of the base header or of a segment's header (after its 8-byte envelope).
bool in_version_field(const multi_part& mp, std::size_t at) {
  if (at >= 4 && at < 8) return true;
  for (std::size_t k = 0; k + 1 < mp.ends.size(); ++k) {
    const std::size_t h = mp.ends[k] + 8;
    if (at >= h + 4 && at < h + 8) return true;
  }
  return false;
}

/// The bytes of `mp.file` that frame its parts: each segment's envelope, each part's header, each
/// section's head (tag, length, checksum).
std::vector<bool> framing_bytes(const multi_part& mp) {
  std::vector<bool> out(mp.file.size(), false);
  std::size_t start = 0;
  for (std::size_t k = 0; k < mp.ends.size(); ++k) {
    const std::size_t head = start + (k ? 8 : 0);
    std::fill(out.begin() + static_cast<std::ptrdiff_t>(start),
              out.begin() + static_cast<std::ptrdiff_t>(head + pv::format_header_bytes), true);
    std::size_t at = head + pv::format_header_bytes;
    while (at < mp.ends[k]) {
      REQUIRE(at + 16 <= mp.ends[k]);
      std::uint64_t len;
      std::memcpy(&len, mp.file.data() + at + 4, 8);
      std::fill(out.begin() + static_cast<std::ptrdiff_t>(at), out.begin() + static_cast<std::ptrdiff_t>(at + 16), true);
      at += 16 + static_cast<std::size_t>(len);
    }
    REQUIRE(at == mp.ends[k]);
    start = mp.ends[k];
  }
  return out;
}

/// The outcome of loading `b`: an error code, or errc{} and the full save() of what loaded.
std::pair<pv::errc, bytes> outcome(const bytes& b, std::size_t piece = SIZE_MAX, chooser* c = nullptr) {
  bytes saved;
  const auto code = error_of([&] {
    auto idx = piece == SIZE_MAX ? pv::index::load(b) : load_pieces(b, piece, c);
    saved = idx.save();
  }).first;
  return {code, saved};
}

/// A tiny saved index (records, deletions) for the API checks.
pv::index small_index(store_kind s, std::size_t n = 30, std::uint64_t seed = 1, std::size_t training = 20) {
  pv::index idx(params_for(pv::metric::l2, s, 6, seed, training));
  data_source src(seed, 6);
  chooser c(seed);
  for (std::size_t i = 0; i < n; ++i) idx.insert(src.next(), "k" + std::to_string(i), random_record(c));
  return idx;
}

/// idx is not appendable: an append writer and the free append save are refused as invalid_argument.
void require_full_only(const pv::index& idx) {
  REQUIRE_FALSE(idx.appendable());
  REQUIRE(error_of([&] { pv::chunked_writer w(idx, 1024, pv::save_mode::append); }).first == pv::errc::invalid_argument);
  REQUIRE(error_of([&] { pv::save(idx, pv::save_mode::append); }).first == pv::errc::invalid_argument);
}

/// Full save + saved(): appendable again, and the file (that save, then one more small segment) holds.
void require_recovers(pv::index& idx) {
  chooser c(77);
  saved_file f;
  store(idx, f, c);
  REQUIRE(f.fulls == 1);
  data_source src(99, idx.dim());
  idx.insert(src.next());
  store(idx, f, c);
  REQUIRE(f.segments == 1);
  auto back = pv::index::load(f.file);
  REQUIRE_SAME_BYTES(back.save(), idx.save());
}

bytes read_golden(const char* name) {
  std::ifstream in(std::string(POCKETVEC_TEST_DATA_DIR) + "/" + name, std::ios::binary);
  REQUIRE(in.good());
  return bytes{std::istreambuf_iterator<char>(in), {}};
}

}  // namespace

TEST_CASE("segments: random interleavings load as the full writer saves them", "[segments]") {
  const auto m = GENERATE(pv::metric::l2, pv::metric::cosine, pv::metric::ip);
  const auto s = GENERATE(store_kind::f32, store_kind::sq8, store_kind::sq8_rerank, store_kind::sq8_untrained);
  const auto seed = GENERATE(1u, 2u, 3u);
  const std::size_t dim = 8 + 8 * ((seed + static_cast<unsigned>(m)) % 3) + (seed % 2);  // 8..25, odd ones too
  CAPTURE(pv::metric_name(m), store_name(s), seed, dim);
  interleaving run(m, s, dim, seed);
  run.run(24);
  const auto& st = run.stats();
  INFO("full saves " << st.fulls << ", segments " << st.segments << ", lanes loaded " << st.lanes_loaded);
  CHECK(st.segments >= 8);  // the run exercised appends, not only full saves
  CHECK(st.fulls >= 1);
}

TEST_CASE("segments: every interleaving feature is hit across the seeds", "[segments]") {
  // One long run that must meet every forced-full path and a rollback past a save point at least once.
  std::size_t rollbacks = 0, fulls = 0, segments = 0;
  for (std::uint64_t seed = 10; seed < 14; ++seed) {
    interleaving run(pv::metric::cosine, store_kind::sq8, 12, seed);
    run.run(40);
    rollbacks += run.stats().rollbacks_past_point;
    fulls += run.stats().fulls;
    segments += run.stats().segments;
  }
  INFO("fulls " << fulls << " segments " << segments << " rollbacks past a save point " << rollbacks);
  CHECK(rollbacks >= 1);
  CHECK(fulls >= 4);
  CHECK(segments >= 40);
}

TEST_CASE("segments: 100 inserts into a saved index of thousands append a small segment", "[segments]") {
  const auto s = GENERATE(store_kind::f32, store_kind::sq8);
  const std::size_t dim = 64, n = 3000;
  pv::index_params p = params_for(pv::metric::l2, s, dim, 4, 1000);
  p.m = 16;
  p.ef_construction = 64;
  pv::index idx(p);
  idx.insert_batch(pvtest::clustered(n, dim, 20, 4));
  chooser c(1);
  saved_file f;
  store(idx, f, c);
  const std::size_t full = f.file.size();
  idx.insert_batch(pvtest::clustered(100, dim, 20, 5));
  store(idx, f, c);
  const std::size_t segment = f.file.size() - full;
  const double ratio = static_cast<double>(segment) / static_cast<double>(idx.save().size());
  std::printf("segments: %s, %zu + 100 vectors x %zu: segment %zu bytes, full save %zu bytes, ratio %.4f\n",
              store_name(s), n, dim, segment, idx.save().size(), ratio);
  CHECK(ratio < 0.10);
  auto back = pv::index::load(f.file);
  REQUIRE_SAME_BYTES(back.save(), idx.save());
}

TEST_CASE("segments: a segment that was never committed is superseded by the next one", "[segments]") {
  const auto s = GENERATE(store_kind::f32, store_kind::sq8, store_kind::sq8_untrained);
  CAPTURE(store_name(s));
  pv::index idx = small_index(s, 40);
  data_source src(8, 6);
  chooser c(3);
  const auto queries = src.rows(5);
  saved_file f;
  store(idx, f, c);
  const bytes base = f.file;

  // A segment written but "lost" (saved() never called), then more changes of every kind.
  idx.insert_batch(src.rows(5));
  idx.erase(2);
  idx.set_metadata(4, pv::metadata{{"folder", std::string("lost")}});
  const written lost = write(idx, pv::save_mode::append, 13);
  const bytes lost_image = idx.save();
  REQUIRE(idx.appendable());
  idx.insert(src.next(), "k9", pv::metadata{{"year", 1.0}});  // upsert by key
  idx.upsert(7, src.next());
  idx.erase(11);
  const written next = write(idx, pv::save_mode::append, 5000);

  SECTION("base + the lost segment is itself a valid file of the state it described") {
    bytes file = base;
    file.insert(file.end(), lost.data.begin(), lost.data.end());
    REQUIRE_SAME_BYTES(pv::index::load(file).save(), lost_image);
  }
  SECTION("base + next (the lost bytes dropped) holds everything since the committed point") {
    bytes file = base;
    file.insert(file.end(), next.data.begin(), next.data.end());
    saved_file g{file, {}, 1, 1};
    check_file(idx, g, queries, c);
    idx.saved(next.point);
    idx.insert_batch(src.rows(3));
    store(idx, g, c);
    check_file(idx, g, queries, c);
  }
  SECTION("base + lost + next is refused: next extends the base, not the lost segment") {
    bytes file = base;
    file.insert(file.end(), lost.data.begin(), lost.data.end());
    file.insert(file.end(), next.data.begin(), next.data.end());
    REQUIRE(error_of([&] { pv::index::load(file); }).first == pv::errc::corrupt_data);
  }
  SECTION("the lost segment's point, committed late, is not the current state") {
    REQUIRE(error_of([&] { idx.saved(lost.point); }).first == pv::errc::invalid_argument);
    REQUIRE(idx.appendable());  // the refused call changed nothing: next still extends the base
    const written again = write(idx, pv::save_mode::append, 77);
    REQUIRE_SAME_BYTES(again.data, next.data);
  }
}

TEST_CASE("segments: every truncation and bit flip of a base + 3 segments", "[segments][corrupt]") {
  const auto cfg = GENERATE(std::make_pair(pv::metric::l2, store_kind::f32), std::make_pair(pv::metric::cosine, store_kind::sq8),
                            std::make_pair(pv::metric::ip, store_kind::sq8_rerank));
  CAPTURE(pv::metric_name(cfg.first), store_name(cfg.second));
  multi_part mp = build_multi_part(cfg.first, cfg.second);
  bytes& file = mp.file;
  CAPTURE(file.size(), mp.ends[0], mp.ends[1], mp.ends[2], mp.ends[3]);
  chooser c(21);

  SECTION("the whole file, in pieces of 1, 7, 97 and random sizes, loads as load() does") {
    const auto whole = outcome(file);
    REQUIRE(whole.first == pv::errc{});
    REQUIRE_SAME_BYTES(whole.second, mp.images.back());
    for (std::size_t piece : {std::size_t{1}, std::size_t{7}, std::size_t{97}, std::size_t{0}}) {
      CAPTURE(piece);
      const auto got = outcome(file, piece, &c);
      REQUIRE(got.first == pv::errc{});
      REQUIRE_SAME_BYTES(got.second, whole.second);
    }
    // segments() counts the segments read: 0 after the base, k after segment k.
    pv::chunked_reader r;
    std::size_t at = 0;
    for (std::size_t k = 0; k < mp.ends.size(); ++k) {
      r.feed(std::span<const std::uint8_t>(file.data() + at, mp.ends[k] - at));
      at = mp.ends[k];
      CHECK(r.segments() == k);
    }
    REQUIRE_SAME_BYTES(r.finish().save(), mp.images.back());
  }

  SECTION("every truncation: refused, or at a part boundary the state of that prefix") {
    for (std::size_t len = 0; len <= file.size(); ++len) {
      CAPTURE(len);
      const bytes cut(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(len));
      const auto it = std::find(mp.ends.begin(), mp.ends.end(), len);
      const auto got = outcome(cut);
      if (it == mp.ends.end()) {
        REQUIRE(got.first == pv::errc::corrupt_data);
      } else {
        REQUIRE(got.first == pv::errc{});
        REQUIRE_SAME_BYTES(got.second, mp.images[static_cast<std::size_t>(it - mp.ends.begin())]);
      }
      const std::size_t piece = len % 3 == 0 ? 1 : len % 3 == 1 ? 7 : 0;
      const auto streamed = outcome(cut, piece, &c);
      REQUIRE(streamed.first == got.first);
      REQUIRE_SAME_BYTES(streamed.second, got.second);
    }
  }

  SECTION("every single-bit flip is refused, the same way in pieces") {
    // Every bit of the first configuration's file; of the others every bit of the envelopes,
    // headers and section heads and of every third payload byte (ASan's time budget).
    const std::size_t stride = cfg.second == store_kind::f32 ? 1 : 3;
    const std::vector<bool> framing = framing_bytes(mp);
    for (std::size_t i = 0; i < file.size(); ++i) {
      if (!framing[i] && i % stride != 0) continue;
      for (int bit = 0; bit < 8; ++bit) {
        CAPTURE(i, bit);
        file[i] ^= static_cast<std::uint8_t>(1u << bit);
        const auto got = outcome(file);
        if (in_version_field(mp, i))
          REQUIRE((got.first == pv::errc::corrupt_data || got.first == pv::errc::unsupported_version));
        else
          REQUIRE(got.first == pv::errc::corrupt_data);
        if ((i * 8 + static_cast<std::size_t>(bit)) % 11 == 0) {
          const std::size_t piece = i % 2 ? 7 : 97;
          REQUIRE(outcome(file, piece).first == got.first);
        }
        file[i] ^= static_cast<std::uint8_t>(1u << bit);
      }
    }
  }

  SECTION("trailing bytes after the last segment are refused") {
    for (std::size_t extra : {1u, 7u, 8u, 20u}) {
      bytes b = file;
      b.resize(b.size() + extra, 0);
      REQUIRE(outcome(b).first == pv::errc::corrupt_data);
    }
  }
}

TEST_CASE("segments: a segment on the wrong base is refused", "[segments][corrupt]") {
  chooser c(4);
  pv::index a = small_index(store_kind::f32, 30, 1);
  pv::index b = small_index(store_kind::f32, 30, 2);  // same parameters, other vectors
  saved_file fa, fb;
  store(a, fa, c);
  store(b, fb, c);
  data_source src(5, 6);
  const auto more = src.rows(4);
  a.insert_batch(more);
  b.insert_batch(more);
  const written sa1 = write(a, pv::save_mode::append, 100);
  const written sb1 = write(b, pv::save_mode::append, 100);
  a.saved(sa1.point);
  a.erase(3);
  a.insert(src.next());
  const written sa2 = write(a, pv::save_mode::append, 100);
  auto cat = [](std::initializer_list<const bytes*> parts) {
    bytes out;
    for (const bytes* p : parts) out.insert(out.end(), p->begin(), p->end());
    return out;
  };
  auto corrupt = [](const bytes& f) { return error_of([&] { pv::index::load(f); }).first == pv::errc::corrupt_data; };
  // The right chain loads.
  REQUIRE_SAME_BYTES(pv::index::load(cat({&fa.file, &sa1.data, &sa2.data})).save(), a.save());
  CHECK(corrupt(cat({&fa.file, &sb1.data})));              // another index's segment
  CHECK(corrupt(cat({&fb.file, &sa1.data})));
  CHECK(corrupt(cat({&fa.file, &sa2.data})));              // skips segment 1
  CHECK(corrupt(cat({&fa.file, &sa1.data, &sa1.data})));   // segment 1 twice
  CHECK(corrupt(cat({&fa.file, &sa2.data, &sa1.data})));   // out of order
  CHECK(corrupt(cat({&fa.file, &sa1.data, &sa2.data, &sa2.data})));
  CHECK(corrupt(sa1.data));                                // a segment without a base
  // Through chunked_reader too.
  const bytes wrong = cat({&fa.file, &sb1.data});
  CHECK(error_of([&] { load_pieces(wrong, 7); }).first == pv::errc::corrupt_data);
}

TEST_CASE("segments: what forces a full save, and saved() checks its point", "[segments]") {
  chooser c(9);
  data_source src(3, 6);

  SECTION("a new index has no save point; a full save + saved() gives one; a load too") {
    pv::index idx = small_index(store_kind::f32);
    CHECK_FALSE(idx.last_save().valid);
    require_full_only(idx);
    saved_file f;
    store(idx, f, c);
    auto back = pv::index::load(f.file);
    CHECK(back.appendable());
    CHECK(back.last_save().valid);
    CHECK(back.last_save().digest == idx.last_save().digest);
  }
  SECTION("nothing changed since the save point: an empty segment still loads") {
    pv::index idx = small_index(store_kind::sq8);
    saved_file f;
    store(idx, f, c);
    store(idx, f, c);
    REQUIRE(f.segments == 1);
    REQUIRE_SAME_BYTES(pv::index::load(f.file).save(), idx.save());
  }
  SECTION("compact() with tombstones") {
    pv::index idx = small_index(store_kind::f32);
    saved_file f;
    store(idx, f, c);
    idx.erase(1);
    idx.erase(2);
    REQUIRE(idx.appendable());  // an erase alone appends
    idx.compact();
    require_full_only(idx);
    require_recovers(idx);
  }
  SECTION("rebuild()") {
    pv::index idx = small_index(store_kind::sq8_rerank);
    saved_file f;
    store(idx, f, c);
    idx.rebuild();
    require_full_only(idx);
    require_recovers(idx);
  }
  SECTION("train() on a trained SQ8 index, and on an untrained one") {
    for (store_kind s : {store_kind::sq8, store_kind::sq8_untrained}) {
      CAPTURE(store_name(s));
      pv::index idx = small_index(s);
      CHECK(idx.sq8().trained == (s == store_kind::sq8));
      saved_file f;
      store(idx, f, c);
      idx.train(src.rows(10));
      require_full_only(idx);
      require_recovers(idx);
    }
  }
  SECTION("train() again on a trained SQ8 index that holds no slots (new ranges)") {
    // train() before any insert, saved, then train() on another sample: the ranges change, and a
    // segment never carries SQR_, so the next save must be full.
    for (auto m : {pv::metric::l2, pv::metric::cosine, pv::metric::ip}) {
      CAPTURE(pv::metric_name(m));
      pv::index idx(params_for(m, store_kind::sq8, 6, 1, 20));
      idx.train(src.rows(10));
      REQUIRE(idx.sq8().trained);
      saved_file f;
      store(idx, f, c);
      auto other = src.rows(10);
      for (float& x : other) x = 3.0f * x + 1.0f;  // other ranges
      idx.train(other);
      CHECK_FALSE(idx.appendable());
      if (idx.appendable()) {  // then the file it leads to must still hold the index
        idx.insert_batch(src.rows(3));
        const written seg = write(idx, pv::save_mode::append, 64);
        bytes file = f.file;
        file.insert(file.end(), seg.data.begin(), seg.data.end());
        const auto got = outcome(file);
        INFO("base + segment loads with code " << static_cast<int>(got.first));
        CHECK(got.first == pv::errc{});
        CHECK_SAME_BYTES(got.second, idx.save());
      } else {
        require_recovers(idx);
      }
    }
  }
  SECTION("SQ8 training itself when sq8_training_size is crossed") {
    pv::index idx = small_index(store_kind::sq8, 15, 1, 20);
    REQUIRE_FALSE(idx.sq8().trained);
    saved_file f;
    store(idx, f, c);
    idx.insert_batch(src.rows(3));  // 18: still untrained, appends
    REQUIRE(idx.appendable());
    store(idx, f, c);
    idx.insert(src.next());
    idx.insert(src.next());  // 20: trains
    REQUIRE(idx.sq8().trained);
    require_full_only(idx);
    require_recovers(idx);
  }
  SECTION("rollback_batch() past a save point") {
    pv::index idx = small_index(store_kind::f32);
    saved_file f;
    store(idx, f, c);
    idx.begin_batch();
    idx.insert_batch(src.rows(3));
    store(idx, f, c);  // a save point inside the batch
    idx.insert(src.next());
    idx.rollback_batch();
    require_full_only(idx);
    require_recovers(idx);
  }
  SECTION("rollback_batch() of a batch begun after the save point: whatever appendable() says, the file holds") {
    for (store_kind s : {store_kind::f32, store_kind::sq8, store_kind::sq8_untrained}) {
      CAPTURE(store_name(s));
      pv::index idx = small_index(s, 18, 1, 20);  // SQ8: the batch crosses sq8_training_size, then is undone
      saved_file f;
      store(idx, f, c);
      idx.insert(src.next(), "late", pv::metadata{{"folder", std::string("x")}});
      idx.begin_batch();
      idx.insert_batch(src.rows(4));
      idx.rollback_batch();
      store(idx, f, c);
      REQUIRE_SAME_BYTES(pv::index::load(f.file).save(), idx.save());
    }
  }
  SECTION("saved() with a point of another state is invalid_argument and changes nothing") {
    pv::index idx = small_index(store_kind::f32);
    saved_file f;
    store(idx, f, c);
    const pv::save_point committed = idx.last_save();
    auto refused = [&](const pv::save_point& p) {
      const auto code = error_of([&] { idx.saved(p); }).first;
      CHECK(idx.last_save().digest == committed.digest);
      return code == pv::errc::invalid_argument;
    };
    const written stale = write(idx, pv::save_mode::append, 64);
    SECTION("a point that is not valid") { CHECK(refused(pv::save_point{})); }
    SECTION("another index's point (another slot count)") {
      pv::index other = small_index(store_kind::f32, 31, 2);
      CHECK(refused(write(other, pv::save_mode::full, 64).point));
    }
    SECTION("another index's point (the same slot count)") {
      pv::index other = small_index(store_kind::f32, 30, 2);
      CHECK(refused(write(other, pv::save_mode::full, 64).point));
    }
    SECTION("after an insert (the slot count moved)") {
      idx.insert(src.next());
      CHECK(refused(stale.point));
    }
    SECTION("after an erase only (the slot count did not move)") {
      idx.erase(5);
      CHECK(refused(stale.point));
    }
    SECTION("after set_metadata only") {
      idx.set_metadata(6, pv::metadata{{"folder", std::string("moved")}});
      CHECK(refused(stale.point));
    }
    SECTION("after a full-mode write of a later state") {
      idx.insert(src.next());
      const written later_full = write(idx, pv::save_mode::full, 64);
      idx.insert(src.next());
      CHECK(refused(later_full.point));
    }
    // Whatever was refused, the file still takes one segment with all of it. (Checked without
    // throwing, so that a failure here leaves Catch free to run the other sections.)
    store(idx, f, c);
    REQUIRE(f.segments == 1);
    const auto got = outcome(f.file);
    CHECK(got.first == pv::errc{});
    CHECK_SAME_BYTES(got.second, idx.save());
  }
  SECTION("a stale point of a state with the same slot count (compact, then as many inserts) would load a different index") {
    // The file holds state A; the index moves to B (compact renumbers, inserts refill the count).
    // saved(A's point) must be refused: taken, the next segment extends A's bytes with B's changes
    // since that call, and base + segment describes neither A nor B.
    pv::index idx = small_index(store_kind::f32);
    idx.erase(3);
    idx.erase(4);
    const written a = write(idx, pv::save_mode::full, 64);
    idx.compact();
    idx.insert(src.next());
    idx.insert(src.next());
    const bool refused = error_of([&] { idx.saved(a.point); }).first == pv::errc::invalid_argument;
    CHECK(refused);
    if (!refused) {
      REQUIRE(idx.appendable());
      bytes file = a.data;
      const written seg = write(idx, pv::save_mode::append, 64);
      file.insert(file.end(), seg.data.begin(), seg.data.end());
      const auto got = outcome(file);
      INFO("base + segment loads with code " << static_cast<int>(got.first));
      if (got.first == pv::errc{}) CHECK_SAME_BYTES(got.second, idx.save());  // never silently another index
    }
  }
}

TEST_CASE("segments: broken invariants of a last segment with valid checksums are refused", "[segments][corrupt]") {
  // The last segment of build_multi_part(): its edits need only its own checksums fixed (no later
  // part names its digest).
  const multi_part mp = build_multi_part(pv::metric::l2, store_kind::f32);
  const std::size_t seg = mp.ends[2], head = seg + 8;
  REQUIRE(std::memcmp(mp.file.data() + seg, "PVSG", 4) == 0);
  REQUIRE(mp.file[head + 6] == 3);  // a segment's header is 1.3
  auto expect_corrupt = [](const bytes& b, const std::string& fragment) {
    auto [code, msg] = error_of([&] { pv::index::load(b); });
    CAPTURE(msg);
    CHECK(code == pv::errc::corrupt_data);
    CHECK(msg.find(fragment) != std::string::npos);
  };
  SECTION("the unchanged file loads") { REQUIRE_SAME_BYTES(pv::index::load(mp.file).save(), mp.images.back()); }
  SECTION("a header of version 1.2") {
    bytes b = mp.file;
    b[head + 6] = 2;
    fix_header_crc(b, head);
    expect_corrupt(b, "version 1.2");
  }
  SECTION("other parameters (m)") {
    bytes b = mp.file;
    wr32(b, head + 16, rd32(b, head + 16) + 1);
    fix_header_crc(b, head);
    expect_corrupt(b, "parameters");
  }
  SECTION("other dimension") {
    bytes b = mp.file;
    wr32(b, head + 12, rd32(b, head + 12) + 1);
    fix_header_crc(b, head);
    CHECK(error_of([&] { pv::index::load(b); }).first == pv::errc::corrupt_data);
  }
  SECTION("fewer slots than its base") {
    bytes b = mp.file;
    std::uint64_t n;
    std::memcpy(&n, b.data() + head + 44, 8);
    n = mp.ends.size() > 1 ? n - 4 : n;
    std::memcpy(b.data() + head + 44, &n, 8);
    fix_header_crc(b, head);
    CHECK(error_of([&] { pv::index::load(b); }).first == pv::errc::corrupt_data);
  }
  SECTION("a lower next id than its base") {
    bytes b = mp.file;
    wr32(b, head + 60, 1);
    fix_header_crc(b, head);
    CHECK(error_of([&] { pv::index::load(b); }).first == pv::errc::corrupt_data);
  }
  SECTION("RLK_ naming a new slot, or a slot past every slot") {
    for (std::uint32_t bad : {std::uint32_t{1000}, std::uint32_t{0xFFFFFFFFu}}) {
      bytes b = mp.file;
      const std::size_t at = find_section_in(b, head, "RLK_");
      REQUIRE(at != SIZE_MAX);
      std::uint64_t len;
      std::memcpy(&len, b.data() + at + 4, 8);
      REQUIRE(len >= 6);  // the batch changed older lists
      wr32(b, at + 16, bad);
      fix_section_crc(b, at);
      expect_corrupt(b, "RLK_");
    }
  }
  SECTION("RLK_ with a neighbour past the last slot") {
    bytes b = mp.file;
    const std::size_t at = find_section_in(b, head, "RLK_");
    REQUIRE(at != SIZE_MAX);
    std::uint16_t count;
    std::memcpy(&count, b.data() + at + 16 + 4, 2);
    REQUIRE(count > 0);
    wr32(b, at + 16 + 6, 5000);
    fix_section_crc(b, at);
    expect_corrupt(b, "invalid neighbour 5000");
  }
  SECTION("RLK_ entries out of order (its first slot repeated at the end of a copy)") {
    // Two copies of the section's first entry: the second names the same slot again.
    bytes b = mp.file;
    const std::size_t at = find_section_in(b, head, "RLK_");
    REQUIRE(at != SIZE_MAX);
    // the first entry's length: slot + per level (count + lists); levels from the base part's LVL_
    // are not at hand here, so take level 0 only when the next bytes parse as a new entry.
    std::uint16_t count;
    std::memcpy(&count, b.data() + at + 16 + 4, 2);
    const std::size_t entry = 4 + 2 + 4 * std::size_t{count};
    const std::uint32_t slot = rd32(b, at + 16);
    std::uint64_t len;
    std::memcpy(&len, b.data() + at + 4, 8);
    if (len >= 2 * entry && rd32(b, at + 16 + entry) > slot) {  // the first entry is level 0 only
      wr32(b, at + 16 + entry, slot);
      fix_section_crc(b, at);
      expect_corrupt(b, "RLK_");
    } else {
      WARN("RLK_'s first entry has upper levels or stands alone: case skipped");
    }
  }
  SECTION("a DEL_ bit set without the header's count") {
    bytes b = mp.file;
    const std::size_t at = find_section_in(b, head, "DEL_");
    REQUIRE(at != SIZE_MAX);
    b[at + 16] ^= 2;  // slot 1: live in every state
    fix_section_crc(b, at);
    CHECK(error_of([&] { pv::index::load(b); }).first == pv::errc::corrupt_data);
  }
  SECTION("an envelope that names another digest") {
    bytes b = mp.file;
    wr32(b, seg + 4, rd32(b, seg + 4) ^ 1);
    expect_corrupt(b, "does not extend");
  }
  SECTION("a segment after a segment-less 1.0 file") {
    // A 1.0 golden file followed by a real segment: refused whatever its digest says.
    bytes b = read_golden("golden-v1-f32-l2.pvx");
    b.insert(b.end(), mp.file.begin() + static_cast<std::ptrdiff_t>(seg), mp.file.end());
    CHECK(error_of([&] { pv::index::load(b); }).first == pv::errc::corrupt_data);
  }
}

TEST_CASE("segments: files written by 1.1 and 1.2 take segments; 1.0 files are saved in full", "[segments]") {
  chooser c(6);
  for (const char* name : {"golden-v1-f32-l2.pvx", "golden-v1-sq8-l2.pvx", "golden-v1.1-f32-l2.pvx",
                           "golden-v1.1-sq8-l2.pvx", "golden-v1.1-sq8-cosine.pvx", "golden-v1.2-f32-cosine-records.pvx",
                           "golden-v1.2-sq8-l2-records.pvx"}) {
    CAPTURE(name);
    const bool v10 = std::string(name).find("v1-") != std::string::npos;
    saved_file f{read_golden(name), {}, 0, 0};
    pv::index idx = pv::index::load(f.file);
    if (v10) CHECK_FALSE(idx.appendable());  // its l2 SQ8 norms are not those a 1.1+ file holds
    else CHECK(idx.appendable());
    data_source src(2, idx.dim());
    for (int round = 0; round < 3; ++round) {
      idx.insert_batch(src.rows(3));
      idx.erase(static_cast<pv::id_t>(10 + round));
      idx.insert(src.next(), "late-" + std::to_string(round), pv::metadata{{"late", true}});
      store(idx, f, c);
      CHECK(f.fulls == (v10 ? 1u : 0u));
      const auto queries = src.rows(3);
      check_file(idx, f, queries, c);
    }
  }
}

TEST_CASE("segments: a live writer refuses to go on once a mutator ran, even one that failed", "[segments][corrupt]") {
  // A refused record may have grown (and so moved) the metadata columns before it failed: the
  // writer's spans would point into freed memory (found by review, under ASan). next() must throw.
  const std::size_t dim = 8;
  pv::index_params p;
  p.dim = dim;
  pv::index built(p);
  std::vector<float> v(dim, 0.5f);
  for (std::size_t i = 0; i < 40; ++i) {
    v[i % dim] += 0.25f;
    built.insert(v, "k" + std::to_string(i), {{"folder", std::string(i % 2 ? "a" : "b")}});
  }
  // Exact capacities, so that any growth moves an array.
  pv::index idx = pv::index::load(built.save());
  pv::metadata bad;
  for (int f = 0; f < 40; ++f) bad.push_back({"new" + std::to_string(f), std::string("s")});
  bad.push_back({"folder", 5.0});  // the wrong kind: the record is refused after the new fields are staged
  const std::vector<std::function<void()>> refused_calls = {
      [&] { idx.set_metadata(3, bad); },
      [&] { idx.insert(v, bad); },
      [&] { idx.insert(v, "fresh", bad); },
      [&] { idx.upsert(5, v, bad); },
  };
  for (std::size_t i = 0; i < refused_calls.size(); ++i) {
    INFO("refused call " << i);
    pv::chunked_writer w(idx, 64);
    w.next();
    const auto edits = idx.edits();
    CHECK(error_of(refused_calls[i]).first == pv::errc::invalid_argument);
    CHECK(idx.edits() == edits);  // nothing changed: a save point would still hold
    CHECK(error_of([&] { w.next(); }).first == pv::errc::invalid_argument);
  }
  // reserve() moves arrays without changing the state: the writer stops, a save point stays valid.
  pv::save_point pt;
  pv::save(idx, pv::save_mode::full, &pt);
  pv::chunked_writer w(idx, 64);
  idx.reserve(1000);
  CHECK(error_of([&] { w.next(); }).first == pv::errc::invalid_argument);
  idx.saved(pt);
  CHECK(idx.appendable());
}

TEST_CASE("segments: a file's first header may not be a segment's (1.3)", "[segments][corrupt]") {
  pv::index_params p;
  p.dim = 4;
  pv::index idx(p);
  idx.insert(std::vector<float>{1, 2, 3, 4});
  bytes b = idx.save();
  REQUIRE(b[6] == 1);  // a 1.1 file
  b[6] = 3;
  fix_header_crc(b, 0);
  const auto [code, msg] = error_of([&] { pv::index::load(b); });
  CHECK(code == pv::errc::corrupt_data);
  CHECK(msg.find("first header") != std::string::npos);
}
