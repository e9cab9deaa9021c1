// The graph's storage: bit-packed link arrays (packed_slots) and the graph built on them. Each
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

TEST_CASE("packed_slots: every width from 1 to 32 bits stores and reads back every value",
          "[graph][packed]") {
  for (unsigned bits = 1; bits <= 32; ++bits) {
    packed_slots p;
    if (bits > 1) p.widen(bits);
    REQUIRE(p.bits() == bits);
    const std::size_t n = 1000;
    p.resize(n);
    for (std::size_t i = 0; i < n; ++i) p.set(i, value_for(i, bits));
    bool all = true;
    for (std::size_t i = 0; i < n; ++i) all = all && p.get(i) == value_for(i, bits);
    CHECK(all);
    // Rewriting one entry leaves its neighbours (which share its bytes) alone.
    for (std::size_t i = 1; i + 1 < n; i += 97) {
      p.set(i, value_for(i + 5000, bits));
      CHECK(p.get(i) == value_for(i + 5000, bits));
      CHECK(p.get(i - 1) == value_for(i - 1, bits));
      CHECK(p.get(i + 1) == value_for(i + 1, bits));
      p.set(i, value_for(i, bits));
    }
  }
}

TEST_CASE("packed_slots: widening keeps every entry, and storage is bits x entries",
          "[graph][packed]") {
  packed_slots p;
  const std::size_t n = 4096;
  p.resize(n);
  for (std::size_t i = 0; i < n; ++i) p.set(i, static_cast<slot_t>(i & 1));
  std::vector<slot_t> expect(n);
  for (unsigned bits = 2; bits <= 32; ++bits) {
    p.widen(bits);
    // Entries written at the old width survive; then fill the new top bit in half of them.
    for (std::size_t i = 0; i < n; ++i) expect[i] = p.get(i);
    for (std::size_t i = 0; i < n; i += 2) {
      expect[i] |= slot_t{1} << (bits - 1);
      p.set(i, expect[i]);
    }
    bool all = true;
    for (std::size_t i = 0; i < n; ++i) all = all && p.get(i) == expect[i];
    CHECK(all);
    // n entries of `bits` bits, plus the 8 bytes of padding, plus whatever the vector rounds up to.
    CHECK(p.memory_bytes() >= n * bits / 8 + 8);
    CHECK(p.memory_bytes() <= 2 * (n * bits / 8) + 16);
  }
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
  // 32 links x 17 bits = 68 bytes, + u8 level + u16 count + u32 upper-block index = 75 per node.
  CHECK(g.memory_bytes() <= 100000 * 75 + 64);
  CHECK(g.memory_bytes() >= 100000 * 75);
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
