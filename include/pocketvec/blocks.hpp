// pocketvec/blocks.hpp — fixed-stride rows in blocks that never move.
//
// A std::vector grows by re-allocating: for a moment the old and the new buffer coexist, and the
// freed one is a hole later arrays rarely fit. A WebAssembly heap never shrinks, so it keeps that
// peak for good (a 40k x 768 SQ8 build through the npm package took 2.4x its own bytes of WASM
// memory). row_blocks<T> holds rows of stride() Ts in blocks of rows_per_block() rows: growing
// adds a block and copies nothing, and blocks of one size fill each other's holes. Only the first
// block grows by re-allocation (doubling, up to the full block size), so a small index stays small.
// Reading a row costs one more load than a flat array (the block's address), a shift and a mask.
// Depends on config.hpp and error.hpp only.
#pragma once

#include "abi.hpp"

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <type_traits>
#include <vector>

#include "config.hpp"
#include "error.hpp"

namespace pocketvec::inline POCKETVEC_ABI {

/// At most this many bytes per block (at least one row): large enough that the block table stays
/// small (1 600 entries, 13 KB, for 100k x 768 f32), small enough that the unused rest of the last
/// block is nothing next to the data even for a few thousand vectors.
inline constexpr std::size_t block_bytes_target = std::size_t{1} << 16;

template <class T>
class row_blocks {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  row_blocks() : row_blocks(1) {}
  /// Rows of `stride` Ts (>= 1); `tail` Ts after each block's last row stay allocated and zero
  /// (room for a reader's over-wide loads).
  explicit row_blocks(std::size_t stride, std::size_t tail = 0) : stride_(stride), tail_(tail) {
    POCKETVEC_ASSERT(stride >= 1);
    const std::size_t rows = std::max<std::size_t>(1, block_bytes_target / (stride * sizeof(T)));
    shift_ = static_cast<unsigned>(std::bit_width(rows) - 1);
    mask_ = (std::size_t{1} << shift_) - 1;
  }
  row_blocks(row_blocks&&) noexcept = default;
  row_blocks& operator=(row_blocks&&) noexcept = default;
  row_blocks(const row_blocks& o) : row_blocks(o.stride_, o.tail_) {
    reserve(o.size_);
    o.for_each_span([&](std::span<const T> s) { append_rows(s.data(), s.size() / stride_); });
  }
  row_blocks& operator=(const row_blocks& o) {
    if (this != &o) {
      row_blocks copy(o);
      *this = std::move(copy);
    }
    return *this;
  }

  std::size_t stride() const noexcept { return stride_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::size_t rows_per_block() const noexcept { return mask_ + 1; }
  /// Rows that fit without allocating.
  std::size_t capacity() const noexcept {
    return blocks_.empty() ? 0 : blocks_.size() == 1 ? first_rows_ : blocks_.size() << shift_;
  }

  T* row(std::size_t r) noexcept { return blocks_[r >> shift_].get() + (r & mask_) * stride_; }
  const T* row(std::size_t r) const noexcept { return blocks_[r >> shift_].get() + (r & mask_) * stride_; }

  /// Capacity for `n` rows: the first block doubles up to its full size, later blocks are added
  /// whole. May throw std::bad_alloc; the rows are unchanged either way (blocks added before the
  /// failure stay as capacity).
  void reserve(std::size_t n) {
    if (n <= capacity()) return;
    const std::size_t full = rows_per_block();
    if (blocks_.size() <= 1 && first_rows_ < full) {
      const std::size_t want = n >= full ? full : std::min(full, std::max(n, 2 * first_rows_));
      auto b = allocate(want);
      if (!blocks_.empty()) std::memcpy(b.get(), blocks_[0].get(), size_ * stride_ * sizeof(T));
      if (blocks_.empty()) blocks_.reserve(1);
      if (blocks_.empty()) blocks_.push_back(std::move(b));
      else blocks_[0] = std::move(b);
      first_rows_ = want;
    }
    if (n <= capacity()) return;
    const std::size_t need = (n + full - 1) >> shift_;
    detail::grow_to(blocks_, need);  // (the table itself: by half, not one entry per block)
    while (blocks_.size() < need) blocks_.push_back(allocate(full));
  }

  /// Appends `count` rows copied from the bytes at `src` (stride() Ts each; any alignment). Strong.
  void append_rows(const void* src, std::size_t count) {
    reserve(size_ + count);
    const auto* from = static_cast<const unsigned char*>(src);
    while (count > 0) {
      const std::size_t in_block = std::min(count, rows_per_block() - (size_ & mask_));
      std::memcpy(row(size_), from, in_block * stride_ * sizeof(T));
      from += in_block * stride_ * sizeof(T);
      size_ += in_block;
      count -= in_block;
    }
  }
  /// Appends one row copied from `src`. Strong.
  void push_back(const T* src) {
    reserve(size_ + 1);
    std::memcpy(row(size_), src, stride_ * sizeof(T));
    ++size_;
  }
  /// Appends one zeroed row and returns it. Strong.
  T* push_zero() {
    reserve(size_ + 1);
    T* r = row(size_++);
    std::memset(r, 0, stride_ * sizeof(T));
    return r;
  }
  /// Drops rows from `n` on (n <= size()); keeps the blocks. Allocates nothing.
  void truncate(std::size_t n) noexcept { size_ = std::min(n, size_); }
  /// Keeps the rows whose remap[r] is not no_slot, at row remap[r] (ascending in r, so rows only
  /// move down), then frees the blocks no longer needed. `live` rows remain. Allocates nothing.
  void keep_rows(std::span<const std::uint32_t> remap, std::size_t live) noexcept {
    if (size_ == 0) return;  // (an array the store does not use, such as norms under ip)
    for (std::size_t r = 0; r < size_ && r < remap.size(); ++r) {
      const std::size_t to = remap[r];
      if (to == 0xFFFFFFFFu || to == r) continue;
      std::memcpy(row(to), row(r), stride_ * sizeof(T));
    }
    size_ = live;
    release_unused();
  }
  /// Frees the blocks past the one holding the last row (the first block is kept).
  void release_unused() noexcept {
    const std::size_t need = std::max<std::size_t>(1, (size_ + mask_) >> shift_);
    if (blocks_.size() > need) blocks_.resize(need);
  }
  /// Frees every block.
  void clear() noexcept {
    blocks_.clear();
    blocks_.shrink_to_fit();
    size_ = first_rows_ = 0;
  }
  void swap(row_blocks& o) noexcept { std::swap(*this, o); }

  /// Calls f(span) for every run of contiguous rows, in order (one per block in use).
  template <class F>
  void for_each_span(F&& f) const {
    for (std::size_t r = 0; r < size_;) {
      const std::size_t in_block = std::min(size_ - r, rows_per_block() - (r & mask_));
      f(std::span<const T>(row(r), in_block * stride_));
      r += in_block;
    }
  }

  std::size_t memory_bytes() const noexcept {
    return (capacity() * stride_ + blocks_.size() * tail_) * sizeof(T) + blocks_.capacity() * sizeof(blocks_[0]);
  }

 private:
  std::unique_ptr<T[]> allocate(std::size_t rows) const {
    std::unique_ptr<T[]> b(new T[rows * stride_ + tail_]);
    if (tail_) std::memset(b.get() + rows * stride_, 0, tail_ * sizeof(T));
    return b;
  }

  std::vector<std::unique_ptr<T[]>> blocks_;
  std::size_t stride_ = 1, tail_ = 0, size_ = 0;
  std::size_t first_rows_ = 0;  // rows block 0 holds (the full block size once a second exists)
  unsigned shift_ = 0;          // rows_per_block() = 2^shift_
  std::size_t mask_ = 0;
};

}  // namespace pocketvec::POCKETVEC_ABI
