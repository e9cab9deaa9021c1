// pocketvec/hnsw/search.hpp — greedy descent and the ef-bounded beam search on one level.
//
// Generic over the store (which owns distances) and over an `accept(slot)` predicate deciding what
// may enter the result set: tombstoned nodes are still traversed (they keep the graph connected)
// but never accepted. The predicate is a template parameter so the no-deletions case compiles to
// a loop without the check. A filtered search uses the same predicate (live and matching) and may
// give the level-0 search a distance budget, a policy that is also a template parameter: without
// one (no_budget) nothing is counted.
// Ties in distance are broken by a scramble of the slot, so results are deterministic.
#pragma once

#include "../abi.hpp"

#include <algorithm>
#include <cstddef>
#include <span>
#include <vector>

#include "../config.hpp"
#include "../storage.hpp"
#include "graph.hpp"
#include "visited.hpp"

namespace pocketvec::inline POCKETVEC_ABI {

struct candidate {
  float distance;
  slot_t slot;
};

/// A bijection on slots that orders ties pseudo-randomly; `salt` gives each node its own order.
inline std::uint32_t scramble(slot_t s, slot_t salt = 0) noexcept {
  return (s ^ (salt * 0x85EBCA6Bu)) * 0x9E3779B1u;
}

/// Strict "a is closer than b", equal distances ordered by scramble().
inline bool closer(const candidate& a, const candidate& b) noexcept {
  return a.distance < b.distance ||
         (a.distance == b.distance && scramble(a.slot) < scramble(b.slot));
}

/// Buffers reused across searches so that a search allocates nothing in steady state.
struct search_scratch {
  visited_set visited;
  std::vector<candidate> frontier;  // min-heap: closest on top
  std::vector<candidate> results;   // max-heap: worst on top, at most ef
  std::vector<slot_t> fresh;        // unvisited neighbours of the node being expanded
};

struct accept_all {
  bool operator()(slot_t) const noexcept { return true; }
};

/// The default budget of search_layer: unlimited, and compiled away.
struct no_budget {
  static constexpr bool spend(std::size_t) noexcept { return true; }
};

/// Stops search_layer once it would compute more than `limit` distances; `spent` counts them.
struct distance_budget {
  std::size_t limit;
  std::size_t spent = 0;
  bool spend(std::size_t n) noexcept {
    spent += n;
    return spent <= limit;
  }
};

/// Walks to a local minimum at `level`, one best neighbour at a time (ef = 1).
template <vector_store Store>
candidate greedy_closest(const graph& g, const Store& store, const typename Store::query_type& q,
                         candidate cur, int level) {
  for (bool moved = true; moved;) {
    moved = false;
    for (slot_t n : g.neighbors(cur.slot, level)) {
      const candidate c{store.distance(q, n), n};
      if (closer(c, cur)) {
        cur = c;
        moved = true;
      }
    }
  }
  return cur;
}

/// Beam search at `level` from `entries`. On return `sc.results` holds at most `ef` accepted
/// candidates as a max-heap (use sort_results to order them). The beam closes only once it holds
/// `ef` accepted ones, so when few nodes are accepted it widens by itself, through the rejected
/// ones, up to everything reachable. `budget.spend(n)` is asked before each batch of n distances;
/// when it says no, the search stops there and returns false (its results are then incomplete).
template <vector_store Store, class Accept, class Budget = no_budget>
bool search_layer(const graph& g, const Store& store, const typename Store::query_type& q,
                  std::span<const candidate> entries, std::size_t ef, int level, search_scratch& sc,
                  Accept accept, Budget&& budget = Budget{}) {
  auto frontier_order = [](const candidate& a, const candidate& b) { return closer(b, a); };
  auto& frontier = sc.frontier;
  auto& results = sc.results;
  frontier.clear();
  results.clear();
  sc.visited.next(g.size());
  if (sc.fresh.size() < g.m0()) sc.fresh.resize(g.m0());  // a list's worth, written by index below

  auto offer_result = [&](const candidate& c) {
    results.push_back(c);
    std::push_heap(results.begin(), results.end(), closer);
    if (results.size() > ef) {
      std::pop_heap(results.begin(), results.end(), closer);
      results.pop_back();
    }
  };

  for (const candidate& e : entries) {
    if (sc.visited.test_and_set(e.slot)) continue;
    frontier.push_back(e);
    std::push_heap(frontier.begin(), frontier.end(), frontier_order);
    if (accept(e.slot)) offer_result(e);
  }

  // Exact ties with the worst result (hundreds of copies of one vector, all at the same distance)
  // may be expanded too, at most `ef` of them: a plateau of copies would otherwise end the search
  // wherever the tie-break order happens to stop it, short of what lies behind the plateau. On
  // float embeddings ties are rare; on integer data (pixels, counts, 0/1) they are common, and
  // this costs time and buys recall (measured at 20k x 32 0/1 rows: 237 vs 175 us per query,
  // recall@10 0.9998 vs 0.9980).
  std::size_t ties = ef;
  while (!frontier.empty()) {
    const candidate c = frontier.front();
    if (results.size() >= ef && closer(results.front(), c)) {
      if (c.distance != results.front().distance || ties == 0) break;
      --ties;
    }
    std::pop_heap(frontier.begin(), frontier.end(), frontier_order);
    frontier.pop_back();

    // Two passes: first gather the unvisited neighbours and ask for their vectors to be
    // fetched, then compute distances while those loads are in flight.
    // (Through a pointer and a count: a push_back here was not inlined, 4 % of a search's
    // instructions at 96 dims.)
    slot_t* fresh = sc.fresh.data();
    std::size_t nfresh = 0;
    for (slot_t n : g.neighbors(c.slot, level)) {
      if (sc.visited.test_and_set(n)) continue;
      fresh[nfresh++] = n;
      if constexpr (requires { store.prefetch(n); }) store.prefetch(n);
    }
    if (!budget.spend(nfresh)) return false;
    for (std::size_t i = 0; i < nfresh; ++i) {
      const slot_t n = fresh[i];
      const candidate nc{store.distance(q, n), n};
      if (results.size() < ef || nc.distance <= results.front().distance) {
        frontier.push_back(nc);
        std::push_heap(frontier.begin(), frontier.end(), frontier_order);
        if (accept(n)) offer_result(nc);
      }
    }
  }
  return true;
}

/// Turns the result heap into an ascending list in place.
inline void sort_results(std::vector<candidate>& results) {
  std::sort_heap(results.begin(), results.end(), closer);
}

}  // namespace pocketvec::POCKETVEC_ABI
