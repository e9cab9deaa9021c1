// pocketvec/index.hpp — the index users hold: ids, validation, tombstones, compaction, parameters.
//
// basic_index<Store> is the templated core: an HNSW graph over one vector store, with every hot
// loop specialised for that store. `index` is the everyday facade: it picks one basic_index
// instantiation from runtime parameters (metric x quantization) once, at construction.
//
// Invariants: slot_ids has one entry per graph node and store row; every id that has a slot (live or
// tombstoned) finds its latest slot through ids_ (id_map.hpp: a binary search while ids are in slot
// order, else a hash table); a tombstoned slot is never returned by search; next_id is above every
// id ever stored, so insert() never hands out an id that was used before, even one compacted away.
// Failure: every mutating call (insert, upsert, insert_batch, erase, compact, train) gives the strong
// guarantee. If it throws (bad input, std::bad_alloc), the index is exactly as before. An insert
// reserves room first, appends the vector (strong), plans its links (reads only), and only then
// commits, a step that allocates nothing; a batch keeps the lists it changes until it ends, and
// undoes all of its rows on failure.
// Metadata and keys (attributes.hpp) have one row per slot beside the store; their code is
// non-template and only called from here (a record is staged before add() and committed with it).
// Not thread-safe: one thread at a time per index (searches reuse internal scratch buffers).
#pragma once

#include "abi.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "attributes.hpp"
#include "config.hpp"
#include "error.hpp"
#include "filter.hpp"
#include "hnsw/graph.hpp"
#include "hnsw/insert.hpp"
#include "hnsw/repair.hpp"
#include "hnsw/search.hpp"
#include "id_map.hpp"
#include "metric.hpp"
#include "query.hpp"
#include "sq8.hpp"
#include "storage.hpp"

namespace pocketvec::inline POCKETVEC_ABI {

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
  float compact_threshold = 0.30f;      ///< needs_compaction() once tombstone_ratio() exceeds it; 0 = never
  std::size_t sq8_training_size = 1000; ///< SQ8: ranges are trained on the first N vectors
  bool sq8_rerank = false;              ///< SQ8: keep f32 too and re-score candidates exactly
};

struct search_result {
  id_t id;
  float distance;
  friend bool operator==(const search_result&, const search_result&) = default;
};

/// The state of an SQ8 index's quantizer (all zero for an f32 index).
struct sq8_stats {
  bool trained = false;          ///< ranges learned (after sq8_training_size inserts, or train())
  std::uint64_t encoded = 0;     ///< vector components encoded since the ranges were learned
  std::uint64_t clamped = 0;     ///< of those, outside the learned ranges (stored clamped)
  /// clamped / encoded (0 when nothing was encoded). Past a few per cent, recall suffers: train().
  double clamped_fraction() const noexcept {
    return encoded == 0 ? 0.0 : static_cast<double>(clamped) / static_cast<double>(encoded);
  }
};

/// What a save writes: the whole index, or a segment with what changed since the last save point.
enum class save_mode : std::uint8_t { full, append };

/// A state of an index as saved (format.hpp, docs/format.md "Segments"): what an incremental save
/// extends. A writer hands one out for the bytes it wrote; index::saved() takes it once they are stored.
struct save_point {
  std::uint32_t digest = 0;   ///< names the saved bytes: a checksum over the checksums of every part
  std::uint64_t count = 0;    ///< slots (nodes) in that state
  bool trained = false;       ///< SQ8 trained in that state
  std::uint64_t edits = 0;    ///< basic_index::edits() in that state (in memory only)
  std::uint64_t owner = 0;    ///< which index object it is of (in memory only)
  bool valid = false;         ///< false: no state (a fresh index, or one whose save was forgotten)
};

namespace detail {

/// What an index knows of its saves: the save point, its edit counter and its own number (no
/// other index object of this process has it; save points name their index by it). Out of line:
/// each of the facade's six index types constructs one.
struct save_state {
  save_point point;
  std::uint64_t edits = 0;   // changes of state, counted when done (a save point's state)
  std::uint64_t layout = 0;  // calls that may move the arrays, counted before they start (a live writer's)
  std::uint64_t owner;
  POCKETVEC_NOINLINE save_state() noexcept {
    static std::atomic<std::uint64_t> last{0};
    owner = ++last;
  }
};

POCKETVEC_COLD inline void check_params(const index_params& p) {
  auto bad = [](const std::string& what) { fail(errc::invalid_argument, what); };
  if (p.dim == 0 || p.dim > max_dim)
    bad("dimension must be in 1.." + std::to_string(max_dim) + ", got " + std::to_string(p.dim));
  if (p.m < min_m || p.m > max_m)
    bad("m must be in " + std::to_string(min_m) + ".." + std::to_string(max_m) + ", got " +
        std::to_string(p.m));
  // The format stores these as u32: a larger value would save into a file that does not load.
  constexpr std::size_t u32_max = 0xFFFFFFFFu;
  if (p.ef_construction == 0 || p.ef_construction > u32_max)
    bad("ef_construction must be in 1..4294967295, got " + std::to_string(p.ef_construction));
  if (p.ef_search == 0 || p.ef_search > u32_max)
    bad("ef_search must be in 1..4294967295, got " + std::to_string(p.ef_search));
  if (p.sq8_training_size > u32_max)
    bad("sq8_training_size must be at most 4294967295, got " + std::to_string(p.sq8_training_size));
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
      fail(errc::out_of_range, std::string(what) +
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

namespace detail {
/// compact()'s work that does not depend on the store, compiled once.
struct compaction {
  repair_plan plan;
  repair_scratch scratch;
  std::vector<id_t> slot_ids;
  std::vector<std::uint64_t> deleted;
  id_lookup ids;

  bool ids_in_place = false;

  /// Plans the repair and the renumbered ids. May throw; changes nothing. While the ids are in
  /// slot order (no lookup table) the survivors' stay in order, so commit() renumbers them in
  /// place; otherwise they and their table are built aside here.
  POCKETVEC_COLD void plan_for(const graph& g, const repair_oracle& o, const std::vector<std::uint64_t>& tombstones,
                               const std::vector<id_t>& old_ids, bool ids_in_slot_order) {
    plan_repair(g, o, tombstones.data(), plan, scratch);
    // What only the planning needed goes before anything else is built aside (the peak): the
    // scratch (per slot: marks, reachability, pins, walk queues) and the slot -> planned-list index.
    scratch = repair_scratch{};
    std::vector<std::uint32_t>().swap(plan.pos0);
    deleted.assign((plan.live + 63) / 64, 0);
    ids_in_place = ids_in_slot_order;
    if (ids_in_place) return;  // `ids` stays an in-order lookup
    slot_ids.assign(plan.live, 0);
    for (std::size_t s = 0; s < old_ids.size(); ++s)
      if (plan.remap[s] != no_slot) slot_ids[plan.remap[s]] = old_ids[s];
    ids.rebuild(slot_ids);
  }
  /// Writes the graph, ids and tombstones (the store is the caller's). Cannot fail.
  POCKETVEC_COLD void commit(graph& g, std::vector<id_t>& to_ids, std::vector<std::uint64_t>& to_deleted,
                             id_lookup& to_lookup) noexcept {
    commit_repair(g, plan);
    if (ids_in_place) {  // remap[s] <= s: one forward pass moves every survivor down
      for (std::size_t s = 0; s < to_ids.size(); ++s)
        if (plan.remap[s] != no_slot) to_ids[plan.remap[s]] = to_ids[s];
      to_ids.resize(plan.live);
    } else {
      to_ids.swap(slot_ids);
    }
    to_deleted.swap(deleted);
    to_lookup = std::move(ids);
  }
};
}  // namespace detail

namespace detail {

/// What an insert or upsert stores besides the vector: staged metadata (nullptr: none) and a key
/// (empty: none, or the replaced slot's key when there is one).
struct row_change {
  const attributes::staged* md = nullptr;
  std::string_view key;
};

/// The key the new row gets: the replaced row's own, when it has one (a row is replaced under its
/// key or its id, so a given key is then that key), else the given one. Read from the table itself,
/// never from the caller's view: reserve_row() may move the table's bytes, and the caller's key may
/// be a view into them (key_of() handed back to insert() re-puts a vector under its own key).
inline std::string_view key_for(const key_table& keys, const row_change* rc, slot_t replaced) noexcept {
  if (replaced != no_slot && !keys.at(replaced).empty()) return keys.at(replaced);
  return rc ? rc->key : std::string_view();
}

/// Room for one more row in the columns and the keys. Strong.
POCKETVEC_NOINLINE inline void reserve_row(attributes& attrs, key_table& keys, std::size_t rows_after,
                                           const row_change* rc, slot_t replaced) {
  attrs.reserve_rows(rows_after);
  keys.reserve_append(key_for(keys, rc, replaced).size());
}

/// Appends the row for `slot` (== the rows so far) with its metadata and key; the replaced row's
/// key leaves the lookup first. reserve_row() was called. Allocates nothing.
POCKETVEC_NOINLINE inline void commit_row(attributes& attrs, key_table& keys, slot_t slot, const row_change* rc,
                                          slot_t replaced) noexcept {
  attrs.append_row();
  if (rc && rc->md) attrs.commit(slot, *rc->md);
  const std::string_view key = key_for(keys, rc, replaced);  // (points into keys' own bytes when inherited)
  if (replaced != no_slot) keys.release(replaced);
  keys.append(key);
}

/// insert_batch()'s checks of keys and records, before anything is inserted: row counts, key
/// lengths, keys new and distinct, each record valid and of the kinds its fields hold (or, for a
/// field the batch brings in, the kind of its first value there). errc::invalid_argument naming
/// the batch row.
POCKETVEC_COLD inline void check_batch_records(const attributes& attrs, const key_table& table, std::size_t n,
                                               std::span<const std::string_view> keys, std::span<const metadata> mds,
                                               std::size_t first_row = 0) {
  auto row_fail = [&](std::size_t i, const std::string& why) {
    fail(errc::invalid_argument, "batch row " + std::to_string(first_row + i) + ": " + why);
  };
  if (!keys.empty() && keys.size() != n)
    fail(errc::invalid_argument, "batch has " + std::to_string(n) + " vectors but " + std::to_string(keys.size()) + " keys");
  if (!mds.empty() && mds.size() != n)
    fail(errc::invalid_argument, "batch has " + std::to_string(n) + " vectors but " + std::to_string(mds.size()) + " metadata records");
  if (!keys.empty()) {
    std::vector<std::pair<std::string_view, std::size_t>> sorted;
    sorted.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      try {
        check_key(keys[i]);
      } catch (const error& e) {
        row_fail(i, e.what());
      }
      if (table.find(keys[i]) != no_slot) row_fail(i, "key " + in_quotes(keys[i]) + " is live already (a batch takes new keys only)");
      sorted.push_back({keys[i], i});
    }
    std::sort(sorted.begin(), sorted.end());
    for (std::size_t i = 1; i < sorted.size(); ++i)
      if (sorted[i].first == sorted[i - 1].first)
        row_fail(sorted[i].second, "key " + in_quotes(sorted[i].first) + " repeats batch row " + std::to_string(first_row + sorted[i - 1].second));
  }
  std::vector<std::pair<std::string_view, value_kind>> fresh;  // fields new in this batch, by name
  for (std::size_t i = 0; i < mds.size(); ++i) {
    try {
      check_metadata(mds[i]);
    } catch (const error& e) {
      row_fail(i, e.what());
    }
    for (const field& f : mds[i]) {
      const value_kind k = kind_of(f.v);
      value_kind have = k;
      if (const column* c = attrs.find_field(f.name)) {
        have = c->kind;
      } else {
        auto it = std::lower_bound(fresh.begin(), fresh.end(), std::string_view(f.name),
                                   [](const auto& p, std::string_view nm) { return p.first < nm; });
        if (it != fresh.end() && it->first == f.name) have = it->second;
        else if (attrs.field_count() + fresh.size() >= max_fields)
          row_fail(i, "an index holds at most 1024 fields; metadata field " + in_quotes(f.name) + " would be one more");
        else fresh.insert(it, {f.name, k});
      }
      if (have != k)
        row_fail(i, "metadata field " + in_quotes(f.name) + " holds " + std::string(kind_name(have)) + " values; got a " +
                        std::string(kind_name(k)));
    }
  }
}

/// A bitset over slots with its exact count of live members: what a filter_expr evaluates to.
struct slot_filter {
  const std::uint64_t* words;
  std::size_t count;
};

/// Evaluates `f` over the rows and clears the deleted ones; returns the live matches.
POCKETVEC_NOINLINE inline std::size_t evaluate_live(const filter_expr& f, const attributes& attrs,
                                                    const std::vector<std::uint64_t>& deleted,
                                                    std::vector<std::uint64_t>& out) {
  evaluate(f, attrs, out);
  std::size_t n = 0;
  for (std::size_t w = 0; w < out.size(); ++w) {
    if (w < deleted.size()) out[w] &= ~deleted[w];
    n += static_cast<std::size_t>(std::popcount(out[w]));
  }
  return n;
}

/// The checks every filtered search makes of its options.
inline void check_filter_options(const filter_options& opt) {
  if (!(opt.selectivity <= 1.0))
    fail(errc::invalid_argument, "selectivity must be in [0, 1] (negative: estimate it)");
  if (static_cast<unsigned>(opt.strategy) > 2) fail(errc::invalid_argument, "unknown filter strategy");
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
  /// Metadata columns by slot (attributes.hpp): rows() == slot_ids.size(). A loader builds it with
  /// attributes::from_parts(n, columns), which checks every invariant of untrusted parts.
  attributes attrs;
  /// Keys by slot (attributes.hpp): rows() == slot_ids.size(), live keys distinct. A loader builds
  /// it with key_table::from_parts(n, ends, bytes, deleted). Files without either may leave them
  /// default-constructed: basic_index's adopting constructor then makes them n empty rows.
  key_table keys;
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
    adopt_records();
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
           scratch_.search.visited.memory_bytes() + state_.attrs.memory_bytes() + state_.keys.memory_bytes() +
           fbits_.capacity() * sizeof(std::uint64_t) + sizeof(*this);
  }

  void reserve(std::size_t n) {
    ++save_.layout;
    state_.store.reserve(n);
    state_.links.reserve(n);
    state_.slot_ids.reserve(n);
    ids_.reserve(n);
    state_.attrs.reserve_rows(n);
    state_.keys.reserve_rows(n);
  }

  /// Inserts under a new id: one above every id ever used (so never one that was used before).
  /// O(log n · ef_construction) distances. Strong guarantee.
  id_t insert(std::span<const float> v) {
    const float* data = detail::check_vector(v, dim(), metric_kind, vbuf_, "vector");
    if (state_.next_id == invalid_id)
      detail::fail(errc::capacity_exceeded, "no free ids left below 4294967295");
    const id_t id = state_.next_id;
    add(id, data, no_slot, nullptr);
    return id;
  }

  /// Inserts under a new id with metadata `md` (see attributes.hpp; errc::invalid_argument for a
  /// bad record or a value of another kind than its field holds). Strong guarantee.
  id_t insert(std::span<const float> v, const metadata& md) {
    const float* data = detail::check_vector(v, dim(), metric_kind, vbuf_, "vector");
    if (state_.next_id == invalid_id)
      detail::fail(errc::capacity_exceeded, "no free ids left below 4294967295");
    const id_t id = state_.next_id;
    add_with(id, data, no_slot, std::string_view(), md);
    return id;
  }

  /// Inserts with a key (1..4096 bytes, else errc::invalid_argument) and metadata. When `key` names a live
  /// vector, this is an upsert of it: the same id, its vector and metadata replaced wholesale (not
  /// inside an open batch). Returns the id. Strong guarantee.
  id_t insert(std::span<const float> v, std::string_view key, const metadata& md = {}) {
    const float* data = detail::check_vector(v, dim(), metric_kind, vbuf_, "vector");
    detail::check_key(key);
    const slot_t old = state_.keys.find(key);
    id_t id;
    if (old != no_slot) {
      require_no_batch();
      id = state_.slot_ids[old];
    } else {
      if (state_.next_id == invalid_id)
        detail::fail(errc::capacity_exceeded, "no free ids left below 4294967295");
      id = state_.next_id;
    }
    add_with(id, data, old, key, md);
    return id;
  }

  /// Inserts under `id`, replacing (tombstoning) any vector stored under it. Strong guarantee.
  void upsert(id_t id, std::span<const float> v) {
    if (id == invalid_id) detail::fail(errc::invalid_argument, "id 4294967295 is reserved");
    require_no_batch();
    const float* data = detail::check_vector(v, dim(), metric_kind, vbuf_, "vector");
    const slot_t old = find_slot(id);
    add(id, data, old != no_slot && !is_deleted(old) ? old : no_slot, nullptr);
  }

  /// upsert(id, v) with metadata: the record is replaced wholesale (upsert(id, v) stores none).
  /// A key the id had stays with it. Strong guarantee.
  void upsert(id_t id, std::span<const float> v, const metadata& md) {
    if (id == invalid_id) detail::fail(errc::invalid_argument, "id 4294967295 is reserved");
    require_no_batch();
    const float* data = detail::check_vector(v, dim(), metric_kind, vbuf_, "vector");
    const slot_t old = find_slot(id);
    add_with(id, data, old != no_slot && !is_deleted(old) ? old : no_slot, std::string_view(), md);
  }

  /// Replaces the metadata of live `id` wholesale ({}: none). errc::unknown_id / deleted_id, or
  /// errc::invalid_argument for a bad record. Not inside an open batch. Strong guarantee.
  void set_metadata(id_t id, const metadata& md) {
    ++save_.layout;
    require_no_batch();
    const slot_t s = live_slot(id);
    attributes::staged st;
    state_.attrs.stage(md, st, state_.slot_ids.size());
    state_.attrs.commit(s, st);
    ++save_.edits;
  }

  /// The metadata of live `id`, fields in the order the index first saw them ({} when none).
  metadata get_metadata(id_t id) const { return state_.attrs.row(live_slot(id)); }

  /// The id of the live vector whose key is `key`, if any.
  std::optional<id_t> find_key(std::string_view key) const noexcept {
    const slot_t s = state_.keys.find(key);
    return s == no_slot ? std::nullopt : std::optional<id_t>(state_.slot_ids[s]);
  }

  /// The key of live `id` (nullopt: it has none); errc::unknown_id / deleted_id. The view is valid
  /// until the index next changes.
  std::optional<std::string_view> key_of(id_t id) const {
    const std::string_view k = state_.keys.at(live_slot(id));
    return k.empty() ? std::nullopt : std::optional<std::string_view>(k);
  }

  /// All-or-nothing: every vector is checked before the first one is inserted, and a failure part
  /// way (std::bad_alloc) undoes the rows already inserted. Inside an open batch (begin_batch) the
  /// batch is the unit instead: a failure leaves the rows inserted so far for rollback_batch(). While it runs, the index keeps a copy
  /// of each older neighbour list the batch changes (at most the graph's level-0 lists, usually a
  /// small part of them) to undo them with.
  std::vector<id_t> insert_batch(std::span<const float> flat) { return insert_batch(flat, {}, {}); }

  /// insert_batch() with a key per row (`keys` empty: none; else one per row, each new and the
  /// batch's keys distinct) and metadata per row (`mds` empty: none; else one per row). Every key
  /// and record is checked before the first row is inserted (errc::invalid_argument naming the
  /// row); all-or-nothing as above.
  std::vector<id_t> insert_batch(std::span<const float> flat, std::span<const std::string_view> keys,
                                 std::span<const metadata> mds) {
    check_batch(flat);
    detail::check_batch_records(state_.attrs, state_.keys, flat.size() / dim(), keys, mds);
    const std::size_t n = flat.size() / dim();
    std::vector<id_t> out;
    out.reserve(n);
    const bool own = !undo_;
    if (own) begin_batch();
    try {
      reserve_more(n);
      static const metadata none;
      for (std::size_t i = 0; i < n; ++i) {
        const auto v = flat.subspan(i * dim(), dim());
        if (keys.empty() && mds.empty()) out.push_back(insert(v));
        else if (keys.empty()) out.push_back(insert(v, mds[i]));
        else out.push_back(insert(v, keys[i], mds.empty() ? none : mds[i]));
      }
    } catch (...) {
      if (own) rollback_batch();
      throw;
    }
    if (own) commit_batch();
    return out;
  }

  /// A batch over several calls (a large batch sent in pieces): after begin_batch(), inserts and
  /// insert_batch() calls are undone together by rollback_batch(), or kept by commit_batch(). Other
  /// changes (upsert, erase, compact, train) are refused while a batch is open. After a rollback the
  /// ids the batch handed out are handed out again: they were never committed.
  POCKETVEC_COLD void begin_batch() {
    if (undo_) detail::fail(errc::invalid_argument, "a batch is already open");
    batch_undo u;
    u.store = state_.store.mark();
    u.links = state_.links.mark();
    u.slots = state_.slot_ids.size();
    u.deleted_words = state_.deleted.size();
    u.next_id = state_.next_id;
    u.levels_drawn = state_.levels_drawn;
    u.ids_in_order = ids_.in_slot_order();
    u.attrs = state_.attrs.mark();
    u.keys_empty = state_.keys.empty();
    undo_.emplace(std::move(u));
  }
  void commit_batch() noexcept {
    undo_.reset();
    state_.store.settle();
  }
  POCKETVEC_COLD void rollback_batch() noexcept {
    ++save_.layout;
    if (!undo_) return;
    batch_undo& u = *undo_;
    graph& g = state_.links;
    // Newest first, so that the oldest copy of a list (upper levels may hold several) wins.
    for (auto it = u.lists.rbegin(); it != u.lists.rend(); ++it)
      g.set_neighbors(it->node, it->level, std::span<const slot_t>(u.flat.data() + it->at, it->count));
    g.truncate(u.links);
    state_.store.rollback(u.store);
    state_.store.settle();
    ids_.truncate(std::span<const id_t>(state_.slot_ids).subspan(u.slots), u.ids_in_order);
    state_.attrs.rollback(u.attrs);
    state_.keys.truncate(u.slots, u.keys_empty);
    state_.slot_ids.resize(u.slots);
    state_.deleted.resize(u.deleted_words);
    state_.next_id = u.next_id;
    state_.levels_drawn = u.levels_drawn;
    undo_.reset();
    ++save_.edits;
  }
  bool batch_open() const noexcept { return undo_.has_value(); }

  /// Checks a batch as insert_batch() does, inserting nothing. Errors name the row, counted from
  /// `first_row` (for callers that check one large batch in pieces).
  POCKETVEC_COLD void check_batch(std::span<const float> flat, std::size_t first_row = 0) {
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

  /// Room for n more vectors. The store and the link lists grow in blocks, which copies nothing, so
  /// they get exactly what the batch needs; the per-node arrays (ids, levels, counts) re-allocate,
  /// so they grow by at least half and many small batches do not copy them each time.
  void reserve_more(std::size_t n) {
    ++save_.layout;
    const std::size_t want = state_.slot_ids.size() + n;
    state_.store.reserve(want);
    state_.links.reserve(want);
    detail::grow_to(state_.slot_ids, want);
    ids_.reserve(state_.slot_ids.capacity());
    state_.attrs.reserve_rows(want);
    state_.keys.reserve_rows(want);
  }

  /// Tombstones `id`: errc::unknown_id if it never existed (or was compacted away),
  /// errc::deleted_id if it is already deleted. Never compacts (see needs_compaction()).
  /// Frees its key. A key or metadata the vector had are gone with it.
  void erase(id_t id) {
    ++save_.layout;
    require_no_batch();
    const slot_t s = live_slot(id);
    mark_deleted(s);
    state_.keys.release(s);
  }

  /// Whether the tombstones have passed params().compact_threshold (never when it is 0): time to
  /// call compact(). Nothing compacts by itself, so no erase() or upsert() ever pays for it.
  bool needs_compaction() const noexcept {
    return params_.compact_threshold > 0.0f && tombstone_ratio() > params_.compact_threshold;
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
  /// ef = 0 uses params().ef_search; ef < k is raised to k; ef above 4294967295 is
  /// errc::invalid_argument.
  std::vector<search_result> search(std::span<const float> query, std::size_t k,
                                    std::size_t ef = 0) {
    if (k == 0) detail::fail(errc::invalid_argument, "k must be at least 1");
    const float* q = detail::check_vector(query, dim(), metric_kind, qbuf_, "query");
    if (size() == 0) detail::fail(errc::empty_index, "search on an empty index (no live vectors)");
    ef = effective_ef(ef, k);

    const graph& g = state_.links;
    const Store& store = state_.store;
    store.prepare(query_, q);
    const candidate cur = descend();
    const std::span<const candidate> entry(&cur, 1);
    if (state_.deleted_count == 0) {
      search_layer(g, store, query_, entry, ef, 0, scratch_.search, accept_all{});
    } else {
      search_layer(g, store, query_, entry, ef, 0, scratch_.search,
                   [this](slot_t s) { return !is_deleted(s); });
    }
    rescore_exact(q);
    return take_results(k);
  }

  /// The k nearest live vectors that `filter` accepts, ascending by distance: exactly min(k,
  /// matches) of them, where matches is the number of live vectors the filter accepts (none: an
  /// empty result, an empty index included). `filter` is an id_set or any callable bool(id_t)
  /// (filter.hpp). The strategy is chosen per query (`opt.strategy`, automatic by default):
  ///  - scan, when at most filter_scan_threshold(ef, size()) vectors are estimated to match: the
  ///    distance to every matching live vector, so the results are exact (under SQ8: exact in the
  ///    store's distances; re-rank mode scans with exact f32 distances). An id_set's members are
  ///    visited directly (O(matches) lookups, plus universe / 64 words); a callable is asked for every
  ///    live id (O(size()) calls).
  ///  - graph, otherwise: the HNSW search with non-matching and deleted nodes traversed but never
  ///    returned; its beam closes only once it holds ef matches, so it widens through regions that
  ///    do not match. It gives up for the scan when it has computed more distances than the scan
  ///    would (about the estimated matches: the total stays within twice the scan's cost), and the
  ///    scan also runs when it ends with fewer than min(k, matches) results (a graph that does not
  ///    reach every match), so the guarantee above always holds.
  /// Matches are counted for an id_set (its members below id_bound() that are live: popcount, minus
  /// the deleted members), taken from `opt.selectivity` × size() when given, else estimated from
  /// filter_sample_size calls of the callable at a fixed stride over the slots (deterministic).
  /// Errors (errc::invalid_argument): k = 0, ef above 4294967295, selectivity NaN or above 1, an
  /// unknown strategy, an id_set whose universe() is below id_bound(); the query as in search().
  /// What the search did: last_filter_report().
  template <class Filter>
    requires id_filter<Filter>
  std::vector<search_result> search(std::span<const float> query, std::size_t k, Filter&& filter,
                                    const filter_options& opt = {}) {
    if (k == 0) detail::fail(errc::invalid_argument, "k must be at least 1");
    const float* q = detail::check_vector(query, dim(), metric_kind, qbuf_, "query");
    const std::size_t ef = effective_ef(opt.ef, k);
    detail::check_filter_options(opt);
    if constexpr (std::is_same_v<std::remove_cvref_t<Filter>, id_set>) {
      if (filter.universe() < state_.next_id)
        detail::fail(errc::invalid_argument,
                     "id_set covers ids below " + std::to_string(filter.universe()) +
                         " but the index has held ids up to " + std::to_string(state_.next_id - 1) +
                         ": size it with id_bound() (" + std::to_string(state_.next_id) + ")");
    }
    return search_filtered(q, k, ef, filter, opt);
  }

  /// The k nearest live vectors whose metadata matches `f`, as the id filter above gives them:
  /// exactly min(k, matches). `f` is evaluated column by column into a bitset over the slots
  /// (query.hpp) and its live matches counted exactly, so the strategy is chosen on the true count
  /// (opt.selectivity is ignored) and no match means an empty result. Errors as above, plus
  /// errc::invalid_argument for a malformed filter or a value whose kind differs from its
  /// field's (checked even on an empty index).
  std::vector<search_result> search(std::span<const float> query, std::size_t k, const filter_expr& f,
                                    const filter_options& opt = {}) {
    if (k == 0) detail::fail(errc::invalid_argument, "k must be at least 1");
    const float* q = detail::check_vector(query, dim(), metric_kind, qbuf_, "query");
    const std::size_t ef = effective_ef(opt.ef, k);
    detail::check_filter_options(opt);
    const std::size_t count = detail::evaluate_live(f, state_.attrs, state_.deleted, fbits_);
    detail::slot_filter sf{fbits_.data(), count};
    return search_filtered(q, k, ef, sf, opt);
  }

  /// One above every id the index has held (live, deleted or compacted away): an id_set for
  /// search() needs this universe. insert() hands out this id next.
  id_t id_bound() const noexcept { return state_.next_id; }

  /// What the last filtered search did: its strategy, whether it fell back, the estimate.
  const filter_report& last_filter_report() const noexcept { return last_filter_; }

  /// Drops the deleted vectors for good and repairs the graph around them, in place: every live
  /// node that linked to a deleted one keeps its surviving links and gets replacements for the
  /// lost ones from its deleted neighbours' lists (hnsw/repair.hpp). With more than half of the
  /// slots deleted it rebuilds over the survivors instead (smaller than what it frees). Ids, stored vectors (codes too: nothing is re-encoded) and SQ8 ranges are
  /// kept; slots are renumbered in order, so freed rows are reused by later inserts. Costs the
  /// distances of the repaired lists only, and memory for the planned lists (about the level-0
  /// links again), never a second index. Deterministic. A no-op when nothing is deleted. Strong
  /// guarantee: the repair is planned first (may throw, changes nothing) and committed without
  /// allocating.
  POCKETVEC_COLD void compact() {
    ++save_.layout;
    require_no_batch();
    if (state_.deleted_count == 0) return;
    // Past half deleted, building the survivors again costs less than repairing around the dead
    // (and what is built aside is smaller than what is freed); local lists that mostly lead to
    // deleted nodes also repair worse, under ip badly (recall@10 0.56 after 90 % deleted).
    if (2 * state_.deleted_count > state_.slot_ids.size()) {
      rebuild(nullptr, 0);
      last_repair_ = 0;
      return;
    }
    detail::compaction c;
    c.plan_for(state_.links, repair_oracle::of(state_.store), state_.deleted, state_.slot_ids, ids_.in_slot_order());
    attributes::keep_plan kp = state_.attrs.plan_keep(c.plan.remap);
    // Commit: nothing below allocates or throws.
    state_.store.keep_only(c.plan.remap, c.plan.live);
    state_.attrs.keep_only(c.plan.remap, c.plan.live, std::move(kp));
    state_.keys.keep_only(c.plan.remap, c.plan.live);
    c.commit(state_.links, state_.slot_ids, state_.deleted, ids_);
    state_.deleted_count = 0;
    ++save_.edits;
    last_repair_ = c.plan.repaired_nodes;
  }

  /// Whether an incremental save (format.hpp, save_mode::append) can extend the last save point:
  /// one is set (saved(), or load()) and nothing since made the slots mean something else
  /// (compact(), rebuild(), train(), SQ8 training by inserts, a batch rolled back past it).
  bool appendable() const noexcept {
    return save_.point.valid && state_.links.tracking_since(save_.point.count) &&
           state_.slot_ids.size() >= save_.point.count && sq8().trained == save_.point.trained;
  }

  /// The bytes of save point `p` (a writer's point(), for this index in its current state) are
  /// stored: later incremental saves extend them. errc::invalid_argument when `p` is not of this
  /// state. May throw std::bad_alloc (for ⌈n/64⌉ words that track changed lists); then no save
  /// point is set and the next save must be full.
  POCKETVEC_COLD void saved(const save_point& p) {
    if (!p.valid || p.owner != save_.owner || p.edits != save_.edits || p.count != state_.slot_ids.size() ||
        p.trained != sq8().trained)
      detail::fail(errc::invalid_argument, "save point does not describe this index as it is now");
    save_.point = {};
    state_.links.track_changes(static_cast<std::size_t>(p.count));
    save_.point = p;
  }
  /// Drops the save point: the next save must be full (a caller whose stored bytes went elsewhere).
  void forget_save() noexcept {
    save_.point = {};
    state_.links.stop_tracking();
  }
  /// The last save point given to saved() (or set by load()); valid is false when none.
  const save_point& last_save() const noexcept { return save_.point; }
  /// Changes made so far (a counter: every insert, upsert, erase, set_metadata, compact, rebuild,
  /// train and batch rollback that succeeds adds one; not saved): tells a save point's state from a
  /// later one.
  std::uint64_t edits() const noexcept { return save_.edits; }
  /// Calls that may have moved the index's arrays, failed ones included (every mutator and reserve
  /// adds one as it starts): a writer refuses to go on once it moved (format.hpp).
  std::uint64_t layout() const noexcept { return save_.layout; }
  /// This object's number, carried by moves (see save_point::owner).
  std::uint64_t owner() const noexcept { return save_.owner; }

  /// Live nodes whose lists the last compact() rewrote (for tests and benchmarks).
  std::size_t last_repair_count() const noexcept { return last_repair_; }

  /// Builds the graph again from scratch over the live vectors (deleted ones are dropped), as if
  /// they had been inserted in slot order. O(n log n · ef_construction) and two copies of the index
  /// at the peak: compact() is the cheap way to drop deletions; this is for a fresh graph.
  /// Strong guarantee: the new state is built aside and swapped in.
  POCKETVEC_COLD void rebuild() {
    require_no_batch();
    rebuild(nullptr, 0);
  }

  /// SQ8 only: learns the quantizer's ranges from `sample` (flat rows) and re-encodes every stored
  /// vector with them: from its f32 row in re-rank mode or before training, else from its current
  /// codes (a component clamped before stays clamped: upsert such vectors again to restore them).
  /// On an index that was already trained, the graph is then rebuilt over the new codes, as by
  /// compact() (deleted vectors are dropped): O(n log n · ef_construction), two copies of the index
  /// at the peak. The first training costs O(size() · dim) and keeps the graph. Strong guarantee.
  POCKETVEC_COLD void train(std::span<const float> sample) {
    ++save_.layout;
    require_no_batch();
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
      if (!state_.store.is_trained() || state_.slot_ids.empty())
        state_.store.train(rows.data(), n);
      else
        rebuild(rows.data(), n);
      ++save_.edits;
      forget_save();  // new ranges: a segment never carries SQR_, so the next save is full
    } else {
      detail::fail(errc::invalid_argument, "train() applies to SQ8 indexes only");
    }
  }

  /// The quantizer's state: trained or not, and how much of the data since training was clamped.
  sq8_stats sq8() const noexcept {
    if constexpr (requires(const Store& s) { s.clamped_components(); })
      return {state_.store.is_trained(), state_.store.encoded_components(), state_.store.clamped_components()};
    else
      return {};
  }

 private:
  bool is_deleted(slot_t s) const noexcept {
    return (state_.deleted[s / 64] >> (s % 64)) & 1u;
  }

  void mark_deleted(slot_t s) noexcept {
    state_.deleted[s / 64] |= std::uint64_t{1} << (s % 64);
    ++state_.deleted_count;
    ++save_.edits;
  }

  slot_t live_slot(id_t id) const {
    const slot_t s = find_slot(id);
    if (s == no_slot) detail::fail(errc::unknown_id, "unknown id " + std::to_string(id));
    if (is_deleted(s)) detail::fail(errc::deleted_id, "id " + std::to_string(id) + " is deleted");
    return s;
  }

  // ---- search helpers ----

  /// The filtered search both public forms share (see search(query, k, filter, opt)); `q` and the
  /// options are checked. Filter: an id_set or slot_filter (matches counted) or a callable.
  template <class Filter>
  std::vector<search_result> search_filtered(const float* q, std::size_t k, std::size_t ef, Filter& filter,
                                             const filter_options& opt) {
    constexpr bool is_set = std::is_same_v<std::remove_cvref_t<Filter>, id_set>;
    constexpr bool is_slots = std::is_same_v<std::remove_cvref_t<Filter>, detail::slot_filter>;
    constexpr bool counted = is_set || is_slots;
    last_filter_ = {};
    scratch_.search.results.clear();
    const std::size_t live = size();
    if (live == 0) return {};

    std::size_t est = 0;
    if constexpr (is_set) est = live_members(filter);
    else if constexpr (is_slots) est = filter.count;
    else if (opt.selectivity >= 0.0) est = static_cast<std::size_t>(std::llround(opt.selectivity * static_cast<double>(live)));
    else est = sampled_matches(filter);
    filter_report& rep = last_filter_;
    rep.estimated_matches = est;
    rep.scan_threshold = filter_scan_threshold(ef, live);
    if constexpr (counted)
      if (est == 0) {  // counted, not estimated: nothing matches
        rep.strategy = filter_strategy::scan;
        return {};
      }

    filter_strategy use = opt.strategy;
    if (use == filter_strategy::automatic)
      use = est <= rep.scan_threshold ? filter_strategy::scan : filter_strategy::graph;
    const Store& store = state_.store;
    store.prepare(query_, q);
    if (use == filter_strategy::graph) {
      auto matches = [&](slot_t s) {
        if constexpr (is_slots) return ((filter.words[s / 64] >> (s % 64)) & 1u) != 0;  // deleted: cleared
        else {
          if (is_deleted(s)) return false;
          if constexpr (is_set) return filter.test(state_.slot_ids[s]);
          else return static_cast<bool>(filter(state_.slot_ids[s]));
        }
      };
      // Forced graph: no budget (benchmarks and tests measure the traversal itself).
      distance_budget budget{opt.strategy == filter_strategy::graph ? std::numeric_limits<std::size_t>::max()
                                                                    : std::max(est, rep.scan_threshold)};
      const candidate cur = descend();
      const std::span<const candidate> entry(&cur, 1);
      const bool complete = search_layer(state_.links, store, query_, entry, ef, 0, scratch_.search, matches, budget);
      rep.distances = budget.spent;
      const std::size_t need = counted ? std::min(k, est) : k;
      if (complete && scratch_.search.results.size() >= need) {
        rep.strategy = filter_strategy::graph;
        rescore_exact(q);
        return take_results(k);
      }
      rep.fell_back = true;
    }
    rep.strategy = filter_strategy::scan;
    scan_matches(q, k, filter);
    sort_results(scratch_.search.results);
    return take_results(k);
  }

  std::size_t effective_ef(std::size_t ef, std::size_t k) const {
    if (ef > std::size_t{0xFFFFFFFFu})
      detail::fail(errc::invalid_argument, "ef must be at most 4294967295, got " + std::to_string(ef));
    return std::max(ef == 0 ? params_.ef_search : ef, k);
  }

  /// The greedy descent to level 1's closest node, from the prepared query_.
  candidate descend() const {
    const graph& g = state_.links;
    const Store& store = state_.store;
    candidate cur{store.distance(query_, g.entry_point()), g.entry_point()};
    for (int l = g.top_level(); l > 0; --l) cur = greedy_closest(g, store, query_, cur, l);
    return cur;
  }

  /// Re-rank mode: the graph's results re-scored with exact distances (still a heap).
  void rescore_exact(const float* q) {
    if constexpr (requires(const Store& st) { st.exact_distance(q, slot_t{}); }) {
      auto& found = scratch_.search.results;
      if (state_.store.has_exact())
        for (candidate& c : found) c.distance = state_.store.exact_distance(q, c.slot);
      std::make_heap(found.begin(), found.end(), closer);
    }
    sort_results(scratch_.search.results);
  }

  /// The first k of the sorted scratch results, as ids.
  std::vector<search_result> take_results(std::size_t k) const {
    const auto& found = scratch_.search.results;
    const std::size_t n = std::min(k, found.size());
    std::vector<search_result> out(n);
    for (std::size_t i = 0; i < n; ++i) out[i] = {state_.slot_ids[found[i].slot], found[i].distance};
    return out;
  }

  /// The members of `set` that are live: popcount below id_bound(), minus the members whose
  /// latest slot is deleted (skipped when nothing is deleted).
  std::size_t live_members(const id_set& set) const {
    std::size_t n = set.count_below(state_.next_id);
    if (state_.deleted_count == 0 || n == 0) return n;
    const bool unique = ids_.in_slot_order();  // else an upserted id has a deleted and a live slot
    for (std::size_t w = 0; w < state_.deleted.size(); ++w)
      for (std::uint64_t bits = state_.deleted[w]; bits != 0; bits &= bits - 1) {
        const auto s = static_cast<slot_t>(w * 64 + static_cast<std::size_t>(std::countr_zero(bits)));
        const id_t id = state_.slot_ids[s];
        if (set.test(id) && (unique || find_slot(id) == s)) --n;
      }
    return n;
  }

  /// Live matches estimated from filter_sample_size live slots at a fixed stride.
  template <class Filter>
  std::size_t sampled_matches(Filter& filter) const {
    const std::size_t slots = state_.slot_ids.size(), live = size();
    const std::size_t stride = std::max<std::size_t>(1, slots / filter_sample_size);
    std::size_t seen = 0, hits = 0;
    for (std::size_t s = stride / 2; s < slots; s += stride) {
      if (is_deleted(static_cast<slot_t>(s))) continue;
      ++seen;
      if (filter(state_.slot_ids[s])) ++hits;
    }
    if (seen == 0) return live;  // every sampled slot deleted: no estimate, assume all match
    return static_cast<std::size_t>((static_cast<double>(hits) * static_cast<double>(live)) / static_cast<double>(seen) + 0.5);
  }

  /// The exact top k of the matching live vectors, into scratch_.search.results (a max-heap).
  /// Rows are prefetched a batch ahead; re-rank mode measures exactly.
  template <class Filter>
  void scan_matches(const float* q, std::size_t k, Filter& filter) {
    auto& heap = scratch_.search.results;
    heap.clear();
    const Store& store = state_.store;
    std::size_t computed = 0;
    constexpr std::size_t batch_size = 16;
    slot_t batch[batch_size];
    std::size_t nbatch = 0;
    auto flush = [&] {
      for (std::size_t i = 0; i < nbatch; ++i) {
        const slot_t s = batch[i];
        float d;
        if constexpr (requires(const Store& st) { st.exact_distance(q, slot_t{}); })
          d = store.has_exact() ? store.exact_distance(q, s) : store.distance(query_, s);
        else
          d = store.distance(query_, s);
        const candidate c{d, s};
        if (heap.size() < k) {
          heap.push_back(c);
          std::push_heap(heap.begin(), heap.end(), closer);
        } else if (closer(c, heap.front())) {
          std::pop_heap(heap.begin(), heap.end(), closer);
          heap.back() = c;
          std::push_heap(heap.begin(), heap.end(), closer);
        }
      }
      computed += nbatch;
      nbatch = 0;
    };
    auto add = [&](slot_t s) {
      if constexpr (requires { store.prefetch(s); }) store.prefetch(s);
      batch[nbatch++] = s;
      if (nbatch == batch_size) flush();
    };
    if (heap.capacity() < std::min(k, size())) heap.reserve(std::min(k, size()));  // k may be huge
    if constexpr (std::is_same_v<std::remove_cvref_t<Filter>, id_set>) {
      // Members in id order; while ids are in slot order too, a galloping search from the last
      // member's slot finds each one in O(log gap).
      const std::vector<id_t>& ids = state_.slot_ids;
      const std::size_t n = ids.size(), bound = state_.next_id;
      const bool in_order = ids_.in_slot_order();
      std::size_t cursor = 0;
      const auto& words = filter.words();
      for (std::size_t w = 0; w * 64 < bound; ++w)
        for (std::uint64_t bits = words[w]; bits != 0; bits &= bits - 1) {
          const auto id = static_cast<id_t>(w * 64 + static_cast<std::size_t>(std::countr_zero(bits)));
          if (id >= bound) break;
          slot_t s = no_slot;
          if (in_order) {
            std::size_t lo = cursor, step = 1;
            while (lo + step < n && ids[lo + step] < id) {
              lo += step;
              step *= 2;
            }
            const auto it = std::lower_bound(ids.begin() + static_cast<std::ptrdiff_t>(lo),
                                             ids.begin() + static_cast<std::ptrdiff_t>(std::min(lo + step + 1, n)), id);
            cursor = static_cast<std::size_t>(it - ids.begin());
            if (cursor < n && *it == id) s = static_cast<slot_t>(cursor);
          } else {
            s = find_slot(id);
          }
          if (s != no_slot && !is_deleted(s)) add(s);
        }
    } else if constexpr (std::is_same_v<std::remove_cvref_t<Filter>, detail::slot_filter>) {
      const std::size_t words = (state_.slot_ids.size() + 63) / 64;
      for (std::size_t w = 0; w < words; ++w)
        for (std::uint64_t bits = filter.words[w]; bits != 0; bits &= bits - 1)
          add(static_cast<slot_t>(w * 64 + static_cast<std::size_t>(std::countr_zero(bits))));
    } else {
      for (slot_t s = 0; s < state_.slot_ids.size(); ++s)
        if (!is_deleted(s) && filter(state_.slot_ids[s])) add(s);
    }
    flush();
    last_filter_.distances += computed;
  }

  /// A new state over the live vectors (SQ8: retrained on `train_rows` first, when given), built
  /// aside and swapped in: the strong guarantee. Ids, next_id and the level counter carry over.
  POCKETVEC_COLD void rebuild(const float* train_rows, std::size_t train_n) {
    ++save_.layout;
    std::vector<slot_t> keep;
    keep.reserve(size());
    for (slot_t s = 0; s < state_.slot_ids.size(); ++s)
      if (!is_deleted(s)) keep.push_back(s);

    index_state<Store> next;
    next.store = state_.store.compacted(keep);
    if constexpr (requires(Store& st) { st.train(train_rows, train_n); })
      if (train_rows) next.store.train(train_rows, train_n);
    next.links = graph(params_.m);
    next.links.reserve(keep.size());
    next.slot_ids.reserve(keep.size());
    for (slot_t s : keep) next.slot_ids.push_back(state_.slot_ids[s]);
    next.next_id = state_.next_id;
    next.levels_drawn = state_.levels_drawn;
    next.deleted.assign((keep.size() + 63) / 64, 0);
    next.attrs = state_.attrs.compacted(keep);
    next.keys = state_.keys.compacted(keep);
    std::vector<float> row(dim());
    for (slot_t s = 0; s < keep.size(); ++s) {
      next.store.decode(s, row);
      const int level = detail::draw_level(params_.seed, next.levels_drawn, params_.m);
      plan_insert(next.links, next.store, s, row.data(), level, params_.ef_construction, scratch_);
      next.links.make_room(level);
      commit_insert(next.links, next.store, s, level, scratch_);
      ++next.levels_drawn;
    }
    id_lookup ids;
    ids.rebuild(next.slot_ids);
    state_ = std::move(next);
    ids_ = std::move(ids);
    ++save_.edits;
  }

  void require_no_batch() const {
    if (undo_) detail::fail(errc::invalid_argument, "only inserts may run while a batch is open");
  }

  /// The one way a vector gets in: room first (may throw, changes nothing a user can see), then
  /// the vector (strong) and the plan (reads only), then a commit that cannot fail.
  POCKETVEC_NOINLINE void add(id_t id, const float* data, slot_t replaced, const detail::row_change* rc) {
    ++save_.layout;
    const std::size_t n = state_.slot_ids.size();
    if (n >= no_slot - 1)
      detail::fail(errc::capacity_exceeded, "an index holds at most 4294967294 vectors");
    const int level = detail::draw_level(params_.seed, state_.levels_drawn, params_.m);
    state_.links.make_room(level);
    detail::grow_to(state_.slot_ids, n + 1);
    detail::grow_to(state_.deleted, n / 64 + 1);
    ids_.make_room(id, state_.slot_ids);
    detail::reserve_row(state_.attrs, state_.keys, n + 1, rc, replaced);

    Store& store = state_.store;
    const store_mark mark = store.mark();
    const slot_t slot = store.append(data);
    try {
      plan_insert(state_.links, store, slot, data, level, params_.ef_construction, scratch_);
      if (undo_) save_lists_to_change();
    } catch (...) {
      store.rollback(mark);
      throw;
    }

    commit_insert(state_.links, store, slot, level, scratch_);
    detail::commit_row(state_.attrs, state_.keys, slot, rc, replaced);
    state_.slot_ids.push_back(id);
    if (state_.deleted.size() * 64 <= slot) state_.deleted.push_back(0);
    ids_.appended(state_.slot_ids);
    ++state_.levels_drawn;
    if (id >= state_.next_id) state_.next_id = id + 1;
    if (replaced != no_slot) mark_deleted(replaced);
    if (!undo_) store.settle();
    ++save_.edits;
  }

  /// Batch undo: before the commit links back, copy each list it will change on a node older than
  /// the batch (level 0: once per batch; upper levels, rare: each time).
  POCKETVEC_NOINLINE void save_lists_to_change() {
    auto& u = *undo_;
    const graph& g = state_.links;
    for (int l = 0; l < scratch_.levels; ++l)
      for (slot_t nb : scratch_.chosen[static_cast<std::size_t>(l)]) {
        if (nb >= u.slots) continue;
        if (l == 0) {
          if (u.saved0.empty()) u.saved0.assign((u.slots + 63) / 64, 0);
          if ((u.saved0[nb / 64] >> (nb % 64)) & 1u) continue;
        }
        const slot_list list = g.neighbors(nb, l);
        u.lists.push_back({nb, l, u.flat.size(), list.size()});
        const std::size_t at = u.flat.size();
        try {
          u.flat.insert(u.flat.end(), list.begin(), list.end());
        } catch (...) {
          u.flat.resize(at);
          u.lists.pop_back();
          throw;
        }
        if (l == 0) u.saved0[nb / 64] |= std::uint64_t{1} << (nb % 64);
      }
  }

  /// add() with a key and metadata: the record is staged first (validated, new fields and
  /// strings added) and taken back if add() throws.
  void add_with(id_t id, const float* data, slot_t replaced, std::string_view key, const metadata& md) {
    ++save_.layout;
    attributes::staged st;
    detail::row_change rc{md.empty() ? nullptr : &st, key};
    if (!md.empty()) state_.attrs.stage(md, st, state_.slot_ids.size() + 1);
    try {
      add(id, data, replaced, &rc);
    } catch (...) {
      state_.attrs.unstage(st);
      throw;
    }
  }

  /// A loaded state without metadata or keys (older files) gets empty rows for every slot.
  POCKETVEC_COLD void adopt_records() {
    const std::size_t n = state_.slot_ids.size();
    if (state_.attrs.rows() != n) {
      POCKETVEC_ASSERT(state_.attrs.empty() && state_.attrs.rows() == 0);
      state_.attrs = attributes::from_parts(n, {});
    }
    if (state_.keys.rows() != n) {
      POCKETVEC_ASSERT(state_.keys.empty() && state_.keys.rows() == 0);
      state_.keys = key_table::from_parts(n, {}, {}, state_.deleted);
    }
  }

  slot_t find_slot(id_t id) const noexcept { return ids_.find(id, state_.slot_ids); }

  void rebuild_id_map() { ids_.rebuild(state_.slot_ids); }


  /// What rollback_batch() needs: the sizes at begin_batch() and the older lists changed since.
  struct batch_undo {
    store_mark store;
    graph::mark_type links;
    std::size_t slots = 0, deleted_words = 0;
    id_t next_id = 0;
    std::uint64_t levels_drawn = 0;
    bool ids_in_order = true;
    attributes::mark_type attrs;
    bool keys_empty = true;
    std::vector<std::uint64_t> saved0;  // bitset over the older nodes: level-0 list saved
    struct saved_list {
      slot_t node;
      int level;
      std::size_t at, count;  // in flat
    };
    std::vector<saved_list> lists;
    std::vector<slot_t> flat;
  };

  index_params params_;
  index_state<Store> state_;
  id_lookup ids_;
  std::optional<batch_undo> undo_;
  // Scratch, reused so that steady-state inserts and searches do not allocate.
  insert_scratch<Store> scratch_;
  typename Store::query_type query_;
  std::vector<float> vbuf_, qbuf_;
  std::vector<std::uint64_t> fbits_;  // a filter_expr's matching slots
  filter_report last_filter_;
  std::size_t last_repair_ = 0;
  detail::save_state save_;  // what an incremental save extends (see appendable())
};

}  // namespace pocketvec::POCKETVEC_ABI

namespace pocketvec::inline POCKETVEC_ABI {

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
  id_t insert(std::span<const float> v, const metadata& md) { return visit([&](auto& i) { return i.insert(v, md); }); }
  /// See basic_index::insert(v, key, md): a live key is an upsert of its vector.
  id_t insert(std::span<const float> v, std::string_view key, const metadata& md = {}) {
    return visit([&](auto& i) { return i.insert(v, key, md); });
  }
  void upsert(id_t id, std::span<const float> v) { visit([&](auto& i) { i.upsert(id, v); }); }
  void upsert(id_t id, std::span<const float> v, const metadata& md) { visit([&](auto& i) { i.upsert(id, v, md); }); }
  std::vector<id_t> insert_batch(std::span<const float> flat) {
    return visit([&](auto& i) { return i.insert_batch(flat); });
  }
  std::vector<id_t> insert_batch(std::span<const float> flat, std::span<const std::string_view> keys,
                                 std::span<const metadata> mds) {
    return visit([&](auto& i) { return i.insert_batch(flat, keys, mds); });
  }
  void set_metadata(id_t id, const metadata& md) { visit([&](auto& i) { i.set_metadata(id, md); }); }
  metadata get_metadata(id_t id) const { return visit([&](auto& i) { return i.get_metadata(id); }); }
  std::optional<id_t> find_key(std::string_view key) const noexcept {
    return visit([&](auto& i) { return i.find_key(key); });
  }
  std::optional<std::string_view> key_of(id_t id) const { return visit([&](auto& i) { return i.key_of(id); }); }
  POCKETVEC_COLD void check_batch(std::span<const float> flat, std::size_t first_row = 0) {
    visit([&](auto& i) { i.check_batch(flat, first_row); });
  }
  void reserve_more(std::size_t n) { visit([&](auto& i) { i.reserve_more(n); }); }
  void erase(id_t id) { visit([&](auto& i) { i.erase(id); }); }
  bool contains(id_t id) const noexcept { return visit([&](auto& i) { return i.contains(id); }); }
  std::vector<float> get(id_t id) const { return visit([&](auto& i) { return i.get(id); }); }
  std::vector<search_result> search(std::span<const float> q, std::size_t k, std::size_t ef = 0) {
    return visit([&](auto& i) { return i.search(q, k, ef); });
  }
  /// Filtered search: see basic_index::search(query, k, filter, opt).
  template <class Filter>
    requires id_filter<Filter>
  std::vector<search_result> search(std::span<const float> q, std::size_t k, Filter&& filter,
                                    const filter_options& opt = {}) {
    return visit([&](auto& i) { return i.search(q, k, filter, opt); });
  }
  /// Filtered by metadata: see basic_index::search(query, k, filter_expr, opt).
  std::vector<search_result> search(std::span<const float> q, std::size_t k, const filter_expr& f,
                                    const filter_options& opt = {}) {
    return visit([&](auto& i) { return i.search(q, k, f, opt); });
  }
  id_t id_bound() const noexcept { return visit([](auto& i) { return i.id_bound(); }); }
  const filter_report& last_filter_report() const noexcept {
    return visit([](auto& i) -> auto& { return i.last_filter_report(); });
  }
  void begin_batch() { visit([](auto& i) { i.begin_batch(); }); }
  void commit_batch() noexcept { visit([](auto& i) { i.commit_batch(); }); }
  void rollback_batch() noexcept { visit([](auto& i) { i.rollback_batch(); }); }
  void compact() { visit([](auto& i) { i.compact(); }); }
  void rebuild() { visit([](auto& i) { i.rebuild(); }); }
  bool needs_compaction() const noexcept { return visit([](auto& i) { return i.needs_compaction(); }); }
  std::size_t last_repair_count() const noexcept { return visit([](auto& i) { return i.last_repair_count(); }); }
  void train(std::span<const float> sample) { visit([&](auto& i) { i.train(sample); }); }
  sq8_stats sq8() const noexcept { return visit([](auto& i) { return i.sq8(); }); }
  /// Incremental saves: see basic_index::appendable(), saved(), last_save() and docs/format.md.
  bool appendable() const noexcept { return visit([](auto& i) { return i.appendable(); }); }
  void saved(const save_point& p) { visit([&](auto& i) { i.saved(p); }); }
  const save_point& last_save() const noexcept { return visit([](auto& i) -> auto& { return i.last_save(); }); }
  std::uint64_t edits() const noexcept { return visit([](auto& i) { return i.edits(); }); }
  std::uint64_t owner() const noexcept { return visit([](auto& i) { return i.owner(); }); }
  std::uint64_t layout() const noexcept { return visit([](auto& i) { return i.layout(); }); }
  void forget_save() noexcept { visit([](auto& i) { i.forget_save(); }); }

  /// The binary format (format.hpp, docs/format.md): deterministic bytes, and an all-or-nothing
  /// load that throws errc::corrupt_data / errc::unsupported_version on bad input.
  std::vector<std::uint8_t> save() const;
  static index load(std::span<const std::uint8_t> bytes);

 private:
  using variant_type =
      std::variant<basic_index<f32_store<metric::l2>>, basic_index<f32_store<metric::cosine>>,
                   basic_index<f32_store<metric::ip>>, basic_index<sq8_store<metric::l2>>,
                   basic_index<sq8_store<metric::cosine>>, basic_index<sq8_store<metric::ip>>>;

  POCKETVEC_COLD static variant_type make(const index_params& p) {
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

}  // namespace pocketvec::POCKETVEC_ABI

// The member functions save() and load() live with the rest of the format.
#include "format.hpp"
