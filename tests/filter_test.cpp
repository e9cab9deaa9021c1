// Filtered search: basic_index::search(query, k, filter, options) against an exact filtered brute
// force (a plain loop over the test's own rows, never the index), on random and on hard data
// (clustered, the filter correlated or anti-correlated with the query's cluster), at selectivities
// from everything to nothing, with deletions, every metric, f32 and SQ8 (re-rank too).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <stdexcept>
#include <string>

#include "test_util.hpp"

using namespace pocketvec;
namespace pv = pocketvec;

namespace {

enum class store_kind { f32, sq8, sq8_rerank };

const char* store_name(store_kind s) {
  return s == store_kind::f32 ? "f32" : s == store_kind::sq8 ? "sq8" : "sq8_rerank";
}

index_params params_for(std::size_t dim, metric m, store_kind s) {
  index_params p;
  p.dim = dim;
  p.metric_kind = m;
  p.quant = s == store_kind::f32 ? quantization::none : quantization::sq8;
  p.sq8_rerank = s == store_kind::sq8_rerank;
  p.sq8_training_size = 500;
  p.compact_threshold = 0;
  return p;
}

using pvtest::code_of;

/// Rows with the cluster each was drawn from: `clusters` Gaussian centres (spread 1) and rows
/// around them (spread `spread`); `clusters` = 0 gives plain Gaussian rows, all of cluster 0.
struct labelled {
  std::vector<float> rows;
  std::vector<std::size_t> cluster;
  std::vector<float> centres;
};

labelled make_data(std::size_t n, std::size_t dim, std::size_t clusters, std::uint64_t seed,
                   float spread = 0.25f) {
  pvtest::rng r(seed);
  labelled d;
  d.centres.assign(std::max<std::size_t>(clusters, 1) * dim, 0.0f);
  if (clusters > 0)
    for (float& c : d.centres) c = 3.0f * r.normal();
  d.rows.resize(n * dim);
  d.cluster.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t c = clusters > 0 ? r.next() % clusters : 0;
    d.cluster[i] = c;
    const float s = clusters > 0 ? spread : 1.0f;
    for (std::size_t j = 0; j < dim; ++j) d.rows[i * dim + j] = d.centres[c * dim + j] + s * r.normal();
  }
  return d;
}

struct truth_hit {
  float distance;
  id_t id;
};

/// The exact filtered top k: every row whose id is live and accepted, by a plain loop.
std::vector<truth_hit> filtered_brute_force(metric m, const std::vector<float>& rows,
                                            const std::vector<id_t>& ids, const std::vector<bool>& live,
                                            const std::set<id_t>& members, const float* q,
                                            std::size_t dim, std::size_t k) {
  std::vector<truth_hit> all;
  for (std::size_t i = 0; i < ids.size(); ++i)
    if (live[i] && members.count(ids[i]))
      all.push_back({pvtest::exact_distance(m, rows.data() + i * dim, q, dim), ids[i]});
  std::sort(all.begin(), all.end(), [](const truth_hit& a, const truth_hit& b) {
    return a.distance < b.distance || (a.distance == b.distance && a.id < b.id);
  });
  if (all.size() > k) all.resize(k);
  return all;
}

/// Exact up to ties: as many results as the truth, each a member, and none farther (by the oracle's
/// own distance) than the truth's last one.
bool exactly(const std::vector<search_result>& found, const std::vector<truth_hit>& truth, metric m,
             const std::vector<float>& rows, const std::vector<std::size_t>& row_of, const float* q,
             std::size_t dim) {
  if (found.size() != truth.size()) return false;
  if (truth.empty()) return true;
  const float worst = truth.back().distance;
  for (const auto& h : found) {
    const float d = pvtest::exact_distance(m, rows.data() + row_of[h.id] * dim, q, dim);
    if (d > worst + 1e-4f * std::max(1.0f, std::abs(worst))) return false;
  }
  return true;
}

double recall(const std::vector<search_result>& found, const std::vector<truth_hit>& truth) {
  if (truth.empty()) return 1.0;
  std::size_t hit = 0;
  for (const auto& t : truth)
    for (const auto& f : found)
      if (f.id == t.id) {
        ++hit;
        break;
      }
  return static_cast<double>(hit) / static_cast<double>(truth.size());
}

/// A selectivity case: which ids the filter accepts.
struct filter_case {
  std::string name;
  std::set<id_t> members;
};

/// One index with its rows, ids, tombstones and the oracle's view of them.
struct fixture {
  metric m;
  store_kind sk;
  std::size_t dim;
  labelled data;
  pv::index idx;
  std::vector<id_t> ids;
  std::vector<std::size_t> row_of;  // id -> row
  std::vector<bool> live;
  std::vector<float> oracle_rows;   // what the oracle measures: the rows, or under SQ8 their decoded codes

  fixture(metric m_, store_kind sk_, std::size_t dim_, labelled d, double delete_share, std::uint64_t seed)
      : m(m_), sk(sk_), dim(dim_), data(std::move(d)), idx(params_for(dim_, m_, sk_)) {
    ids = idx.insert_batch(data.rows);
    const std::size_t n = ids.size();
    row_of.assign(n, 0);
    for (std::size_t i = 0; i < n; ++i) row_of[ids[i]] = i;
    live.assign(n, true);
    pvtest::rng r(seed);
    for (std::size_t i = 0; i < n; ++i)
      if (static_cast<double>(r.uniform()) < delete_share) {
        idx.erase(ids[i]);
        live[i] = false;
      }
    // Plain SQ8 answers in code space: its oracle is the decoded rows (under re-rank and f32,
    // the rows themselves).
    oracle_rows = data.rows;
    if (sk == store_kind::sq8)
      for (std::size_t i = 0; i < n; ++i)
        if (live[i]) {
          const auto v = idx.get(ids[i]);
          std::memcpy(oracle_rows.data() + i * dim, v.data(), dim * sizeof(float));
        }
  }

  std::size_t live_matches(const std::set<id_t>& members) const {
    std::size_t c = 0;
    for (id_t id : members) c += live[row_of[id]] ? 1 : 0;
    return c;
  }
};

/// Runs every query under every strategy with the id_set and the callable, checks the count
/// guarantee, membership, liveness and order everywhere, exactness on the scan path, that the two
/// filter forms agree, and returns the graph path's mean recall@k.
double check_case(fixture& f, const filter_case& fc, const std::vector<float>& queries, std::size_t k,
                  std::size_t ef = 64) {
  CAPTURE(fc.name, k, ef);
  id_set set(f.idx.id_bound());
  for (id_t id : fc.members) set.insert(id);
  auto callable = [&](id_t id) { return fc.members.count(id) != 0; };
  const std::size_t nq = queries.size() / f.dim;
  const std::size_t want = std::min(k, f.live_matches(fc.members));
  double graph_recall = 0;
  for (std::size_t qi = 0; qi < nq; ++qi) {
    CAPTURE(qi);
    const float* q = queries.data() + qi * f.dim;
    const std::span<const float> qs(q, f.dim);
    const auto truth = filtered_brute_force(f.m, f.oracle_rows, f.ids, f.live, fc.members, q, f.dim, k);
    REQUIRE(truth.size() == want);
    auto valid = [&](const std::vector<search_result>& r) {
      REQUIRE(r.size() == want);  // the guarantee: min(k, live matches), on every path
      for (std::size_t i = 0; i < r.size(); ++i) {
        REQUIRE(fc.members.count(r[i].id) == 1);
        REQUIRE(f.live[f.row_of[r[i].id]]);
        if (i > 0) REQUIRE(r[i - 1].distance <= r[i].distance);
        for (std::size_t j = 0; j < i; ++j) REQUIRE(r[j].id != r[i].id);
      }
    };
    const filter_options scan{.ef = ef, .strategy = filter_strategy::scan};
    const filter_options graph{.ef = ef, .strategy = filter_strategy::graph};
    const filter_options automatic{.ef = ef};

    const auto s_set = f.idx.search(qs, k, set, scan);
    valid(s_set);
    CHECK(f.idx.last_filter_report().strategy == filter_strategy::scan);
    const auto s_fn = f.idx.search(qs, k, callable, scan);
    CHECK(s_fn == s_set);  // same slots, same distances, same order
    if (f.sk == store_kind::sq8) {
      CHECK(recall(s_set, truth) >= 0.9);  // exact in SQ8's own distances, not in the decoded rows'
    } else {
      CHECK(exactly(s_set, truth, f.m, f.oracle_rows, f.row_of, q, f.dim));
    }

    const auto g_set = f.idx.search(qs, k, set, graph);
    valid(g_set);
    const auto g_fn = f.idx.search(qs, k, callable, graph);
    CHECK(g_fn == g_set);  // (a callable may fall back where the id_set need not: it cannot count)
    graph_recall += recall(g_set, truth);

    const auto a_set = f.idx.search(qs, k, set, automatic);
    valid(a_set);
    const auto rep = f.idx.last_filter_report();
    CHECK(rep.estimated_matches == f.live_matches(fc.members));  // counted: live members only
    if (rep.strategy == filter_strategy::scan) CHECK(a_set == s_set);
    const auto a_fn = f.idx.search(qs, k, callable, automatic);
    valid(a_fn);
    if (f.idx.last_filter_report().strategy == rep.strategy) CHECK(a_fn == a_set);
  }
  return graph_recall / static_cast<double>(nq);
}

/// Members: each id with probability `share` (exact counts for the tiny cases).
std::vector<filter_case> selectivity_cases(const std::vector<id_t>& ids, std::uint64_t seed) {
  std::vector<filter_case> out;
  for (double share : {1.0, 0.5, 0.1, 0.01, 0.001}) {
    filter_case c{"share " + std::to_string(share), {}};
    pvtest::rng r(seed + static_cast<std::uint64_t>(share * 1000));
    for (id_t id : ids)
      if (static_cast<double>(r.uniform()) < share) c.members.insert(id);
    out.push_back(std::move(c));
  }
  out.push_back({"a single match", {ids[ids.size() / 3]}});
  out.push_back({"none", {}});
  return out;
}

}  // namespace

TEST_CASE("filter: k results whenever k match, exact scans, graph recall >= 0.95, random data, every metric and store",
          "[filter]") {
  const metric m = GENERATE(metric::l2, metric::cosine, metric::ip);
  const store_kind sk = GENERATE(store_kind::f32, store_kind::sq8, store_kind::sq8_rerank);
  const double deleted = GENERATE(0.0, 0.15);
  CAPTURE(metric_name(m), store_name(sk), deleted);
  const std::size_t dim = 24, n = 3000, nq = 20;
  auto d = make_data(n + nq, dim, 0, 5);
  const std::vector<float> queries(d.rows.begin() + n * dim, d.rows.end());
  d.rows.resize(n * dim);
  d.cluster.resize(n);
  fixture f(m, sk, dim, std::move(d), deleted, 77);
  for (const auto& c : selectivity_cases(f.ids, 9)) {
    const double r10 = check_case(f, c, queries, 10);
    CAPTURE(c.name, r10);
    CHECK(r10 >= 0.95);
  }
  // k larger than the matches (and than ef): every match comes back.
  filter_case few{"37 members", {}};
  for (std::size_t i = 0; i < 37; ++i) few.members.insert(f.ids[i * 71 % n]);
  check_case(f, few, queries, 50, 16);
  check_case(f, few, queries, 500);
}

TEST_CASE("filter: hard data, filters correlated and anti-correlated with the query's cluster",
          "[filter]") {
  const metric m = GENERATE(metric::l2, metric::cosine, metric::ip);
  const store_kind sk = GENERATE(store_kind::f32, store_kind::sq8);
  CAPTURE(metric_name(m), store_name(sk));
  const std::size_t dim = 16, n = 4000, clusters = 20;
  auto d = make_data(n, dim, clusters, 31);
  // Queries: fresh points of cluster 0.
  std::vector<float> queries;
  {
    pvtest::rng r(99);
    for (std::size_t i = 0; i < 10; ++i)
      for (std::size_t j = 0; j < dim; ++j) queries.push_back(d.centres[j] + 0.25f * r.normal());
  }
  // The cluster whose centre is farthest from cluster 0's.
  std::size_t far = 1;
  float far_d = 0;
  for (std::size_t c = 1; c < clusters; ++c) {
    const float dd = pvtest::exact_distance(metric::l2, d.centres.data(), d.centres.data() + c * dim, dim);
    if (dd > far_d) {
      far_d = dd;
      far = c;
    }
  }
  fixture f(m, sk, dim, std::move(d), 0.1, 3);
  std::vector<filter_case> cases;
  for (double share : {1.0, 0.5, 0.1, 0.01}) {
    filter_case near{"query's cluster, share " + std::to_string(share), {}};
    filter_case away{"far cluster, share " + std::to_string(share), {}};
    filter_case others{"every other cluster, share " + std::to_string(share), {}};
    pvtest::rng r(7);
    for (std::size_t i = 0; i < n; ++i) {
      const bool pick = static_cast<double>(r.uniform()) < share;
      if (!pick) continue;
      if (f.data.cluster[i] == 0) near.members.insert(f.ids[i]);
      if (f.data.cluster[i] == far) away.members.insert(f.ids[i]);
      if (f.data.cluster[i] != 0) others.members.insert(f.ids[i]);
    }
    cases.push_back(std::move(near));
    cases.push_back(std::move(away));
    cases.push_back(std::move(others));
  }
  for (const auto& c : cases) {
    const double r10 = check_case(f, c, queries, 10);
    CAPTURE(c.name, c.members.size(), r10);
    if (m != metric::ip) {
      CHECK(r10 >= 0.95);
    } else {
      // Known limit: an ip graph is not navigable to matches that are not ip hubs (the graph's
      // lists all point at the same long vectors, see docs/architecture.md), so a filter that
      // excludes the query's own cluster leaves the traversal short of the best matches: recall
      // 0.45-0.9 here (0.89 even at ef 1024), against 1.0 unfiltered. The count guarantee holds;
      // the automatic strategy scans (exact) up to filter_scan_threshold matches.
      if (r10 < 0.95) WARN("ip graph-path recall " << r10 << " for " << c.name);
      CHECK(r10 >= 0.4);
    }
  }
}

TEST_CASE("filter: upserted ids (no slot order) and compaction keep the filter on ids", "[filter]") {
  const std::size_t dim = 12, n = 1500;
  auto d = make_data(n, dim, 0, 41);
  fixture f(metric::l2, store_kind::f32, dim, d, 0.0, 1);
  // Upsert every 7th id with a fresh row: the old slot is tombstoned, the id lives on in a new one.
  pvtest::rng r(4);
  for (std::size_t i = 0; i < n; i += 7) {
    for (std::size_t j = 0; j < dim; ++j) f.data.rows[i * dim + j] = r.normal();
    f.idx.upsert(f.ids[i], std::span<const float>(f.data.rows.data() + i * dim, dim));
  }
  f.oracle_rows = f.data.rows;
  REQUIRE_FALSE(f.idx.visit([](auto& i) { return i.ids_in_slot_order(); }));
  const std::vector<float> queries(f.data.rows.begin(), f.data.rows.begin() + 10 * dim);
  filter_case upserted{"the upserted ids", {}};
  for (std::size_t i = 0; i < n; i += 7) upserted.members.insert(f.ids[i]);
  for (const auto& c : {upserted, selectivity_cases(f.ids, 2)[2]}) {
    CHECK(check_case(f, c, queries, 10) >= 0.95);
    id_set set(f.idx.id_bound());
    for (id_t id : c.members) set.insert(id);
    f.idx.search(std::span<const float>(queries.data(), dim), 10, set);
    CHECK(f.idx.last_filter_report().estimated_matches == c.members.size());  // deleted old slots not counted
  }
  f.idx.compact();
  CHECK(check_case(f, upserted, queries, 10) >= 0.95);
}

TEST_CASE("filter: the automatic strategy scans few matches and traverses many", "[filter]") {
  const std::size_t dim = 16, n = 5000;
  auto d = make_data(n, dim, 0, 8);
  fixture f(metric::l2, store_kind::f32, dim, d, 0.0, 1);
  const std::span<const float> q(f.data.rows.data(), dim);
  const std::size_t threshold = filter_scan_threshold(64, n);
  id_set set(f.idx.id_bound());
  for (std::size_t i = 0; i < threshold; ++i) set.insert(f.ids[i]);
  f.idx.search(q, 10, set);
  CHECK(f.idx.last_filter_report().strategy == filter_strategy::scan);
  CHECK(f.idx.last_filter_report().estimated_matches == threshold);
  CHECK(f.idx.last_filter_report().scan_threshold == threshold);
  set.insert(f.ids[threshold]);
  CHECK(f.idx.search(q, 10, set).size() == 10);
  // The graph ran (it may have given up for the scan past its budget of about the matches).
  CHECK((f.idx.last_filter_report().strategy == filter_strategy::graph || f.idx.last_filter_report().fell_back));
  f.idx.search(q, 10, set, {.strategy = filter_strategy::graph});
  CHECK(f.idx.last_filter_report().strategy == filter_strategy::graph);
  CHECK_FALSE(f.idx.last_filter_report().fell_back);

  // A callable is sampled; a hint replaces the sample.
  auto half = [](id_t id) { return id % 2 == 0; };
  f.idx.search(q, 10, half);
  CHECK(f.idx.last_filter_report().strategy == filter_strategy::graph);
  CHECK(f.idx.last_filter_report().estimated_matches == Approx(n / 2).epsilon(0.15));
  f.idx.search(q, 10, half, {.selectivity = 0.001});
  CHECK(f.idx.last_filter_report().strategy == filter_strategy::scan);
  CHECK(f.idx.last_filter_report().estimated_matches == 5);

  // A wrong hint (all match, when 3 do): the graph gives up, the scan answers, all 3 come back.
  auto three = [&](id_t id) { return id == f.ids[1] || id == f.ids[2000] || id == f.ids[4999]; };
  auto r = f.idx.search(q, 10, three, {.selectivity = 1.0});
  CHECK(r.size() == 3);
  CHECK(f.idx.last_filter_report().fell_back);
  CHECK(f.idx.last_filter_report().strategy == filter_strategy::scan);
  // Anti-correlated: half the ids match, all of them far from the query. The graph's budget
  // stops the flood and the scan answers exactly.
  auto far_half = [&](id_t id) { return f.data.rows[f.row_of[id] * dim] > 0.3f; };
  std::vector<float> query(dim, 0.0f);
  query[0] = -3.0f;
  auto far = f.idx.search(query, 10, far_half, {.selectivity = 0.5});
  CHECK(far.size() == 10);
  CHECK(f.idx.last_filter_report().distances <= 3 * n);
}

TEST_CASE("filter: a throwing filter propagates and leaves the index unchanged", "[filter]") {
  const std::size_t dim = 8, n = 2000;
  auto d = make_data(n, dim, 0, 12);
  const store_kind sk = GENERATE(store_kind::f32, store_kind::sq8_rerank);
  fixture f(metric::cosine, sk, dim, d, 0.1, 2);
  const auto before = f.idx.save();
  const std::span<const float> q(f.data.rows.data(), dim);
  const auto expect = f.idx.search(q, 10);
  for (auto strategy : {filter_strategy::automatic, filter_strategy::graph, filter_strategy::scan}) {
    for (std::size_t after : {0, 5, 300}) {
      std::size_t calls = 0;
      auto bomb = [&](id_t id) {
        if (calls++ == after) throw std::runtime_error("filter failed");
        return id % 3 != 0;
      };
      CHECK_THROWS_WITH(f.idx.search(q, 10, bomb, {.strategy = strategy}), "filter failed");
    }
  }
  CHECK(f.idx.save() == before);
  CHECK(f.idx.search(q, 10) == expect);
  auto r = f.idx.search(q, 10, [](id_t id) { return id % 3 != 0; });
  CHECK(r.size() == 10);
}

TEST_CASE("filter: bad input is an error with a code, nothing matching is an empty result", "[filter]") {
  const std::size_t dim = 4;
  pv::index idx(params_for(dim, metric::l2, store_kind::f32));
  const std::vector<float> q{1, 2, 3, 4};
  auto all = [](id_t) { return true; };
  CHECK(idx.search(q, 5, all).empty());  // empty index: no match
  CHECK(idx.search(q, 5, id_set(0)).empty());
  auto d = make_data(100, dim, 0, 1);
  idx.insert_batch(d.rows);
  CHECK(idx.search(q, 5, [](id_t) { return false; }).empty());
  CHECK(idx.search(q, 5, id_set(idx.id_bound())).empty());
  CHECK(idx.search(q, 500, all).size() == 100);
  CHECK(idx.search(q, std::numeric_limits<std::size_t>::max(), all, {.strategy = filter_strategy::scan}).size() == 100);

  CHECK(code_of([&] { idx.search(q, 0, all); }) == errc::invalid_argument);
  if constexpr (sizeof(std::size_t) > 4) {  // (a 32-bit size_t cannot exceed the limit)
    const std::size_t big = std::size_t{0xFFFFFFFFu} + 1;
    CHECK(code_of([&] { idx.search(q, 5, all, {.ef = big}); }) == errc::invalid_argument);
    CHECK(code_of([&] { idx.search(q, 5, big); }) == errc::invalid_argument);
    CHECK(code_of([&] { (void)id_set(big); }) == errc::invalid_argument);
  }
  CHECK(code_of([&] { idx.search(q, 5, all, {.selectivity = 1.5}); }) == errc::invalid_argument);
  CHECK(code_of([&] { idx.search(q, 5, all, {.selectivity = std::nan("")}); }) == errc::invalid_argument);
  CHECK(code_of([&] { idx.search(q, 5, all, {.strategy = static_cast<filter_strategy>(7)}); }) ==
        errc::invalid_argument);
  CHECK(code_of([&] { idx.search(q, 5, id_set(99)); }) == errc::invalid_argument);  // ids 0..99 exist
  CHECK(idx.search(q, 5, id_set(1000)).empty());  // a larger universe is fine
  CHECK(code_of([&] { idx.search(std::vector<float>{1, 2}, 5, all); }) == errc::dimension_mismatch);
  id_set s(10);
  CHECK(code_of([&] { s.insert(10); }) == errc::invalid_argument);
  CHECK_FALSE(s.contains(12345));
  s.insert(3);
  s.insert(9);
  CHECK(s.count() == 2);
  CHECK(s(9));
  s.erase(9);
  CHECK(s.count() == 1);
  id_set t(idx.id_bound());
  t.insert(3);
  CHECK(idx.search(q, 5, t, {.strategy = filter_strategy::graph}).size() == 1);
}
