// pocketvec/hnsw/insert.hpp — linking a new node into the graph (HNSW construction), in two steps.
//
// plan_insert() searches the graph for the new node's neighbours on every level it joins. It reads
// the graph, may allocate (and so throw), and changes nothing. commit_insert() then adds the node,
// writes its lists and links back; after graph::make_room() it allocates nothing and cannot fail.
// That split is what gives the index its strong guarantee: whatever throws, throws before the graph
// has changed.
// The new node's vector is already in the store at `slot` (invisible to searches: the graph does
// not know the slot yet). Its query is prepared inside plan_insert from its row, and re-pruning a
// neighbour's list works from store.distance_between() alone: no query object is shared between the
// two, so re-pruning cannot change what an insert searches for.
// Neighbours are chosen with the standard heuristic (keep a candidate only if it is closer to the
// base node than to every neighbour kept so far), m per level; reverse links fill up to the level's
// capacity and are re-pruned with the same heuristic when full.
#pragma once

#include "../abi.hpp"

#include <algorithm>
#include <cstddef>
#include <span>
#include <utility>
#include <vector>

#include "../storage.hpp"
#include "graph.hpp"
#include "search.hpp"

namespace pocketvec::inline POCKETVEC_ABI {

template <vector_store Store>
struct insert_scratch {
  search_scratch search;
  typename Store::query_type query;          // the new node; plan_insert's alone
  std::vector<candidate> found;              // sorted candidates of the current level
  std::vector<candidate> entries;            // entry points for the next level down
  std::vector<std::vector<slot_t>> chosen;   // chosen[l]: the new node's neighbours at level l
  int levels = 0;                            // levels planned: chosen[0 .. levels)
  // commit_insert's, sized by plan_insert so that the commit allocates nothing:
  std::vector<candidate> pool;               // a full neighbour list plus the newcomer
  std::vector<slot_t> links;                 // a neighbour's list while linking back
};

/// The heuristic: from `sorted` (ascending distance to `base`), keep up to `m` candidates that are
/// each closer to the base than to any candidate already kept.
/// Exact copies of the base (store.same) are taken last, whatever their computed distance (0 under
/// l2, ±1 ulp under cosine, -|x|² under ip, a quantization error under SQ8): a copy kept early
/// would stand for the base itself, every other candidate would be measured against it with
/// rounding noise, and a list filled with copies would leave the rest of the data without in-links.
template <vector_store Store>
void select_neighbors(const Store& store, slot_t base, std::span<const candidate> sorted,
                      std::size_t m, std::vector<slot_t>& out) {
  out.clear();
  bool copies = false;
  for (const candidate& c : sorted) {
    if (out.size() >= m) return;
    if (store.same(base, c.slot)) {
      copies = true;
      continue;
    }
    bool keep = true;
    for (slot_t r : out) {
      if (store.distance_between(c.slot, r) < c.distance) {
        keep = false;
        break;
      }
    }
    if (keep) out.push_back(c.slot);
  }
  if (!copies) return;
  for (const candidate& c : sorted) {
    if (out.size() >= m) return;
    if (store.same(base, c.slot)) out.push_back(c.slot);
  }
}

/// Adds `to` to `from`'s list at `level`, re-pruning `from`'s list when it is full. Allocates
/// nothing once `pool` and `links` hold capacity(0) + 1 entries (plan_insert reserves them; the
/// graph's arrays and the store's distance cache are sized before), which is what makes the
/// noexcept safe: copy_neighbors and distance_between could only throw by allocating.
template <vector_store Store>
void link_back(graph& g, const Store& store, slot_t from, slot_t to, int level,
               std::vector<candidate>& pool, std::vector<slot_t>& links) noexcept {
  g.copy_neighbors(from, level, links);
  if (links.size() < g.capacity(level)) {
    links.push_back(to);
    g.set_neighbors(from, level, links);
    return;
  }
  pool.clear();
  for (slot_t n : links) pool.push_back({store.distance_between(from, n), n});
  pool.push_back({store.distance_between(from, to), to});
  // Equal distances are ordered per node: with one global order, exact duplicates would all keep
  // the same few copies and prune every newcomer away, leaving it unreachable.
  std::sort(pool.begin(), pool.end(), [from](const candidate& a, const candidate& b) {
    return a.distance < b.distance ||
           (a.distance == b.distance && scramble(a.slot, from) < scramble(b.slot, from));
  });
  select_neighbors(store, from, std::span<const candidate>(pool), g.capacity(level), links);
  g.set_neighbors(from, level, links);
}

/// Step 1: finds the neighbours of `slot` (whose f32 row, as the store was given it, is `row`) on
/// levels 0 .. min(level, top level). Reads the graph only; may throw.
template <vector_store Store>
POCKETVEC_NOINLINE void plan_insert(const graph& g, const Store& store, slot_t slot, const float* row, int level,
                 std::size_t ef_construction, insert_scratch<Store>& sc) {
  sc.levels = 0;
  sc.pool.reserve(g.m0() + 1);
  sc.links.reserve(g.m0() + 1);
  const slot_t entry = g.entry_point();
  if (entry == no_slot) return;
  store.prepare(sc.query, row);
  const auto& q = sc.query;
  const int top = g.top_level();
  candidate cur{store.distance(q, entry), entry};
  for (int l = top; l > level; --l) cur = greedy_closest(g, store, q, cur, l);

  const int start = std::min(level, top);
  if (sc.chosen.size() < static_cast<std::size_t>(start) + 1) sc.chosen.resize(static_cast<std::size_t>(start) + 1);
  sc.entries.assign(1, cur);
  for (int l = start; l >= 0; --l) {
    // At most one copy of the new node per level enters the candidates: with more, a node with
    // hundreds of twins would find nothing but twins and link to nothing else, and searches that
    // reach the twins would find no way out. One twin keeps the copies linked to each other.
    bool twin = false;
    auto accept = [&](slot_t s) { return !store.same(slot, s) || !std::exchange(twin, true); };
    search_layer(g, store, q, sc.entries, ef_construction, l, sc.search, accept);
    sc.found.swap(sc.search.results);
    sort_results(sc.found);
    select_neighbors(store, slot, std::span<const candidate>(sc.found), g.m(),
                     sc.chosen[static_cast<std::size_t>(l)]);
    sc.entries.swap(sc.found);
  }
  sc.levels = start + 1;
}

/// Step 2: adds the node planned by plan_insert (the graph unchanged since) and links it. The
/// caller has called g.make_room(level). Cannot fail.
template <vector_store Store>
POCKETVEC_NOINLINE void commit_insert(graph& g, const Store& store, slot_t slot, int level,
                   insert_scratch<Store>& sc) noexcept {
  const slot_t added = g.add_node(level);
  POCKETVEC_ASSERT(added == slot);
  for (int l = sc.levels - 1; l >= 0; --l) {
    const auto& chosen = sc.chosen[static_cast<std::size_t>(l)];
    g.set_neighbors(slot, l, chosen);
    for (slot_t n : chosen) link_back(g, store, n, slot, l, sc.pool, sc.links);
  }
}

}  // namespace pocketvec::POCKETVEC_ABI
