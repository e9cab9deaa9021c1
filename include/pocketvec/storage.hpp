// pocketvec/storage.hpp — where vectors live, and how a distance to them is computed.
//
// A store is a fixed-stride array of vectors addressed by slot (0 .. size()-1), held in blocks that
// never move (blocks.hpp: growing copies nothing, so a WASM heap keeps no second copy). The
// HNSW graph knows nothing about vectors or metrics: it asks the store it is instantiated with for
// distances, through a prepared query (set once per search or insert, reused for every distance).
// Stores never validate user input: the index facade has checked dimension and finiteness and,
// under cosine, normalised the vector before a store sees it.
// Appends are transactional so that the index can give the strong guarantee: append() either
// succeeds or changes nothing, mark() / rollback() undo every append since the mark (noexcept), and
// settle() drops what rollback() would have needed once the caller has committed.
// Depends on kernels/ and metric.hpp only.
#pragma once

#include "abi.hpp"

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "blocks.hpp"
#include "config.hpp"
#include "error.hpp"
#include "kernels/kernels.hpp"
#include "metric.hpp"

namespace pocketvec::inline POCKETVEC_ABI {

/// A point a store can roll back to: its size and whatever else appends change.
struct store_mark {
  std::size_t count = 0;
  bool trained = false;          // SQ8: trained at the mark
  std::uint64_t encoded = 0;     // SQ8: components encoded since training, at the mark
  std::uint64_t clamped = 0;     // SQ8: of those, clamped to the trained range
};

/// What the graph code requires of a vector store.
template <class S>
concept vector_store = requires(S& s, const S& cs, typename S::query_type& q, const float* v,
                                std::span<float> out, std::span<const slot_t> keep, slot_t a,
                                store_mark mk) {
  { cs.dim() } -> std::same_as<std::size_t>;
  { cs.size() } -> std::same_as<std::size_t>;
  { s.append(v) } -> std::same_as<slot_t>;     // copies dim() floats; returns the new slot; strong
  { cs.mark() } -> std::same_as<store_mark>;
  { s.rollback(mk) } noexcept;                 // drops every append made since mk
  { s.settle() } noexcept;                     // forgets what rollback needed (after a commit)
  { cs.prepare(q, v) };                        // q := a query for v (dim() floats)
  { cs.distance(q, a) } -> std::same_as<float>;
  { cs.distance_between(a, a) } -> std::same_as<float>;
  { cs.same(a, a) } -> std::same_as<bool>;     // the two slots hold identical stored vectors
  { cs.decode(a, out) };                       // the stored vector as floats (out.size() == dim())
  { cs.compacted(keep) } -> std::same_as<S>;   // a store holding only `keep`, in that order
  { s.keep_only(keep, std::size_t{}) } noexcept; // in place: slot s moves to keep[s] (no_slot: dropped)
  { cs.memory_bytes() } -> std::same_as<std::size_t>;
  { s.reserve(std::size_t{}) };
};

namespace detail {
/// Asks for the first cache lines of [p, p + bytes) to be loaded; the hardware prefetcher follows
/// the rest of a sequential row.
inline void prefetch_bytes(const void* p, std::size_t bytes) noexcept {
#if defined(__GNUC__) || defined(__clang__)
  const char* c = static_cast<const char*>(p);
  const std::size_t lines = bytes < 256 ? (bytes + 63) / 64 : 4;
  for (std::size_t i = 0; i < lines; ++i) __builtin_prefetch(c + i * 64);
#else
  (void)p;
  (void)bytes;
#endif
}

/// Distance from a dot/l2 kernel per metric. Cosine assumes unit-length inputs.
template <metric M, class K>
inline float f32_distance(const float* a, const float* b, std::size_t n) noexcept {
  if constexpr (M == metric::l2) {
    return K::l2sq_f32(a, b, n);
  } else if constexpr (M == metric::cosine) {
    return 1.0f - K::dot_f32(a, b, n);
  } else {
    return -K::dot_f32(a, b, n);
  }
}
}  // namespace detail

/// Full-precision store: dim() floats per slot, 4·dim bytes each.
template <metric M, class Kernels = kernels::best>
class f32_store {
 public:
  static constexpr metric metric_kind = M;
  /// The prepared query is the query itself; it must outlive the distance calls.
  struct query_type {
    const float* v = nullptr;
  };

  f32_store() = default;
  explicit f32_store(std::size_t dim) : dim_(dim), rows_(dim) {}
  /// Adopts loaded rows (stride dim).
  f32_store(std::size_t dim, row_blocks<float>&& rows) : dim_(dim), rows_(std::move(rows)) {
    POCKETVEC_ASSERT(rows_.stride() == dim);
  }

  std::size_t dim() const noexcept { return dim_; }
  std::size_t size() const noexcept { return rows_.size(); }
  void reserve(std::size_t n) { rows_.reserve(n); }

  slot_t append(const float* v) {
    const auto slot = static_cast<slot_t>(size());
    rows_.push_back(v);
    return slot;
  }
  store_mark mark() const noexcept { return {size(), false, 0, 0}; }
  void rollback(store_mark m) noexcept { rows_.truncate(m.count); }
  void settle() noexcept {}

  void prepare(query_type& q, const float* v) const noexcept { q.v = v; }

  float distance(const query_type& q, slot_t s) const noexcept {
    return detail::f32_distance<M, Kernels>(q.v, row(s), dim_);
  }
  float distance_between(slot_t a, slot_t b) const noexcept {
    return detail::f32_distance<M, Kernels>(row(a), row(b), dim_);
  }
  bool same(slot_t a, slot_t b) const noexcept {
    return std::memcmp(row(a), row(b), dim_ * sizeof(float)) == 0;
  }

  /// A hint that row `s` is about to be read (the graph search calls it when present).
  void prefetch(slot_t s) const noexcept { detail::prefetch_bytes(row(s), dim_ * sizeof(float)); }

  void decode(slot_t s, std::span<float> out) const noexcept {
    std::memcpy(out.data(), row(s), dim_ * sizeof(float));
  }

  f32_store compacted(std::span<const slot_t> keep) const {
    f32_store out(dim_);
    out.reserve(keep.size());
    for (slot_t s : keep) out.append(row(s));
    return out;
  }

  /// Drops the rows whose remap[] is no_slot and moves the others to remap[s] (ascending); `live`
  /// remain. Allocates nothing.
  void keep_only(std::span<const slot_t> remap, std::size_t live) noexcept { rows_.keep_rows(remap, live); }

  std::size_t memory_bytes() const noexcept { return rows_.memory_bytes(); }

  /// The rows, slot-major (for serialization).
  const row_blocks<float>& rows() const noexcept { return rows_; }

  const float* row(slot_t s) const noexcept { return rows_.row(s); }

 private:
  std::size_t dim_ = 0;
  row_blocks<float> rows_;
};

}  // namespace pocketvec::POCKETVEC_ABI
