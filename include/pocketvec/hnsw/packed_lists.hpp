// pocketvec/hnsw/packed_lists.hpp — fixed-capacity lists of slots, in the fewest bits that hold them,
// in blocks that never move.
//
// A graph over n nodes only ever names slots below n, so each link needs bit_width(n - 1) bits,
// not 32: 17 bits at 100k nodes, 20 at a million. A list's entries sit back to back in a
// little-endian bit stream that starts on a byte; reading one is an unaligned 8-byte load, a shift
// and a mask. Lists live in blocks of lists_per_block() (blocks.hpp says why blocks): growing adds
// a block and copies nothing. Each block has its own width, so widen() re-packs one block at a time
// and needs room for one spare block, not a second copy of the graph; a widen that runs out of
// memory part-way leaves some blocks wide and the rest as they were, every one of them valid.
// Eight zero bytes after each block's last list keep every 8-byte load inside the block.
// Depends on config.hpp and error.hpp only.
#pragma once

#include "../abi.hpp"

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <memory>
#include <span>
#include <vector>

#include "../blocks.hpp"
#include "../config.hpp"
#include "../error.hpp"

namespace pocketvec::inline POCKETVEC_ABI {

namespace detail {
inline std::uint64_t load_le64(const std::uint8_t* at) noexcept {
  std::uint64_t w = 0;
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(&w, at, 8);
  } else {
    for (int b = 7; b >= 0; --b) w = (w << 8) | at[b];
  }
  return w;
}
inline void store_le64(std::uint8_t* at, std::uint64_t w) noexcept {
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(at, &w, 8);
  } else {
    for (int b = 0; b < 8; ++b, w >>= 8) at[b] = static_cast<std::uint8_t>(w);
  }
}
}  // namespace detail

/// A read-only view of `count` entries packed at `bits` bits from bit 0 of `bytes`. The iterator
/// carries the buffer, width and bit position itself, so a loop over it keeps them in registers
/// even while the caller writes other memory.
class slot_list {
 public:
  /// The `bits`-wide entry at bit offset `bit` of a packed buffer.
  static slot_t read(const std::uint8_t* bytes, std::uint64_t bit, unsigned bits) noexcept {
    const std::uint64_t word = detail::load_le64(bytes + (bit >> 3));
    return static_cast<slot_t>((word >> (bit & 7)) & ((std::uint64_t{1} << bits) - 1));
  }

  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = slot_t;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = slot_t;
    iterator() = default;
    iterator(const std::uint8_t* bytes, std::uint64_t bit, unsigned bits) noexcept
        : bytes_(bytes), bit_(bit), bits_(bits) {}
    slot_t operator*() const noexcept { return read(bytes_, bit_, bits_); }
    iterator& operator++() noexcept {
      bit_ += bits_;
      return *this;
    }
    iterator operator++(int) noexcept {
      iterator old = *this;
      bit_ += bits_;
      return old;
    }
    friend bool operator==(const iterator& a, const iterator& b) noexcept { return a.bit_ == b.bit_; }

   private:
    const std::uint8_t* bytes_ = nullptr;
    std::uint64_t bit_ = 0;
    unsigned bits_ = 1;
  };

  slot_list(const std::uint8_t* bytes, std::size_t count, unsigned bits) noexcept
      : bytes_(bytes), count_(count), bits_(bits) {}

  std::size_t size() const noexcept { return count_; }
  bool empty() const noexcept { return count_ == 0; }
  slot_t operator[](std::size_t i) const noexcept { return read(bytes_, std::uint64_t{i} * bits_, bits_); }
  iterator begin() const noexcept { return {bytes_, 0, bits_}; }
  iterator end() const noexcept { return {bytes_, std::uint64_t{count_} * bits_, bits_}; }

 private:
  const std::uint8_t* bytes_;
  std::size_t count_;
  unsigned bits_;
};

class packed_lists {
 public:
  packed_lists() : packed_lists(1) {}
  /// Lists of up to `capacity` entries each.
  explicit packed_lists(std::size_t capacity) : cap_(capacity) {
    // Sized for 32-bit entries, so a block stays near block_bytes_target at any width.
    const std::size_t lists = std::max<std::size_t>(1, block_bytes_target / (capacity * 4));
    shift_ = static_cast<unsigned>(std::bit_width(lists) - 1);
    mask_ = (std::size_t{1} << shift_) - 1;
  }

  /// The width that holds every slot below `n`.
  static unsigned bits_for(std::size_t n) noexcept {
    return n <= 2 ? 1u : static_cast<unsigned>(std::bit_width(n - 1));
  }

  std::size_t size() const noexcept { return size_; }
  std::size_t list_capacity() const noexcept { return cap_; }
  std::size_t lists_per_block() const noexcept { return mask_ + 1; }
  /// Every entry fits this many bits (the narrowest block's width).
  unsigned bits() const noexcept { return bits_; }

  /// The first `count` entries of list i.
  slot_list list(std::size_t i, std::size_t count) const noexcept {
    const block& b = blocks_[i >> shift_];
    return {b.bytes.get() + (i & mask_) * b.row_bytes, count, b.bits};
  }

  /// Writes `values` as the first entries of list i (values.size() <= capacity, each < 2^bits()).
  void set(std::size_t i, std::span<const slot_t> values) noexcept {
    block& b = blocks_[i >> shift_];
    std::uint8_t* row = b.bytes.get() + (i & mask_) * b.row_bytes;
    const std::uint64_t mask = (std::uint64_t{1} << b.bits) - 1;
    std::uint64_t bit = 0;
    for (slot_t v : values) {
      POCKETVEC_ASSERT(std::uint64_t{v} <= mask);
      std::uint8_t* at = row + (bit >> 3);
      const unsigned shift = static_cast<unsigned>(bit & 7);
      detail::store_le64(at, (detail::load_le64(at) & ~(mask << shift)) | (std::uint64_t{v} << shift));
      bit += b.bits;
    }
  }

  /// Room for `n` lists, so that resize(n) cannot fail. May throw; changes nothing observable.
  void make_room(std::size_t n) {
    if (n <= capacity()) return;
    const std::size_t full = lists_per_block();
    if (blocks_.size() <= 1 && first_lists_ < full) {
      const std::size_t want = n >= full ? full : std::min(full, std::max(n, 2 * first_lists_));
      block b = allocate(want, blocks_.empty() ? bits_ : blocks_[0].bits);
      if (!blocks_.empty()) std::memcpy(b.bytes.get(), blocks_[0].bytes.get(), size_ * b.row_bytes);
      if (blocks_.empty()) blocks_.reserve(1);
      if (blocks_.empty()) blocks_.push_back(std::move(b));
      else blocks_[0] = std::move(b);
      first_lists_ = want;
    }
    if (n <= capacity()) return;
    const std::size_t need = (n + full - 1) >> shift_;
    detail::grow_to(blocks_, need);
    while (blocks_.size() < need) blocks_.push_back(allocate(full, bits_));
  }
  void reserve(std::size_t n) { make_room(n); }

  /// Grows to `n` lists (whose entries are unspecified until set). May throw.
  void resize(std::size_t n) {
    make_room(n);
    size_ = std::max(size_, n);
  }
  /// Drops lists from `n` on (n <= size()); keeps the blocks. Allocates nothing.
  void truncate(std::size_t n) noexcept { size_ = std::min(size_, n); }

  /// Frees the blocks past the one holding the last list (the first block is kept).
  void release_unused() noexcept {
    const std::size_t need = std::max<std::size_t>(1, (size_ + mask_) >> shift_);
    if (blocks_.size() > need) blocks_.resize(need);
  }

  /// Re-packs every block narrower than `bits` (<= 32) at `bits`, one block at a time. On a throw,
  /// the blocks done so far stay wide and bits() is unchanged: every entry still reads the same.
  POCKETVEC_COLD void widen(unsigned bits) {
    POCKETVEC_ASSERT(bits <= 32);
    if (bits <= bits_) return;
    for (std::size_t k = 0; k < blocks_.size(); ++k) {
      block& old = blocks_[k];
      if (old.bits >= bits) continue;
      const std::size_t lists = blocks_.size() == 1 ? first_lists_ : lists_per_block();
      block wide = allocate(lists, bits);
      const std::size_t used = std::min(lists, size_ > (k << shift_) ? size_ - (k << shift_) : 0);
      for (std::size_t i = 0; i < used; ++i) {
        const slot_list from{old.bytes.get() + i * old.row_bytes, cap_, old.bits};
        std::uint8_t* row = wide.bytes.get() + i * wide.row_bytes;
        std::uint64_t bit = 0;
        const std::uint64_t mask = (std::uint64_t{1} << bits) - 1;
        for (slot_t v : from) {
          std::uint8_t* at = row + (bit >> 3);
          const unsigned shift = static_cast<unsigned>(bit & 7);
          detail::store_le64(at, (detail::load_le64(at) & ~(mask << shift)) | (std::uint64_t{v} << shift));
          bit += bits;
        }
      }
      old = std::move(wide);
    }
    bits_ = bits;
  }

  std::size_t memory_bytes() const noexcept {
    std::size_t n = blocks_.capacity() * sizeof(block);
    for (std::size_t k = 0; k < blocks_.size(); ++k)
      n += (blocks_.size() == 1 ? first_lists_ : lists_per_block()) * blocks_[k].row_bytes + 8;
    return n;
  }

 private:
  struct block {
    std::unique_ptr<std::uint8_t[]> bytes;
    std::size_t row_bytes = 0;  // bytes per list: cap_ entries of `bits` bits, rounded up
    unsigned bits = 1;
  };

  std::size_t capacity() const noexcept {
    return blocks_.empty() ? 0 : blocks_.size() == 1 ? first_lists_ : blocks_.size() << shift_;
  }

  block allocate(std::size_t lists, unsigned bits) const {
    block b;
    b.bits = bits;
    b.row_bytes = (cap_ * bits + 7) / 8;
    const std::size_t bytes = lists * b.row_bytes + 8;
    b.bytes.reset(new std::uint8_t[bytes]);
    std::memset(b.bytes.get(), 0, bytes);
    return b;
  }

  std::vector<block> blocks_;
  std::size_t cap_ = 1;          // entries per list
  std::size_t size_ = 0;         // lists
  std::size_t first_lists_ = 0;  // lists block 0 holds (the full block size once a second exists)
  unsigned shift_ = 0;           // lists_per_block() = 2^shift_
  std::size_t mask_ = 0;
  unsigned bits_ = 1;            // every block is at least this wide
};

}  // namespace pocketvec::POCKETVEC_ABI
