// pocketvec/id_map.hpp — user id -> slot.
//
// id_map: an open-addressing hash table of 8-byte entries. Linear probing over a power-of-two table
// kept at most 3/4 full; `invalid_id` marks an empty entry. Entries are only added or updated: ids
// of compacted-away vectors leave when the index rebuilds the map (clear + set), so no deletion path
// is needed.
// id_lookup: what the index uses. While the index's slot -> id list is strictly increasing (ids
// handed out by insert(), and any subset compact() keeps of them) a binary search over that list
// answers and no table exists: 10-21 bytes per vector saved. The first id that breaks the order
// (an upsert of an existing id, an id below the last) builds the table.
#pragma once

#include "abi.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "config.hpp"

namespace pocketvec::inline POCKETVEC_ABI {

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
    std::vector<entry>().swap(table_);
    size_ = 0;
  }

  /// Removes `id` if present (backward-shift deletion: no tombstones). Allocates nothing.
  void erase(id_t id) noexcept {
    if (table_.empty()) return;
    std::size_t i = home(id);
    for (;; i = (i + 1) & mask()) {
      if (table_[i].id == id) break;
      if (table_[i].id == invalid_id) return;
    }
    for (std::size_t j = i;;) {
      j = (j + 1) & mask();
      if (table_[j].id == invalid_id) break;
      // Entry j may move back to the hole at i unless its home lies cyclically in (i, j].
      const std::size_t h = home(table_[j].id);
      const bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
      if (!stays) {
        table_[i] = table_[j];
        i = j;
      }
    }
    table_[i] = {invalid_id, no_slot};
    --size_;
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

/// id -> latest slot over a slot -> id list owned by the caller, passed to every call.
class id_lookup {
 public:
  /// The latest slot holding `id`, or no_slot. O(log n) while ids are in slot order, else O(1).
  POCKETVEC_NOINLINE slot_t find(id_t id, std::span<const id_t> slot_ids) const noexcept {
    if (!in_order_) return map_.find(id);
    const auto it = std::lower_bound(slot_ids.begin(), slot_ids.end(), id);
    return it != slot_ids.end() && *it == id ? static_cast<slot_t>(it - slot_ids.begin()) : no_slot;
  }

  /// Makes appended() for `id` allocation-free: builds the hash table now if `id` would break the
  /// slot order, else makes room in it. May throw; find() answers as before either way.
  POCKETVEC_NOINLINE void make_room(id_t id, std::span<const id_t> slot_ids) {
    if (in_order_) {
      if (slot_ids.empty() || slot_ids.back() < id) return;
      id_map m;
      m.reserve(slot_ids.size() + 1);
      for (std::size_t s = 0; s < slot_ids.size(); ++s) m.set(slot_ids[s], static_cast<slot_t>(s));
      map_ = std::move(m);
      in_order_ = false;
      return;
    }
    map_.reserve(map_.size() + 1);
  }

  /// Call after appending one id to `slot_ids`, with make_room() called for it first.
  void appended(std::span<const id_t> slot_ids) noexcept {
    const std::size_t n = slot_ids.size();
    if (in_order_) {
      POCKETVEC_ASSERT(n < 2 || slot_ids[n - 2] < slot_ids[n - 1]);
      return;
    }
    map_.set(slot_ids[n - 1], static_cast<slot_t>(n - 1));  // room was made: no growth
  }

  /// Undoes appends: `slot_ids` has been cut back to what it was when the lookup was last in order
  /// (`was_in_order`) or last held a table; the ids of the dropped slots are `dropped`, each new.
  void truncate(std::span<const id_t> dropped, bool was_in_order) noexcept {
    if (was_in_order) {
      map_.clear();
      in_order_ = true;
      return;
    }
    for (id_t id : dropped) map_.erase(id);
  }

  /// Re-derives everything from `slot_ids` (after loading or compacting).
  POCKETVEC_COLD void rebuild(std::span<const id_t> slot_ids) {
    map_.clear();
    in_order_ = std::adjacent_find(slot_ids.begin(), slot_ids.end(), std::greater_equal<id_t>()) ==
                slot_ids.end();
    if (in_order_) return;
    map_.reserve(slot_ids.size());
    for (std::size_t s = 0; s < slot_ids.size(); ++s) map_.set(slot_ids[s], static_cast<slot_t>(s));
  }

  void reserve(std::size_t n) {
    if (!in_order_) map_.reserve(n);
  }

  /// True while no hash table is needed.
  bool in_slot_order() const noexcept { return in_order_; }
  std::size_t memory_bytes() const noexcept { return map_.memory_bytes(); }

 private:
  id_map map_;            // used only when !in_order_
  bool in_order_ = true;  // the slot -> id list is strictly increasing
};

}  // namespace pocketvec::POCKETVEC_ABI
