// pocketvec/hnsw/repair.hpp — removing deleted nodes from the graph without rebuilding it.
//
// Deleted nodes stay in the graph as tombstones until compaction: searches walk through them but
// never return them. Compaction then repairs locally, in two steps:
//   plan_repair()   for every live node that links to a deleted one, on each of its levels, picks a
//                   new list with the neighbour heuristic from its live neighbours and the live
//                   neighbours of its deleted neighbours (and of theirs, when that is not enough:
//                   after heavy deletion the deleted often link to each other). A node left with no
//                   candidate at all is searched for from the entry point instead. Reads only; may
//                   throw. The new lists go to a side buffer: only the lists that change.
//   commit_repair() writes the planned lists, moves the entry point to a live node on the highest
//                   level that still has one, then drops the deleted nodes and renumbers the live
//                   ones in order (graph::keep_only). Allocates nothing; cannot fail.
// Candidates come from the lists as they were before the repair (deleted nodes' lists are never
// rewritten), so the result does not depend on the order nodes are repaired in: deterministic.
// This is FreshDiskANN's delete consolidation and USearch's compaction, applied per HNSW level.
#pragma once

#include "../abi.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "../blocks.hpp"
#include "../storage.hpp"
#include "graph.hpp"
#include "insert.hpp"
#include "search.hpp"

namespace pocketvec::inline POCKETVEC_ABI {

/// The lists a repair will write, kept aside until the commit. Level-0 lists (nearly every live
/// node's, after deletions spread over the data) are bit-packed in blocks like the graph's own, so
/// the plan costs about the graph's level-0 links again, not four times that; upper levels are few.
struct repair_plan {
  struct head {
    slot_t node;
    std::uint32_t count;
  };
  row_blocks<head> heads0{1};   // per planned level-0 list, in node order
  packed_lists lists0;          // the planned level-0 lists, same order
  struct change {
    slot_t node;
    int level;
    std::size_t at, count;  // in flat
  };
  std::vector<change> upper;    // levels >= 1
  std::vector<slot_t> flat;
  slot_t entry = no_slot;       // the new entry point (old numbering), no_slot when nothing is live
  int top = -1;
  std::vector<slot_t> remap;    // old slot -> new slot, no_slot for deleted ones
  std::vector<std::uint32_t> pos0;  // old slot -> its planned level-0 list in heads0/lists0, or none
  std::size_t live = 0;
  std::size_t repaired_nodes = 0;  // live nodes with at least one changed list

  std::size_t memory_bytes() const noexcept {
    return heads0.memory_bytes() + lists0.memory_bytes() + upper.capacity() * sizeof(change) +
           flat.capacity() * sizeof(slot_t) + (remap.capacity() + pos0.capacity()) * sizeof(slot_t);
  }
};

template <vector_store Store>
struct repair_scratch {
  std::vector<candidate> pool;
  std::vector<slot_t> seen;        // candidate slots gathered for the current list (deduplicated)
  std::vector<slot_t> hops;        // deleted nodes whose lists are still to be gathered from
  std::vector<slot_t> queue;       // breadth-first walk of the planned level 0
  std::vector<std::uint32_t> mark; // per slot: the list (counter) it was last gathered for
  std::uint32_t epoch = 0;
  std::vector<slot_t> out;
  std::vector<float> row;
  typename Store::query_type query;
  search_scratch search;
};

namespace detail {
/// Plans `list` as node u's level-0 list (replacing an earlier plan for u).
inline void plan_list0(repair_plan& plan, slot_t u, std::span<const slot_t> list) {
  std::uint32_t i = plan.pos0[u];
  if (i == ~std::uint32_t{0}) {
    i = static_cast<std::uint32_t>(plan.heads0.size());
    plan.lists0.resize(std::size_t{i} + 1);
    const repair_plan::head h{u, 0};
    plan.heads0.push_back(&h);
    plan.pos0[u] = i;
  }
  plan.lists0.set(i, list);
  plan.heads0.row(i)->count = static_cast<std::uint32_t>(list.size());
}

/// u's level-0 list as the plan leaves it.
inline slot_list planned0(const graph& g, const repair_plan& plan, slot_t u) noexcept {
  const std::uint32_t i = plan.pos0[u];
  return i == ~std::uint32_t{0} ? g.neighbors(u, 0) : plan.lists0.list(i, plan.heads0.row(i)->count);
}
}  // namespace detail

/// Local repairs can leave a live node with no way in: its in-links all came from deleted nodes,
/// and the heuristic pruned it from the lists that could have replaced them. A search would then
/// never find it. So the planned level 0 is walked from the new entry point, and each node the
/// walk misses is linked from its nearest reached node (one of its own neighbours when one was
/// reached, else the nearest a search finds), taking a free place in that node's list or its last
/// (farthest) one; the walk then continues from it.
template <vector_store Store, class Deleted>
POCKETVEC_NOINLINE void connect_level0(const graph& g, const Store& store, Deleted deleted, std::size_t ef,
                                       repair_plan& plan, repair_scratch<Store>& sc) {
  const std::size_t n = g.size();
  if (plan.live == 0) return;
  // Reverse links first, as an insert makes them: every node a repaired list now names gets the
  // repaired node back where its own list has room. Then a node nothing links to any more links
  // itself into its nearest neighbour's list.
  auto add_to = [&](slot_t v, slot_t u, bool force) {
    const slot_list from = detail::planned0(g, plan, v);
    for (slot_t t : from)
      if (t == u) return true;
    if (from.size() >= g.capacity(0) && !force) return false;
    sc.hops.assign(from.begin(), from.end());
    if (sc.hops.size() < g.capacity(0))
      sc.hops.push_back(u);
    else
      sc.hops.back() = u;
    detail::plan_list0(plan, v, sc.hops);
    return true;
  };
  const std::size_t repaired = plan.heads0.size();
  for (std::size_t i = 0; i < repaired; ++i) {
    const slot_t u = plan.heads0.row(i)->node;
    sc.seen.assign(detail::planned0(g, plan, u).begin(), detail::planned0(g, plan, u).end());
    for (slot_t v : sc.seen) add_to(v, u, false);
  }
  std::vector<std::uint16_t> indeg(n, 0);
  for (slot_t u = 0; u < n; ++u)
    if (!deleted(u))
      for (slot_t t : detail::planned0(g, plan, u)) indeg[t] += indeg[t] < 0xFFFF;
  for (slot_t u = 0; u < n; ++u) {
    if (deleted(u) || indeg[u] != 0 || u == plan.entry) continue;
    sc.seen.assign(detail::planned0(g, plan, u).begin(), detail::planned0(g, plan, u).end());
    bool linked = false;
    for (slot_t v : sc.seen)
      if (!deleted(v) && (linked = add_to(v, u, false))) break;
    if (!linked && !sc.seen.empty()) add_to(sc.seen.front(), u, true);  // lists are nearest first
  }
  // The nearest node to u that `ok` accepts: among u's own neighbours first, else by a search.
  auto nearest = [&](slot_t u, auto ok) {
    candidate best{0, no_slot};
    for (slot_t t : detail::planned0(g, plan, u))
      if (!deleted(t) && ok(t)) {
        const candidate c{store.distance_between(u, t), t};
        if (best.slot == no_slot || closer(c, best)) best = c;
      }
    if (best.slot != no_slot) return best.slot;
    store.decode(u, std::span<float>(sc.row));
    store.prepare(sc.query, sc.row.data());
    candidate cur{store.distance(sc.query, g.entry_point()), g.entry_point()};
    for (int k = g.top_level(); k > 0; --k) cur = greedy_closest(g, store, sc.query, cur, k);
    const std::span<const candidate> entry(&cur, 1);
    search_layer(g, store, sc.query, entry, std::max<std::size_t>(ef, 1), 0, sc.search,
                 [&](slot_t s) { return s != u && !deleted(s) && ok(s); });
    for (const candidate& c : sc.search.results) {
      const candidate d{store.distance_between(u, c.slot), c.slot};
      if (best.slot == no_slot || closer(d, best)) best = d;
    }
    return best.slot == no_slot ? plan.entry : best.slot;
  };
  // A search may start at any node the descent ends on, so every node must both be reached from
  // the entry point (forward) and reach it (backward): then level 0 is strongly connected.
  std::vector<std::uint8_t> back(n, 0);
  for (int round = 0; round < 3; ++round) {
    bool fixed = false;
    if (++sc.epoch == 0) {
      std::fill(sc.mark.begin(), sc.mark.end(), 0u);
      sc.epoch = 1;
    }
    const std::uint32_t fwd = sc.epoch;
    auto walk_from = [&](slot_t from) {
      sc.queue.assign(1, from);
      sc.mark[from] = fwd;
      for (std::size_t h = 0; h < sc.queue.size(); ++h)
        for (slot_t t : detail::planned0(g, plan, sc.queue[h]))
          if (!deleted(t) && sc.mark[t] != fwd) {
            sc.mark[t] = fwd;
            sc.queue.push_back(t);
          }
    };
    walk_from(plan.entry);
    for (slot_t u = 0; u < n; ++u) {
      if (deleted(u) || sc.mark[u] == fwd) continue;
      add_to(nearest(u, [&](slot_t t) { return sc.mark[t] == fwd; }), u, true);
      walk_from(u);
      fixed = true;
    }
    // Backward: propagate "reaches the entry point" to a fixpoint, sweeping both ways.
    std::fill(back.begin(), back.end(), std::uint8_t{0});
    back[plan.entry] = 1;
    auto reaches = [&](slot_t u) {
      for (slot_t t : detail::planned0(g, plan, u))
        if (back[t]) return true;
      return false;
    };
    for (bool changed = true; changed;) {
      changed = false;
      for (std::size_t k = 0; k < 2 * n; ++k) {
        const slot_t u = static_cast<slot_t>(k < n ? k : 2 * n - 1 - k);
        if (!back[u] && !deleted(u) && reaches(u)) back[u] = 1, changed = true;
      }
    }
    for (slot_t u = 0; u < n; ++u) {
      if (deleted(u) || back[u]) continue;
      const slot_t x = nearest(u, [&](slot_t t) { return back[t] != 0; });
      add_to(u, x, true);
      back[u] = 1;
      fixed = true;
    }
    if (!fixed) break;
  }
}

/// Step 1. `deleted(slot)` says which nodes go. Reads the graph and the store only.
template <vector_store Store, class Deleted>
POCKETVEC_NOINLINE void plan_repair(const graph& g, const Store& store, Deleted deleted, std::size_t ef,
                                    repair_plan& plan, repair_scratch<Store>& sc) {
  const std::size_t n = g.size();
  plan = repair_plan{};
  plan.lists0 = packed_lists(g.m0());
  plan.lists0.widen(packed_lists::bits_for(n));
  plan.remap.assign(n, no_slot);
  plan.pos0.assign(n, ~std::uint32_t{0});
  for (slot_t s = 0; s < n; ++s)
    if (!deleted(s)) plan.remap[s] = static_cast<slot_t>(plan.live++);
  // The new entry point: a live node on the highest level any live node reaches.
  for (slot_t s = 0; s < n; ++s)
    if (!deleted(s) && g.level(s) > plan.top) {
      plan.top = g.level(s);
      plan.entry = s;
    }
  if (plan.live == 0) return;
  sc.mark.assign(n, 0);
  sc.epoch = 0;
  sc.row.resize(store.dim());

  for (slot_t u = 0; u < n; ++u) {
    if (deleted(u)) continue;
    bool changed = false;
    for (int l = 0; l <= g.level(u); ++l) {
      const slot_list nb = g.neighbors(u, l);
      bool any = false;
      for (slot_t t : nb) any = any || deleted(t);
      if (!any) continue;
      const std::size_t cap = g.capacity(l), limit = 4 * cap;
      // Gather: live neighbours, then the live neighbours of deleted ones, then (while short of a
      // full list) those two steps away through deleted nodes.
      if (++sc.epoch == 0) {
        std::fill(sc.mark.begin(), sc.mark.end(), 0u);
        sc.epoch = 1;
      }
      sc.mark[u] = sc.epoch;
      sc.seen.clear();
      auto gather = [&](slot_t t) {
        if (sc.mark[t] == sc.epoch) return;
        sc.mark[t] = sc.epoch;
        sc.seen.push_back(t);
      };
      for (slot_t t : nb)
        if (!deleted(t)) gather(t);
      std::size_t live_found = sc.seen.size();
      std::vector<slot_t>& hops = sc.hops;
      hops.clear();
      for (slot_t t : nb)
        if (deleted(t) && sc.mark[t] != sc.epoch) {
          sc.mark[t] = sc.epoch;
          hops.push_back(t);
        }
      for (int depth = 0; depth < 2 && !hops.empty() && live_found < limit; ++depth) {
        const std::size_t end = hops.size();
        for (std::size_t h = 0; h < end && live_found < limit; ++h) {
          for (slot_t t : g.neighbors(hops[h], l)) {
            if (sc.mark[t] == sc.epoch) continue;
            sc.mark[t] = sc.epoch;
            if (deleted(t)) {
              hops.push_back(t);
            } else {
              sc.seen.push_back(t);
              if (++live_found >= limit) break;
            }
          }
        }
        if (live_found >= cap) break;
        hops.erase(hops.begin(), hops.begin() + static_cast<std::ptrdiff_t>(end));
      }
      sc.pool.clear();
      if (!sc.seen.empty()) {
        for (slot_t t : sc.seen) sc.pool.push_back({store.distance_between(u, t), t});
      } else {
        // Nothing reachable through the old lists: search for the node from the entry point.
        store.decode(u, std::span<float>(sc.row));
        store.prepare(sc.query, sc.row.data());
        candidate cur{store.distance(sc.query, g.entry_point()), g.entry_point()};
        for (int k = g.top_level(); k > l; --k) cur = greedy_closest(g, store, sc.query, cur, k);
        const std::span<const candidate> entry(&cur, 1);
        search_layer(g, store, sc.query, entry, std::max(ef, cap), l, sc.search,
                     [&](slot_t s) { return s != u && !deleted(s) && g.level(s) >= l; });
        for (const candidate& c : sc.search.results) sc.pool.push_back({store.distance_between(u, c.slot), c.slot});
      }
      std::sort(sc.pool.begin(), sc.pool.end(), [u](const candidate& a, const candidate& b) {
        return a.distance < b.distance ||
               (a.distance == b.distance && scramble(a.slot, u) < scramble(b.slot, u));
      });
      select_neighbors(store, u, std::span<const candidate>(sc.pool), cap, sc.out);
      if (l == 0) {
        detail::plan_list0(plan, u, sc.out);
      } else {
        plan.upper.push_back({u, l, plan.flat.size(), sc.out.size()});
        plan.flat.insert(plan.flat.end(), sc.out.begin(), sc.out.end());
      }
      changed = true;
    }
    plan.repaired_nodes += changed;
  }
  connect_level0(g, store, deleted, ef, plan, sc);
}

/// Step 2: writes the plan, then drops the deleted nodes and renumbers the rest (the store and
/// the ids are the caller's to renumber with plan.remap). Allocates nothing.
inline void commit_repair(graph& g, const repair_plan& plan) noexcept {
  slot_t buf[2 * max_m];
  for (std::size_t i = 0; i < plan.heads0.size(); ++i) {
    const repair_plan::head& h = *plan.heads0.row(i);
    const slot_list l = plan.lists0.list(i, h.count);
    std::copy(l.begin(), l.end(), buf);
    g.set_neighbors(h.node, 0, std::span<const slot_t>(buf, h.count));
  }
  for (const auto& c : plan.upper)
    g.set_neighbors(c.node, c.level, std::span<const slot_t>(plan.flat.data() + c.at, c.count));
  g.keep_only(plan.remap, plan.live, plan.entry, plan.top);
}

}  // namespace pocketvec::POCKETVEC_ABI
