// The binary format: byte-identical round trips, identical answers after load, golden files, and
// corrupt input refused cleanly (one invariant per test, every truncation, every bit flip).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "test_util.hpp"

namespace pv = pocketvec;

namespace {

pv::index build(pv::metric m, pv::quantization q, std::size_t n, std::size_t dim = 8,
                std::uint64_t seed = 3) {
  pv::index_params p;
  p.dim = dim;
  p.metric_kind = m;
  p.quant = q;
  p.m = 6;
  p.ef_construction = 32;
  p.sq8_training_size = 40;
  p.compact_threshold = 0;
  p.seed = seed;
  pv::index idx(p);
  if (n) idx.insert_batch(pvtest::clustered(n, dim, 4, seed));
  return idx;
}

template <class F>
std::pair<pv::errc, std::string> error_of(F&& f) {
  try {
    f();
  } catch (const pv::error& e) {
    return {e.code(), e.what()};
  }
  return {pv::errc{}, ""};
}

std::uint32_t rd32(const std::vector<std::uint8_t>& b, std::size_t at) {
  std::uint32_t v;
  std::memcpy(&v, b.data() + at, 4);
  return v;
}
void wr32(std::vector<std::uint8_t>& b, std::size_t at, std::uint32_t v) { std::memcpy(b.data() + at, &v, 4); }

/// Offset of section `tag`'s header (tag u32, length u64, crc u32), walking from the file header.
std::size_t find_section(const std::vector<std::uint8_t>& b, const char (&tag)[5]) {
  std::size_t at = pv::format_header_bytes;
  while (at + 16 <= b.size()) {
    std::uint64_t len;
    std::memcpy(&len, b.data() + at + 4, 8);
    if (std::memcmp(b.data() + at, tag, 4) == 0) return at;
    at += 16 + len;
  }
  FAIL("no section " << tag);
  return 0;
}

/// Recomputes the checksum of the header or of the section starting at `at`, after an edit.
void fix_header_crc(std::vector<std::uint8_t>& b) {
  wr32(b, pv::format_header_bytes - 4,
       pv::detail::crc32c::of({b.data(), pv::format_header_bytes - 4}));
}
void fix_section_crc(std::vector<std::uint8_t>& b, std::size_t at) {
  std::uint64_t len;
  std::memcpy(&len, b.data() + at + 4, 8);
  wr32(b, at + 12, pv::detail::crc32c::of({b.data() + at + 16, static_cast<std::size_t>(len)}));
}

void expect_corrupt(const std::vector<std::uint8_t>& b, const std::string& fragment) {
  auto [code, msg] = error_of([&] { pv::index::load(b); });
  CAPTURE(msg);
  CHECK(code == pv::errc::corrupt_data);
  CHECK(msg.find(fragment) != std::string::npos);
}

}  // namespace

TEST_CASE("format: save -> load -> save is byte-identical and answers identically", "[format]") {
  const auto m = GENERATE(pv::metric::l2, pv::metric::cosine, pv::metric::ip);
  const auto q = GENERATE(pv::quantization::none, pv::quantization::sq8);
  const int state = GENERATE(0, 1, 2, 3, 4);  // plain, tombstones, compacted, empty, upserted
  CAPTURE(pv::metric_name(m), static_cast<int>(q), state);
  auto idx = build(m, q, state == 3 ? 0 : 300);
  if (state == 1 || state == 2)
    for (pv::id_t id = 0; id < 300; id += 4) idx.erase(id);
  if (state == 2) idx.compact();
  if (state == 4) {  // replaced vectors leave their old slot tombstoned under the same id
    const auto fresh = pvtest::clustered(40, 8, 4, 55);
    for (pv::id_t i = 0; i < 40; ++i) {
      const pv::id_t id = i < 20 ? i * 3 : 1000 + i;  // 20 replacements, 20 chosen new ids
      idx.upsert(id, std::span<const float>(fresh.data() + i * 8, 8));
    }
    idx.upsert(3, std::span<const float>(fresh.data(), 8));  // the same id twice
  }
  const auto bytes = idx.save();
  auto back = pv::index::load(bytes);
  CHECK(back.save() == bytes);
  CHECK(back.size() == idx.size());
  CHECK(back.deleted_count() == idx.deleted_count());
  CHECK(back.memory_bytes() > 0);
  if (idx.size() == 0) return;
  const auto queries = pvtest::clustered(20, 8, 4, 99);
  for (std::size_t i = 0; i < 20; ++i) {
    std::span<const float> qv(queries.data() + i * 8, 8);
    CHECK(back.search(qv, 10, 32) == idx.search(qv, 10, 32));
  }
  // the loaded index keeps working like the original: inserts get the same ids and graph
  const auto more = pvtest::clustered(30, 8, 4, 7);
  CHECK(back.insert_batch(more) == idx.insert_batch(more));
  CHECK(back.save() == idx.save());
}

TEST_CASE("format: streams and chunks carry the same bytes", "[format]") {
  auto idx = build(pv::metric::cosine, pv::quantization::sq8, 200);
  const auto bytes = idx.save();
  std::stringstream ss;
  pv::save(idx, ss);
  CHECK(ss.str() == std::string(bytes.begin(), bytes.end()));
  auto from_stream = pv::load(ss);
  CHECK(from_stream.save() == bytes);
  for (std::size_t chunk : {1u, 7u, 4096u, 1u << 20}) {
    pv::chunked_writer w(idx, chunk);
    CHECK(w.total_bytes() == bytes.size());
    pv::chunked_reader r;
    std::vector<std::uint8_t> c, all;
    while (w.next(c)) {
      CHECK(c.size() <= chunk);
      all.insert(all.end(), c.begin(), c.end());
      r.feed(c);
    }
    CHECK(all == bytes);
    CHECK(r.finish().save() == bytes);
  }
}

TEST_CASE("format: every truncated prefix is refused as corrupt", "[format][corrupt]") {
  const auto bytes = build(pv::metric::l2, pv::quantization::sq8, 60).save();
  for (std::size_t len = 0; len < bytes.size(); ++len) {
    CAPTURE(len);
    std::vector<std::uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(len));
    REQUIRE(error_of([&] { pv::index::load(cut); }).first == pv::errc::corrupt_data);
  }
}

TEST_CASE("format: every single-bit flip is refused cleanly", "[format][corrupt]") {
  auto bytes = build(pv::metric::cosine, pv::quantization::none, 30, 4).save();
  for (std::size_t i = 0; i < bytes.size(); ++i)
    for (int bit = 0; bit < 8; ++bit) {
      bytes[i] ^= static_cast<std::uint8_t>(1u << bit);
      const auto code = error_of([&] { pv::index::load(bytes); }).first;
      bytes[i] ^= static_cast<std::uint8_t>(1u << bit);
      CAPTURE(i, bit);
      // version bits may also read as "newer"; everything else is corrupt
      REQUIRE((code == pv::errc::corrupt_data || code == pv::errc::unsupported_version));
    }
}

TEST_CASE("format: one broken invariant at a time", "[format][corrupt]") {
  const auto good = build(pv::metric::l2, pv::quantization::none, 80).save();
  SECTION("wrong magic") {
    auto b = good;
    b[0] = 'X';
    expect_corrupt(b, "bad magic");
  }
  SECTION("newer major version") {
    auto b = good;
    b[4] = 2;
    fix_header_crc(b);
    auto [code, msg] = error_of([&] { pv::index::load(b); });
    CHECK(code == pv::errc::unsupported_version);
    CHECK(msg.find("format 2.1") != std::string::npos);
  }
  SECTION("newer minor version: its new sections would read as damage, so it is named") {
    auto b = good;
    b[6] = static_cast<std::uint8_t>(pv::format_minor + 1);
    fix_header_crc(b);
    auto [code, msg] = error_of([&] { pv::index::load(b); });
    CHECK(code == pv::errc::unsupported_version);
    CHECK(msg.find("understands 1.0 to 1." + std::to_string(pv::format_minor)) != std::string::npos);
  }
  SECTION("a damaged version field is damage, not a newer format (the checksum comes first)") {
    for (std::size_t at : {4, 5, 6, 7}) {
      auto b = good;
      b[at] ^= 0x40;
      expect_corrupt(b, "header checksum");
    }
  }
  SECTION("SQ8 norms that disagree with the codes (they would change every distance)") {
    for (const auto m : {pv::metric::l2, pv::metric::cosine}) {
      auto b = build(m, pv::quantization::sq8, 80).save();
      const auto at = find_section(b, m == pv::metric::l2 ? "SQD_" : "SQN_");
      std::memset(b.data() + at + 16 + 4 * 5, 0, 4);  // slot 5's norm term
      fix_section_crc(b, at);
      expect_corrupt(b, "SQ8 norm of slot 5 does not match its codes");
    }
  }
  SECTION("SQ8 counters at their limit load, and stay loadable after more inserts") {
    auto sq = build(pv::metric::l2, pv::quantization::sq8, 80).save();
    const std::uint64_t top = ~std::uint64_t{0};
    std::memcpy(sq.data() + 76, &top, 8);
    std::memcpy(sq.data() + 84, &top, 8);
    fix_header_crc(sq);
    auto idx = pv::index::load(sq);
    CHECK(idx.sq8().encoded == top);
    idx.insert(std::vector<float>(8, 0.25f));
    CHECK(idx.sq8().clamped <= idx.sq8().encoded);  // saturated, not wrapped
    CHECK_NOTHROW(pv::index::load(idx.save()));
  }
  SECTION("an id at or above the next id (1.1 keeps next_id above every id ever used)") {
    auto b = good;
    wr32(b, 60, 5);  // next_id, below the ids stored
    fix_header_crc(b);
    expect_corrupt(b, "is not below the next id");
  }
  SECTION("header checksum") {
    auto b = good;
    b[20] ^= 1;
    expect_corrupt(b, "header checksum");
  }
  SECTION("absurd dimension") {
    auto b = good;
    wr32(b, 12, 1u << 31);
    fix_header_crc(b);
    expect_corrupt(b, "dimension must be in 1..4096");
  }
  SECTION("node count that would overflow") {
    auto b = good;
    const std::uint64_t huge = ~std::uint64_t{0} / 2;
    std::memcpy(b.data() + 44, &huge, 8);
    fix_header_crc(b);
    expect_corrupt(b, "node count");
  }
  SECTION("node count larger than the data") {
    auto b = good;
    const std::uint64_t more = 1u << 30;
    std::memcpy(b.data() + 44, &more, 8);
    fix_header_crc(b);
    expect_corrupt(b, "IDS_");
  }
  SECTION("section checksum") {
    auto b = good;
    const auto at = find_section(b, "F32_");
    b[at + 16] ^= 0x40;
    expect_corrupt(b, "checksum mismatch in section F32_");
  }
  SECTION("neighbour id past the end") {
    auto b = good;
    const auto at = find_section(b, "LNK_");
    wr32(b, at + 16 + 2, 80);  // first neighbour of node 0
    fix_section_crc(b, at);
    expect_corrupt(b, "invalid neighbour 80");
  }
  SECTION("neighbour count above capacity") {
    auto b = good;
    const auto at = find_section(b, "LNK_");
    b[at + 16] = 200;
    b[at + 17] = 0;
    fix_section_crc(b, at);
    expect_corrupt(b, "has 200 neighbours");
  }
  SECTION("duplicate ids") {
    auto b = good;
    const auto at = find_section(b, "IDS_");
    wr32(b, at + 16 + 4, rd32(b, at + 16));
    fix_section_crc(b, at);
    expect_corrupt(b, "duplicate id");
  }
  SECTION("tombstone count disagrees with the bitset") {
    auto b = good;
    const auto at = find_section(b, "DEL_");
    b[at + 16] |= 1;
    fix_section_crc(b, at);
    expect_corrupt(b, "tombstone count");
  }
  SECTION("tombstone bit past the last node") {
    auto b = good;
    const auto at = find_section(b, "DEL_");
    b[at + 16 + 15] |= 0x80;  // bit 127 of a 80-node bitset
    const std::uint64_t one = 1;
    std::memcpy(b.data() + 52, &one, 8);
    fix_header_crc(b);
    fix_section_crc(b, at);
    expect_corrupt(b, "past the last node");
  }
  SECTION("non-finite vector component") {
    auto b = good;
    const auto at = find_section(b, "F32_");
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::memcpy(b.data() + at + 16, &nan, 4);
    fix_section_crc(b, at);
    expect_corrupt(b, "non-finite");
  }
  SECTION("vector longer than insert() accepts (l2)") {
    auto b = good;
    const auto at = find_section(b, "F32_");
    const float huge = 1.0e19f;  // one component: |v|² ≈ 1e38 > FLT_MAX/4
    std::memcpy(b.data() + at + 16 + 4 * 8 * 3, &huge, 4);  // slot 3, component 0 (dim 8)
    fix_section_crc(b, at);
    expect_corrupt(b, "vector at slot 3 in F32_ is too large");
  }
  SECTION("level above the maximum") {
    auto b = good;
    const auto at = find_section(b, "LVL_");
    b[at + 16] = 200;
    fix_section_crc(b, at);
    expect_corrupt(b, "level 200");
  }
  SECTION("trailing garbage") {
    auto b = good;
    b.push_back(0);
    expect_corrupt(b, "trailing bytes");
  }
}

TEST_CASE("format: golden files load; those of this version re-save identically", "[format][golden]") {
  struct golden {
    const char* file;
    pv::metric m;
    pv::quantization q;
    bool current;  // written by this format version (1.0 files re-save as this version)
  };
  for (auto g : {golden{"golden-v1-f32-l2.pvx", pv::metric::l2, pv::quantization::none, false},
                 golden{"golden-v1-sq8-cosine.pvx", pv::metric::cosine, pv::quantization::sq8, false},
                 golden{"golden-v1-sq8-l2.pvx", pv::metric::l2, pv::quantization::sq8, false},
                 golden{"golden-v1.1-f32-l2.pvx", pv::metric::l2, pv::quantization::none, true},
                 golden{"golden-v1.1-sq8-l2.pvx", pv::metric::l2, pv::quantization::sq8, true},
                 golden{"golden-v1.1-sq8-cosine.pvx", pv::metric::cosine, pv::quantization::sq8, true}}) {
    CAPTURE(g.file);
    const std::string path = std::string(POCKETVEC_TEST_DATA_DIR) + "/" + g.file;
    if (g.current && std::getenv("POCKETVEC_WRITE_GOLDEN")) {  // explicit, reviewed regeneration only
      auto idx = build(g.m, g.q, 120);
      for (pv::id_t id = 0; id < 120; id += 9) idx.erase(id);
      const auto b = idx.save();
      std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(b.data()),
                                                  static_cast<std::streamsize>(b.size()));
    }
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in.good());
    const std::vector<std::uint8_t> bytes{std::istreambuf_iterator<char>(in), {}};
    auto idx = pv::index::load(bytes);
    if (g.current) {
      CHECK(idx.save() == bytes);
    } else {  // re-saved as this version: the same index again
      auto again = pv::index::load(idx.save());
      CHECK(again.save() == idx.save());
      for (pv::id_t id = 1; id < 120; id += 7)
        if (idx.contains(id)) CHECK(again.search(idx.get(id), 3) == idx.search(idx.get(id), 3));
    }
    // Reported distances are those of the stored vectors (1.0 l2 SQ8 norms are recomputed from the
    // range origin on load: the stored |x̂|² would be off by 2 lo·x̂ - |lo|²).
    for (pv::id_t id = 1; id < 120; id += 5) {
      if (!idx.contains(id)) continue;
      const auto q = idx.get(id);
      for (const auto& h : idx.search(q, 4)) {
        const auto v = idx.get(h.id);
        const float d = pvtest::exact_distance(g.m, q.data(), v.data(), q.size());
        CHECK(h.distance == Approx(d).margin(1e-3).epsilon(1e-3));
      }
    }
    CHECK(idx.size() == 120 - 14);
    CHECK(idx.params().metric_kind == g.m);
    CHECK(idx.params().quant == g.q);
    CHECK_FALSE(idx.contains(9));
    CHECK(idx.contains(10));
    const auto v = idx.get(10);
    CHECK(idx.search(v, 1)[0].id == 10);
  }
}
