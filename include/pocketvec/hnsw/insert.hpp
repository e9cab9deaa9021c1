// pocketvec/hnsw/insert.hpp — linking a new node into the graph (HNSW construction).
//
// The node's vector is already in the store at `slot`; the caller passes a prepared query for it.
// Neighbours are chosen with the standard heuristic (keep a candidate only if it is closer to the
// new node than to every neighbour kept so far), m per level; reverse links fill up to the level's
// capacity and are re-pruned with the same heuristic when full.
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <vector>

#include "../storage.hpp"
#include "graph.hpp"
#include "search.hpp"

namespace pocketvec {

template <vector_store Store>
struct insert_scratch {
  search_scratch search;
  std::vector<candidate> found;     // sorted candidates of the current level
  std::vector<candidate> entries;   // entry points for the next level down
  std::vector<candidate> pool;      // re-pruning a full neighbour list
  std::vector<slot_t> selected;     // the new node's neighbours at the current level
  std::vector<slot_t> links;        // a neighbour's list while linking back
  std::vector<float> decoded;       // a stored vector, as a query for re-pruning
  typename Store::query_type query;
};

/// The heuristic: from `sorted` (ascending distance to the base node), keep up to `m` candidates
/// that are each closer to the base than to any candidate already kept.
/// Exact copies of the base (distance 0) always pass that test, so they are taken last: a list
/// filled with copies first would have no room for the rest of the data, which would then lose
/// every in-link from that region and become unreachable.
template <vector_store Store>
void select_neighbors(const Store& store, std::span<const candidate> sorted, std::size_t m,
                      std::vector<slot_t>& out) {
  out.clear();
  for (const candidate& c : sorted) {
    if (out.size() >= m) return;
    if (c.distance == 0.0f) continue;
    bool keep = true;
    for (slot_t r : out) {
      if (store.distance_between(c.slot, r) < c.distance) {
        keep = false;
        break;
      }
    }
    if (keep) out.push_back(c.slot);
  }
  for (const candidate& c : sorted) {
    if (out.size() >= m) return;
    if (c.distance == 0.0f) out.push_back(c.slot);
  }
}

/// Adds `to` to `from`'s list at `level`, re-pruning `from`'s list when it is full.
template <vector_store Store>
void link_back(graph& g, const Store& store, slot_t from, slot_t to, int level,
               insert_scratch<Store>& sc) {
  g.copy_neighbors(from, level, sc.links);
  if (sc.links.size() < g.capacity(level)) {
    sc.links.push_back(to);
    g.set_neighbors(from, level, sc.links);
    return;
  }
  sc.decoded.resize(store.dim());
  store.decode(from, sc.decoded);
  store.prepare(sc.query, sc.decoded.data());
  sc.pool.clear();
  for (slot_t n : sc.links) sc.pool.push_back({store.distance(sc.query, n), n});
  sc.pool.push_back({store.distance(sc.query, to), to});
  // Equal distances are ordered per node: with one global order, exact duplicates would all keep
  // the same few copies and prune every newcomer away, leaving it unreachable.
  std::sort(sc.pool.begin(), sc.pool.end(), [from](const candidate& a, const candidate& b) {
    return a.distance < b.distance ||
           (a.distance == b.distance && scramble(a.slot, from) < scramble(b.slot, from));
  });
  select_neighbors(store, std::span<const candidate>(sc.pool), g.capacity(level), sc.links);
  g.set_neighbors(from, level, sc.links);
}

/// Adds `slot` (already in the store) to the graph at `level` and links it.
template <vector_store Store>
void insert_node(graph& g, const Store& store, slot_t slot, const typename Store::query_type& q,
                 int level, std::size_t ef_construction, insert_scratch<Store>& sc) {
  const slot_t entry = g.entry_point();
  const int top = g.top_level();
  const slot_t added = g.add_node(level);
  POCKETVEC_ASSERT(added == slot);
  if (entry == no_slot) return;

  candidate cur{store.distance(q, entry), entry};
  for (int l = top; l > level; --l) cur = greedy_closest(g, store, q, cur, l);

  sc.entries.assign(1, cur);
  for (int l = std::min(level, top); l >= 0; --l) {
    search_layer(g, store, q, sc.entries, ef_construction, l, sc.search, accept_all{});
    sc.found.swap(sc.search.results);
    sort_results(sc.found);
    select_neighbors(store, std::span<const candidate>(sc.found), g.m(), sc.selected);
    g.set_neighbors(slot, l, sc.selected);
    for (slot_t n : sc.selected) link_back(g, store, n, slot, l, sc);
    sc.entries.swap(sc.found);
  }
}

}  // namespace pocketvec
