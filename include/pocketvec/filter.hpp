// pocketvec/filter.hpp — what a filtered search takes: an id predicate or an id_set, and options.
//
// A filter decides, per user id, whether a vector may be returned. It is either any callable
// `bool(id_t)` (a template parameter of search(): inlined, and absent filters cost nothing, since the
// unfiltered search() is a separate function) or an id_set, a bitset over ids whose exact member
// count lets search() pick its strategy without guessing (see basic_index::search in index.hpp).
// Depends on config.hpp and error.hpp only; knows nothing of slots, graphs or stores.
#pragma once

#include "abi.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "config.hpp"
#include "error.hpp"

namespace pocketvec::inline POCKETVEC_ABI {

/// A set of ids as a bitset over [0, universe()): universe()/8 bytes, O(1) insert and lookup.
/// For search() its universe must cover every id the index ever held (`universe() >=
/// index.id_bound()`, else errc::invalid_argument): build it with `id_set(index.id_bound())`.
/// Members that are deleted or were never stored are ignored by search().
class id_set {
 public:
  id_set() = default;
  /// An empty set able to hold ids 0 .. universe - 1 (at most 2^32 - 1, the id space).
  explicit id_set(std::size_t universe) {
    if (universe > std::size_t{invalid_id})
      detail::fail(errc::invalid_argument, "id_set universe must be at most 4294967295, got " +
                                               std::to_string(universe));
    universe_ = universe;
    words_.assign((universe + 63) / 64, 0);
  }

  std::size_t universe() const noexcept { return universe_; }

  /// Adds `id`; errc::invalid_argument if id >= universe().
  void insert(id_t id) {
    check(id);
    words_[id / 64] |= std::uint64_t{1} << (id % 64);
  }
  /// Removes `id` (a no-op if absent); errc::invalid_argument if id >= universe().
  void erase(id_t id) {
    check(id);
    words_[id / 64] &= ~(std::uint64_t{1} << (id % 64));
  }
  void clear() noexcept { std::fill(words_.begin(), words_.end(), std::uint64_t{0}); }

  /// Membership; false for any id >= universe().
  bool contains(id_t id) const noexcept { return id < universe_ && test(id); }
  bool operator()(id_t id) const noexcept { return contains(id); }

  /// Members, by popcount: O(universe / 64).
  std::size_t count() const noexcept { return count_below(universe_); }
  /// Members below `bound` (<= universe()).
  std::size_t count_below(std::size_t bound) const noexcept {
    const std::size_t full = bound / 64;
    std::size_t n = 0;
    for (std::size_t w = 0; w < full; ++w) n += static_cast<std::size_t>(std::popcount(words_[w]));
    if (bound % 64) n += static_cast<std::size_t>(std::popcount(words_[full] & ((std::uint64_t{1} << (bound % 64)) - 1)));
    return n;
  }

  /// Membership without the bound check: `id` must be below universe().
  bool test(id_t id) const noexcept { return (words_[id / 64] >> (id % 64)) & 1u; }
  /// The bitset: bit (id % 64) of word id / 64; bits at or past universe() are zero.
  const std::vector<std::uint64_t>& words() const noexcept { return words_; }
  std::size_t memory_bytes() const noexcept { return words_.capacity() * sizeof(std::uint64_t); }

 private:
  void check(id_t id) const {
    if (id >= universe_)
      detail::fail(errc::invalid_argument, "id " + std::to_string(id) + " is outside the id_set's universe 0.." +
                                               std::to_string(universe_) + " (exclusive)");
  }
  std::size_t universe_ = 0;
  std::vector<std::uint64_t> words_;
};

/// What search() accepts as a filter: an id_set, or any callable taking an id and returning
/// something convertible to bool. A callable must not change the index; it may be called more than
/// once for an id and in any order (sampling, traversal, fallback scan); if it throws, search()
/// propagates the exception and the index is unchanged.
template <class F>
concept id_filter = std::same_as<std::remove_cvref_t<F>, id_set> ||
                    std::is_invocable_r_v<bool, std::remove_reference_t<F>&, id_t>;

/// How a filtered search finds its results.
enum class filter_strategy : std::uint8_t {
  automatic = 0,  ///< chosen per query from the filter's selectivity (see basic_index::search)
  graph = 1,      ///< HNSW traversal through non-matching nodes; exact scan only as the fallback
  scan = 2,       ///< exact: the distance to every matching live vector
};

/// Options of a filtered search.
struct filter_options {
  std::size_t ef = 0;          ///< beam width (matching results kept); 0: params().ef_search; < k: k
  /// For a callable: the share of live vectors it accepts, in [0, 1], if the caller knows it;
  /// negative: estimate it by sampling. Ignored for an id_set (its count is exact).
  double selectivity = -1.0;
  filter_strategy strategy = filter_strategy::automatic;  ///< force a path (tests, benchmarks)
};

/// The automatic strategy scans when at most this many live vectors match, else it traverses.
/// Cost model, in distances: the scan computes one per match (m); the graph path keeps walking
/// until its beam holds ef matches, which takes roughly c·ef / s distances at selectivity s = m / live
/// (an unfiltered beam of x costs about c·x). They cross at m² = c·ef·live, so the threshold is
/// filter_scan_factor · sqrt(ef · live), and at least ef (below that the beam never fills and the
/// traversal floods whatever it reaches). The factor folds in c and the graph's higher cost per
/// distance (random rows, heaps, the visited set), and was measured (bench/filter, ef 64, both paths
/// forced; docs/benchmarks.md "Filtered search (core)"): at 100k x 768 the graph wins at 10 %
/// (10k matches: 1.5 ms against 9.1 ms) and the scan at 5 % (5k: 2.6 ms against 3.0 ms), a crossover
/// near 5.5k = 2.2 sqrt(ef·live); at 20k x 128 it lies between 10 % and 20 % (2k-4k matches,
/// 1.8-3.6 sqrt(ef·live)). 2.5 sits inside both.
inline constexpr double filter_scan_factor = 2.5;
/// How many slots (a fixed stride over them, deleted ones skipped) a callable is sampled at when no
/// selectivity is given. Deterministic; at 256 samples a selectivity near the crossover (about 0.06
/// at 100k, ef 64) is estimated within about ±0.03 (two standard errors).
inline constexpr std::size_t filter_sample_size = 256;

inline std::size_t filter_scan_threshold(std::size_t ef, std::size_t live) noexcept {
  const double t = filter_scan_factor * std::sqrt(static_cast<double>(ef) * static_cast<double>(live));
  return std::max(ef, static_cast<std::size_t>(t));
}

/// What the last filtered search did (basic_index::last_filter_report()).
struct filter_report {
  filter_strategy strategy = filter_strategy::automatic;  ///< graph or scan: what produced the results
  bool fell_back = false;          ///< the graph path ran first, then the scan (over budget, or short of k)
  std::size_t estimated_matches = 0;  ///< live matches as estimated (id_set: counted) before choosing
  std::size_t scan_threshold = 0;  ///< the estimate at or below which the scan is chosen
  std::size_t distances = 0;       ///< distances computed at level 0 (graph) plus by the scan
};

}  // namespace pocketvec::POCKETVEC_ABI
