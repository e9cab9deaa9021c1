// pocketvec/hnsw/graph.hpp — HNSW topology: levels and neighbour lists, nothing else.
//
// The graph knows slots, not vectors or distances. Layout (links bit-packed in blocks that never
// move, see packed_lists.hpp):
//   level 0     one list of m0() entries per node, plus a u16 count per node
//   levels >= 1 only for nodes that have them: per node `level` lists of m() entries in one shared
//               pool plus a u8 count per list, found through upper_block_[node]
// Every link array uses the same width, bit_width(size() - 1) or wider if reserve() asked for
// more; add_node() widens them when the next slot would not fit.
// Invariants (checked by validate()): every count <= its capacity; every neighbour < size(), never the
// node itself, and present at that level; the entry point has the maximum level.
// Depends on config.hpp, error.hpp and packed_lists.hpp only.
#pragma once

#include "../abi.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"
#include "packed_lists.hpp"

namespace pocketvec::inline POCKETVEC_ABI {

class graph {
 public:
  graph() = default;
  explicit graph(std::size_t m) : m_(m), m0_(2 * m), links0_(2 * m), upper_(m) {}

  std::size_t m() const noexcept { return m_; }
  std::size_t m0() const noexcept { return m0_; }
  std::size_t size() const noexcept { return levels_.size(); }
  bool empty() const noexcept { return levels_.empty(); }
  slot_t entry_point() const noexcept { return entry_; }
  int top_level() const noexcept { return top_level_; }
  int level(slot_t s) const noexcept { return levels_[s]; }

  /// Room for n nodes: exactly n lists (blocks copy nothing when they grow); the per-node arrays,
  /// which re-allocate, by at least half.
  void reserve(std::size_t n) {
    fit_slots(n);
    detail::grow_to(levels_, n);
    detail::grow_to(count0_, n);
    links0_.reserve(n);
    detail::grow_to(upper_block_, n);
  }

  /// Grows every array, if needed, so that add_node(level) and any set_neighbors() after it
  /// allocate nothing (and so cannot fail). May throw; changes nothing observable.
  POCKETVEC_NOINLINE void make_room(int level) {
    const std::size_t n = size() + 1, blocks = upper_count_.size() + static_cast<std::size_t>(level);
    fit_slots(n);
    detail::grow_to(levels_, n);
    detail::grow_to(count0_, n);
    detail::grow_to(upper_block_, n);
    detail::grow_to(upper_count_, blocks);
    links0_.make_room(n);
    upper_.make_room(blocks);
  }

  /// What truncate() returns to: the graph as it was when mark() was called.
  struct mark_type {
    std::size_t nodes = 0, blocks = 0;
    slot_t entry = no_slot;
    int top = -1;
  };
  mark_type mark() const noexcept { return {size(), upper_count_.size(), entry_, top_level_}; }

  /// Drops every node added since `m` (their own lists go with them; lists of older nodes that
  /// changed are the caller's to restore). Allocates nothing. Link widths stay as they are.
  void truncate(const mark_type& m) noexcept {
    if (m.nodes < tracked_) stop_tracking();
    levels_.resize(m.nodes);
    count0_.resize(m.nodes);
    links0_.truncate(m.nodes);
    upper_block_.resize(m.nodes);
    upper_count_.resize(m.blocks);
    upper_.truncate(m.blocks);
    entry_ = m.entry;
    top_level_ = m.top;
  }

  /// Drops every node whose remap[] is no_slot and renumbers the others to remap[s] (ascending,
  /// `live` of them); `entry` (old numbering, or no_slot) and `top` become the entry point and the
  /// top level. Every list must name kept nodes only (remapped here; a dropped one is skipped).
  /// Allocates nothing; frees the link blocks no longer needed.
  POCKETVEC_COLD void keep_only(std::span<const slot_t> remap, std::size_t live, slot_t entry,
                                    int top) noexcept {
    slot_t buf[2 * max_m];
    auto remapped = [&](slot_list nb) {
      std::size_t k = 0;
      for (slot_t t : nb)
        if (remap[t] != no_slot) buf[k++] = remap[t];
      return std::span<const slot_t>(buf, k);
    };
    stop_tracking();  // every slot may move
    std::size_t blocks = 0;  // the upper pool, packed down as nodes are
    for (std::size_t s = 0; s < size(); ++s) {
      const slot_t t = remap[s];
      if (t == no_slot) continue;
      const int lv = levels_[s];
      const auto l0 = remapped(neighbors(static_cast<slot_t>(s), 0));
      levels_[t] = static_cast<std::uint8_t>(lv);
      count0_[t] = static_cast<std::uint16_t>(l0.size());
      links0_.set(t, l0);
      const std::size_t first = upper_block_[s];
      for (int l = 1; l <= lv; ++l) {
        const std::size_t from = first + static_cast<std::size_t>(l - 1), to = blocks + static_cast<std::size_t>(l - 1);
        const auto ul = remapped(upper_.list(from, upper_count_[from]));
        upper_count_[to] = static_cast<std::uint8_t>(ul.size());
        upper_.set(to, ul);
      }
      upper_block_[t] = static_cast<std::uint32_t>(blocks);
      blocks += static_cast<std::size_t>(lv);
    }
    levels_.resize(live);
    count0_.resize(live);
    upper_block_.resize(live);
    upper_count_.resize(blocks);
    links0_.truncate(live);
    upper_.truncate(blocks);
    links0_.release_unused();
    upper_.release_unused();
    entry_ = live == 0 || entry == no_slot ? no_slot : remap[entry];
    top_level_ = entry_ == no_slot ? -1 : top;
  }

  /// Appends a node with empty neighbour lists on levels 0..level; the new slot is size()-1.
  /// The first node, and any node above the current top level, becomes the entry point.
  POCKETVEC_NOINLINE slot_t add_node(int level) {
    POCKETVEC_ASSERT(level >= 0 && level <= max_level);
    const auto s = static_cast<slot_t>(size());
    fit_slots(size() + 1);
    levels_.push_back(static_cast<std::uint8_t>(level));
    count0_.push_back(0);
    links0_.resize(std::size_t{s} + 1);
    upper_block_.push_back(static_cast<std::uint32_t>(upper_count_.size()));
    upper_count_.resize(upper_count_.size() + static_cast<std::size_t>(level), 0);
    upper_.resize(upper_count_.size());
    if (level > top_level_) {
      top_level_ = level;
      entry_ = s;
    }
    return s;
  }

  std::size_t capacity(int level) const noexcept { return level == 0 ? m0_ : m_; }

  slot_list neighbors(slot_t s, int level) const noexcept {
    if (level == 0) return links0_.list(s, count0_[s]);
    const std::size_t b = upper_block(s, level);
    return upper_.list(b, upper_count_[b]);
  }

  /// Copies the list into `out` (insertion works on a plain copy, then writes it back).
  POCKETVEC_NOINLINE void copy_neighbors(slot_t s, int level, std::vector<slot_t>& out) const {
    const slot_list nb = neighbors(s, level);
    out.resize(nb.size());
    std::copy(nb.begin(), nb.end(), out.begin());
  }

  POCKETVEC_NOINLINE void set_neighbors(slot_t s, int level, std::span<const slot_t> nbrs) noexcept {
    POCKETVEC_ASSERT(nbrs.size() <= capacity(level));
    if (s < tracked_) changed_[s / 64] |= std::uint64_t{1} << (s % 64);
    if (level == 0) {
      count0_[s] = static_cast<std::uint16_t>(nbrs.size());
      links0_.set(s, nbrs);
    } else {
      const std::size_t b = upper_block(s, level);
      upper_count_[b] = static_cast<std::uint8_t>(nbrs.size());
      upper_.set(b, nbrs);
    }
  }

  /// Change tracking for incremental saves: from here on, set_neighbors() on a slot below `n` (the
  /// nodes that exist now) marks it changed. Replaces any earlier tracking. May throw bad_alloc
  /// (then nothing is tracked). A truncate() below `n` or a keep_only() ends the tracking: the
  /// slots no longer mean what they did.
  POCKETVEC_COLD void track_changes(std::size_t n) {
    stop_tracking();
    changed_.assign((n + 63) / 64, 0);
    tracked_ = n;
    tracking_ = true;
  }
  void stop_tracking() noexcept {
    tracked_ = 0;
    tracking_ = false;
    std::vector<std::uint64_t>().swap(changed_);
  }
  /// Whether tracking runs since track_changes(n) for this n (0 is a valid n: an empty graph).
  bool tracking_since(std::size_t n) const noexcept { return tracking_ && tracked_ == n; }
  /// Slots below the tracked n whose lists changed since, as a bitset (bit s % 64 of word s / 64).
  std::span<const std::uint64_t> changed() const noexcept { return changed_; }

  /// Bits per stored link (see packed_lists.hpp).
  unsigned link_bits() const noexcept { return links0_.bits(); }

  /// Memory held, in bytes (capacities, not sizes).
  std::size_t memory_bytes() const noexcept {
    return levels_.capacity() + count0_.capacity() * sizeof(std::uint16_t) + links0_.memory_bytes() +
           changed_.capacity() * sizeof(std::uint64_t) +
           upper_block_.capacity() * sizeof(std::uint32_t) + upper_count_.capacity() +
           upper_.memory_bytes();
  }

  /// Throws errc::corrupt_data naming the first broken invariant. O(edges).
  POCKETVEC_COLD void validate() const {
    validate_shape();
    const std::size_t n = size();
    for (std::size_t s = 0; s < n; ++s) {
      for (int l = 0; l <= levels_[s]; ++l) {
        auto nb = neighbors(static_cast<slot_t>(s), l);
        if (nb.size() > capacity(l)) bad("node " + std::to_string(s) + " has too many neighbours");
        for (slot_t t : nb) {
          if (t >= n || t == s || levels_[t] < l)
            bad("node " + std::to_string(s) + " has invalid neighbour " + std::to_string(t) +
                " at level " + std::to_string(l));
        }
      }
    }
  }

  /// The invariants that do not involve the lists (entry point, levels), O(nodes): all validate()
  /// leaves to a caller that checked every list as it set it (the loader).
  POCKETVEC_COLD void validate_shape() const {
    const std::size_t n = size();
    if (n == 0) {
      if (entry_ != no_slot || top_level_ != -1) bad("empty graph has an entry point");
      return;
    }
    if (entry_ >= n) bad("entry point " + std::to_string(entry_) + " out of range");
    if (levels_[entry_] != top_level_) bad("entry point is not on the top level");
    for (std::size_t s = 0; s < n; ++s)
      if (levels_[s] > top_level_) bad("node " + std::to_string(s) + " above the top level");
  }

  // --- raw access for serialization (format.hpp) ---
  std::span<const std::uint8_t> raw_levels() const noexcept { return levels_; }

 private:
  [[noreturn]] POCKETVEC_COLD static void bad(const std::string& what) { detail::fail(errc::corrupt_data, "graph: " + what); }

  std::size_t upper_block(slot_t s, int level) const noexcept {
    return std::size_t{upper_block_[s]} + static_cast<std::size_t>(level - 1);
  }

  /// Widens the link arrays, if needed, so that every slot below n fits.
  POCKETVEC_COLD void fit_slots(std::size_t n) {
    const unsigned bits = packed_lists::bits_for(n);
    // Each array on its own: if the second widen throws, the first stays valid (and wide).
    if (bits > links0_.bits()) links0_.widen(bits);
    if (bits > upper_.bits()) upper_.widen(bits);
  }

  std::size_t m_ = 16;
  std::size_t m0_ = 32;
  std::vector<std::uint8_t> levels_;
  std::vector<std::uint16_t> count0_;
  packed_lists links0_{32};
  std::vector<std::uint32_t> upper_block_;   // per node: index of its level-1 block
  std::vector<std::uint8_t> upper_count_;    // per block: neighbours in it (<= m <= 128)
  packed_lists upper_{16};                   // m entries per list
  slot_t entry_ = no_slot;
  int top_level_ = -1;
  // Change tracking (track_changes): slots below tracked_ whose lists changed.
  std::size_t tracked_ = 0;
  bool tracking_ = false;
  std::vector<std::uint64_t> changed_;
};

}  // namespace pocketvec::POCKETVEC_ABI
