// pocketvec/format.hpp — the binary format (docs/format.md is the spec): save, load, chunked I/O.
//
// Layout: a fixed 96-byte header (magic "PVEC", version, parameters, counts, CRC-32C of the header),
// then sections in a fixed order, each [tag u32][length u64][crc32c u32][payload]. Little-endian
// everywhere; no size_t on disk. Writing is deterministic: the same index gives the same bytes.
//
// Loading never trusts its input and is all-or-nothing: every length is bounded by the bytes that
// remain before anything is allocated, every checksum is verified, every count, id, level and
// neighbour is validated, and only then is an index constructed. A byte string that loads can be
// searched without further checks. Failures throw pocketvec::error with errc::corrupt_data, or
// errc::unsupported_version for files from a newer major version.
// Depends on index.hpp (and, through it, everything else); nothing depends on it but the umbrella.
#pragma once

#include "abi.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <istream>
#include <iterator>
#include <limits>
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "index.hpp"

static_assert(std::endian::native == std::endian::little,
              "pocketvec's format writes arrays as they are in memory: little-endian hosts only");

namespace pocketvec::inline POCKETVEC_ABI {

inline constexpr std::uint16_t format_major = 1;
inline constexpr std::uint16_t format_minor = 1;
inline constexpr std::size_t format_header_bytes = 96;

namespace detail {

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven, 8 bytes per step.
class crc32c {
 public:
  void update(const std::uint8_t* p, std::size_t n) noexcept {
    const auto& t = tables();
    std::uint32_t c = state_;
    while (n >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p, 8);
      w ^= c;
      c = t[7][w & 0xFF] ^ t[6][(w >> 8) & 0xFF] ^ t[5][(w >> 16) & 0xFF] ^ t[4][(w >> 24) & 0xFF] ^
          t[3][(w >> 32) & 0xFF] ^ t[2][(w >> 40) & 0xFF] ^ t[1][(w >> 48) & 0xFF] ^ t[0][w >> 56];
      p += 8;
      n -= 8;
    }
    while (n--) c = t[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
    state_ = c;
  }
  std::uint32_t value() const noexcept { return ~state_; }

  static std::uint32_t of(std::span<const std::uint8_t> bytes) noexcept {
    crc32c c;
    c.update(bytes.data(), bytes.size());
    return c.value();
  }

 private:
  using table_set = std::array<std::array<std::uint32_t, 256>, 8>;
  static const table_set& tables() noexcept {
    static const table_set t = [] {
      table_set r{};
      for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
        r[0][i] = c;
      }
      for (std::size_t s = 1; s < 8; ++s)
        for (std::size_t i = 0; i < 256; ++i) r[s][i] = (r[s - 1][i] >> 8) ^ r[0][r[s - 1][i] & 0xFF];
      return r;
    }();
    return t;
  }
  std::uint32_t state_ = 0xFFFFFFFFu;
};

[[noreturn]] inline void corrupt(const std::string& what) {
  fail(errc::corrupt_data, "corrupt index bytes: " + what);
}

/// Appends little-endian scalars to a byte vector.
struct byte_writer {
  std::vector<std::uint8_t>& out;
  template <class T>
  void put(T v) {
    std::uint8_t b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    out.insert(out.end(), b, b + sizeof(T));
  }
};

/// Bounds-checked reads over a byte span; every read past the end is corrupt_data.
class byte_reader {
 public:
  explicit byte_reader(std::span<const std::uint8_t> b) : b_(b) {}
  std::size_t remaining() const noexcept { return b_.size() - pos_; }
  std::size_t position() const noexcept { return pos_; }
  template <class T>
  T get(const char* what) {
    if (remaining() < sizeof(T)) corrupt(std::string("truncated while reading ") + what);
    T v;
    std::memcpy(&v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::span<const std::uint8_t> take(std::uint64_t n, const char* what) {
    if (n > remaining()) corrupt(std::string("truncated in ") + what);
    auto s = b_.subspan(pos_, static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    return s;
  }

 private:
  std::span<const std::uint8_t> b_;
  std::size_t pos_ = 0;
};

/// a*b, or corrupt_data if it overflows 64 bits.
inline std::uint64_t checked_mul(std::uint64_t a, std::uint64_t b, const char* what) {
  if (a != 0 && b > ~std::uint64_t{0} / a) corrupt(std::string("size overflow in ") + what);
  return a * b;
}

constexpr std::uint32_t tag(const char (&s)[5]) {
  return std::uint32_t(std::uint8_t(s[0])) | std::uint32_t(std::uint8_t(s[1])) << 8 |
         std::uint32_t(std::uint8_t(s[2])) << 16 | std::uint32_t(std::uint8_t(s[3])) << 24;
}

// Section tags, in file order. Which of them appear depends on the store (see docs/format.md).
inline constexpr std::uint32_t tag_ids = tag("IDS_");     // slot -> id, u32 each
inline constexpr std::uint32_t tag_deleted = tag("DEL_"); // tombstone bitset, u64 words
inline constexpr std::uint32_t tag_levels = tag("LVL_");  // level per node, u8 each
inline constexpr std::uint32_t tag_links = tag("LNK_");   // per node, per level: u16 count + u32s
inline constexpr std::uint32_t tag_f32 = tag("F32_");     // f32 rows
inline constexpr std::uint32_t tag_ranges = tag("SQR_");  // SQ8 lo[dim], step[dim]
inline constexpr std::uint32_t tag_codes = tag("SQC_");   // SQ8 codes, u8 rows
inline constexpr std::uint32_t tag_norms = tag("SQN_");   // SQ8 per-vector norm term, f32 (cosine; l2 in 1.0)
inline constexpr std::uint32_t tag_l2_norms = tag("SQD_"); // SQ8 l2 since 1.1: |x̂ - lo|² per vector, f32

/// One section: its tag and its payload as pieces (spans into the index, or owned bytes).
struct section {
  std::uint32_t tag;
  std::vector<std::span<const std::uint8_t>> pieces;
  std::vector<std::uint8_t> owned;  // when the payload had to be built
  std::uint64_t length() const noexcept {
    std::uint64_t n = 0;
    for (auto p : pieces) n += p.size();
    return n;
  }
};

template <class T>
std::span<const std::uint8_t> as_bytes(std::span<const T> s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size_bytes()};
}

constexpr std::uint8_t flag_rerank = 1, flag_trained = 2;

template <class Store>
std::uint8_t store_flags(const Store& s) {
  if constexpr (requires { s.is_trained(); })
    return static_cast<std::uint8_t>((s.rerank() ? flag_rerank : 0) | (s.is_trained() ? flag_trained : 0));
  else
    return 0;
}

/// The whole file as a list of sections behind a header; nothing is copied but the link lists.
class serializer {
 public:
  template <class Store>
  POCKETVEC_COLD explicit serializer(const basic_index<Store>& idx) {
    const auto& st = idx.state();
    const auto& p = idx.params();
    const std::size_t n = st.slot_ids.size();
    const graph& g = st.links;

    header_.reserve(format_header_bytes);
    byte_writer w{header_};
    header_.insert(header_.end(), {'P', 'V', 'E', 'C'});
    w.put(format_major);
    w.put(format_minor);
    w.put(static_cast<std::uint8_t>(p.metric_kind));
    w.put(static_cast<std::uint8_t>(p.quant));
    w.put(store_flags(st.store));
    w.put(std::uint8_t{0});
    w.put(static_cast<std::uint32_t>(p.dim));
    w.put(static_cast<std::uint32_t>(p.m));
    w.put(static_cast<std::uint32_t>(p.ef_construction));
    w.put(static_cast<std::uint32_t>(p.ef_search));
    w.put(static_cast<std::uint64_t>(p.seed));
    w.put(p.compact_threshold);
    w.put(static_cast<std::uint32_t>(p.sq8_training_size));
    w.put(static_cast<std::uint64_t>(n));
    w.put(static_cast<std::uint64_t>(st.deleted_count));
    w.put(static_cast<std::uint32_t>(st.next_id));
    w.put(static_cast<std::uint32_t>(0));  // reserved
    w.put(static_cast<std::uint64_t>(st.levels_drawn));
    const sq8_stats q = idx.sq8();
    w.put(q.encoded);  // 1.1: offsets 76 and 84, reserved (zero) in 1.0
    w.put(q.clamped);
    w.put(crc32c::of(header_));
    POCKETVEC_ASSERT(header_.size() == format_header_bytes);

    add(tag_ids).pieces.push_back(as_bytes(std::span<const id_t>(st.slot_ids)));
    add(tag_deleted).pieces.push_back(
        as_bytes(std::span<const std::uint64_t>(st.deleted.data(), (n + 63) / 64)));
    add(tag_levels).pieces.push_back(g.raw_levels());
    section& links = add(tag_links);
    {
      byte_writer lw{links.owned};
      for (slot_t s = 0; s < n; ++s)
        for (int l = 0; l <= g.level(s); ++l) {
          const auto nb = g.neighbors(s, l);
          lw.put(static_cast<std::uint16_t>(nb.size()));
          for (slot_t t : nb) lw.put(t);
        }
    }
    add_store(st.store);
    for (section& s : sections_)
      if (!s.owned.empty()) s.pieces.assign(1, std::span<const std::uint8_t>(s.owned));
    for (section& s : sections_) {
      crc32c c;
      for (auto piece : s.pieces) c.update(piece.data(), piece.size());
      std::vector<std::uint8_t>& h = section_headers_.emplace_back();
      byte_writer hw{h};
      hw.put(s.tag);
      hw.put(s.length());
      hw.put(c.value());
    }
  }

  std::uint64_t total_bytes() const noexcept {
    std::uint64_t n = header_.size();
    for (std::size_t i = 0; i < sections_.size(); ++i) n += section_headers_[i].size() + sections_[i].length();
    return n;
  }

  /// Calls f(span) for every piece of the file, in order.
  template <class F>
  void for_each_piece(F&& f) const {
    f(std::span<const std::uint8_t>(header_));
    for (std::size_t i = 0; i < sections_.size(); ++i) {
      f(std::span<const std::uint8_t>(section_headers_[i]));
      for (auto p : sections_[i].pieces) f(p);
    }
  }

 private:
  section& add(std::uint32_t t) {
    sections_.push_back({t, {}, {}});
    return sections_.back();
  }

  template <class T>
  static void add_rows(section& to, const row_blocks<T>& rows) {
    rows.for_each_span([&](std::span<const T> span) { to.pieces.push_back(as_bytes(span)); });
  }

  template <metric M, class K>
  void add_store(const f32_store<M, K>& s) {
    add_rows(add(tag_f32), s.rows());
  }

  template <metric M, class K>
  void add_store(const sq8_store<M, K>& s) {
    if (s.is_trained()) {
      section& r = add(tag_ranges);
      r.pieces.push_back(as_bytes(s.quantizer().lo()));
      r.pieces.push_back(as_bytes(s.quantizer().step()));
      add_rows(add(tag_codes), s.codes());
      if (M != metric::ip) add_rows(add(M == metric::l2 ? tag_l2_norms : tag_norms), s.norms());
    }
    if (!s.is_trained() || s.rerank()) add_rows(add(tag_f32), s.raw());
  }

  std::vector<std::uint8_t> header_;
  std::vector<section> sections_;
  std::vector<std::vector<std::uint8_t>> section_headers_;
};

struct header_fields {
  index_params params;
  std::uint16_t minor = 0;
  std::uint8_t flags = 0;
  std::uint64_t count = 0, deleted = 0, levels_drawn = 0;
  std::uint64_t encoded = 0, clamped = 0;  // 1.1: SQ8 components encoded / clamped since training
  id_t next_id = 0;
};

POCKETVEC_COLD inline header_fields read_header(byte_reader& r) {
  auto head = r.take(format_header_bytes, "header");
  if (std::memcmp(head.data(), "PVEC", 4) != 0) corrupt("not a pocketvec index (bad magic)");
  // The checksum first: a damaged version field is damage, not a newer format. (Every major keeps
  // the 96-byte header with its CRC at offset 92 for this reason.)
  std::uint32_t stored_crc;
  std::memcpy(&stored_crc, head.data() + format_header_bytes - 4, 4);
  if (crc32c::of(head.first(format_header_bytes - 4)) != stored_crc) corrupt("header checksum mismatch");
  byte_reader h(head.subspan(4));
  const auto major = h.get<std::uint16_t>("version");
  const auto minor = h.get<std::uint16_t>("version");
  // A newer minor adds sections this reader would take for corruption: say what it is instead.
  if (major > format_major || (major == format_major && minor > format_minor))
    fail(errc::unsupported_version, "index bytes use format " + std::to_string(major) + "." +
                                        std::to_string(minor) + "; this reader understands " +
                                        std::to_string(format_major) + ".0 to " +
                                        std::to_string(format_major) + "." + std::to_string(format_minor));
  if (major == 0) corrupt("format version 0");

  header_fields f;
  f.minor = minor;
  const auto m = h.get<std::uint8_t>("metric");
  const auto q = h.get<std::uint8_t>("quantization");
  f.flags = h.get<std::uint8_t>("flags");
  h.get<std::uint8_t>("reserved");
  if (m > 2) corrupt("unknown metric " + std::to_string(m));
  if (q > 1) corrupt("unknown quantization " + std::to_string(q));
  f.params.metric_kind = static_cast<metric>(m);
  f.params.quant = static_cast<quantization>(q);
  f.params.dim = h.get<std::uint32_t>("dim");
  f.params.m = h.get<std::uint32_t>("m");
  f.params.ef_construction = h.get<std::uint32_t>("ef_construction");
  f.params.ef_search = h.get<std::uint32_t>("ef_search");
  f.params.seed = h.get<std::uint64_t>("seed");
  f.params.compact_threshold = h.get<float>("compact_threshold");
  f.params.sq8_training_size = h.get<std::uint32_t>("sq8_training_size");
  f.params.sq8_rerank = (f.flags & flag_rerank) != 0;
  f.count = h.get<std::uint64_t>("count");
  f.deleted = h.get<std::uint64_t>("deleted count");
  f.next_id = h.get<std::uint32_t>("next id");
  h.get<std::uint32_t>("reserved");
  f.levels_drawn = h.get<std::uint64_t>("levels drawn");
  if (minor >= 1) {
    f.encoded = h.get<std::uint64_t>("encoded components");
    f.clamped = h.get<std::uint64_t>("clamped components");
    if (f.clamped > f.encoded) corrupt("more clamped components than encoded ones");
    if ((f.flags & flag_trained) == 0 && f.encoded != 0) corrupt("clamping counts on an untrained store");
  }
  if ((f.flags & ~(flag_rerank | flag_trained)) != 0) corrupt("unknown flags");
  if (q == 0 && f.flags != 0) corrupt("flags set on an f32 index");
  try {
    check_params(f.params);
  } catch (const error& e) {
    corrupt(std::string("bad parameters: ") + e.what());
  }
  if (f.count >= no_slot) corrupt("node count " + std::to_string(f.count) + " out of range");
  if (f.deleted > f.count) corrupt("more deleted nodes than nodes");
  return f;
}

/// Reads the next section, which must carry tag `t`; checks its checksum.
inline std::span<const std::uint8_t> read_section(byte_reader& r, std::uint32_t t, const char* name) {
  const auto got = r.get<std::uint32_t>(name);
  if (got != t) corrupt(std::string("expected section ") + name);
  const auto len = r.get<std::uint64_t>(name);
  const auto crc = r.get<std::uint32_t>(name);
  auto payload = r.take(len, name);
  if (crc32c::of(payload) != crc) corrupt(std::string("checksum mismatch in section ") + name);
  return payload;
}

/// A section that holds exactly `count` values of T.
template <class T>
std::vector<T> read_array(byte_reader& r, std::uint32_t t, const char* name, std::uint64_t count) {
  const auto bytes = read_section(r, t, name);
  if (bytes.size() != checked_mul(count, sizeof(T), name))
    corrupt(std::string("section ") + name + " has " + std::to_string(bytes.size()) +
            " bytes, expected " + std::to_string(count * sizeof(T)));
  std::vector<T> out(static_cast<std::size_t>(count));
  if (count) std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

/// A section that holds exactly `rows` rows of `stride` values of T, read straight into blocks.
template <class T>
row_blocks<T> read_rows(byte_reader& r, std::uint32_t t, const char* name, std::uint64_t rows, std::size_t stride) {
  const auto bytes = read_section(r, t, name);
  const std::uint64_t want = checked_mul(checked_mul(rows, stride, name), sizeof(T), name);
  if (bytes.size() != want)
    corrupt(std::string("section ") + name + " has " + std::to_string(bytes.size()) + " bytes, expected " +
            std::to_string(want));
  row_blocks<T> out(stride);
  out.append_rows(bytes.data(), static_cast<std::size_t>(rows));
  return out;
}

inline void check_finite(std::span<const float> v, const char* name) {
  for (float x : v)
    if (!std::isfinite(x)) corrupt(std::string("non-finite value in ") + name);
}

// Loading is split so that only the last step depends on the store type and metric: ids,
// tombstones and graph (read_common) and the store's arrays (read_f32_rows / read_sq8_parts) are
// parsed once for all metrics, which keeps the six index types from each instantiating a parser
// (about 5 KB of WASM).

/// Everything but the vectors, validated.
struct common_parts {
  std::vector<id_t> slot_ids;
  std::vector<std::uint64_t> deleted;
  graph links;
};

POCKETVEC_COLD inline common_parts read_common(byte_reader& r, const header_fields& f) {
  const std::size_t n = static_cast<std::size_t>(f.count);
  common_parts c;

  // Every section below is bounded by the bytes it occupies, so no allocation exceeds the input.
  c.slot_ids = read_array<id_t>(r, tag_ids, "IDS_", f.count);
  c.deleted = read_array<std::uint64_t>(r, tag_deleted, "DEL_", (f.count + 63) / 64);
  std::uint64_t popcount = 0;
  for (auto w : c.deleted) popcount += static_cast<std::uint64_t>(std::popcount(w));
  if (n % 64 && !c.deleted.empty() && (c.deleted.back() >> (n % 64)) != 0)
    corrupt("tombstone bits set past the last node");
  if (popcount != f.deleted) corrupt("tombstone count does not match the bitset");
  {
    // Since 1.1 next_id lies above every id ever used; 1.0 files get that repaired in assemble().
    if (f.minor >= 1)
      for (id_t id : c.slot_ids)
        if (id >= f.next_id) corrupt("id " + std::to_string(id) + " is not below the next id");
    // upsert() tombstones the old slot of an id and appends a new one, so until compaction an id
    // may own several slots: all of them but the last must be tombstoned (the last one is what the
    // id names; basic_index rebuilds its id map with the last slot winning).
    id_map seen;
    seen.reserve(n);
    for (slot_t s = 0; s < n; ++s) {
      const id_t id = c.slot_ids[s];
      if (id == invalid_id) corrupt("reserved id at slot " + std::to_string(s));
      const slot_t prev = seen.find(id);
      if (prev != no_slot && ((c.deleted[prev / 64] >> (prev % 64)) & 1u) == 0)
        corrupt("duplicate id " + std::to_string(id) + " at slots " + std::to_string(prev) + " and " +
                std::to_string(s) + ", the first not deleted");
      seen.set(id, s);
    }
  }

  const auto levels = read_array<std::uint8_t>(r, tag_levels, "LVL_", f.count);
  c.links = graph(f.params.m);
  c.links.reserve(n);
  for (std::uint8_t l : levels) {
    if (l > max_level) corrupt("node level " + std::to_string(l) + " above the maximum");
    c.links.add_node(l);
  }
  {
    byte_reader lr(read_section(r, tag_links, "LNK_"));
    std::vector<slot_t> nb;
    for (slot_t s = 0; s < n; ++s)
      for (int l = 0; l <= levels[s]; ++l) {
        const auto count = lr.get<std::uint16_t>("LNK_");
        if (count > c.links.capacity(l))
          corrupt("node " + std::to_string(s) + " has " + std::to_string(count) +
                  " neighbours at level " + std::to_string(l));
        nb.resize(count);
        for (auto& t : nb) {
          t = lr.get<slot_t>("LNK_");
          if (t >= n || t == s || levels[t] < l)
            corrupt("node " + std::to_string(s) + " has invalid neighbour " + std::to_string(t));
        }
        c.links.set_neighbors(s, l, nb);
      }
    if (lr.remaining() != 0) corrupt("trailing bytes in LNK_");
  }
  c.links.validate();
  return c;
}

inline row_blocks<float> read_f32_rows(byte_reader& r, const header_fields& f) {
  const std::size_t dim = f.params.dim;
  auto rows = read_rows<float>(r, tag_f32, "F32_", f.count, dim);
  rows.for_each_span([](std::span<const float> s) { check_finite(s, "F32_"); });
  // Only vectors insert() would take: past this length l2/ip distances overflow float.
  if (f.params.metric_kind != metric::cosine)
    for (std::size_t s = 0; s < rows.size(); ++s) {
      const float* v = rows.row(s);
      double n2 = 0;
      for (std::size_t i = 0; i < dim; ++i) n2 += double{v[i]} * v[i];
      if (n2 > max_squared_length) corrupt("vector at slot " + std::to_string(s) + " in F32_ is too large");
    }
  return rows;
}

POCKETVEC_COLD inline sq8_parts read_sq8_parts(byte_reader& r, const header_fields& f) {
  const std::size_t n = static_cast<std::size_t>(f.count);
  const std::size_t dim = f.params.dim;
  sq8_parts p;
  p.dim = dim;
  p.training_size = f.params.sq8_training_size;
  p.rerank = f.params.sq8_rerank;
  p.trained = (f.flags & flag_trained) != 0;
  if (!p.trained && n >= p.training_size)
    corrupt("untrained SQ8 store holds as many vectors as its training size");
  if (p.trained) {
    auto ranges = read_array<float>(r, tag_ranges, "SQR_", checked_mul(dim, 2, "SQR_"));
    check_finite(ranges, "SQR_");
    p.lo.assign(ranges.begin(), ranges.begin() + static_cast<std::ptrdiff_t>(dim));
    p.step.assign(ranges.begin() + static_cast<std::ptrdiff_t>(dim), ranges.end());
    for (std::size_t i = 0; i < dim; ++i)
      if (p.step[i] < 0 || !std::isfinite(double{p.lo[i]} + 255.0 * p.step[i]) ||
          std::abs(double{p.lo[i]} + 255.0 * p.step[i]) > std::numeric_limits<float>::max())
        corrupt("SQ8 range of dimension " + std::to_string(i) + " is invalid");
    p.codes = read_rows<std::uint8_t>(r, tag_codes, "SQC_", f.count, dim);
    if (f.params.metric_kind != metric::ip) {
      // Norms are derived from finite codes but may overflow a float: |x̂ - lo|² of components
      // near 1e20 (l2) or 1/|x̂| of tiny ones (cosine) is +inf in a valid index, so +inf is kept.
      const bool relative = f.params.metric_kind == metric::l2 && f.minor >= 1;
      p.norms = relative ? read_rows<float>(r, tag_l2_norms, "SQD_", f.count, 1)
                         : read_rows<float>(r, tag_norms, "SQN_", f.count, 1);
      p.norms.for_each_span([](std::span<const float> s) {
        for (float x : s)
          if (std::isnan(x) || x < 0) corrupt("NaN or negative norm in SQN_/SQD_");
      });
      // 1.0 stored |x̂|² under l2: from_parts() recomputes the range-relative form from the codes.
      if (f.params.metric_kind == metric::l2 && !relative) p.norms.clear();
    }
    p.encoded = f.encoded;
    p.clamped = f.clamped;
  }
  if (!p.trained || p.rerank) p.raw = read_f32_rows(r, f);
  return p;
}

inline void expect_end(const byte_reader& r) {
  if (r.remaining() != 0) corrupt(std::to_string(r.remaining()) + " trailing bytes after the last section");
}

/// The one step per index type: adopt the validated parts.
template <class Store>
POCKETVEC_COLD index assemble(const header_fields& f, common_parts&& c, Store&& store) {
  index_state<Store> st;
  st.next_id = f.next_id;
  // 1.0 writers could leave next_id at or below an upserted id; fresh ids must never meet one.
  for (id_t id : c.slot_ids) st.next_id = std::max(st.next_id, static_cast<id_t>(id + 1));
  st.levels_drawn = f.levels_drawn;
  st.deleted_count = static_cast<std::size_t>(f.deleted);
  st.slot_ids = std::move(c.slot_ids);
  st.deleted = std::move(c.deleted);
  st.links = std::move(c.links);
  st.store = std::move(store);
  return index(basic_index<Store>(f.params, std::move(st)));
}

template <metric M>
POCKETVEC_COLD index load_metric(byte_reader& r, const header_fields& f) {
  auto common = read_common(r, f);
  if (f.params.quant == quantization::sq8) {
    auto parts = read_sq8_parts(r, f);
    expect_end(r);
    return assemble(f, std::move(common), sq8_store<M>::from_parts(std::move(parts)));
  }
  auto rows = read_f32_rows(r, f);
  expect_end(r);
  return assemble(f, std::move(common), f32_store<M>(f.params.dim, std::move(rows)));
}

}  // namespace detail

/// Serializes `idx`: deterministic, little-endian, checksummed. O(size of the index).
inline std::vector<std::uint8_t> save(const index& idx) {
  return idx.visit([](const auto& core) {
    detail::serializer s(core);
    std::vector<std::uint8_t> out;
    out.reserve(static_cast<std::size_t>(s.total_bytes()));
    s.for_each_piece([&](std::span<const std::uint8_t> p) { out.insert(out.end(), p.begin(), p.end()); });
    return out;
  });
}

/// Writes the same bytes as save() to a stream; errc::io_error if the stream fails.
inline void save(const index& idx, std::ostream& os) {
  idx.visit([&](const auto& core) {
    detail::serializer s(core);
    s.for_each_piece([&](std::span<const std::uint8_t> p) {
      os.write(reinterpret_cast<const char*>(p.data()), static_cast<std::streamsize>(p.size()));
    });
  });
  if (!os) detail::fail(errc::io_error, "writing the index to the stream failed");
}

/// Parses and validates `bytes` completely, then builds the index. Throws on any defect.
inline index load(std::span<const std::uint8_t> bytes) {
  detail::byte_reader r(bytes);
  const detail::header_fields f = detail::read_header(r);
  switch (f.params.metric_kind) {
    case metric::l2: return detail::load_metric<metric::l2>(r, f);
    case metric::cosine: return detail::load_metric<metric::cosine>(r, f);
    case metric::ip: return detail::load_metric<metric::ip>(r, f);
  }
  detail::corrupt("unknown metric");
}

/// Reads the stream to its end, then load()s it.
inline index load(std::istream& is) {
  std::vector<std::uint8_t> bytes{std::istreambuf_iterator<char>(is), std::istreambuf_iterator<char>()};
  if (is.bad()) detail::fail(errc::io_error, "reading the index from the stream failed");
  return load(bytes);
}

/// Produces the bytes of save() in fixed-size chunks without building the whole byte string:
/// the index's own arrays are copied chunk by chunk (only the link lists are staged). The index
/// must not change while a writer is alive.
class chunked_writer {
 public:
  chunked_writer(const index& idx, std::size_t chunk_bytes) : chunk_(chunk_bytes) {
    if (chunk_bytes == 0) detail::fail(errc::invalid_argument, "chunk size must be at least 1 byte");
    idx.visit([&](const auto& core) {
      ser_ = std::make_unique<detail::serializer>(core);
      ser_->for_each_piece([&](std::span<const std::uint8_t> p) {
        if (!p.empty()) pieces_.push_back(p);
      });
    });
  }
  std::uint64_t total_bytes() const noexcept { return ser_->total_bytes(); }

  /// Fills `out` with the next chunk (chunk_bytes, the last one shorter); false when done.
  bool next(std::vector<std::uint8_t>& out) {
    out.clear();
    while (out.size() < chunk_ && piece_ < pieces_.size()) {
      const auto p = pieces_[piece_];
      const std::size_t take = std::min(chunk_ - out.size(), p.size() - offset_);
      out.insert(out.end(), p.begin() + static_cast<std::ptrdiff_t>(offset_),
                 p.begin() + static_cast<std::ptrdiff_t>(offset_ + take));
      offset_ += take;
      if (offset_ == p.size()) {
        ++piece_;
        offset_ = 0;
      }
    }
    return !out.empty();
  }

 private:
  std::size_t chunk_;
  std::unique_ptr<detail::serializer> ser_;
  std::vector<std::span<const std::uint8_t>> pieces_;
  std::size_t piece_ = 0, offset_ = 0;
};

/// Collects chunks in order, then loads them. Holds one copy of the bytes.
class chunked_reader {
 public:
  void feed(std::span<const std::uint8_t> chunk) { bytes_.insert(bytes_.end(), chunk.begin(), chunk.end()); }
  std::size_t size() const noexcept { return bytes_.size(); }
  index finish() {
    std::vector<std::uint8_t> b;
    b.swap(bytes_);
    return load(b);
  }

 private:
  std::vector<std::uint8_t> bytes_;
};

inline std::vector<std::uint8_t> index::save() const { return pocketvec::save(*this); }
inline index index::load(std::span<const std::uint8_t> bytes) { return pocketvec::load(bytes); }

}  // namespace pocketvec::POCKETVEC_ABI
