// Behaviour of pocketvec::index: recall against brute force, ids, tombstones, compaction, errors,
// determinism. Each test states the behaviour it pins down.
#include <catch2/catch.hpp>

#include <cstring>
#include <limits>
#include <map>

#include "test_util.hpp"

using namespace pocketvec;
namespace pv = pocketvec;  // `index` alone collides with POSIX index() from <strings.h>

namespace {

index_params params_for(std::size_t dim, metric m, quantization q = quantization::none) {
  index_params p;
  p.dim = dim;
  p.metric_kind = m;
  p.quant = q;
  return p;
}

double mean_recall(pv::index& idx, metric m, const std::vector<float>& base,
                   const std::vector<id_t>& ids, const std::vector<float>& queries, std::size_t dim,
                   std::size_t ef) {
  const std::size_t nq = queries.size() / dim;
  double sum = 0;
  for (std::size_t i = 0; i < nq; ++i) {
    const float* q = queries.data() + i * dim;
    auto truth = pvtest::brute_force(m, base, ids, q, dim, 10);
    sum += pvtest::overlap(idx.search({q, dim}, 10, ef), truth);
  }
  return sum / static_cast<double>(nq);
}

using pvtest::code_of;

}  // namespace

TEST_CASE("index: recall@10 against brute force on 10k x 128 clustered data, every metric",
          "[index][recall][scale]") {
  const std::size_t dim = 128, n = 10000;
  auto base = pvtest::clustered(n + 200, dim, 64, 1);  // the last 200 rows are the queries
  const std::vector<float> queries(base.begin() + n * dim, base.end());
  base.resize(n * dim);
  const metric m = GENERATE(metric::l2, metric::cosine, metric::ip);
  CAPTURE(metric_name(m));
  pv::index idx(params_for(dim, m));
  const auto ids = idx.insert_batch(base);
  REQUIRE(idx.size() == n);
  const double r64 = mean_recall(idx, m, base, ids, queries, dim, 64);
  const double r400 = mean_recall(idx, m, base, ids, queries, dim, 400);
  CAPTURE(r64, r400);
  CHECK(r64 >= 0.95);
  CHECK(r400 >= 0.99);
}

TEST_CASE("index: results are sorted ascending and distances match the metric", "[index]") {
  const std::size_t dim = 17;
  const metric m = GENERATE(metric::l2, metric::cosine, metric::ip);
  auto base = pvtest::clustered(500, dim, 5, 7);
  pv::index idx(params_for(dim, m));
  auto ids = idx.insert_batch(base);
  const float* q = base.data() + 3 * dim;
  auto hits = idx.search({q, dim}, 20);
  REQUIRE(hits.size() == 20);
  for (std::size_t i = 1; i < hits.size(); ++i) CHECK(hits[i - 1].distance <= hits[i].distance);
  for (auto& h : hits) {
    const float expect = pvtest::exact_distance(m, base.data() + h.id * dim, q, dim);
    CHECK(h.distance == Approx(expect).margin(1e-4).epsilon(1e-4));
  }
  if (m != metric::ip) CHECK(hits[0].id == ids[3]);  // a stored vector is its own nearest
}

TEST_CASE("index: ids are stable through deletes and compaction", "[index][compact]") {
  const std::size_t dim = 8;
  auto base = pvtest::clustered(300, dim, 4, 3);
  index_params p = params_for(dim, metric::l2);
  p.compact_threshold = 0;  // compact by hand
  pv::index idx(p);
  auto ids = idx.insert_batch(base);
  for (std::size_t i = 0; i < 300; i += 3) idx.erase(ids[i]);
  CHECK(idx.size() == 200);
  CHECK(idx.tombstone_ratio() == Approx(100.0 / 300));
  idx.compact();
  CHECK(idx.tombstone_ratio() == 0);
  CHECK(idx.size() == 200);
  for (std::size_t i = 0; i < 300; ++i) {
    CAPTURE(i);
    if (i % 3 == 0) {
      CHECK_FALSE(idx.contains(ids[i]));
      CHECK(code_of([&] { idx.get(ids[i]); }) == errc::unknown_id);
    } else {
      auto v = idx.get(ids[i]);
      CHECK(std::memcmp(v.data(), base.data() + i * dim, dim * sizeof(float)) == 0);
      auto hit = idx.search({base.data() + i * dim, dim}, 1);
      CHECK(hit[0].id == ids[i]);
    }
  }
  CHECK(idx.insert(std::span<const float>(base.data(), dim)) == 300);  // ids are not reused
}

TEST_CASE("index: deleted vectors are never returned, even when most are deleted", "[index]") {
  const std::size_t dim = 16, n = 2000;
  auto base = pvtest::clustered(n, dim, 10, 11);
  index_params p = params_for(dim, metric::l2);
  p.compact_threshold = 0;
  pv::index idx(p);
  auto ids = idx.insert_batch(base);
  std::vector<bool> gone(n, false);
  for (std::size_t i = 0; i < n; ++i)
    if (i % 10 != 0) {
      idx.erase(ids[i]);
      gone[i] = true;
    }
  REQUIRE(idx.size() == 200);
  for (std::size_t qi = 0; qi < 50; ++qi) {
    const float* q = base.data() + (qi * 37 % n) * dim;
    auto hits = idx.search({q, dim}, 10, 200);
    REQUIRE(hits.size() == 10);  // min(k, live) results
    for (auto& h : hits) CHECK_FALSE(gone[h.id]);
    auto truth = pvtest::brute_force(metric::l2, base, ids, q, dim, 10, &gone);
    CHECK(pvtest::overlap(hits, truth) >= 0.8);
  }
}

TEST_CASE("index: erasing past the threshold asks for compaction and never compacts by itself",
          "[index][compact]") {
  const std::size_t dim = 4;
  auto base = pvtest::clustered(100, dim, 3, 5);
  pv::index idx(params_for(dim, metric::l2));  // default threshold 0.30
  auto ids = idx.insert_batch(base);
  for (std::size_t i = 0; i < 30; ++i) idx.erase(ids[i]);
  CHECK(idx.deleted_count() == 30);  // 30 % is not past 30 %
  CHECK_FALSE(idx.needs_compaction());
  idx.erase(ids[30]);
  CHECK(idx.deleted_count() == 31);
  CHECK(idx.needs_compaction());
  for (std::size_t i = 31; i < 90; ++i) idx.erase(ids[i]);
  CHECK(idx.deleted_count() == 90);  // still tombstones: erase() never pays for a compaction
  CHECK(code_of([&] { idx.erase(ids[0]); }) == errc::deleted_id);
  idx.compact();
  CHECK(idx.deleted_count() == 0);
  CHECK(idx.size() == 10);
  CHECK_FALSE(idx.needs_compaction());
  CHECK(code_of([&] { idx.erase(ids[0]); }) == errc::unknown_id);
  index_params never = params_for(dim, metric::l2);
  never.compact_threshold = 0;
  pv::index off(never);
  auto more = off.insert_batch(base);
  for (std::size_t i = 0; i < 99; ++i) off.erase(more[i]);
  CHECK_FALSE(off.needs_compaction());
}

TEST_CASE("index: erasing twice or an unknown id is an error", "[index][errors]") {
  index_params p = params_for(3, metric::l2);
  pv::index idx(p);
  const float v[3] = {1, 2, 3};
  auto id = idx.insert(v);
  CHECK(code_of([&] { idx.erase(id + 1); }) == errc::unknown_id);
  idx.erase(id);
  CHECK(code_of([&] { idx.erase(id); }) == errc::deleted_id);
  CHECK(code_of([&] { idx.get(id); }) == errc::deleted_id);
}

TEST_CASE("index: bad input gets a clear error and leaves the index usable", "[index][errors]") {
  pv::index idx(params_for(4, metric::cosine));
  const float good[4] = {1, 0, 0, 0};
  const float five[5] = {1, 2, 3, 4, 5};
  const float nan[4] = {1, std::numeric_limits<float>::quiet_NaN(), 0, 0};
  const float inf[4] = {1, std::numeric_limits<float>::infinity(), 0, 0};
  const float zero[4] = {0, 0, 0, 0};
  CHECK(code_of([&] { idx.search(good, 1); }) == errc::empty_index);
  CHECK(code_of([&] { idx.insert(five); }) == errc::dimension_mismatch);
  CHECK(code_of([&] { idx.insert(nan); }) == errc::non_finite);
  CHECK(code_of([&] { idx.insert(inf); }) == errc::non_finite);
  CHECK(code_of([&] { idx.insert(zero); }) == errc::zero_vector);
  CHECK(idx.size() == 0);
  idx.insert(good);
  CHECK(code_of([&] { idx.search(good, 0); }) == errc::invalid_argument);
  CHECK(code_of([&] { idx.search(zero, 1); }) == errc::zero_vector);
  CHECK(code_of([&] { idx.search(five, 1); }) == errc::dimension_mismatch);
  std::vector<float> batch = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};  // third row is zero
  CHECK(code_of([&] { idx.insert_batch(batch); }) == errc::zero_vector);
  CHECK(idx.size() == 1);  // nothing of the failed batch went in
  CHECK(code_of([&] { idx.insert_batch(std::span<const float>(batch.data(), 5)); }) ==
        errc::dimension_mismatch);
  CHECK(code_of([&] { idx.upsert(invalid_id, good); }) == errc::invalid_argument);
  CHECK(idx.search(good, 5).size() == 1);

  try {
    idx.insert(five);
    FAIL("no exception");
  } catch (const error& e) {
    CHECK(std::string(e.what()) == "dimension mismatch: index has 4, vector has 5");
  }
}

TEST_CASE("index: bad parameters are refused", "[index][errors]") {
  auto make = [](auto tweak) {
    return code_of([&] {
      index_params p;
      p.dim = 8;
      tweak(p);
      pv::index idx(p);
    });
  };
  CHECK(make([](index_params& p) { p.dim = 0; }) == errc::invalid_argument);
  CHECK(make([](index_params& p) { p.dim = max_dim + 1; }) == errc::invalid_argument);
  CHECK(make([](index_params& p) { p.m = 1; }) == errc::invalid_argument);
  CHECK(make([](index_params& p) { p.m = max_m + 1; }) == errc::invalid_argument);
  CHECK(make([](index_params& p) { p.ef_construction = 0; }) == errc::invalid_argument);
  CHECK(make([](index_params& p) { p.ef_search = 0; }) == errc::invalid_argument);
  CHECK(make([](index_params& p) { p.compact_threshold = 1.5f; }) == errc::invalid_argument);
  CHECK(make([](index_params& p) { p.compact_threshold = std::nanf(""); }) == errc::invalid_argument);
  CHECK(make([](index_params& p) { p.metric_kind = static_cast<metric>(9); }) == errc::invalid_argument);
  CHECK(make([](index_params&) {}) == errc{});
}

TEST_CASE("index: empty, single vector, all deleted, k larger than size", "[index][edge]") {
  index_params p = params_for(5, metric::l2);
  p.compact_threshold = 0;
  pv::index idx(p);
  const float a[5] = {1, 2, 3, 4, 5}, b[5] = {5, 4, 3, 2, 1};
  CHECK(idx.size() == 0);
  CHECK(idx.tombstone_ratio() == 0);
  auto ia = idx.insert(a);
  auto hits = idx.search(b, 10);
  REQUIRE(hits.size() == 1);
  CHECK(hits[0].id == ia);
  CHECK(hits[0].distance == Approx(40));
  auto ib = idx.insert(b);
  CHECK(idx.search(a, 100).size() == 2);
  idx.erase(ia);
  idx.erase(ib);
  CHECK(idx.size() == 0);
  CHECK(code_of([&] { idx.search(a, 1); }) == errc::empty_index);
  idx.compact();
  CHECK(code_of([&] { idx.search(a, 1); }) == errc::empty_index);
  auto ic = idx.insert(a);
  CHECK(ic == 2);
  CHECK(idx.search(a, 1)[0].id == ic);
}

TEST_CASE("index: the maximum dimension works", "[index][edge]") {
  const std::size_t dim = max_dim;
  auto base = pvtest::clustered(60, dim, 3, 21);
  pv::index idx(params_for(dim, metric::cosine));
  auto ids = idx.insert_batch(base);
  for (std::size_t i = 0; i < 60; i += 7)
    CHECK(idx.search({base.data() + i * dim, dim}, 1)[0].id == ids[i]);
}

TEST_CASE("index: many duplicate vectors stay searchable and distinct", "[index][edge]") {
  const std::size_t dim = 8;
  pv::index idx(params_for(dim, metric::l2));
  std::vector<float> v(dim, 0.5f), w(dim, 3.0f);
  std::vector<id_t> dup;
  for (int i = 0; i < 500; ++i) dup.push_back(idx.insert(v));
  const id_t lone = idx.insert(w);
  auto hits = idx.search(v, 50, 100);
  REQUIRE(hits.size() == 50);
  std::map<id_t, int> seen;
  for (auto& h : hits) {
    CHECK(h.distance == 0);
    CHECK(++seen[h.id] == 1);
  }
  CHECK(idx.search(w, 1)[0].id == lone);
}

TEST_CASE("index: thousands of rapid insert/delete cycles keep it consistent", "[index][edge]") {
  const std::size_t dim = 12;
  auto pool = pvtest::clustered(400, dim, 8, 33);
  pv::index idx(params_for(dim, metric::l2));
  pvtest::rng r(99);
  std::map<id_t, std::size_t> live;  // id -> row of pool
  for (int step = 0; step < 4000; ++step) {
    if (live.size() < 20 || r.uniform() < 0.55f) {
      const std::size_t row = r.next() % 400;
      live[idx.insert({pool.data() + row * dim, dim})] = row;
    } else {
      auto it = live.begin();
      std::advance(it, static_cast<long>(r.next() % live.size()));
      idx.erase(it->first);
      live.erase(it);
      if (idx.needs_compaction()) idx.compact();  // as an app would: many small local repairs
    }
  }
  REQUIRE(idx.size() == live.size());
  for (auto& [id, row] : live) {
    auto hits = idx.search({pool.data() + row * dim, dim}, 1, 64);
    CHECK(hits[0].distance == 0);
  }
}

TEST_CASE("index: delete then compact then search matches brute force on the survivors",
          "[index][compact]") {
  const std::size_t dim = 32, n = 3000;
  auto base = pvtest::clustered(n, dim, 20, 44);
  index_params p = params_for(dim, metric::cosine);
  p.compact_threshold = 0;
  pv::index idx(p);
  auto ids = idx.insert_batch(base);
  std::vector<bool> gone(n);
  for (std::size_t i = 0; i < n; ++i) gone[i] = (i % 5) < 2;  // 40 %
  for (std::size_t i = 0; i < n; ++i)
    if (gone[i]) idx.erase(ids[i]);
  idx.compact();
  double sum = 0;
  for (std::size_t qi = 0; qi < 100; ++qi) {
    const float* q = base.data() + (qi * 29 % n) * dim;
    auto truth = pvtest::brute_force(metric::cosine, base, ids, q, dim, 10, &gone);
    sum += pvtest::overlap(idx.search({q, dim}, 10, 100), truth);
  }
  CHECK(sum / 100 >= 0.97);
}

TEST_CASE("index: upsert replaces the vector under a chosen id", "[index]") {
  pv::index idx(params_for(2, metric::l2));
  const float a[2] = {0, 0}, b[2] = {10, 10};
  idx.upsert(7, a);
  CHECK(idx.get(7) == std::vector<float>{0, 0});
  idx.upsert(7, b);
  CHECK(idx.size() == 1);
  CHECK(idx.get(7) == std::vector<float>{10, 10});
  auto hits = idx.search(a, 5);
  REQUIRE(hits.size() == 1);
  CHECK(hits[0].id == 7);
  CHECK(hits[0].distance == 200);
  // Fresh ids lie above every id ever used, so none below 7 is handed out either.
  CHECK(idx.insert(a) == 8);
  CHECK(idx.insert(a) == 9);
}

TEST_CASE("index: a fresh id is never one that was used before, even after erase and compact",
          "[index][ids]") {
  // Before, an upserted id that was erased and compacted away came back from insert(): an app that
  // kept the id in its own records would have pointed at a different vector.
  auto p = params_for(2, metric::l2);
  p.compact_threshold = 0;
  pv::index idx(p);
  const float a[2] = {1, 2};
  idx.insert(a);      // 0
  idx.upsert(3, a);   // 3: chosen by the app
  idx.erase(3);
  idx.compact();      // 3 leaves the index entirely
  std::vector<id_t> got;
  for (int i = 0; i < 5; ++i) got.push_back(idx.insert(a));
  CHECK(got == std::vector<id_t>{4, 5, 6, 7, 8});
  // ... and after a save and load too.
  auto back = pv::index::load(idx.save());
  CHECK(back.insert(a) == 9);
  // Upserting the largest id leaves no fresh id: insert() says so instead of wrapping.
  back.upsert(0xFFFFFFFEu, a);
  CHECK(code_of([&] { back.insert(a); }) == errc::capacity_exceeded);
}

TEST_CASE("index: check_batch checks without inserting and names rows from first_row",
          "[index][errors]") {
  pv::index idx(params_for(2, metric::l2));
  std::vector<float> rows = {1, 2, 3, 4, 5, std::numeric_limits<float>::quiet_NaN()};
  try {
    idx.check_batch(rows, 1000);
    FAIL("a NaN row was accepted");
  } catch (const error& e) {
    CHECK(e.code() == errc::non_finite);
    CHECK(std::string(e.what()).find("batch row 1002") != std::string::npos);
  }
  rows[5] = 6;
  idx.check_batch(rows);
  CHECK(idx.size() == 0);
  CHECK(code_of([&] { idx.check_batch(std::span<const float>(rows.data(), 5)); }) ==
        errc::dimension_mismatch);
  // reserve_more then batches: the ids continue and nothing is lost.
  idx.reserve_more(6);
  CHECK(idx.insert_batch(rows) == std::vector<id_t>{0, 1, 2});
  CHECK(idx.insert_batch(rows) == std::vector<id_t>{3, 4, 5});
  CHECK(idx.get(5) == std::vector<float>{5, 6});
}

TEST_CASE("index: id lookups hold no hash table while ids are in slot order, and stay right after",
          "[index][ids]") {
  const std::size_t dim = 4;
  pv::index idx(params_for(dim, metric::l2));
  auto sorted = [&](const pv::index& i) { return i.visit([](auto& c) { return c.ids_in_slot_order(); }); };
  auto row = [](float x) { return std::vector<float>{x, x + 1, x + 2, x + 3}; };
  for (int i = 0; i < 200; ++i) CHECK(idx.insert(row(static_cast<float>(i))) == static_cast<id_t>(i));
  CHECK(sorted(idx));

  // Deleting and compacting keeps a subset of increasing ids: still no hash.
  for (id_t id = 0; id < 200; id += 3) idx.erase(id);
  idx.compact();
  CHECK(sorted(idx));
  for (id_t id = 0; id < 200; ++id) {
    CHECK(idx.contains(id) == (id % 3 != 0));
    if (id % 3 != 0) CHECK(idx.get(id) == row(static_cast<float>(id)));
  }
  CHECK(code_of([&] { idx.get(3); }) == errc::unknown_id);
  // An upsert beyond every id keeps the order, and so does the next insert() (above it).
  idx.upsert(1000, row(1000));
  CHECK(sorted(idx));
  CHECK(idx.insert(row(200)) == 1001);
  CHECK(sorted(idx));
  // Replacing an id in place appends it out of order: the hash must point at the newest slot.
  const std::size_t sorted_bytes_now = idx.memory_bytes();
  idx.upsert(5, row(-5));
  CHECK_FALSE(sorted(idx));
  CHECK(idx.memory_bytes() > sorted_bytes_now);
  CHECK(idx.get(5) == row(-5));
  CHECK(idx.get(1000) == row(1000));
  CHECK(idx.get(1001) == row(200));
  CHECK(idx.search(row(-5), 1)[0].id == 5);
  CHECK(idx.insert(row(201)) == 1002);

  // Loading decides the mode from the stored ids; lookups agree either way.
  pv::index back = pv::index::load(idx.save());
  CHECK_FALSE(sorted(back));
  for (id_t id = 0; id < 1004; ++id) CHECK(back.contains(id) == idx.contains(id));
  pv::index fresh(params_for(dim, metric::l2));
  for (int i = 0; i < 10; ++i) fresh.insert(row(static_cast<float>(i)));
  pv::index fresh_back = pv::index::load(fresh.save());
  CHECK(sorted(fresh_back));
  CHECK(fresh_back.get(9) == row(9));
  CHECK_FALSE(fresh_back.contains(10));
}

TEST_CASE("index: the same seed and inserts build the same graph", "[index][determinism]") {
  const std::size_t dim = 24;
  auto base = pvtest::clustered(1500, dim, 10, 8);
  auto build = [&](std::uint64_t seed) {
    index_params p = params_for(dim, metric::l2);
    p.seed = seed;
    auto idx = std::make_unique<pv::index>(p);
    idx->insert_batch(base);
    return idx;
  };
  auto a = build(5), b = build(5), c = build(6);
  auto links = [](const pv::index& idx) {
    return idx.visit([](auto& core) {
      const graph& g = core.state().links;
      std::vector<std::uint32_t> all;
      for (slot_t s = 0; s < g.size(); ++s)
        for (int l = 0; l <= g.level(s); ++l) {
          all.push_back(0xFFFF0000u + static_cast<std::uint32_t>(l));
          for (slot_t t : g.neighbors(s, l)) all.push_back(t);
        }
      all.push_back(g.entry_point());
      return all;
    });
  };
  CHECK(links(*a) == links(*b));
  CHECK(links(*a) != links(*c));
}

TEST_CASE("index: level sampling follows P(level >= l) = m^-l", "[index][determinism]") {
  std::size_t at_least[3] = {0, 0, 0};
  const std::size_t n = 200000;
  for (std::uint64_t i = 0; i < n; ++i) {
    const int l = detail::draw_level(42, i, 16);
    for (int j = 0; j < 3; ++j) at_least[j] += l >= j;
  }
  CHECK(at_least[0] == n);
  CHECK(static_cast<double>(at_least[1]) / n == Approx(1.0 / 16).epsilon(0.05));
  CHECK(static_cast<double>(at_least[2]) / n == Approx(1.0 / 256).epsilon(0.2));
}
