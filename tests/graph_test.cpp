// The graph's storage: bit-packed lists in blocks (packed_lists) and the graph built on them. Each
// test states the behaviour it pins down.
#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include "test_util.hpp"

using namespace pocketvec;
namespace pv = pocketvec;

namespace {

std::uint32_t mix(std::uint64_t x) { return static_cast<std::uint32_t>(detail::splitmix64(x) >> 32); }

/// The value entry i gets in a test: spread over [0, 2^bits), with 0 and the maximum included.
slot_t value_for(std::size_t i, unsigned bits) {
  const std::uint64_t max = (std::uint64_t{1} << bits) - 1;
  if (i % 7 == 0) return static_cast<slot_t>(max);
  if (i % 7 == 1) return 0;
  return static_cast<slot_t>(mix(i * 31 + bits) & max);
}

}  // namespace

TEST_CASE("packed_lists: every width from 1 to 32 bits stores and reads back every value",
          "[graph][packed]") {
  for (unsigned bits = 1; bits <= 32; ++bits) {
    packed_lists p(13);  // 13 entries per list: lists start on a byte, entries straddle bytes
    if (bits > 1) p.widen(bits);
    REQUIRE(p.bits() == bits);
    const std::size_t n = 5000;  // several blocks
    p.resize(n);
    REQUIRE(p.lists_per_block() < n);
    auto values = [&](std::size_t i, std::size_t salt) {
      std::vector<slot_t> v(13);
      for (std::size_t j = 0; j < 13; ++j) v[j] = value_for(i * 13 + j + salt, bits);
      return v;
    };
    for (std::size_t i = 0; i < n; ++i) p.set(i, values(i, 0));
    bool all = true;
    for (std::size_t i = 0; i < n; ++i) {
      const auto l = p.list(i, 13);
      all = all && std::vector<slot_t>(l.begin(), l.end()) == values(i, 0);
    }
    CHECK(all);
    // Rewriting one list leaves its neighbours (which share its last byte's neighbours) alone.
    for (std::size_t i = 1; i + 1 < n; i += 97) {
      p.set(i, values(i, 50000));
      for (std::size_t k = i - 1; k <= i + 1; ++k) {
        const auto l = p.list(k, 13);
        CHECK(std::vector<slot_t>(l.begin(), l.end()) == values(k, k == i ? 50000 : 0));
      }
      p.set(i, values(i, 0));
    }
  }
}

TEST_CASE("packed_lists: widening keeps every entry, block by block; storage is bits x entries",
          "[graph][packed]") {
  packed_lists p(8);
  const std::size_t n = 20000;
  p.resize(n);
  REQUIRE(n / p.lists_per_block() >= 2);
  std::vector<std::vector<slot_t>> expect(n, std::vector<slot_t>(8));
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < 8; ++j) expect[i][j] = static_cast<slot_t>((i + j) & 1);
    p.set(i, expect[i]);
  }
  for (unsigned bits = 2; bits <= 32; ++bits) {
    p.widen(bits);
    REQUIRE(p.bits() == bits);
    // Entries written at the old width survive; then fill the new top bit in half of them.
    for (std::size_t i = 0; i < n; i += 2) {
      for (auto& v : expect[i]) v |= slot_t{1} << (bits - 1);
      p.set(i, expect[i]);
    }
    bool all = true;
    for (std::size_t i = 0; i < n; ++i) {
      const auto l = p.list(i, 8);
      all = all && std::vector<slot_t>(l.begin(), l.end()) == expect[i];
    }
    CHECK(all);
    // n lists of 8 x bits bits (each rounded up to a byte), plus 8 bytes of padding per block,
    // plus at most one block of lists not yet used.
    const std::size_t row = (8 * bits + 7) / 8;
    CHECK(p.memory_bytes() >= n * row);
    CHECK(p.memory_bytes() <= (n + p.lists_per_block()) * row + 8 * (n / p.lists_per_block() + 1) + 1024);
  }
}

TEST_CASE("packed_lists: growing past one block copies nothing, and the first block starts small",
          "[graph][packed][memory]") {
  packed_lists p(32);
  p.resize(1);
  CHECK(p.memory_bytes() < 256);  // a one-node graph does not pay for a whole block
  std::vector<const std::uint8_t*> firsts;
  p.resize(p.lists_per_block());
  std::vector<slot_t> one{1};
  p.set(0, one);
  const slot_list before = p.list(0, 1);
  p.resize(5 * p.lists_per_block());
  // The first block was full before the growth: its list is still where it was.
  const slot_list after = p.list(0, 1);
  CHECK(after.begin() == before.begin());
  CHECK(after[0] == 1);
}

TEST_CASE("graph: neighbour lists survive the link width growing past each power of two",
          "[graph][packed]") {
  const std::size_t n = 70000;  // crosses 2^1 .. 2^16
  graph g(4);
  auto list_for = [](slot_t s, int level, std::size_t cap) {
    std::vector<slot_t> out;
    const std::size_t count = (s + static_cast<slot_t>(level)) % (cap + 1);
    for (std::size_t j = 0; j < count; ++j) out.push_back(static_cast<slot_t>(mix(s * 131 + j + level) % (s + 1)));
    return out;
  };
  for (std::size_t i = 0; i < n; ++i) {
    const slot_t s = g.add_node(detail::draw_level(7, i, 4));
    for (int l = 0; l <= g.level(s); ++l) g.set_neighbors(s, l, list_for(s, l, g.capacity(l)));
  }
  CHECK(g.link_bits() == 17);
  bool all = true;
  for (slot_t s = 0; s < n; ++s)
    for (int l = 0; l <= g.level(s); ++l) {
      const auto expect = list_for(s, l, g.capacity(l));
      const auto got = g.neighbors(s, l);
      all = all && std::vector<slot_t>(got.begin(), got.end()) == expect;
    }
  CHECK(all);
}

TEST_CASE("graph: level-0 links cost bit_width(n - 1) bits each, not 32", "[graph][packed][memory]") {
  graph g(16);
  g.reserve(100000);
  for (std::size_t i = 0; i < 100000; ++i) g.add_node(0);
  CHECK(g.link_bits() == 17);
  // 32 links x 17 bits = 68 bytes, + u8 level + u16 count + u32 upper-block index = 75 per node,
  // plus the unused rest of the last block of lists and 8 bytes of padding per block.
  CHECK(g.memory_bytes() >= 100000 * 75);
  CHECK(g.memory_bytes() <= 100000 * 75 + 512 * 68 + 8 * 200 + 4096);
}

TEST_CASE("index: inserting one by one and in a reserved batch build the same graph",
          "[graph][determinism]") {
  // insert_batch reserves (links start at their final width); single inserts widen as they go.
  const std::size_t dim = 16;
  auto base = pvtest::clustered(3000, dim, 12, 3);
  index_params p;
  p.dim = dim;
  pv::index one(p), batch(p);
  for (std::size_t i = 0; i < 3000; ++i) one.insert({base.data() + i * dim, dim});
  batch.insert_batch(base);
  CHECK(one.save() == batch.save());
  auto q = pvtest::clustered(20, dim, 12, 4);
  for (std::size_t i = 0; i < 20; ++i)
    CHECK(one.search({q.data() + i * dim, dim}, 10) == batch.search({q.data() + i * dim, dim}, 10));
}
