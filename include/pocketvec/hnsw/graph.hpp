// pocketvec/hnsw/graph.hpp — HNSW topology: levels and neighbour lists, nothing else.
//
// The graph knows slots, not vectors or distances. Layout:
//   level 0     one flat array, m0() slots per node, plus a u16 count per node
//   levels >= 1 only for nodes that have them: per node `level` blocks of [count, m() slots] in one
//               shared pool, found through upper_offset_[node]
// Invariants (checked by validate()): every count <= its capacity; every neighbour < size(), never the
// node itself, and present at that level; the entry point has the maximum level.
// Depends on config.hpp and error.hpp only.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"

namespace pocketvec {

class graph {
 public:
  graph() = default;
  explicit graph(std::size_t m) : m_(m), m0_(2 * m) {}

  std::size_t m() const noexcept { return m_; }
  std::size_t m0() const noexcept { return m0_; }
  std::size_t size() const noexcept { return levels_.size(); }
  bool empty() const noexcept { return levels_.empty(); }
  slot_t entry_point() const noexcept { return entry_; }
  int top_level() const noexcept { return top_level_; }
  int level(slot_t s) const noexcept { return levels_[s]; }

  void reserve(std::size_t n) {
    levels_.reserve(n);
    count0_.reserve(n);
    links0_.reserve(n * m0_);
    upper_offset_.reserve(n);
  }

  /// Appends a node with empty neighbour lists on levels 0..level; the new slot is size()-1.
  /// The first node, and any node above the current top level, becomes the entry point.
  slot_t add_node(int level) {
    POCKETVEC_ASSERT(level >= 0 && level <= max_level);
    const auto s = static_cast<slot_t>(size());
    levels_.push_back(static_cast<std::uint8_t>(level));
    count0_.push_back(0);
    links0_.resize(links0_.size() + m0_, no_slot);
    upper_offset_.push_back(static_cast<std::uint32_t>(upper_.size()));
    upper_.resize(upper_.size() + static_cast<std::size_t>(level) * (m_ + 1), 0);
    if (level > top_level_) {
      top_level_ = level;
      entry_ = s;
    }
    return s;
  }

  std::size_t capacity(int level) const noexcept { return level == 0 ? m0_ : m_; }

  std::span<const slot_t> neighbors(slot_t s, int level) const noexcept {
    if (level == 0) return {links0_.data() + std::size_t{s} * m0_, count0_[s]};
    const slot_t* block = upper_block(s, level);
    return {block + 1, block[0]};
  }

  void set_neighbors(slot_t s, int level, std::span<const slot_t> nbrs) noexcept {
    POCKETVEC_ASSERT(nbrs.size() <= capacity(level));
    if (level == 0) {
      std::copy(nbrs.begin(), nbrs.end(), links0_.begin() + std::size_t{s} * m0_);
      count0_[s] = static_cast<std::uint16_t>(nbrs.size());
    } else {
      slot_t* block = upper_block(s, level);
      block[0] = static_cast<slot_t>(nbrs.size());
      std::copy(nbrs.begin(), nbrs.end(), block + 1);
    }
  }

  /// Memory held, in bytes (capacities, not sizes).
  std::size_t memory_bytes() const noexcept {
    return levels_.capacity() + count0_.capacity() * sizeof(std::uint16_t) +
           (links0_.capacity() + upper_offset_.capacity() + upper_.capacity()) * sizeof(slot_t);
  }

  /// Throws errc::corrupt_data naming the first broken invariant. O(edges).
  void validate() const {
    auto bad = [](const std::string& what) { detail::fail(errc::corrupt_data, "graph: " + what); };
    const std::size_t n = size();
    if (n == 0) {
      if (entry_ != no_slot || top_level_ != -1) bad("empty graph has an entry point");
      return;
    }
    if (entry_ >= n) bad("entry point " + std::to_string(entry_) + " out of range");
    if (levels_[entry_] != top_level_) bad("entry point is not on the top level");
    for (std::size_t s = 0; s < n; ++s) {
      if (levels_[s] > top_level_) bad("node " + std::to_string(s) + " above the top level");
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

  // --- raw access for serialization (format.hpp) ---
  std::span<const std::uint8_t> raw_levels() const noexcept { return levels_; }
  std::span<const std::uint16_t> raw_count0() const noexcept { return count0_; }
  std::span<const slot_t> raw_links0() const noexcept { return links0_; }

 private:
  const slot_t* upper_block(slot_t s, int level) const noexcept {
    return upper_.data() + upper_offset_[s] + static_cast<std::size_t>(level - 1) * (m_ + 1);
  }
  slot_t* upper_block(slot_t s, int level) noexcept {
    return upper_.data() + upper_offset_[s] + static_cast<std::size_t>(level - 1) * (m_ + 1);
  }

  std::size_t m_ = 16;
  std::size_t m0_ = 32;
  std::vector<std::uint8_t> levels_;
  std::vector<std::uint16_t> count0_;
  std::vector<slot_t> links0_;
  std::vector<std::uint32_t> upper_offset_;
  std::vector<slot_t> upper_;
  slot_t entry_ = no_slot;
  int top_level_ = -1;
};

}  // namespace pocketvec
