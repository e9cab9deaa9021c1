// The binary format: byte-identical round trips, identical answers after load, golden files, and
// corrupt input refused cleanly (one invariant per test, every truncation, every bit flip).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <cstring>
#include <limits>
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

/// build() plus keys and metadata on every row: a key on two rows in three, a low-cardinality
/// string, a number, a boolean and a tag list, each absent on some rows.
pv::index build_records(pv::metric m, pv::quantization q, std::size_t n, std::size_t dim = 8, std::uint64_t seed = 3) {
  pv::index idx = build(m, q, 0, dim, seed);
  const auto rows = pvtest::clustered(n, dim, 4, seed);
  const char* folders[] = {"work", "home", "archive"};
  const char* tags[] = {"contract", "draft", "x", ""};
  for (std::size_t i = 0; i < n; ++i) {
    pv::metadata md;
    if (i % 5 != 0) md.push_back({"folder", std::string(folders[i % 3])});
    if (i % 4 != 1) md.push_back({"year", 2000.0 + static_cast<double>(i % 30) + 0.5 * static_cast<double>(i % 2)});
    if (i % 3 == 0) md.push_back({"flag", i % 2 == 0});
    if (i % 6 != 2) {
      pv::string_list l;
      for (std::size_t t = 0; t < i % 4; ++t) l.push_back(tags[(i + t) % 4]);
      md.push_back({"tags", l});
    }
    std::span<const float> v(rows.data() + i * dim, dim);
    if (i % 3 == 2) idx.insert(v, md);
    else idx.insert(v, "doc-" + std::to_string(i), md);
  }
  return idx;
}

using pvtest::error_of;
using pvtest::fix_header_crc;
using pvtest::fix_section_crc;
using pvtest::rd32;
using pvtest::wr32;

/// Offset of section `tag`'s header (tag u32, length u64, crc u32) in the base part of `b`.
std::size_t find_section(const std::vector<std::uint8_t>& b, const char (&tag)[5]) {
  const std::size_t at = pvtest::find_section_in(b, 0, tag);
  if (at == SIZE_MAX) FAIL("no section " << tag);
  return at;
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

TEST_CASE("format: keys and metadata (1.2) round-trip byte for byte through deletes, upserts and compaction",
          "[format][records]") {
  const auto m = GENERATE(pv::metric::l2, pv::metric::cosine, pv::metric::ip);
  const auto q = GENERATE(pv::quantization::none, pv::quantization::sq8);
  const int state = GENERATE(0, 1, 2, 3);  // plain, tombstones + upserts by key, compacted, keys only
  CAPTURE(pv::metric_name(m), static_cast<int>(q), state);
  pv::index idx = state == 3 ? build(m, q, 0) : build_records(m, q, 200);
  if (state == 3) {
    const auto rows = pvtest::clustered(50, 8, 4, 8);
    for (std::size_t i = 0; i < 50; ++i) idx.insert(std::span<const float>(rows.data() + i * 8, 8), "k" + std::to_string(i));
  }
  if (state == 1 || state == 2) {
    for (pv::id_t id = 0; id < 200; id += 7) idx.erase(id);
    const auto fresh = pvtest::clustered(20, 8, 4, 77);
    for (std::size_t i = 0; i < 20; ++i)  // live keys replaced (same id), deleted keys reused (new id)
      idx.insert(std::span<const float>(fresh.data() + i * 8, 8), "doc-" + std::to_string(i * 3),
                 pv::metadata{{"folder", std::string("moved")}, {"year", 1999.0}});
    idx.set_metadata(1, pv::metadata{{"tags", pv::string_list{"late"}}});
  }
  if (state == 2) idx.compact();
  const auto bytes = idx.save();
  REQUIRE(bytes[6] == 2);  // minor version 1.2
  auto back = pv::index::load(bytes);
  CHECK(back.save() == bytes);
  REQUIRE(back.size() == idx.size());
  for (pv::id_t id = 0; id < idx.id_bound(); ++id) {
    CAPTURE(id);
    REQUIRE(back.contains(id) == idx.contains(id));
    if (!idx.contains(id)) continue;
    CHECK(back.get_metadata(id) == idx.get_metadata(id));
    const auto k = idx.key_of(id);
    const auto kb = back.key_of(id);
    REQUIRE(k.has_value() == kb.has_value());
    if (k) {
      CHECK(*kb == *k);
      CHECK(back.find_key(*k) == std::optional<pv::id_t>(id));
    }
  }
  CHECK_FALSE(back.find_key("doc-7").has_value() != idx.find_key("doc-7").has_value());
  const auto queries = pvtest::clustered(10, 8, 4, 99);
  const pv::filter_expr filters[] = {pv::where::eq("folder", std::string("work")),
                                     pv::where::gte("year", 2010.0) && !pv::where::in("tags", {std::string("x")}),
                                     pv::where::exists("flag", false), pv::where::eq("nothing", 1.0)};
  for (std::size_t i = 0; i < 10; ++i) {
    std::span<const float> qv(queries.data() + i * 8, 8);
    for (const auto& f : filters) CHECK(back.search(qv, 10, f) == idx.search(qv, 10, f));
  }
  // both keep working the same way: new keys, new fields, the same bytes again
  const auto more = pvtest::clustered(5, 8, 4, 5);
  for (std::size_t i = 0; i < 5; ++i) {
    std::span<const float> v(more.data() + i * 8, 8);
    const pv::metadata md{{"late", true}};
    CHECK(back.insert(v, "new-" + std::to_string(i), md) == idx.insert(v, "new-" + std::to_string(i), md));
  }
  CHECK(back.save() == idx.save());
}

TEST_CASE("format: an index without keys or metadata is written as 1.1", "[format][records]") {
  auto idx = build(pv::metric::l2, pv::quantization::none, 50);
  CHECK(idx.save()[6] == 1);
  idx.insert(pvtest::clustered(1, 8, 1, 4), pv::metadata{{"a", 1.0}});
  CHECK(idx.save()[6] == 2);
}

TEST_CASE("format: keys and metadata sections refuse every truncation and bit flip", "[format][records][corrupt]") {
  const auto q = GENERATE(pv::quantization::none, pv::quantization::sq8);
  auto idx = build_records(pv::metric::l2, q, 24, 2);
  for (pv::id_t id = 0; id < 24; id += 5) idx.erase(id);
  auto bytes = idx.save();
  const std::size_t from = find_section(bytes, "KEY_");
  for (std::size_t len = from; len < bytes.size(); ++len) {
    CAPTURE(len);
    std::vector<std::uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(len));
    REQUIRE(error_of([&] { pv::index::load(cut); }).first == pv::errc::corrupt_data);
  }
  for (std::size_t i = from; i < bytes.size(); ++i)
    for (int bit = 0; bit < 8; ++bit) {
      bytes[i] ^= static_cast<std::uint8_t>(1u << bit);
      const auto code = error_of([&] { pv::index::load(bytes); }).first;
      bytes[i] ^= static_cast<std::uint8_t>(1u << bit);
      CAPTURE(i, bit);
      REQUIRE(code == pv::errc::corrupt_data);
    }
}

TEST_CASE("format: broken key and metadata invariants with valid checksums are refused", "[format][records][corrupt]") {
  // 6 rows, keys on every row, one string field: small enough to edit by offset.
  pv::index idx = build(pv::metric::l2, pv::quantization::none, 0, 2);
  const auto rows = pvtest::clustered(6, 2, 2, 1);
  for (std::size_t i = 0; i < 6; ++i)
    idx.insert(std::span<const float>(rows.data() + i * 2, 2), "k" + std::to_string(i),
               pv::metadata{{"s", std::string(i % 2 ? "a" : "b")}});
  const auto good = idx.save();
  const std::size_t keys = find_section(good, "KEY_") + 16, attrs = find_section(good, "ATR_") + 16;
  // KEY_: 6 end offsets (2, 4, ..., 12) then "k0k1k2k3k4k5". ATR_: u32 1, u32 1 "s", u8 1 (string),
  // u32 2 (dictionary), ends 1 2, "ba", then 6 codes.
  SECTION("two live slots with the same key") {
    auto b = good;
    b[keys + 24 + 3] = '0';  // "k1" -> "k0"
    fix_section_crc(b, keys - 16);
    expect_corrupt(b, "two live slots hold the key");
  }
  SECTION("a deleted slot may keep a key a live slot holds") {
    idx.erase(1);  // then give slot 1's key bytes the value of slot 0's
    auto b = idx.save();
    const std::size_t k = find_section(b, "KEY_") + 16;
    b[k + 24 + 3] = '0';
    fix_section_crc(b, k - 16);
    auto back = pv::index::load(b);
    CHECK(back.find_key("k0") == std::optional<pv::id_t>(0));
  }
  SECTION("key offsets out of order") {
    auto b = good;
    wr32(b, keys + 4, 1);
    fix_section_crc(b, keys - 16);
    expect_corrupt(b, "KEY_");
  }
  SECTION("a string code past the dictionary") {
    auto b = good;
    const std::size_t codes = attrs + 4 + 4 + 1 + 1 + 4 + 8 + 2;
    REQUIRE(rd32(b, codes) == 1);  // row 0: "b", the first string seen
    wr32(b, codes, 3);
    fix_section_crc(b, attrs - 16);
    expect_corrupt(b, "ATR_");
  }
  SECTION("a repeated dictionary string") {
    auto b = good;
    b[attrs + 4 + 4 + 1 + 1 + 4 + 8 + 1] = 'b';  // "ba" -> "bb"
    fix_section_crc(b, attrs - 16);
    expect_corrupt(b, "repeats");
  }
  SECTION("an unknown field kind") {
    auto b = good;
    b[attrs + 4 + 4 + 1] = 9;
    fix_section_crc(b, attrs - 16);
    expect_corrupt(b, "unknown kind 9");
  }
  SECTION("records flags in a 1.1 file") {
    auto b = good;
    b[6] = 1;
    fix_header_crc(b);
    expect_corrupt(b, "unknown flags");
  }
  SECTION("a missing section") {
    auto b = good;
    b.resize(attrs - 16);
    b[10] = static_cast<std::uint8_t>(b[10] & ~8u);  // no ATR_ flag: then KEY_ is last and all is well
    fix_header_crc(b);
    auto back = pv::index::load(b);
    CHECK(back.get_metadata(0).empty());
    CHECK(back.find_key("k3") == std::optional<pv::id_t>(3));
  }
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
  SECTION("F32_: a NaN or infinity anywhere in a row, or an l2/ip vector longer than insert() takes") {
    // dim 13: the row check's 8-wide steps and its tail both see every kind of value.
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    for (const auto m : {pv::metric::l2, pv::metric::cosine, pv::metric::ip}) {
      const auto b = build(m, pv::quantization::none, 40, 13).save();
      const auto at = find_section(b, "F32_");
      for (std::size_t j = 0; j < 13; ++j) {
        INFO("metric " << static_cast<int>(m) << " component " << j);
        for (const float bad : {nan, -nan, inf, -inf}) {
          auto c = b;
          std::memcpy(c.data() + at + 16 + 4 * (13 * 7 + j), &bad, 4);  // slot 7
          fix_section_crc(c, at);
          expect_corrupt(c, "non-finite value in F32_");
        }
        // One component at 1e19: its square alone is past float's range, so l2 and ip refuse the
        // row (insert() would); cosine takes any finite length.
        auto c = b;
        const float big = 1e19f;
        std::memcpy(c.data() + at + 16 + 4 * (13 * 7 + j), &big, 4);
        fix_section_crc(c, at);
        if (m == pv::metric::cosine) CHECK_NOTHROW(pv::index::load(c));
        else expect_corrupt(c, "vector at slot 7 in F32_ is too large");
        // 3e18: past the quick test's bound (every |component| below 1.8e18), inside insert()'s
        // limit: the exact length check passes it under every metric.
        const float large = 3e18f;
        std::memcpy(c.data() + at + 16 + 4 * (13 * 7 + j), &large, 4);
        fix_section_crc(c, at);
        CHECK_NOTHROW(pv::index::load(c));
      }
    }
  }
  SECTION("SQ8 cosine rows whose squares pass float's range: the norm check's float path overflows, its exact one decides") {
    pv::index_params p;
    p.dim = 8;
    p.metric_kind = pv::metric::cosine;
    p.quant = pv::quantization::sq8;
    p.sq8_training_size = 16;
    pv::index idx(p);
    auto rows = pvtest::clustered(40, 8, 4, 9);
    for (float& x : rows) x *= 1e20f;  // squares near 1e40: a float sum overflows
    idx.insert_batch(rows);
    const auto b = idx.save();
    auto back = pv::index::load(b);
    CHECK(back.save() == b);
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
                 golden{"golden-v1.1-sq8-cosine.pvx", pv::metric::cosine, pv::quantization::sq8, true},
                 golden{"golden-v1.2-f32-cosine-records.pvx", pv::metric::cosine, pv::quantization::none, true},
                 golden{"golden-v1.2-sq8-l2-records.pvx", pv::metric::l2, pv::quantization::sq8, true}}) {
    CAPTURE(g.file);
    const std::string path = std::string(POCKETVEC_TEST_DATA_DIR) + "/" + g.file;
    const bool records = std::string(g.file).find("records") != std::string::npos;
    if (g.current && std::getenv("POCKETVEC_WRITE_GOLDEN")) {  // explicit, reviewed regeneration only
      auto idx = records ? build_records(g.m, g.q, 120) : build(g.m, g.q, 120);
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
    if (records) {  // what build_records() stored on rows 10 and 11 (row 11: no key)
      CHECK(idx.find_key("doc-10") == std::optional<pv::id_t>(10));
      CHECK_FALSE(idx.key_of(11).has_value());
      CHECK_FALSE(idx.find_key("doc-9").has_value());  // deleted
      CHECK(idx.get_metadata(10) == pv::metadata{{"year", 2010.0}, {"tags", pv::string_list{"x", ""}}});
      CHECK(idx.search(v, 3, pv::where::eq("folder", std::string("archive")))[0].id % 3 == 2);
    }
  }
}
