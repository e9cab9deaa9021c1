// Streaming save and load: the chunked writer against an independent writer written from
// docs/format.md, the push parser fed in pieces of every size against load() of the whole, and every
// truncation and bit flip refused by the push parser whatever the piece size. The CRC-32C instruction
// path against the portable one.
#include <catch2/catch.hpp>

#include <random>

#include "test_util.hpp"

namespace pv = pocketvec;

namespace {

struct ref_writer {
  std::vector<std::uint8_t> out;
  template <class T>
  void put(T v) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(&v);
    out.insert(out.end(), p, p + sizeof(T));
  }
  void bytes(const void* p, std::size_t n) {
    const auto* b = static_cast<const std::uint8_t*>(p);
    out.insert(out.end(), b, b + n);
  }
  template <class T>
  void rows(const pv::row_blocks<T>& r) {
    for (std::size_t i = 0; i < r.size(); ++i) bytes(r.row(i), r.stride() * sizeof(T));
  }
};

std::uint32_t bitwise_crc32c(const std::uint8_t* p, std::size_t n) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
  }
  return ~c;
}

/// The file, written field by field from the spec (docs/format.md) with a bit-at-a-time CRC: the
/// oracle for the streaming serializer.
std::vector<std::uint8_t> reference_save(const pv::index& idx) {
  return idx.visit([](const auto& core) {
    const auto& st = core.state();
    const auto& p = core.params();
    const std::size_t n = st.slot_ids.size();
    ref_writer h;
    h.bytes("PVEC", 4);
    const bool keys = !st.keys.ends().empty(), attrs = st.attrs.field_count() != 0;
    h.put<std::uint16_t>(1);
    h.put<std::uint16_t>(keys || attrs ? 2 : 1);
    h.put<std::uint8_t>(static_cast<std::uint8_t>(p.metric_kind));
    h.put<std::uint8_t>(static_cast<std::uint8_t>(p.quant));
    const auto sq = core.sq8();
    std::uint8_t flags = 0;
    if constexpr (requires { st.store.is_trained(); })
      flags = static_cast<std::uint8_t>((st.store.rerank() ? 1 : 0) | (st.store.is_trained() ? 2 : 0));
    flags = static_cast<std::uint8_t>(flags | (keys ? 4 : 0) | (attrs ? 8 : 0));
    h.put(flags);
    h.put<std::uint8_t>(0);
    h.put<std::uint32_t>(static_cast<std::uint32_t>(p.dim));
    h.put<std::uint32_t>(static_cast<std::uint32_t>(p.m));
    h.put<std::uint32_t>(static_cast<std::uint32_t>(p.ef_construction));
    h.put<std::uint32_t>(static_cast<std::uint32_t>(p.ef_search));
    h.put<std::uint64_t>(p.seed);
    h.put<float>(p.compact_threshold);
    h.put<std::uint32_t>(static_cast<std::uint32_t>(p.sq8_training_size));
    h.put<std::uint64_t>(n);
    h.put<std::uint64_t>(st.deleted_count);
    h.put<std::uint32_t>(st.next_id);
    h.put<std::uint32_t>(0);
    h.put<std::uint64_t>(st.levels_drawn);
    h.put<std::uint64_t>(sq.encoded);
    h.put<std::uint64_t>(sq.clamped);
    h.put(bitwise_crc32c(h.out.data(), h.out.size()));
    auto section = [&](const char* tag, const std::vector<std::uint8_t>& payload) {
      h.bytes(tag, 4);
      h.put<std::uint64_t>(payload.size());
      h.put(bitwise_crc32c(payload.data(), payload.size()));
      h.bytes(payload.data(), payload.size());
    };
    ref_writer s;
    s.bytes(st.slot_ids.data(), n * 4);
    section("IDS_", s.out);
    s.out.clear();
    s.bytes(st.deleted.data(), (n + 63) / 64 * 8);
    section("DEL_", s.out);
    s.out.clear();
    for (std::size_t i = 0; i < n; ++i) s.put<std::uint8_t>(static_cast<std::uint8_t>(st.links.level(static_cast<pv::slot_t>(i))));
    section("LVL_", s.out);
    s.out.clear();
    for (std::size_t i = 0; i < n; ++i)
      for (int l = 0; l <= st.links.level(static_cast<pv::slot_t>(i)); ++l) {
        const auto nb = st.links.neighbors(static_cast<pv::slot_t>(i), l);
        s.put<std::uint16_t>(static_cast<std::uint16_t>(nb.size()));
        for (pv::slot_t t : nb) s.put<std::uint32_t>(t);
      }
    section("LNK_", s.out);
    s.out.clear();
    if constexpr (requires { st.store.is_trained(); }) {
      const auto& store = st.store;
      if (store.is_trained()) {
        s.bytes(store.quantizer().lo().data(), p.dim * 4);
        s.bytes(store.quantizer().step().data(), p.dim * 4);
        section("SQR_", s.out);
        s.out.clear();
        s.rows(store.codes());
        section("SQC_", s.out);
        s.out.clear();
        if (p.metric_kind != pv::metric::ip) {
          s.rows(store.norms());
          section(p.metric_kind == pv::metric::l2 ? "SQD_" : "SQN_", s.out);
          s.out.clear();
        }
      }
      if (!store.is_trained() || store.rerank()) {
        s.rows(store.raw());
        section("F32_", s.out);
      }
    } else {
      s.rows(st.store.rows());
      section("F32_", s.out);
    }
    s.out.clear();
    if (keys) {  // KEY_: n end offsets, then the keys' bytes
      for (std::size_t i = 0; i < n; ++i) s.put<std::uint32_t>(st.keys.ends()[i]);
      s.bytes(st.keys.bytes().data(), st.keys.bytes().size());
      section("KEY_", s.out);
      s.out.clear();
    }
    if (attrs) {  // ATR_: field count, then per field name, kind and arrays
      const std::size_t w = (n + 63) / 64;
      auto dict = [&](const pv::string_dict& d) {
        s.put<std::uint32_t>(static_cast<std::uint32_t>(d.size()));
        for (std::uint32_t e : d.ends()) s.put<std::uint32_t>(e);
        s.bytes(d.bytes().data(), d.bytes().size());
      };
      s.put<std::uint32_t>(static_cast<std::uint32_t>(st.attrs.field_count()));
      for (const pv::column& c : st.attrs.columns()) {
        s.put<std::uint32_t>(static_cast<std::uint32_t>(c.name.size()));
        s.bytes(c.name.data(), c.name.size());
        s.put<std::uint8_t>(static_cast<std::uint8_t>(c.kind));
        if (c.kind == pv::value_kind::string || c.kind == pv::value_kind::string_list) dict(c.dict);
        if (c.kind != pv::value_kind::string) s.bytes(c.present.data(), w * 8);
        if (c.kind == pv::value_kind::string) s.bytes(c.codes.data(), n * 4);
        if (c.kind == pv::value_kind::number) s.bytes(c.numbers.data(), n * 8);
        if (c.kind == pv::value_kind::boolean) s.bytes(c.truth.data(), w * 8);
        if (c.kind == pv::value_kind::string_list) {
          s.bytes(c.list_offset.data(), n * 4);
          s.bytes(c.list_count.data(), n * 4);
          s.put<std::uint32_t>(static_cast<std::uint32_t>(c.pool.size()));
          s.bytes(c.pool.data(), c.pool.size() * 4);
        }
      }
      section("ATR_", s.out);
    }
    return h.out;
  });
}

pv::index build(pv::metric m, pv::quantization q, bool rerank, std::size_t n, std::size_t dim, std::uint64_t seed) {
  pv::index_params p;
  p.dim = dim;
  p.metric_kind = m;
  p.quant = q;
  p.sq8_rerank = rerank;
  p.m = 5;
  p.ef_construction = 24;
  p.sq8_training_size = 50;
  p.compact_threshold = 0;
  p.seed = seed;
  pv::index idx(p);
  if (n) idx.insert_batch(pvtest::clustered(n, dim, 4, seed));
  return idx;
}

/// Feeds `b` to a push parser in pieces whose sizes cycle through `sizes`.
pv::index feed_in_pieces(const std::vector<std::uint8_t>& b, const std::vector<std::size_t>& sizes) {
  pv::chunked_reader r;
  std::size_t at = 0, k = 0;
  while (at < b.size()) {
    const std::size_t len = std::min(sizes[k++ % sizes.size()], b.size() - at);
    r.feed({b.data() + at, len});
    at += len;
  }
  CHECK(r.size() == b.size());
  return r.finish();
}

using pvtest::code_of;

}  // namespace

TEST_CASE("stream: the chunked writer gives the spec's bytes, in chunks of any size", "[format][stream]") {
  const auto m = GENERATE(pv::metric::l2, pv::metric::cosine, pv::metric::ip);
  const int store = GENERATE(0, 1, 2, 3);  // f32, SQ8, SQ8 re-rank, SQ8 untrained
  const int state = GENERATE(0, 1, 2, 3, 4);  // plain, tombstones + upserts, compacted, empty, records
  CAPTURE(pv::metric_name(m), store, state);
  const auto q = store == 0 ? pv::quantization::none : pv::quantization::sq8;
  const std::size_t n = state == 3 ? 0 : store == 3 ? 30 : 260;
  auto idx = build(m, q, store == 2, n, 9, 11 + static_cast<std::uint64_t>(state));
  if (state == 1 || state == 2) {
    for (pv::id_t id = 0; id < n; id += 5) idx.erase(id);
    const auto fresh = pvtest::clustered(6, 9, 2, 5);
    for (pv::id_t i = 0; i < 6; ++i) idx.upsert(i * 3 + 1, std::span<const float>(fresh.data() + i * 9, 9));
  }
  if (state == 2) idx.compact();
  if (state == 4) {  // keys and metadata, rewritten and deleted: the pools hold garbage
    const auto more = pvtest::clustered(40, 9, 2, 6);
    for (std::size_t i = 0; i < 40; ++i) {
      pv::metadata md{{"tags", pv::string_list{"t" + std::to_string(i % 7), "u"}}, {"n", static_cast<double>(i)}};
      if (i % 3) md.push_back({"b", i % 2 == 0});
      if (i % 4) md.push_back({"s", std::string(i % 8 < 4 ? "a" : "b")});
      const std::span<const float> v(more.data() + i * 9, 9);
      if (i % 5 == 4) idx.insert(v, md);
      else idx.insert(v, "key " + std::to_string(i), md);
    }
    const auto first = static_cast<pv::id_t>(n);
    for (pv::id_t id = first; id < first + 40; id += 3) idx.set_metadata(id, {{"tags", pv::string_list{"new"}}});
    for (pv::id_t id = first + 1; id < first + 40; id += 6) idx.erase(id);
  }
  const auto want = reference_save(idx);
  CHECK(idx.save() == want);
  for (std::size_t chunk : {std::size_t{1}, std::size_t{13}, std::size_t{96}, std::size_t{4099}, std::size_t{1} << 20}) {
    pv::chunked_writer w(idx, chunk);
    CHECK(w.total_bytes() == want.size());
    std::vector<std::uint8_t> all;
    for (auto c = w.next(); !c.empty(); c = w.next()) {
      CHECK(c.size() <= chunk);
      if (all.size() + c.size() < want.size()) CHECK(c.size() == chunk);
      all.insert(all.end(), c.begin(), c.end());
    }
    CHECK(w.next().empty());
    REQUIRE(all == want);
  }
}

TEST_CASE("stream: the push parser fed in pieces of any size builds exactly what load() builds", "[format][stream]") {
  const auto m = GENERATE(pv::metric::l2, pv::metric::cosine, pv::metric::ip);
  const int store = GENERATE(0, 1, 2, 3);
  CAPTURE(pv::metric_name(m), store);
  auto idx = build(m, store == 0 ? pv::quantization::none : pv::quantization::sq8, store == 2, store == 3 ? 30 : 300, 10, 21);
  for (pv::id_t id = 1; id < 30; id += 4) idx.erase(id);
  idx.upsert(2, std::vector<float>(10, 0.125f));
  const auto more = pvtest::clustered(12, 10, 2, 3);  // and keys and metadata (KEY_, ATR_)
  for (std::size_t i = 0; i < 12; ++i)
    idx.insert(std::span<const float>(more.data() + i * 10, 10), "k" + std::to_string(i),
               {{"s", std::string(i % 2 ? "x" : "y")}, {"l", pv::string_list{"a", "b"}}, {"f", 0.5}, {"b", true}});
  const auto bytes = idx.save();
  auto whole = pv::load(bytes);
  const std::size_t whole_memory = whole.memory_bytes();  // (before searches size their scratch)
  std::mt19937 rng(7);
  std::vector<std::size_t> random_sizes;
  for (int i = 0; i < 64; ++i) random_sizes.push_back(1 + rng() % 300);
  for (const auto& sizes : std::vector<std::vector<std::size_t>>{
           {1}, {2}, {3}, {7}, {16}, {97}, {1021}, {bytes.size()}, {95, 1, 17, 2}, random_sizes}) {
    CAPTURE(sizes[0]);
    auto back = feed_in_pieces(bytes, sizes);
    REQUIRE(back.save() == bytes);
    CHECK(back.size() == whole.size());
    CHECK(back.memory_bytes() == whole_memory);
    const auto queries = pvtest::clustered(5, 10, 2, 3);
    for (std::size_t i = 0; i < 5; ++i) {
      std::span<const float> qv(queries.data() + i * 10, 10);
      CHECK(back.search(qv, 8, 24) == whole.search(qv, 8, 24));
    }
  }
  // An empty feed changes nothing; the reader is single use.
  pv::chunked_reader r;
  r.feed({});
  r.feed(bytes);
  r.feed({});
  CHECK(r.finish().save() == bytes);
  CHECK(code_of([&] { r.finish(); }) == pv::errc::corrupt_data);
}

TEST_CASE("stream: every truncation and single-bit flip is refused by the push parser, in any pieces", "[format][stream][corrupt]") {
  const int store = GENERATE(0, 1, 2);
  CAPTURE(store);
  const auto q = store == 0 ? pv::quantization::none : pv::quantization::sq8;
  auto idx = build(store == 1 ? pv::metric::l2 : pv::metric::cosine, q, store == 2, 60, 4, 5);
  idx.erase(3);
  const auto more = pvtest::clustered(4, 4, 2, 3);  // and a little of KEY_ and ATR_
  for (std::size_t i = 0; i < 4; ++i)
    idx.insert(std::span<const float>(more.data() + i * 4, 4), "k" + std::to_string(i),
               {{"s", std::string(i % 2 ? "x" : "y")}, {"l", pv::string_list{"a"}}, {"f", 0.5}, {"b", true}});
  auto bytes = idx.save();
  const std::vector<std::vector<std::size_t>> pieces{{1}, {5}, {64}, {bytes.size()}};
  for (std::size_t len = 0; len < bytes.size(); ++len) {
    const std::vector<std::uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(len));
    for (const auto& p : pieces) {
      CAPTURE(len, p[0]);
      REQUIRE(code_of([&] { feed_in_pieces(cut, p); }) == pv::errc::corrupt_data);
    }
  }
  for (std::size_t i = 0; i < bytes.size(); ++i)
    for (int bit = 0; bit < 8; ++bit) {
      bytes[i] ^= static_cast<std::uint8_t>(1u << bit);
      for (const auto& p : {pieces[0], pieces[3]}) {
        const auto code = code_of([&] { feed_in_pieces(bytes, p); });
        CAPTURE(i, bit, p[0]);
        REQUIRE((code == pv::errc::corrupt_data || code == pv::errc::unsupported_version));
      }
      bytes[i] ^= static_cast<std::uint8_t>(1u << bit);
    }
  // After a refused piece, the reader refuses everything.
  pv::chunked_reader r;
  auto bad = bytes;
  bad[0] = 'X';
  CHECK(code_of([&] { r.feed(bad); }) == pv::errc::corrupt_data);
  CHECK(code_of([&] { r.feed(bytes); }) == pv::errc::corrupt_data);
  CHECK(code_of([&] { r.finish(); }) == pv::errc::corrupt_data);
}

TEST_CASE("stream: bytes after the last section are refused in the piece that brings them", "[format][stream][corrupt]") {
  const auto bytes = build(pv::metric::l2, pv::quantization::none, false, 20, 4, 1).save();
  pv::chunked_reader r;
  r.feed(bytes);
  const std::vector<std::uint8_t> extra{0};
  CHECK(code_of([&] { r.feed(extra); }) == pv::errc::corrupt_data);
}

TEST_CASE("stream: CRC-32C is the same through every implementation", "[format][stream]") {
  std::mt19937 rng(3);
  std::vector<std::uint8_t> data(5000);
  for (auto& b : data) b = static_cast<std::uint8_t>(rng());
  const std::string check = "123456789";
  CHECK(pv::detail::crc32c::of({reinterpret_cast<const std::uint8_t*>(check.data()), check.size()}) == 0xE3069283u);
  for (std::size_t len : {0u, 1u, 7u, 8u, 9u, 63u, 4096u, 5000u}) {
    const std::uint32_t want = bitwise_crc32c(data.data(), len);
    CHECK(pv::detail::crc32c::of({data.data(), len}) == want);
    CHECK(~pv::detail::crc32c::portable(0xFFFFFFFFu, data.data(), len) == want);
    // Split updates agree with one.
    pv::detail::crc32c c;
    c.update(data.data(), len / 3);
    c.update(data.data() + len / 3, len - len / 3);
    CHECK(c.value() == want);
  }
}
