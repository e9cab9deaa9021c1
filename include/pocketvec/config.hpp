// pocketvec/config.hpp — types and limits shared by every module.
// Depends on nothing else in pocketvec.
#pragma once

#include "abi.hpp"

#include <cstddef>
#include <cstdint>
#include <limits>

namespace pocketvec::inline POCKETVEC_ABI {

/// The user-visible, stable id of a vector. 0xFFFFFFFF is reserved and never valid.
using id_t = std::uint32_t;
inline constexpr id_t invalid_id = std::numeric_limits<id_t>::max();

/// A position in a store and in the graph; not the user-visible id.
using slot_t = std::uint32_t;
inline constexpr slot_t no_slot = std::numeric_limits<slot_t>::max();

/// Largest supported dimension: 4096 floats (16 KiB) per vector.
inline constexpr std::size_t max_dim = 4096;
/// Graph degree bounds: level-0 lists hold up to 2*m neighbours.
inline constexpr std::size_t min_m = 2;
inline constexpr std::size_t max_m = 128;
/// Levels above 0 are drawn with P(level >= l) = m^-l; capped so a node's level fits a byte.
inline constexpr int max_level = 31;

/// Keeps a cold function out of line: each store x metric instantiation would otherwise carry its
/// own inlined copy, which the WASM size budget feels. Never used on a search hot path.
#if defined(__GNUC__) || defined(__clang__)
#define POCKETVEC_NOINLINE [[gnu::noinline]]
#else
#define POCKETVEC_NOINLINE
#endif

/// Cold code (compaction, training, rebuilds, validation): out of line and compiled for size
/// (clang's minsize; GCC's cold does the same and moves it away from hot code). A whole-index
/// operation spends its time in the store's kernels, which stay fast; the WASM build saves KBs.
#if defined(__clang__)
#define POCKETVEC_COLD __attribute__((noinline, cold, minsize))
#elif defined(__GNUC__)
#define POCKETVEC_COLD __attribute__((noinline, cold))
#else
#define POCKETVEC_COLD
#endif

namespace detail {
/// Capacity for n elements of a std::vector, growing by at least half: appends stay amortised O(1),
/// and reserving before a change keeps a push_back inside it from throwing half-way through.
template <class Vec>
void grow_to(Vec& v, std::size_t n) {
  if (v.capacity() < n) v.reserve(n > v.capacity() + v.capacity() / 2 ? n : v.capacity() + v.capacity() / 2);
}
}  // namespace detail

}  // namespace pocketvec::POCKETVEC_ABI
