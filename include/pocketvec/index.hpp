// pocketvec/index.hpp — the index users hold: ids, validation, tombstones, compaction, parameters.
//
// basic_index<Store> is the templated core: an HNSW graph over one vector store, with every hot
// loop specialised for that store. `index` is the everyday facade: it picks one basic_index
// instantiation from runtime parameters (metric x quantization) once, at construction.
//
// Invariants: slot_ids has one entry per graph node and store row; every id that has a slot (live or
// tombstoned) finds its latest slot through ids_ (id_map.hpp: a binary search while ids are in slot
// order, else a hash table); a tombstoned slot is never returned by search; ids are never reused
// for another vector unless the user upserts them.
// Not thread-safe: one thread at a time per index (searches reuse internal scratch buffers).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "config.hpp"
#include "error.hpp"
#include "hnsw/graph.hpp"
#include "hnsw/insert.hpp"
#include "hnsw/search.hpp"
#include "id_map.hpp"
#include "metric.hpp"
#include "sq8.hpp"
#include "storage.hpp"

namespace pocketvec {

/// How vectors are stored. Values are persisted in the binary format: never renumber.
enum class quantization : std::uint8_t { none = 0, sq8 = 1 };

struct index_params {
  std::size_t dim = 0;                  ///< 1 .. max_dim
  metric metric_kind = metric::l2;
  quantization quant = quantization::none;
  std::size_t m = 16;                   ///< min_m .. max_m; level-0 lists hold 2*m
  std::size_t ef_construction = 200;    ///< >= 1; beam width while inserting
  std::size_t ef_search = 64;           ///< >= 1; beam width when search() is given ef = 0
  std::uint64_t seed = 42;              ///< level sampling; same seed + same inserts = same graph
  float compact_threshold = 0.30f;      ///< auto-compact when tombstone_ratio() exceeds it; 0 = never
  std::size_t sq8_training_size = 1000; ///< SQ8: ranges are trained on the first N vectors
  bool sq8_rerank = false;              ///< SQ8: keep f32 too and re-score candidates exactly
};

struct search_result {
  id_t id;
  float distance;
  friend bool operator==(const search_result&, const search_result&) = default;
};

namespace detail {

inline void check_params(const index_params& p) {
  auto bad = [](const std::string& what) { fail(errc::invalid_argument, what); };
  if (p.dim == 0 || p.dim > max_dim)
    bad("dimension must be in 1.." + std::to_string(max_dim) + ", got " + std::to_string(p.dim));
  if (p.m < min_m || p.m > max_m)
    bad("m must be in " + std::to_string(min_m) + ".." + std::to_string(max_m) + ", got " +
        std::to_string(p.m));
  if (p.ef_construction == 0) bad("ef_construction must be at least 1");
  if (p.ef_search == 0) bad("ef_search must be at least 1");
  if (!(p.compact_threshold >= 0.0f && p.compact_threshold <= 1.0f))
    bad("compact_threshold must be in [0, 1] (0 disables automatic compaction)");
  if (static_cast<int>(p.metric_kind) > 2) bad("unknown metric");
  if (static_cast<int>(p.quant) > 1) bad("unknown quantization");
  if (p.quant == quantization::sq8 && p.sq8_training_size == 0)
    bad("sq8_training_size must be at least 1");
}

/// Checks one user vector; returns the floats a store should see: `v` itself, or under cosine a
/// unit-length copy in `buffer`. `what` names the vector in messages ("vector", "query").
/// The largest |v|² insert() and search() accept under l2 and ip (see check_vector); the loader
/// holds stored f32 rows to it too.
inline constexpr double max_squared_length = static_cast<double>(std::numeric_limits<float>::max()) / 4;

inline const float* check_vector(std::span<const float> v, std::size_t dim, metric m,
                                 std::vector<float>& buffer, const char* what) {
  if (v.size() != dim)
    fail(errc::dimension_mismatch, std::string("dimension mismatch: index has ") +
                                       std::to_string(dim) + ", " + what + " has " +
                                       std::to_string(v.size()));
  double norm2 = 0.0;
  for (std::size_t i = 0; i < dim; ++i) {
    if (!std::isfinite(v[i]))
      fail(errc::non_finite, std::string(what) + " component " + std::to_string(i) + " is " +
                                 (std::isnan(v[i]) ? "NaN" : "infinite"));
    norm2 += double{v[i]} * double{v[i]};
  }
  if (m != metric::cosine) {
    // Past |v|² = FLT_MAX/4, |q - x|², q·x or their partial sums can overflow float (to inf, or
    // NaN as inf - inf), and results would stop being ordered. Cosine normalises, so it is exempt.
    if (norm2 > max_squared_length)  // (no number formatting: printf's float code would cost the WASM build 5 KB)
      fail(errc::non_finite, std::string(what) +
                                 " is too large: its squared length exceeds FLT_MAX/4 (about 8.5e37), "
                                 "so its distances would overflow float");
    return v.data();
  }
  if (norm2 == 0.0)
    fail(errc::zero_vector, std::string(what) + " is all zeros: it has no direction under cosine");
  const double inv = 1.0 / std::sqrt(norm2);
  buffer.resize(dim);
  for (std::size_t i = 0; i < dim; ++i) buffer[i] = static_cast<float>(v[i] * inv);
  return buffer.data();
}

/// splitmix64 over (seed, counter): the same levels on every platform and standard library.
inline std::uint64_t splitmix64(std::uint64_t x) noexcept {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/// HNSW level with P(level >= l) = m^-l, from integer thresholds only (no libm, so native and
/// WASM agree bit for bit).
inline int draw_level(std::uint64_t seed, std::uint64_t counter, std::size_t m) noexcept {
  const std::uint64_t r = splitmix64(seed ^ splitmix64(counter));
  int level = 0;
  for (std::uint64_t t = ~std::uint64_t{0} / m; r < t && level < max_level; t /= m) ++level;
  return level;
}

}  // namespace detail

/// Everything a basic_index persists; format.hpp writes and reads exactly this.
template <vector_store Store>
struct index_state {
  Store store;
  graph links;
  std::vector<id_t> slot_ids;           ///< slot -> id
  std::vector<std::uint64_t> deleted;   ///< tombstone bitset over slots
  std::size_t deleted_count = 0;
  id_t next_id = 0;                     ///< smallest id insert() may hand out next
  std::uint64_t levels_drawn = 0;       ///< level-sampler counter
};

template <vector_store Store>
class basic_index {
 public:
  using store_type = Store;
  static constexpr metric metric_kind = Store::metric_kind;

  basic_index(const index_params& params, Store store) : params_(params) {
    detail::check_params(params_);
    POCKETVEC_ASSERT(params_.metric_kind == metric_kind && store.dim() == params_.dim);
    state_.store = std::move(store);
    state_.links = graph(params_.m);
  }

  // Moves stay out of line: inlined into each of the facade's six variant alternatives they cost
  // the WASM build several KB.
  POCKETVEC_NOINLINE basic_index(basic_index&&) noexcept = default;
  POCKETVEC_NOINLINE basic_index& operator=(basic_index&&) noexcept = default;

  /// Adopts a loaded state; the caller (format.hpp) has validated it.
  basic_index(const index_params& params, index_state<Store>&& state)
      : params_(params), state_(std::move(state)) {
    detail::check_params(params_);
    rebuild_id_map();
  }

  const index_params& params() const noexcept { return params_; }
  const index_state<Store>& state() const noexcept { return state_; }
  std::size_t dim() const noexcept { return params_.dim; }
  std::size_t size() const noexcept { return state_.slot_ids.size() - state_.deleted_count; }
  std::size_t deleted_count() const noexcept { return state_.deleted_count; }
  double tombstone_ratio() const noexcept {
    const std::size_t total = state_.slot_ids.size();
    return total == 0 ? 0.0 : static_cast<double>(state_.deleted_count) / static_cast<double>(total);
  }

  /// True while id lookups need no hash table (see id_map.hpp).
  bool ids_in_slot_order() const noexcept { return ids_.in_slot_order(); }

  std::size_t memory_bytes() const noexcept {
    return state_.store.memory_bytes() + state_.links.memory_bytes() +
           state_.slot_ids.capacity() * sizeof(id_t) +
           state_.deleted.capacity() * sizeof(std::uint64_t) + ids_.memory_bytes() +
           scratch_.search.visited.memory_bytes() + sizeof(*this);
  }

  void reserve(std::size_t n) {
    state_.store.reserve(n);
    state_.links.reserve(n);
    state_.slot_ids.reserve(n);
    ids_.reserve(n);
  }

  /// Inserts under a new id (the smallest never handed out). O(log n · ef_construction) distances.
  id_t insert(std::span<const float> v) {
    const float* data = detail::check_vector(v, dim(), metric_kind, vbuf_, "vector");
    const id_t id = fresh_id();
    add(id, data);
    return id;
  }

  /// Inserts under `id`, replacing (tombstoning) any vector stored under it.
  void upsert(id_t id, std::span<const float> v) {
    if (id == invalid_id) detail::fail(errc::invalid_argument, "id 4294967295 is reserved");
    const float* data = detail::check_vector(v, dim(), metric_kind, vbuf_, "vector");
    const slot_t old = find_slot(id);
    if (old != no_slot && !is_deleted(old)) mark_deleted(old);
    add(id, data);  // fresh_id() skips ids taken this way
    maybe_compact();
  }

  /// All-or-nothing on bad input: every vector is checked before the first one is inserted.
  std::vector<id_t> insert_batch(std::span<const float> flat) {
    check_batch(flat);
    const std::size_t n = flat.size() / dim();
    reserve_more(n);
    std::vector<id_t> out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) out.push_back(insert(flat.subspan(i * dim(), dim())));
    return out;
  }

  /// Checks a batch as insert_batch() does, inserting nothing. Errors name the row, counted from
  /// `first_row` (for callers that check one large batch in pieces).
  void check_batch(std::span<const float> flat, std::size_t first_row = 0) {
    if (flat.size() % dim() != 0)
      detail::fail(errc::dimension_mismatch,
                   "batch length " + std::to_string(flat.size()) +
                       " is not a multiple of the dimension " + std::to_string(dim()));
    const std::size_t n = flat.size() / dim();
    for (std::size_t i = 0; i < n; ++i) {
      try {
        detail::check_vector(flat.subspan(i * dim(), dim()), dim(), metric_kind, vbuf_, "vector");
      } catch (const error& e) {
        detail::fail(e.code(), std::string("batch row ") + std::to_string(first_row + i) + ": " + e.what());
      }
    }
  }

  /// Room for n more vectors, growing by at least half so that many small batches do not copy
  /// everything each time (one big batch on an empty index, or after reserve(), gets exactly n).
  void reserve_more(std::size_t n) {
    const std::size_t have = state_.slot_ids.size(), room = state_.slot_ids.capacity();
    if (have + n > room) reserve(std::max(have + n, room + room / 2));
  }

  /// Tombstones `id`: errc::unknown_id if it never existed (or was compacted away),
  /// errc::deleted_id if it is already deleted. May trigger automatic compaction.
  void erase(id_t id) {
    mark_deleted(live_slot(id));
    maybe_compact();
  }

  bool contains(id_t id) const noexcept {
    const slot_t s = find_slot(id);
    return s != no_slot && !is_deleted(s);
  }

  /// The stored vector (decoded under SQ8; unit length under cosine).
  std::vector<float> get(id_t id) const {
    std::vector<float> out(dim());
    state_.store.decode(live_slot(id), out);
    return out;
  }

  /// The k nearest live vectors, ascending by distance (fewer if fewer are live).
  /// ef = 0 uses params().ef_search; ef < k is raised to k.
  std::vector<search_result> search(std::span<const float> query, std::size_t k,
                                    std::size_t ef = 0) {
    if (k == 0) detail::fail(errc::invalid_argument, "k must be at least 1");
    const float* q = detail::check_vector(query, dim(), metric_kind, qbuf_, "query");
    if (size() == 0) detail::fail(errc::empty_index, "search on an empty index (no live vectors)");
    ef = std::max(ef == 0 ? params_.ef_search : ef, k);

    const graph& g = state_.links;
    const Store& store = state_.store;
    store.prepare(query_, q);
    candidate cur{store.distance(query_, g.entry_point()), g.entry_point()};
    for (int l = g.top_level(); l > 0; --l) cur = greedy_closest(g, store, query_, cur, l);
    const std::span<const candidate> entry(&cur, 1);
    if (state_.deleted_count == 0) {
      search_layer(g, store, query_, entry, ef, 0, scratch_.search, accept_all{});
    } else {
      search_layer(g, store, query_, entry, ef, 0, scratch_.search,
                   [this](slot_t s) { return !is_deleted(s); });
    }
    auto& found = scratch_.search.results;
    if constexpr (requires { store.exact_distance(q, slot_t{}); }) {
      if (store.has_exact())
        for (candidate& c : found) c.distance = store.exact_distance(q, c.slot);
      std::make_heap(found.begin(), found.end(), closer);
    }
    sort_results(found);
    const std::size_t n = std::min(k, found.size());
    std::vector<search_result> out(n);
    for (std::size_t i = 0; i < n; ++i) out[i] = {state_.slot_ids[found[i].slot], found[i].distance};
    return out;
  }

  /// Rebuilds the graph over live vectors only; ids, stored vectors and SQ8 ranges are kept.
  /// O(n log n · ef_construction). A no-op when nothing is deleted.
  void compact() {
    if (state_.deleted_count == 0) return;
    std::vector<slot_t> keep;
    keep.reserve(size());
    for (slot_t s = 0; s < state_.slot_ids.size(); ++s)
      if (!is_deleted(s)) keep.push_back(s);

    index_state<Store> next;
    next.store = state_.store.compacted(keep);
    next.links = graph(params_.m);
    next.links.reserve(keep.size());
    next.slot_ids.reserve(keep.size());
    for (slot_t s : keep) next.slot_ids.push_back(state_.slot_ids[s]);
    next.next_id = state_.next_id;
    next.levels_drawn = state_.levels_drawn;
    next.deleted.assign((keep.size() + 63) / 64, 0);
    std::vector<float> row(dim());
    for (slot_t s = 0; s < keep.size(); ++s) {
      next.store.decode(s, row);
      next.store.prepare(scratch_.query, row.data());
      const int level = detail::draw_level(params_.seed, next.levels_drawn++, params_.m);
      insert_node(next.links, next.store, s, scratch_.query, level, params_.ef_construction,
                  scratch_);
    }
    state_ = std::move(next);
    rebuild_id_map();
  }

  /// SQ8 only: trains the quantizer on `sample` (flat rows) instead of the first vectors.
  void train(std::span<const float> sample) {
    if constexpr (requires(Store& s) { s.train(sample.data(), std::size_t{}); }) {
      if (sample.empty() || sample.size() % dim() != 0)
        detail::fail(errc::dimension_mismatch, "training sample length " +
                                                   std::to_string(sample.size()) +
                                                   " is not a positive multiple of the dimension " +
                                                   std::to_string(dim()));
      const std::size_t n = sample.size() / dim();
      std::vector<float> rows;
      rows.reserve(sample.size());
      for (std::size_t i = 0; i < n; ++i) {
        const float* r = detail::check_vector(sample.subspan(i * dim(), dim()), dim(), metric_kind,
                                              vbuf_, "training vector");
        rows.insert(rows.end(), r, r + dim());
      }
      state_.store.train(rows.data(), n);
    } else {
      detail::fail(errc::invalid_argument, "train() applies to SQ8 indexes only");
    }
  }

 private:
  bool is_deleted(slot_t s) const noexcept {
    return (state_.deleted[s / 64] >> (s % 64)) & 1u;
  }

  void mark_deleted(slot_t s) noexcept {
    state_.deleted[s / 64] |= std::uint64_t{1} << (s % 64);
    ++state_.deleted_count;
  }

  slot_t live_slot(id_t id) const {
    const slot_t s = find_slot(id);
    if (s == no_slot) detail::fail(errc::unknown_id, "unknown id " + std::to_string(id));
    if (is_deleted(s)) detail::fail(errc::deleted_id, "id " + std::to_string(id) + " is deleted");
    return s;
  }

  id_t fresh_id() {
    while (find_slot(state_.next_id) != no_slot) ++state_.next_id;
    if (state_.next_id == invalid_id)
      detail::fail(errc::capacity_exceeded, "no free ids left below 4294967295");
    return state_.next_id++;
  }

  void add(id_t id, const float* data) {
    const std::size_t n = state_.slot_ids.size();
    if (n >= no_slot - 1)
      detail::fail(errc::capacity_exceeded, "an index holds at most 4294967294 vectors");
    Store& store = state_.store;
    const slot_t slot = store.append(data);
    store.prepare(scratch_.query, data);
    const int level = detail::draw_level(params_.seed, state_.levels_drawn++, params_.m);
    insert_node(state_.links, store, slot, scratch_.query, level, params_.ef_construction, scratch_);
    state_.slot_ids.push_back(id);
    if (state_.deleted.size() * 64 <= slot) state_.deleted.push_back(0);
    ids_.appended(state_.slot_ids);
  }

  slot_t find_slot(id_t id) const noexcept { return ids_.find(id, state_.slot_ids); }

  void maybe_compact() {
    if (params_.compact_threshold > 0.0f && tombstone_ratio() > params_.compact_threshold)
      compact();
  }

  void rebuild_id_map() { ids_.rebuild(state_.slot_ids); }


  index_params params_;
  index_state<Store> state_;
  id_lookup ids_;
  // Scratch, reused so that steady-state inserts and searches do not allocate.
  insert_scratch<Store> scratch_;
  typename Store::query_type query_;
  std::vector<float> vbuf_, qbuf_;
};

}  // namespace pocketvec

namespace pocketvec {

/// The facade: one index type whose metric and quantization are runtime parameters. Each call is
/// dispatched once to the basic_index instantiation chosen at construction.
class index {
 public:
  /// Throws errc::invalid_argument naming the first bad parameter.
  explicit index(const index_params& params) : impl_(make(params)) {}

  template <vector_store Store>
  explicit index(basic_index<Store>&& impl) : impl_(std::move(impl)) {}

  /// The typed core, for code that wants to reach it (serialization, tests).
  template <class F>
  decltype(auto) visit(F&& f) {
    return std::visit(std::forward<F>(f), impl_);
  }
  template <class F>
  decltype(auto) visit(F&& f) const {
    return std::visit(std::forward<F>(f), impl_);
  }

  const index_params& params() const noexcept { return visit([](auto& i) -> auto& { return i.params(); }); }
  std::size_t dim() const noexcept { return params().dim; }
  std::size_t size() const noexcept { return visit([](auto& i) { return i.size(); }); }
  std::size_t deleted_count() const noexcept { return visit([](auto& i) { return i.deleted_count(); }); }
  double tombstone_ratio() const noexcept { return visit([](auto& i) { return i.tombstone_ratio(); }); }
  std::size_t memory_bytes() const noexcept { return visit([](auto& i) { return i.memory_bytes(); }); }
  void reserve(std::size_t n) { visit([&](auto& i) { i.reserve(n); }); }

  id_t insert(std::span<const float> v) { return visit([&](auto& i) { return i.insert(v); }); }
  void upsert(id_t id, std::span<const float> v) { visit([&](auto& i) { i.upsert(id, v); }); }
  std::vector<id_t> insert_batch(std::span<const float> flat) {
    return visit([&](auto& i) { return i.insert_batch(flat); });
  }
  void check_batch(std::span<const float> flat, std::size_t first_row = 0) {
    visit([&](auto& i) { i.check_batch(flat, first_row); });
  }
  void reserve_more(std::size_t n) { visit([&](auto& i) { i.reserve_more(n); }); }
  void erase(id_t id) { visit([&](auto& i) { i.erase(id); }); }
  bool contains(id_t id) const noexcept { return visit([&](auto& i) { return i.contains(id); }); }
  std::vector<float> get(id_t id) const { return visit([&](auto& i) { return i.get(id); }); }
  std::vector<search_result> search(std::span<const float> q, std::size_t k, std::size_t ef = 0) {
    return visit([&](auto& i) { return i.search(q, k, ef); });
  }
  void compact() { visit([](auto& i) { i.compact(); }); }
  void train(std::span<const float> sample) { visit([&](auto& i) { i.train(sample); }); }

  /// The binary format (format.hpp, docs/format.md): deterministic bytes, and an all-or-nothing
  /// load that throws errc::corrupt_data / errc::unsupported_version on bad input.
  std::vector<std::uint8_t> save() const;
  static index load(std::span<const std::uint8_t> bytes);

 private:
  using variant_type =
      std::variant<basic_index<f32_store<metric::l2>>, basic_index<f32_store<metric::cosine>>,
                   basic_index<f32_store<metric::ip>>, basic_index<sq8_store<metric::l2>>,
                   basic_index<sq8_store<metric::cosine>>, basic_index<sq8_store<metric::ip>>>;

  static variant_type make(const index_params& p) {
    detail::check_params(p);
    switch (p.metric_kind) {
      case metric::l2: return make_with<metric::l2>(p);
      case metric::cosine: return make_with<metric::cosine>(p);
      case metric::ip: return make_with<metric::ip>(p);
    }
    detail::fail(errc::invalid_argument, "unknown metric");
  }

  template <metric M>
  static variant_type make_with(const index_params& p) {
    if (p.quant == quantization::sq8)
      return basic_index<sq8_store<M>>(p, sq8_store<M>(p.dim, p.sq8_training_size, p.sq8_rerank));
    return basic_index<f32_store<M>>(p, f32_store<M>(p.dim));
  }

  variant_type impl_;
};

}  // namespace pocketvec

// The member functions save() and load() live with the rest of the format.
#include "format.hpp"
