// pocketvec/hnsw/visited.hpp — the "seen this search" set, cleared in O(1).
//
// One u16 epoch per slot: a slot is visited when its tag equals the current epoch. next() bumps the
// epoch and wipes the array only when the counter wraps (every 65535 searches).
#pragma once

#include "../abi.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../config.hpp"

namespace pocketvec::inline POCKETVEC_ABI {

class visited_set {
 public:
  /// Starts a new search over `n` slots.
  void next(std::size_t n) {
    if (tags_.size() < n) tags_.resize(n, 0);
    if (++epoch_ == 0) {
      std::fill(tags_.begin(), tags_.end(), std::uint16_t{0});
      epoch_ = 1;
    }
  }
  /// Marks s; returns true if it was already marked in this search.
  bool test_and_set(slot_t s) noexcept {
    if (tags_[s] == epoch_) return true;
    tags_[s] = epoch_;
    return false;
  }
  std::size_t memory_bytes() const noexcept { return tags_.capacity() * sizeof(std::uint16_t); }
  void release() noexcept {
    tags_.clear();
    tags_.shrink_to_fit();
  }

 private:
  std::vector<std::uint16_t> tags_;
  std::uint16_t epoch_ = 0;
};

}  // namespace pocketvec::POCKETVEC_ABI
