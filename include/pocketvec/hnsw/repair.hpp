// pocketvec/hnsw/repair.hpp — removing deleted nodes from the graph without rebuilding it.
//
// Deleted nodes stay in the graph as tombstones until compaction: searches walk through them but
// never return them. Compaction then repairs locally, in two steps:
//   plan_repair()   for every live node that links to a deleted one, on each of its levels, keeps
//                   its surviving links and replaces the lost ones, by the neighbour heuristic and
//                   then by distance, from the live neighbours of its deleted neighbours (and of
//                   theirs, when that is not enough: after heavy deletion the deleted often link to
//                   each other), keeping the node's degree. Then level 0 is made strongly connected (connect_level0). Reads only; may throw. The new lists
//                   go to a side buffer: only the lists that change.
//   commit_repair() writes the planned lists and drops the deleted nodes, renumbering the live ones
//                   in order (graph::keep_only); the entry point moves to a live node on the highest
//                   level that still has one. Allocates nothing; cannot fail.
// Candidates come from the lists as they were before the repair (deleted nodes' lists are never
// rewritten), so the result does not depend on the order nodes are repaired in: deterministic.
// This is FreshDiskANN's delete consolidation and USearch's compaction, applied per HNSW level.
// The code is compiled once, not once per store: it measures through a repair_oracle (two function
// pointers), which costs an indirect call next to each distance and keeps the WASM build small.
#pragma once

#include "../abi.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "../blocks.hpp"
#include "graph.hpp"
#include "packed_lists.hpp"
#include "search.hpp"

namespace pocketvec::inline POCKETVEC_ABI {

/// What the repair needs of a store, without its type.
struct repair_oracle {
  const void* store = nullptr;
  float (*between)(const void* store, slot_t a, slot_t b) = nullptr;  // Store::distance_between
  bool (*same)(const void* store, slot_t a, slot_t b) = nullptr;      // Store::same
  bool ip = false;  // inner product: "nearest" is the few longest vectors (see connect_level0)

  template <class Store>
  static repair_oracle of(const Store& s) noexcept {
    return {&s, [](const void* p, slot_t a, slot_t b) { return static_cast<const Store*>(p)->distance_between(a, b); },
            [](const void* p, slot_t a, slot_t b) { return static_cast<const Store*>(p)->same(a, b); },
            Store::metric_kind == metric::ip};
  }
  float distance(slot_t a, slot_t b) const { return between(store, a, b); }
};

/// The lists a repair will write, kept aside until the commit. Level-0 lists (nearly every live
/// node's, after deletions spread over the data) are bit-packed in blocks like the graph's own, so
/// the plan costs about the graph's level-0 links again, not four times that; upper levels are few.
struct repair_plan {
  struct head {
    slot_t node;
    std::uint32_t count;
  };
  row_blocks<head> heads0{1};   // per planned level-0 list
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
  std::vector<std::uint32_t> pos0;  // old slot -> its planned level-0 list, or ~0
  std::size_t live = 0;
  std::size_t repaired_nodes = 0;  // live nodes with at least one changed list
};

struct repair_scratch {
  std::vector<candidate> pool;
  std::vector<slot_t> seen, hops, queue, out;
  std::vector<std::uint32_t> mark;        // per slot: an epoch
  std::vector<std::uint8_t> back;          // per slot: reaches the entry point (connect_level0)
  std::vector<std::uint8_t> pinned;        // per slot: a reachability fix added a link into it
  std::uint32_t epoch = 0;
};

namespace detail {

inline bool bit_set(const std::uint64_t* bits, slot_t s) noexcept { return (bits[s / 64] >> (s % 64)) & 1u; }

inline std::uint32_t next_epoch(std::vector<std::uint32_t>& marks, std::uint32_t& epoch) {
  if (++epoch == 0) {
    std::fill(marks.begin(), marks.end(), 0u);
    epoch = 1;
  }
  return epoch;
}

/// Plans `list` as node u's level-0 list (replacing an earlier plan for u).
POCKETVEC_COLD inline void plan_list0(repair_plan& plan, slot_t u, std::span<const slot_t> list) {
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

/// Nearest first; ties by a per-node scramble, as link_back orders them. (One comparator type for
/// every sort here: each type is another copy of std::sort in the WASM build.)
struct nearer_to {
  slot_t base;
  bool operator()(const candidate& a, const candidate& b) const noexcept {
    return a.distance < b.distance || (a.distance == b.distance && scramble(a.slot, base) < scramble(b.slot, base));
  }
};

/// Replacements for the links u lost: `out` holds u's surviving neighbours; from `pool` (new
/// candidates, each with its distance to u), sorted nearest first (ties by a per-node scramble, as
/// link_back orders them), takes candidates until `out` has `degree` entries: first those farther
/// from every link u has (surviving ones and replacements taken so far) than from u (the neighbour
/// heuristic), then the nearest of the rest. Holding candidates to the replacements only was
/// cheaper but let each repair trade a long link for a near-duplicate of a surviving one: under
/// churn with hundreds of small compactions recall@10 drifted 1.6 points below a fresh build
/// (bench/repair churn, docs/benchmarks.md); with every link in the test it stays level.
POCKETVEC_COLD inline void pick_replacements(const repair_oracle& o, slot_t base, std::vector<candidate>& pool,
                                             std::size_t degree, std::vector<slot_t>& out) {
  std::sort(pool.begin(), pool.end(), nearer_to{base});
  for (candidate& c : pool) {
    if (out.size() >= degree) return;
    bool keep = true;
    for (std::size_t r = out.size(); r > 0 && keep; --r) keep = !(o.distance(c.slot, out[r - 1]) < c.distance);
    if (keep) {
      out.push_back(c.slot);
      c.slot = no_slot;  // taken
    }
  }
  for (const candidate& c : pool) {
    if (out.size() >= degree) return;
    if (c.slot != no_slot) out.push_back(c.slot);
  }
}

/// Adds u to v's planned level-0 list: into a free place or, when `force`, over the last entry
/// that no fix pinned (an entry a reachability fix added is the only way into its node: evicting it
/// would undo that fix, and under ip, where every fix lands on the same few high-norm hubs, the
/// fixes would only undo each other). False when u could not be added.
POCKETVEC_COLD inline bool add_to(const graph& g, repair_plan& plan, slot_t v, slot_t u, bool force, repair_scratch& sc) {
  const slot_list from = planned0(g, plan, v);
  for (slot_t t : from)
    if (t == u) return true;
  sc.hops.assign(from.begin(), from.end());
  if (sc.hops.size() < g.capacity(0)) {
    sc.hops.push_back(u);
  } else {
    if (!force) return false;
    std::size_t i = sc.hops.size();
    while (i > 0 && sc.pinned[sc.hops[i - 1]]) --i;
    if (i == 0) return false;
    sc.hops[i - 1] = u;
  }
  plan_list0(plan, v, sc.hops);
  return true;
}

/// Local repairs can leave a live node with no way in (its in-links all came from deleted nodes,
/// and the heuristic pruned it from the lists that replaced them) or no way out to the rest. A
/// search may start at any node the descent ends on, so level 0 must be strongly connected:
///   - reverse links first, as an insert makes them: every node a repaired list now names gets the
///     repaired node back where its own list has room;
///   - then, in rounds until one fixes nothing: walk from the entry point and link every node the walk misses from
///     its nearest reached neighbour; propagate "reaches the entry point" to a fixpoint and link
///     every node that does not to the entry point.
POCKETVEC_COLD inline void connect_level0(const graph& g, const repair_oracle& o, const std::uint64_t* deleted,
                                              repair_plan& plan, repair_scratch& sc) {
  const std::size_t n = g.size();
  if (plan.live == 0) return;
  auto del = [&](slot_t s) { return bit_set(deleted, s); };
  const std::size_t repaired = plan.heads0.size();
  for (std::size_t i = 0; i < repaired; ++i) {
    const slot_t u = plan.heads0.row(i)->node;
    const slot_list l = planned0(g, plan, u);
    sc.seen.assign(l.begin(), l.end());
    const slot_list old = g.neighbors(u, 0);
    for (slot_t v : sc.seen) {
      if (std::find(old.begin(), old.end(), v) != old.end()) continue;  // an old link: v knew u already
      add_to(g, plan, v, u, false, sc);
    }
  }
  sc.back.assign(n, 0);
  sc.pinned.assign(n, 0);
  // The walks hold up to every node: room for them once, rather than by doubling (a doubling step
  // holds the old array and one twice its size: it was compact()'s peak).
  sc.queue.reserve(n);
  // A forced link may cut off nodes an earlier round reached: repeat until a round fixes nothing
  // (4-5 rounds on the hardest cases measured; the cap only bounds pathological inputs).
  for (int round = 0; round < 64; ++round) {
    bool fixed = false;
    const std::uint32_t fwd = next_epoch(sc.mark, sc.epoch);
    // The queue keeps every walk of the round (each node joins it once a round: n at most), so it
    // holds all that is reached so far.
    auto walk_from = [&](slot_t from) {
      std::size_t h = sc.queue.size();
      sc.queue.push_back(from);
      sc.mark[from] = fwd;
      for (; h < sc.queue.size(); ++h)
        for (slot_t t : planned0(g, plan, sc.queue[h]))
          if (!del(t) && sc.mark[t] != fwd) {
            sc.mark[t] = fwd;
            sc.queue.push_back(t);
          }
    };
    sc.queue.clear();
    walk_from(plan.entry);  // sc.queue: what the entry point reaches, then what each fix adds
    for (slot_t u = 0; u < n; ++u) {
      if (del(u) || sc.mark[u] == fwd) continue;
      // From its nearest reached neighbour with room, else over an unpinned entry of the nearest
      // one that has one; failing that (all of them unreached too, or full of pinned links), from
      // a reached node picked by a fixed spread, so no one list takes them all.
      sc.pool.clear();
      for (slot_t t : planned0(g, plan, u))
        if (!del(t) && sc.mark[t] == fwd) sc.pool.push_back({o.distance(u, t), t});
      std::sort(sc.pool.begin(), sc.pool.end(), nearer_to{u});
      bool linked = false;
      // Under ip even a fresh graph is not strongly connected (every node's nearest are the same
      // few long vectors): forcing links into their lists would only push out good ones, so ip
      // nodes are linked where there is room, and otherwise left as a fresh build would leave them.
      if (o.ip) {
        for (const candidate& c : sc.pool)
          if ((linked = add_to(g, plan, c.slot, u, false, sc))) break;
        if (linked) sc.pinned[u] = 1;
        continue;
      }
      for (int force = 0; force < 2 && !linked; ++force)
        for (const candidate& c : sc.pool)
          if ((linked = add_to(g, plan, c.slot, u, force != 0, sc))) break;
      for (std::size_t k = 0; k < 16 && !linked; ++k)
        linked = add_to(g, plan, sc.queue[(scramble(u) + k) % sc.queue.size()], u, true, sc);
      if (!linked) {  // (every list tried is full of pinned links: the entry point's last goes)
        sc.hops.assign(1, u);
        const slot_list l = planned0(g, plan, plan.entry);
        sc.hops.insert(sc.hops.end(), l.begin(), l.end());
        sc.hops.resize(std::min(sc.hops.size(), g.capacity(0)));
        plan_list0(plan, plan.entry, sc.hops);
      }
      sc.pinned[u] = 1;
      walk_from(u);
      fixed = true;
    }
    // Backward: "reaches the entry point", to a fixpoint, sweeping both ways.
    std::fill(sc.back.begin(), sc.back.end(), std::uint8_t{0});
    sc.back[plan.entry] = 1;
    for (bool changed = true; changed;) {
      changed = false;
      for (std::size_t k = 0; k < 2 * n; ++k) {
        const slot_t u = static_cast<slot_t>(k < n ? k : 2 * n - 1 - k);
        if (sc.back[u] || del(u)) continue;
        for (slot_t t : planned0(g, plan, u))
          if (sc.back[t]) {
            sc.back[u] = 1;
            changed = true;
            break;
          }
      }
    }
    for (slot_t u = 0; u < n; ++u) {
      if (del(u) || sc.back[u]) continue;
      if (!add_to(g, plan, u, plan.entry, true, sc)) {  // (the entry point reaches itself)
        // Every entry of u's list is a pinned fix (rare): the entry point goes first and the last
        // fix drops out; the next round links its node again.
        sc.hops.assign(1, plan.entry);
        const slot_list l = planned0(g, plan, u);
        sc.hops.insert(sc.hops.end(), l.begin(), l.end());
        sc.hops.resize(std::min(sc.hops.size(), g.capacity(0)));
        plan_list0(plan, u, sc.hops);
      }
      sc.back[u] = 1;
      fixed = true;
    }
    if (!fixed) break;
  }
}

}  // namespace detail

/// Step 1. `deleted` is the tombstone bitset over the graph's slots. Reads the graph and the store
/// (through `o`) only; may throw.
POCKETVEC_COLD inline void plan_repair(const graph& g, const repair_oracle& o, const std::uint64_t* deleted,
                                           repair_plan& plan, repair_scratch& sc) {
  const std::size_t n = g.size();
  auto del = [&](slot_t s) { return detail::bit_set(deleted, s); };
  plan = repair_plan{};
  plan.lists0 = packed_lists(g.m0());
  plan.lists0.widen(packed_lists::bits_for(n));
  plan.remap.assign(n, no_slot);
  plan.pos0.assign(n, ~std::uint32_t{0});
  for (slot_t s = 0; s < n; ++s)
    if (!del(s)) plan.remap[s] = static_cast<slot_t>(plan.live++);
  // The new entry point: a live node on the highest level any live node reaches.
  for (slot_t s = 0; s < n; ++s)
    if (!del(s) && g.level(s) > plan.top) {
      plan.top = g.level(s);
      plan.entry = s;
    }
  if (plan.live == 0) return;
  sc.mark.assign(n, 0);
  sc.epoch = 0;

  for (slot_t u = 0; u < n; ++u) {
    if (del(u)) continue;
    bool changed = false;
    for (int l = 0; l <= g.level(u); ++l) {
      const slot_list nb = g.neighbors(u, l);
      bool any = false;
      for (slot_t t : nb) any = any || del(t);
      if (!any) continue;
      const std::size_t cap = g.capacity(l), limit = 4 * cap;
      // Gather: live neighbours, then the live neighbours of deleted ones, then (while short of a
      // full list) those two steps away through deleted nodes.
      const std::uint32_t ep = detail::next_epoch(sc.mark, sc.epoch);
      sc.mark[u] = ep;
      sc.seen.clear();
      sc.hops.clear();
      for (slot_t t : nb) {
        if (sc.mark[t] == ep) continue;
        sc.mark[t] = ep;
        (del(t) ? sc.hops : sc.seen).push_back(t);
      }
      const std::size_t kept = sc.seen.size();
      std::size_t live_found = kept;
      for (int depth = 0; depth < 2 && !sc.hops.empty() && live_found < limit; ++depth) {
        const std::size_t end = sc.hops.size();
        for (std::size_t h = 0; h < end && live_found < limit; ++h) {
          for (slot_t t : g.neighbors(sc.hops[h], l)) {
            if (sc.mark[t] == ep) continue;
            sc.mark[t] = ep;
            if (del(t)) {
              sc.hops.push_back(t);
            } else {
              sc.seen.push_back(t);
              if (++live_found >= limit) break;
            }
          }
        }
        if (live_found >= cap) break;
        sc.hops.erase(sc.hops.begin(), sc.hops.begin() + static_cast<std::ptrdiff_t>(end));
      }
      // The surviving links stay as they are (the insert's heuristic and reverse links chose them);
      // the lost ones are replaced from the gathered candidates, keeping the node's degree.
      sc.out.assign(sc.seen.begin(), sc.seen.begin() + static_cast<std::ptrdiff_t>(kept));
      sc.pool.clear();
      for (std::size_t i = kept; i < sc.seen.size(); ++i) sc.pool.push_back({o.distance(u, sc.seen[i]), sc.seen[i]});
      detail::pick_replacements(o, u, sc.pool, nb.size(), sc.out);
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
  detail::connect_level0(g, o, deleted, plan, sc);
}

/// Step 2: writes the plan, then drops the deleted nodes and renumbers the rest (the store and
/// the ids are the caller's to renumber with plan.remap). Allocates nothing.
POCKETVEC_COLD inline void commit_repair(graph& g, const repair_plan& plan) noexcept {
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
