// pocketvec/hnsw/packed_slots.hpp — an array of slots stored in the fewest bits that hold them.
//
// A graph over n nodes only ever names slots below n, so each link needs bit_width(n - 1) bits,
// not 32: 17 bits at 100k nodes, 20 at a million. Entries sit back to back in a little-endian bit
// stream; reading one is an unaligned 8-byte load, a shift and a mask. The width only grows
// (widen() re-packs every entry, the way a vector re-allocates when it fills), and eight zero
// bytes of padding after the last entry (from the first resize() on) keep every 8-byte load inside
// the buffer.
// Depends on config.hpp and error.hpp only.
#pragma once

#include "../abi.hpp"

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"

namespace pocketvec::inline POCKETVEC_ABI {

class packed_slots {
 public:
  /// Bits per entry; entries must be < 2^bits().
  unsigned bits() const noexcept { return bits_; }
  std::size_t size() const noexcept { return size_; }

  /// The width that holds every slot below `n`.
  static unsigned bits_for(std::size_t n) noexcept {
    return n <= 2 ? 1u : static_cast<unsigned>(std::bit_width(n - 1));
  }

  slot_t get(std::size_t i) const noexcept { return read(bytes_.data(), std::uint64_t{i} * bits_, bits_); }

  /// The `bits`-wide entry at bit offset `bit` of a packed buffer.
  static slot_t read(const std::uint8_t* bytes, std::uint64_t bit, unsigned bits) noexcept {
    const std::uint64_t word = load(bytes + (bit >> 3));
    return static_cast<slot_t>((word >> (bit & 7)) & ((std::uint64_t{1} << bits) - 1));
  }

  const std::uint8_t* data() const noexcept { return bytes_.data(); }

  void set(std::size_t i, slot_t value) noexcept {
    POCKETVEC_ASSERT(std::uint64_t{value} <= mask());
    const std::uint64_t bit = std::uint64_t{i} * bits_;
    const std::size_t at = static_cast<std::size_t>(bit >> 3);
    const unsigned shift = static_cast<unsigned>(bit & 7);
    const std::uint64_t word =
        (load(bytes_.data() + at) & ~(mask() << shift)) | (std::uint64_t{value} << shift);
    store(at, word);
  }

  /// Grows to `n` entries; new entries are 0.
  void resize(std::size_t n) {
    size_ = n;
    bytes_.resize(bytes_for(n, bits_), 0);
  }

  void reserve(std::size_t n) {
    if (n > reserved_) reserved_ = n;
    bytes_.reserve(bytes_for(reserved_, bits_));
  }

  /// Capacity for n entries, growing by at least half; may throw, changes nothing else.
  void make_room(std::size_t n) {
    const std::size_t want = bytes_for(n, bits_);
    if (bytes_.capacity() < want) bytes_.reserve(std::max(want, bytes_.capacity() + bytes_.capacity() / 2));
  }

  /// Drops entries from n on (n <= size()). Allocates nothing.
  void truncate(std::size_t n) noexcept {
    size_ = n;
    bytes_.resize(bytes_for(n, bits_));
    // The byte holding entry n's first bits, and the padding after it, must read as zero again for
    // a later resize() to hand out zero entries.
    const std::size_t first_free = static_cast<std::size_t>(std::uint64_t{n} * bits_ / 8);
    for (std::size_t i = first_free + 1; i < bytes_.size(); ++i) bytes_[i] = 0;
    if (first_free < bytes_.size()) {
      const unsigned used = static_cast<unsigned>(std::uint64_t{n} * bits_ % 8);
      bytes_[first_free] &= static_cast<std::uint8_t>((1u << used) - 1);
    }
  }

  /// Re-packs every entry at `bits` (more than now, at most 32). O(size()).
  void widen(unsigned bits) {
    POCKETVEC_ASSERT(bits > bits_ && bits <= 32);
    packed_slots wider;
    wider.bits_ = bits;
    wider.reserve(reserved_ > size_ ? reserved_ : size_);
    wider.resize(size_);
    for (std::size_t i = 0; i < size_; ++i) wider.set(i, get(i));
    *this = std::move(wider);
  }

  std::size_t memory_bytes() const noexcept { return bytes_.capacity(); }

 private:
  static std::size_t bytes_for(std::size_t n, unsigned bits) noexcept {
    return static_cast<std::size_t>((std::uint64_t{n} * bits + 7) / 8) + 8;
  }
  std::uint64_t mask() const noexcept { return (std::uint64_t{1} << bits_) - 1; }

  static std::uint64_t load(const std::uint8_t* at) noexcept {
    std::uint64_t w = 0;
    if constexpr (std::endian::native == std::endian::little) {
      std::memcpy(&w, at, 8);
    } else {
      for (int b = 7; b >= 0; --b) w = (w << 8) | at[b];
    }
    return w;
  }
  void store(std::size_t at, std::uint64_t w) noexcept {
    if constexpr (std::endian::native == std::endian::little) {
      std::memcpy(bytes_.data() + at, &w, 8);
    } else {
      for (int b = 0; b < 8; ++b, w >>= 8) bytes_[at + static_cast<std::size_t>(b)] = static_cast<std::uint8_t>(w);
    }
  }

  std::vector<std::uint8_t> bytes_;  // empty until the first resize(): constructing allocates nothing
  std::size_t size_ = 0;
  std::size_t reserved_ = 0;  // entries asked for by reserve()
  unsigned bits_ = 1;
};

/// A read-only view of `count` consecutive entries of a packed_slots from `first`. The iterator
/// carries the buffer, width and bit position itself, so a loop over it keeps them in registers
/// even while the caller writes other memory.
class slot_list {
 public:
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
    slot_t operator*() const noexcept { return packed_slots::read(bytes_, bit_, bits_); }
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

  slot_list(const packed_slots& p, std::size_t first, std::size_t count) noexcept
      : bytes_(p.data()), first_bit_(std::uint64_t{first} * p.bits()), count_(count), bits_(p.bits()) {}

  std::size_t size() const noexcept { return count_; }
  bool empty() const noexcept { return count_ == 0; }
  slot_t operator[](std::size_t i) const noexcept {
    return packed_slots::read(bytes_, first_bit_ + std::uint64_t{i} * bits_, bits_);
  }
  iterator begin() const noexcept { return {bytes_, first_bit_, bits_}; }
  iterator end() const noexcept { return {bytes_, first_bit_ + std::uint64_t{count_} * bits_, bits_}; }

 private:
  const std::uint8_t* bytes_;
  std::uint64_t first_bit_;
  std::size_t count_;
  unsigned bits_;
};

}  // namespace pocketvec::POCKETVEC_ABI
