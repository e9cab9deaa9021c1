// pocketvec/id_map.hpp — user id -> slot, an open-addressing hash table of 8-byte entries.
//
// Linear probing over a power-of-two table kept at most 3/4 full; `invalid_id` marks an empty entry.
// Entries are only added or updated: ids of compacted-away vectors leave when the index rebuilds the
// map (clear + set), so no deletion path is needed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "config.hpp"

namespace pocketvec {

class id_map {
 public:
  /// The slot of `id`, or no_slot. O(1) expected.
  slot_t find(id_t id) const noexcept {
    if (table_.empty()) return no_slot;
    for (std::size_t i = home(id);; i = (i + 1) & mask()) {
      if (table_[i].id == id) return table_[i].slot;
      if (table_[i].id == invalid_id) return no_slot;
    }
  }

  /// Inserts or updates. `id` must not be invalid_id.
  void set(id_t id, slot_t slot) {
    if ((size_ + 1) * 4 > table_.size() * 3) grow(table_.empty() ? 16 : table_.size() * 2);
    place(id, slot);
  }

  void reserve(std::size_t n) {
    std::size_t cap = 16;
    while (cap * 3 < n * 4) cap *= 2;
    if (cap > table_.size()) grow(cap);
  }

  void clear() noexcept {
    table_.clear();
    table_.shrink_to_fit();
    size_ = 0;
  }

  std::size_t size() const noexcept { return size_; }
  std::size_t memory_bytes() const noexcept { return table_.capacity() * sizeof(entry); }

 private:
  struct entry {
    id_t id;
    slot_t slot;
  };

  std::size_t mask() const noexcept { return table_.size() - 1; }
  std::size_t home(id_t id) const noexcept {
    // Fibonacci hashing: sequential ids spread over the whole table.
    return static_cast<std::size_t>((std::uint64_t{id} * 0x9E3779B97F4A7C15ull) >> 32) & mask();
  }

  void place(id_t id, slot_t slot) noexcept {
    for (std::size_t i = home(id);; i = (i + 1) & mask()) {
      if (table_[i].id == id) {
        table_[i].slot = slot;
        return;
      }
      if (table_[i].id == invalid_id) {
        table_[i] = {id, slot};
        ++size_;
        return;
      }
    }
  }

  void grow(std::size_t capacity) {
    std::vector<entry> old(capacity, entry{invalid_id, no_slot});
    old.swap(table_);
    size_ = 0;
    for (const entry& e : old)
      if (e.id != invalid_id) place(e.id, e.slot);
  }

  std::vector<entry> table_;
  std::size_t size_ = 0;
};

}  // namespace pocketvec
