// compact() as a local graph repair (hnsw/repair.hpp), against independent oracles: exact brute
// force over the survivors (test_util.hpp), a fresh index built by inserting the survivors in slot
// order, and a textbook HNSW over the survivors (reference_hnsw.hpp). Data is hard on purpose:
// uniform random (no structure), near-duplicates (groups of almost identical rows), and a skewed
// mix of low-dimensional clusters ("real-ish"). Measured numbers are printed with WARN.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "reference_hnsw.hpp"
#include "test_util.hpp"

namespace pv = pocketvec;

namespace {

constexpr std::size_t k_m = 16, k_efc = 100, k_training = 500;
constexpr std::uint64_t k_seed = 42;

struct store_kind {
  pv::quantization quant;
  bool rerank;
  const char* name;
};
constexpr store_kind k_f32{pv::quantization::none, false, "f32"};
constexpr store_kind k_sq8{pv::quantization::sq8, false, "sq8"};
constexpr store_kind k_sq8_rerank{pv::quantization::sq8, true, "sq8+rerank"};

pv::index_params params_for(std::size_t dim, pv::metric m, store_kind s) {
  pv::index_params p;
  p.dim = dim;
  p.metric_kind = m;
  p.quant = s.quant;
  p.sq8_rerank = s.rerank;
  p.m = k_m;
  p.ef_construction = k_efc;
  p.seed = k_seed;
  p.sq8_training_size = k_training;
  p.compact_threshold = 0;  // compact by hand
  return p;
}

std::string name_of(pv::metric m) { return std::string(pv::metric_name(m)); }

// --- data ---------------------------------------------------------------------------------------

std::vector<float> uniform_rows(std::size_t n, std::size_t dim, std::uint64_t seed) {
  pvtest::rng r(seed);
  std::vector<float> out(n * dim);
  for (float& x : out) x = r.uniform();
  return out;
}

/// Groups of `group` rows within +-0.002 of a uniform random centre: every row has near twins.
std::vector<float> near_duplicates(std::size_t n, std::size_t dim, std::size_t group, std::uint64_t seed) {
  pvtest::rng r(seed);
  std::vector<float> out(n * dim), centre(dim);
  for (std::size_t i = 0; i < n; ++i) {
    if (i % group == 0)
      for (float& c : centre) c = r.uniform();
    for (std::size_t d = 0; d < dim; ++d) out[i * dim + d] = centre[d] + 0.004f * (r.uniform() - 0.5f);
  }
  // Shuffle the rows, so that a group is not inserted (nor deleted) together.
  for (std::size_t i = n; i > 1; --i) {
    const std::size_t j = r.next() % i;
    for (std::size_t d = 0; d < dim; ++d) std::swap(out[(i - 1) * dim + d], out[j * dim + d]);
  }
  return out;
}

/// Real-ish: 30 clusters of very different sizes (weight ~ 1/rank) and spreads, each a 4-d
/// subspace through its centre (a random linear map of a 4-d Gaussian) plus small isotropic noise.
std::vector<float> realish_clusters(std::size_t n, std::size_t dim, std::uint64_t seed) {
  pvtest::rng r(seed);
  const std::size_t clusters = 30, latent = 4;
  std::vector<float> centre(clusters * dim), basis(clusters * latent * dim), spread(clusters);
  std::vector<double> cdf(clusters);
  double total = 0;
  for (std::size_t c = 0; c < clusters; ++c) {
    for (std::size_t d = 0; d < dim; ++d) centre[c * dim + d] = 2.0f * r.normal();
    for (std::size_t t = 0; t < latent * dim; ++t) basis[c * latent * dim + t] = r.normal() / std::sqrt(float(dim));
    spread[c] = 0.2f + 1.3f * r.uniform();
    total += 1.0 / double(c + 1);
    cdf[c] = total;
  }
  std::vector<float> out(n * dim);
  float z[latent];
  for (std::size_t i = 0; i < n; ++i) {
    const double u = r.uniform() * total;
    std::size_t c = 0;
    while (c + 1 < clusters && cdf[c] < u) ++c;
    for (float& x : z) x = spread[c] * r.normal();
    for (std::size_t d = 0; d < dim; ++d) {
      float v = centre[c * dim + d] + 0.05f * r.normal();
      for (std::size_t t = 0; t < latent; ++t) v += z[t] * basis[(c * latent + t) * dim + d];
      out[i * dim + d] = v;
    }
  }
  return out;
}

/// `count` distinct positions of 0..n-1, chosen at random.
std::vector<std::size_t> pick(std::size_t n, std::size_t count, std::uint64_t seed) {
  pvtest::rng r(seed);
  std::vector<std::size_t> all(n);
  for (std::size_t i = 0; i < n; ++i) all[i] = i;
  for (std::size_t i = 0; i < count; ++i) std::swap(all[i], all[i + r.next() % (n - i)]);
  all.resize(count);
  std::sort(all.begin(), all.end());
  return all;
}

/// The rows and ids of the live vectors, in id (= slot) order.
struct survivors {
  std::size_t dim = 0;
  std::vector<float> rows;
  std::vector<pv::id_t> ids;
  std::size_t n() const { return ids.size(); }
};

survivors survivors_of(const std::vector<float>& rows, std::size_t dim, const std::vector<bool>& gone) {
  survivors s;
  s.dim = dim;
  for (std::size_t i = 0; i < gone.size(); ++i)
    if (!gone[i]) {
      s.rows.insert(s.rows.end(), rows.begin() + long(i * dim), rows.begin() + long((i + 1) * dim));
      s.ids.push_back(static_cast<pv::id_t>(i));
    }
  return s;
}

using truth_t = std::vector<std::vector<pv::id_t>>;

truth_t truth_of(pv::metric m, const survivors& s, const std::vector<float>& queries) {
  truth_t out;
  for (std::size_t q = 0; q < queries.size() / s.dim; ++q)
    out.push_back(pvtest::brute_force(m, s.rows, s.ids, queries.data() + q * s.dim, s.dim, 10));
  return out;
}

/// Mean recall@10; `map` turns a result id into an original id (identity when empty).
double recall(pv::index& idx, const std::vector<float>& queries, std::size_t dim, const truth_t& truth,
              std::size_t ef, const std::vector<pv::id_t>& map = {}) {
  double sum = 0;
  for (std::size_t q = 0; q < truth.size(); ++q) {
    auto found = idx.search({queries.data() + q * dim, dim}, 10, ef);
    if (!map.empty())
      for (auto& f : found) f.id = map[f.id];
    sum += pvtest::overlap(found, truth[q]);
  }
  return sum / double(truth.size());
}

double recall(const pvref::hnsw& ref, const std::vector<float>& queries, std::size_t dim,
              const truth_t& truth, std::size_t ef, const std::vector<pv::id_t>& map) {
  double sum = 0;
  for (std::size_t q = 0; q < truth.size(); ++q) {
    std::vector<pv::search_result> found;
    for (const auto& [d, node] : ref.search(queries.data() + q * dim, 10, ef)) found.push_back({map[node], float(d)});
    sum += pvtest::overlap(found, truth[q]);
  }
  return sum / double(truth.size());
}

/// For every `stride`-th node i of the survivors, its `k` exact nearest other survivors (as
/// positions among them, sorted). Distances in double; cosine on rows normalised in double.
std::vector<std::vector<std::uint32_t>> true_neighbours(pv::metric m, const survivors& s, std::size_t k,
                                                        std::size_t stride) {
  const std::size_t n = s.n(), dim = s.dim;
  std::vector<double> rows(s.rows.begin(), s.rows.end());
  if (m == pv::metric::cosine)
    for (std::size_t i = 0; i < n; ++i) {
      double n2 = 0;
      for (std::size_t d = 0; d < dim; ++d) n2 += rows[i * dim + d] * rows[i * dim + d];
      for (std::size_t d = 0; d < dim; ++d) rows[i * dim + d] /= std::sqrt(n2);
    }
  std::vector<std::vector<std::uint32_t>> out(n);
  std::vector<std::pair<double, std::uint32_t>> all(n);
  for (std::size_t i = 0; i < n; i += stride) {
    const double* a = rows.data() + i * dim;
    for (std::size_t j = 0; j < n; ++j) {
      const double* b = rows.data() + j * dim;
      double v = 0;
      if (m == pv::metric::l2)
        for (std::size_t d = 0; d < dim; ++d) v += (a[d] - b[d]) * (a[d] - b[d]);
      else
        for (std::size_t d = 0; d < dim; ++d) v -= a[d] * b[d];
      all[j] = {j == i ? 1e300 : v, static_cast<std::uint32_t>(j)};
    }
    std::nth_element(all.begin(), all.begin() + long(k), all.end());
    for (std::size_t t = 0; t < k; ++t) out[i].push_back(all[t].second);
    std::sort(out[i].begin(), out[i].end());
  }
  return out;
}

/// Mean over the sampled nodes of the share of their level-0 links that are among their true
/// nearest (the measure of quality_test.cpp). Node i is the i-th survivor in both graphs.
template <class Links>
double link_quality(const std::vector<std::vector<std::uint32_t>>& truth, std::size_t stride, Links links_of) {
  double sum = 0;
  std::size_t nodes = 0;
  for (std::size_t i = 0; i < truth.size(); i += stride) {
    std::size_t links = 0, good = 0;
    for (std::uint32_t t : links_of(static_cast<std::uint32_t>(i))) {
      ++links;
      good += std::binary_search(truth[i].begin(), truth[i].end(), t);
    }
    sum += links == 0 ? 0.0 : double(good) / double(links);
    ++nodes;
  }
  return sum / double(nodes);
}

double link_quality(pv::index& idx, const std::vector<std::vector<std::uint32_t>>& truth, std::size_t stride) {
  return idx.visit([&](auto& core) {
    const pv::graph& g = core.state().links;
    REQUIRE(g.size() == truth.size());
    return link_quality(truth, stride, [&](std::uint32_t s) { return g.neighbors(s, 0); });
  });
}

/// How many nodes level 0 reaches from the entry point, and how many reach it.
std::pair<std::size_t, std::size_t> level0_reach(const pv::graph& g) {
  const std::size_t n = g.size();
  if (n == 0) return {0, 0};
  std::vector<std::vector<pv::slot_t>> rev(n);
  for (pv::slot_t s = 0; s < n; ++s)
    for (pv::slot_t t : g.neighbors(s, 0)) rev[t].push_back(s);
  auto bfs = [&](auto next) {
    std::vector<char> seen(n, 0);
    std::vector<pv::slot_t> queue{g.entry_point()};
    seen[g.entry_point()] = 1;
    for (std::size_t h = 0; h < queue.size(); ++h)
      next(queue[h], [&](pv::slot_t t) {
        if (!seen[t]) seen[t] = 1, queue.push_back(t);
      });
    return queue.size();
  };
  const std::size_t fwd = bfs([&](pv::slot_t s, auto add) {
    for (pv::slot_t t : g.neighbors(s, 0)) add(t);
  });
  const std::size_t back = bfs([&](pv::slot_t s, auto add) {
    for (pv::slot_t t : rev[s]) add(t);
  });
  return {fwd, back};
}

/// Validates the graph, with its entry point on the top level; right after a compaction (which
/// promises it, see connect_level0 in repair.hpp) also that level 0 is strongly connected: every
/// node is reached from the entry point and reaches it.
void check_graph(pv::index& idx, bool compacted = true) {
  idx.visit([&](auto& core) {
    const pv::graph& g = core.state().links;
    REQUIRE_NOTHROW(g.validate());
    if (g.size() == 0) return;
    int top = 0;
    for (pv::slot_t s = 0; s < g.size(); ++s) top = std::max(top, g.level(s));
    CHECK(g.top_level() == top);
    CHECK(g.level(g.entry_point()) == top);
    if (!compacted) return;
    const auto [fwd, back] = level0_reach(g);
    CAPTURE(g.size(), fwd, back);
    // Under ip even a fresh build is not strongly connected (every node's nearest are the same few
    // long vectors; past half deleted compact() builds afresh): no promise there, recall is checked.
    if (core.metric_kind == pv::metric::ip) return;
    CHECK(fwd == g.size());
    CHECK(back == g.size());
  });
}

std::size_t store_rows(pv::index& idx) {
  return idx.visit([](auto& core) { return core.state().store.size(); });
}

using pvtest::code_of;

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

struct quality {
  double rep[3], fresh[3];  // recall@10 at ef 16, 32, 64
  double lq_rep, lq_fresh;
};

constexpr std::size_t k_efs[3] = {16, 32, 64};

/// Deletes `gone` from a copy of `built` (loaded from its bytes), compacts, and measures it against
/// a fresh build over the survivors (inserted in slot order).
quality repaired_vs_fresh(const std::vector<std::uint8_t>& built, const pv::index_params& p,
                          const std::vector<float>& rows, const std::vector<float>& queries,
                          const std::vector<bool>& gone, const survivors& s, const truth_t& truth,
                          const std::vector<std::vector<std::uint32_t>>& nn, std::size_t stride) {
  pv::index idx = pv::index::load(built);
  for (std::size_t i = 0; i < gone.size(); ++i)
    if (gone[i]) idx.erase(static_cast<pv::id_t>(i));
  idx.compact();
  REQUIRE(idx.size() == s.n());
  idx.visit([&](auto& core) { REQUIRE(core.state().slot_ids == s.ids); });  // slots in order
  check_graph(idx);
  pv::index fresh(p);
  fresh.insert_batch(s.rows);
  quality q{};
  for (int e = 0; e < 3; ++e) {
    q.rep[e] = recall(idx, queries, s.dim, truth, k_efs[e]);
    q.fresh[e] = recall(fresh, queries, s.dim, truth, k_efs[e], s.ids);
  }
  q.lq_rep = link_quality(idx, nn, stride);
  q.lq_fresh = link_quality(fresh, nn, stride);
  (void)rows;
  return q;
}

void check_quality(const quality& q, double lq_margin, pv::metric m) {
  CAPTURE(q.rep[0], q.fresh[0], q.rep[1], q.fresh[1], q.rep[2], q.fresh[2], q.lq_rep, q.lq_fresh);
  // ip repairs measurably worse than l2 and cosine (a known limitation, docs/architecture.md): at
  // ef 16, 1.0 point below a fresh build on near-duplicates (0.919 vs 0.929) and 2.4 on clustered
  // data (0.966 vs 0.990). Its share of level-0 links among the true nearest is far lower (0.59
  // vs 0.92 on near-duplicates, 0.58 vs 0.70 on clusters) while recall stays close, so under ip
  // only recall is held to the fresh build.
  const double margin = m == pv::metric::ip ? 0.03 : 0.01;
  for (int e = 0; e < 3; ++e) CHECK(q.rep[e] >= q.fresh[e] - margin);
  if (m != pv::metric::ip) CHECK(q.lq_rep >= q.lq_fresh - lq_margin);
}

}  // namespace

// ------------------------------------------------------------------------------------------------

TEST_CASE("repair: after deleting 10 % or 30 % of 5000 x 32 uniform vectors, recall@10 and level-0 "
          "link quality match a fresh build over the survivors",
          "[repair][quality]") {
  const std::size_t dim = 32, n = 5000, nq = 200, stride = 4, truth_k = 4 * k_m;
  const pv::metric m = GENERATE(pv::metric::l2, pv::metric::cosine, pv::metric::ip);
  CAPTURE(name_of(m));
  const auto rows = uniform_rows(n, dim, 1101);
  const auto queries = uniform_rows(nq, dim, 1102);
  struct per_rate {
    double rate;
    std::vector<bool> gone;
    survivors s;
    truth_t truth;
    std::vector<std::vector<std::uint32_t>> nn;
  };
  std::vector<per_rate> rates;
  for (double rate : {0.10, 0.30}) {
    per_rate r;
    r.rate = rate;
    r.gone.assign(n, false);
    for (std::size_t i : pick(n, std::size_t(rate * n), 1103 + std::uint64_t(rate * 100))) r.gone[i] = true;
    r.s = survivors_of(rows, dim, r.gone);
    r.truth = truth_of(m, r.s, queries);
    r.nn = true_neighbours(m, r.s, truth_k, stride);
    rates.push_back(std::move(r));
  }
  for (const store_kind sk : {k_f32, k_sq8}) {
    const pv::index_params p = params_for(dim, m, sk);
    pv::index built(p);
    built.insert_batch(rows);
    const auto bytes = built.save();
    for (const per_rate& r : rates) {
      CAPTURE(sk.name, r.rate);
      const quality q = repaired_vs_fresh(bytes, p, rows, queries, r.gone, r.s, r.truth, r.nn, stride);
      WARN("uniform " << name_of(m) << " " << sk.name << " deleted " << r.rate << ": recall@10 ef16/32/64 repaired "
                      << q.rep[0] << " / " << q.rep[1] << " / " << q.rep[2] << ", fresh " << q.fresh[0] << " / "
                      << q.fresh[1] << " / " << q.fresh[2] << "; level-0 links among true 64: repaired "
                      << q.lq_rep << ", fresh " << q.lq_fresh);
      check_quality(q, 0.03, m);
    }
  }
}

TEST_CASE("repair: on near-duplicates and skewed low-dimensional clusters, 30 % deleted, recall@10 "
          "and link quality match a fresh build over the survivors",
          "[repair][quality]") {
  const std::size_t dim = 32, n = 1500, nq = 150, stride = 2, truth_k = 4 * k_m;
  const int data = GENERATE(0, 1);
  const pv::metric m = GENERATE(pv::metric::l2, pv::metric::cosine, pv::metric::ip);
  const char* data_name = data == 0 ? "near-duplicates" : "real-ish clusters";
  CAPTURE(data_name, name_of(m));
  // Queries come from the same distribution (the last nq rows).
  auto all = data == 0 ? near_duplicates(n + nq, dim, 5, 1201) : realish_clusters(n + nq, dim, 1202);
  const std::vector<float> queries(all.begin() + long(n * dim), all.end());
  all.resize(n * dim);
  std::vector<bool> gone(n, false);
  for (std::size_t i : pick(n, n * 3 / 10, 1203)) gone[i] = true;
  const survivors s = survivors_of(all, dim, gone);
  const truth_t truth = truth_of(m, s, queries);
  const auto nn = true_neighbours(m, s, truth_k, stride);
  for (const store_kind sk : {k_f32, k_sq8}) {
    CAPTURE(sk.name);
    const pv::index_params p = params_for(dim, m, sk);
    pv::index built(p);
    built.insert_batch(all);
    const quality q = repaired_vs_fresh(built.save(), p, all, queries, gone, s, truth, nn, stride);
    WARN(data_name << " " << name_of(m) << " " << sk.name << " deleted 0.3: recall@10 ef16/32/64 repaired "
                   << q.rep[0] << " / " << q.rep[1] << " / " << q.rep[2] << ", fresh " << q.fresh[0] << " / "
                   << q.fresh[1] << " / " << q.fresh[2] << "; level-0 links among true 64: repaired " << q.lq_rep
                   << ", fresh " << q.lq_fresh);
    check_quality(q, 0.03, m);
  }
}

TEST_CASE("repair: recall and link quality after repair stay close to a textbook HNSW built over "
          "the survivors",
          "[repair][quality][reference]") {
  // The same 30 % deletion of 5000 x 32 uniform as above, under l2, f32: the reference HNSW
  // (reference_hnsw.hpp) is built over the survivors in slot order.
  const std::size_t dim = 32, n = 5000, nq = 200, stride = 4, truth_k = 4 * k_m;
  const pv::metric m = pv::metric::l2;
  const auto rows = uniform_rows(n, dim, 1101);
  const auto queries = uniform_rows(nq, dim, 1102);
  std::vector<bool> gone(n, false);
  for (std::size_t i : pick(n, n * 3 / 10, 1103 + 30)) gone[i] = true;
  const survivors s = survivors_of(rows, dim, gone);
  const truth_t truth = truth_of(m, s, queries);
  const auto nn = true_neighbours(m, s, truth_k, stride);

  pv::index idx(params_for(dim, m, k_f32));
  idx.insert_batch(rows);
  for (std::size_t i = 0; i < n; ++i)
    if (gone[i]) idx.erase(static_cast<pv::id_t>(i));
  idx.compact();
  pvref::hnsw ref(m, dim, k_m, k_efc, k_seed);
  ref.insert_all(s.rows);
  double rep[3], refr[3];
  for (int e = 0; e < 3; ++e) {
    rep[e] = recall(idx, queries, dim, truth, k_efs[e]);
    refr[e] = recall(ref, queries, dim, truth, k_efs[e], s.ids);
  }
  const double lq_rep = link_quality(idx, nn, stride);
  const double lq_ref = link_quality(nn, stride, [&](std::uint32_t i) { return ref.neighbors(i, 0); });
  WARN("uniform l2 f32 deleted 0.3 vs textbook HNSW over the survivors: recall@10 ef16/32/64 repaired "
       << rep[0] << " / " << rep[1] << " / " << rep[2] << ", reference " << refr[0] << " / " << refr[1] << " / "
       << refr[2] << "; level-0 links among true 64: repaired " << lq_rep << ", reference " << lq_ref);
  CAPTURE(rep[0], rep[1], rep[2], refr[0], refr[1], refr[2], lq_rep, lq_ref);
  for (int e = 0; e < 3; ++e) CHECK(rep[e] >= refr[e] - 0.01);
  CHECK(lq_rep >= lq_ref - 0.03);
}

TEST_CASE("repair: search never returns a deleted id, before or after compaction, every metric and store",
          "[repair][tombstones]") {
  // Near-duplicates: a deleted row's twins stay, and a search for the deleted row itself is the
  // most likely to surface it.
  const std::size_t dim = 16, n = 800, k = 20;
  const pv::metric m = GENERATE(pv::metric::l2, pv::metric::cosine, pv::metric::ip);
  const store_kind sk = GENERATE(k_f32, k_sq8, k_sq8_rerank);
  CAPTURE(name_of(m), sk.name);
  const auto rows = near_duplicates(n + 300, dim, 4, 1301);
  pv::index idx(params_for(dim, m, sk));
  idx.insert_batch(std::span<const float>(rows.data(), n * dim));
  std::set<pv::id_t> erased;
  std::map<pv::id_t, std::size_t> row_of;  // live id -> row
  for (std::size_t i = 0; i < n; ++i) row_of[static_cast<pv::id_t>(i)] = i;
  auto erase_some = [&](std::size_t count, std::uint64_t seed) {
    std::vector<pv::id_t> live;
    for (auto& [id, row] : row_of) live.push_back(id);
    for (std::size_t i : pick(live.size(), count, seed)) {
      idx.erase(live[i]);
      erased.insert(live[i]);
      row_of.erase(live[i]);
    }
  };
  auto check_searches = [&](const char* when) {
    CAPTURE(when);
    std::size_t bad = 0, short_lists = 0;
    auto probe = [&](const float* q) {
      const auto hits = idx.search({q, dim}, k, 64);
      short_lists += hits.size() != std::min(k, idx.size());
      for (const auto& h : hits) bad += erased.count(h.id) + (row_of.count(h.id) == 0 && !erased.count(h.id));
    };
    for (pv::id_t id : erased) probe(rows.data() + std::size_t{id} * dim);  // the deleted rows themselves
    for (std::size_t i = n; i < n + 100; ++i) probe(rows.data() + i * dim);
    CHECK(bad == 0);
    CHECK(short_lists == 0);
    for (pv::id_t id : erased) CHECK_FALSE(idx.contains(id));
  };
  erase_some(n / 2, 1302);
  check_searches("tombstoned");
  idx.compact();
  check_searches("compacted");
  check_graph(idx);
  // A second round over the reused slots: new rows, then more deletions, old and new.
  for (std::size_t i = n; i < n + 300; ++i) row_of[idx.insert({rows.data() + i * dim, dim})] = i;
  erase_some(row_of.size() / 2, 1303);
  check_searches("tombstoned again");
  idx.compact();
  check_searches("compacted again");
  check_graph(idx);
}

TEST_CASE("repair: ids survive compaction, save and load; get() returns the same vector; fresh ids are "
          "never reused",
          "[repair][ids][format]") {
  const std::size_t dim = 24, n = 1500;
  const pv::metric m = GENERATE(pv::metric::l2, pv::metric::cosine, pv::metric::ip);
  const store_kind sk = GENERATE(k_f32, k_sq8, k_sq8_rerank);
  CAPTURE(name_of(m), sk.name);
  const auto rows = uniform_rows(n + 100, dim, 1401);
  pv::index idx(params_for(dim, m, sk));
  idx.insert_batch(std::span<const float>(rows.data(), n * dim));
  const pv::id_t big = 1000000;
  idx.upsert(big, {rows.data() + n * dim, dim});             // a huge id, to be erased and compacted away
  idx.upsert(7, {rows.data() + (n + 1) * dim, dim});         // replaces id 7 (its old slot: a tombstone)
  idx.upsert(big + 5, {rows.data() + (n + 2) * dim, dim});   // a huge id that stays
  std::vector<pv::id_t> ids;
  for (pv::id_t i = 0; i < n; ++i) ids.push_back(i);
  ids.push_back(big);
  ids.push_back(big + 5);
  std::set<pv::id_t> gone{big};
  for (std::size_t i : pick(n, n * 2 / 5, 1402)) gone.insert(ids[i]);
  gone.erase(7);
  std::map<pv::id_t, std::vector<float>> before;
  for (pv::id_t id : ids) before[id] = idx.get(id);
  for (pv::id_t id : gone) idx.erase(id);
  idx.compact();

  REQUIRE(idx.size() == ids.size() - gone.size());
  std::size_t changed = 0;
  for (pv::id_t id : ids) {
    if (gone.count(id)) {
      CHECK_FALSE(idx.contains(id));
      CHECK(code_of([&] { idx.get(id); }) == pv::errc::unknown_id);
    } else {
      changed += !same_bits(idx.get(id), before[id]);
    }
  }
  CHECK(changed == 0);

  const auto bytes = idx.save();
  CHECK(bytes == pv::save(idx));
  pv::index loaded = pv::index::load(bytes);
  CHECK(loaded.save() == bytes);
  std::size_t moved = 0, differ = 0;
  for (pv::id_t id : ids)
    if (!gone.count(id)) moved += !same_bits(loaded.get(id), before[id]);
  for (std::size_t q = 0; q < 100; ++q) {
    const float* v = rows.data() + (n + q) * dim;
    differ += idx.search({v, dim}, 10) != loaded.search({v, dim}, 10);
  }
  CHECK(moved == 0);
  CHECK(differ == 0);
  // Fresh ids: one above every id ever stored, compacted away or not, in memory and after a load.
  const float* v = rows.data() + (n + 3) * dim;
  CHECK(idx.insert({v, dim}) == big + 6);
  CHECK(loaded.insert({v, dim}) == big + 6);
  CHECK(idx.save() == loaded.save());
}

TEST_CASE("repair: after 90 % deleted (at random, or all but one region), every survivor finds itself "
          "and recall@10 stays high",
          "[repair][heavy]") {
  const std::size_t dim = 32, n = 3000, nq = 200;
  const pv::metric m = GENERATE(pv::metric::l2, pv::metric::cosine, pv::metric::ip);
  const store_kind sk = GENERATE(k_f32, k_sq8);
  CAPTURE(name_of(m), sk.name);
  const auto rows = uniform_rows(n, dim, 1501);
  const auto queries = uniform_rows(nq, dim, 1502);
  const pv::index_params p = params_for(dim, m, sk);
  pv::index built(p);
  built.insert_batch(rows);
  const auto bytes = built.save();
  // Region: keep the rows whose first two coordinates are in [0.6, 1) x [0.75, 1)-ish: about 10 %.
  for (const int pattern : {0, 1}) {
    const char* pattern_name = pattern == 0 ? "random" : "region";
    CAPTURE(pattern_name);
    std::vector<bool> gone(n, true);
    if (pattern == 0) {
      for (std::size_t i : pick(n, n / 10, 1503)) gone[i] = false;
    } else {
      for (std::size_t i = 0; i < n; ++i) gone[i] = !(rows[i * dim] >= 0.6f && rows[i * dim + 1] >= 0.75f);
    }
    const survivors s = survivors_of(rows, dim, gone);
    pv::index idx = pv::index::load(bytes);
    for (std::size_t i = 0; i < n; ++i)
      if (gone[i]) idx.erase(static_cast<pv::id_t>(i));
    idx.compact();
    REQUIRE(idx.size() == s.n());
    check_graph(idx);
    // Self-search: under l2 and cosine a vector is its own nearest (uniform data: no twins). Under
    // ip it need not be, so there the survivor must be found by a search for its exact ip top-1.
    std::size_t missed = 0;
    for (std::size_t i = 0; i < s.n(); ++i) {
      const float* v = s.rows.data() + i * dim;
      const pv::id_t want =
          m == pv::metric::ip ? pvtest::brute_force(m, s.rows, s.ids, v, dim, 1)[0] : s.ids[i];
      const auto hits = idx.search({v, dim}, 1, 200);
      missed += hits.empty() || hits[0].id != want;
    }
    const truth_t truth = truth_of(m, s, queries);
    const double r64 = recall(idx, queries, dim, truth, 64), r200 = recall(idx, queries, dim, truth, 200);
    pv::index fresh(p);
    fresh.insert_batch(s.rows);
    const double f64 = recall(fresh, queries, dim, truth, 64, s.ids);
    WARN("90 % deleted (" << pattern_name << ", " << s.n() << " left) " << name_of(m) << " " << sk.name
                          << ": self-search misses " << missed << "; recall@10 ef64 " << r64 << " (fresh " << f64
                          << "), ef200 " << r200);
    CAPTURE(s.n(), missed, r64, r200, f64);
    // SQ8 (no re-rank) ranks by codes: a code's nearest to the f32 vector may be a neighbour's code.
    // Under ip a search for x may miss x itself in a fresh build too (7 of 300 and 21 of 287 here,
    // where compact() builds afresh: more than half is deleted); recall is what is compared then.
    CHECK(missed <= (m == pv::metric::ip ? s.n() / 10 : sk.quant == pv::quantization::none ? 0u : s.n() / 100));
    CHECK(r64 >= 0.95);
    // A fresh SQ8 index over 300 rows never trains (sq8_training_size 500): it answers exact f32
    // distances, so only the f32 store is compared with it.
    if (sk.quant == pv::quantization::none) CHECK(r64 >= f64 - 0.01);
  }
}

TEST_CASE("repair: deleting the entry point and every node of the top level (or every node above "
          "level 0) leaves a valid graph with a live entry point",
          "[repair][entry]") {
  const std::size_t dim = 16, n = 2000, nq = 100;
  const pv::metric m = GENERATE(pv::metric::l2, pv::metric::cosine, pv::metric::ip);
  const store_kind sk = GENERATE(k_f32, k_sq8);
  const int variant = GENERATE(0, 1);  // 0: the top level's nodes; 1: every node above level 0
  CAPTURE(name_of(m), sk.name, variant);
  const auto rows = uniform_rows(n, dim, 1601);
  const auto queries = uniform_rows(nq, dim, 1602);
  pv::index idx(params_for(dim, m, sk));
  idx.insert_batch(rows);
  std::vector<bool> gone(n, false);
  int old_top = 0;
  pv::id_t old_entry = 0;
  idx.visit([&](auto& core) {
    const auto& st = core.state();
    const pv::graph& g = st.links;
    old_top = g.top_level();
    old_entry = st.slot_ids[g.entry_point()];
    for (pv::slot_t s = 0; s < g.size(); ++s)
      if (variant == 0 ? g.level(s) == old_top : g.level(s) > 0) gone[st.slot_ids[s]] = true;
  });
  REQUIRE(old_top >= 1);
  REQUIRE(gone[old_entry]);
  const std::size_t dropped = std::size_t(std::count(gone.begin(), gone.end(), true));
  CAPTURE(old_top, dropped);
  for (std::size_t i = 0; i < n; ++i)
    if (gone[i]) idx.erase(static_cast<pv::id_t>(i));
  const survivors s = survivors_of(rows, dim, gone);
  const truth_t truth = truth_of(m, s, queries);
  const double before = recall(idx, queries, dim, truth, 64);  // searches start at a deleted entry point
  idx.compact();
  check_graph(idx);
  idx.visit([&](auto& core) {
    const auto& st = core.state();
    const pv::graph& g = st.links;
    REQUIRE(g.size() == s.n());
    CHECK(g.top_level() < old_top);
    if (variant == 1) CHECK(g.top_level() == 0);
    CHECK(idx.contains(st.slot_ids[g.entry_point()]));
  });
  const double after = recall(idx, queries, dim, truth, 64);
  std::size_t missed = 0;
  if (m != pv::metric::ip)
    for (std::size_t i = 0; i < s.n(); ++i) {
      const auto hits = idx.search({s.rows.data() + i * dim, dim}, 1, 64);
      missed += hits[0].id != s.ids[i];
    }
  WARN("entry point and " << (variant == 0 ? "top level" : "all upper levels") << " deleted (" << dropped
                          << " nodes, old top " << old_top << ") " << name_of(m) << " " << sk.name
                          << ": recall@10 ef64 tombstoned " << before << ", compacted " << after
                          << ", self-search misses " << missed);
  CAPTURE(before, after, missed);
  CHECK(after >= (m == pv::metric::ip ? 0.88 : 0.9));  // ip sq8 measured 0.897 (0.926 tombstoned)
  CHECK(missed <= (sk.quant == pv::quantization::none ? 0u : s.n() / 200));
  // Inserting after it works, and a new node may become the entry point again.
  const auto more = uniform_rows(200, dim, 1603);
  idx.insert_batch(more);
  check_graph(idx, false);
}

TEST_CASE("repair: steady churn with compaction when needed keeps memory bounded; freed rows are reused",
          "[repair][memory]") {
  const std::size_t dim = 16, n = 2000, per_round = 200, rounds = 20;
  const store_kind sk = GENERATE(k_f32, k_sq8);
  CAPTURE(sk.name);
  pv::index_params p = params_for(dim, pv::metric::l2, sk);
  p.compact_threshold = 0.30f;
  pv::index idx(p);
  pvtest::rng r(1701);
  std::map<pv::id_t, std::vector<float>> live;
  auto new_row = [&] {
    std::vector<float> v(dim);
    for (float& x : v) x = r.uniform();
    return v;
  };
  for (std::size_t i = 0; i < n; ++i) {
    auto v = new_row();
    live[idx.insert(v)] = v;
  }
  std::vector<std::size_t> mem;
  std::string trace;
  std::size_t compactions = 0;
  for (std::size_t round = 0; round < rounds; ++round) {
    std::vector<pv::id_t> ids;
    for (auto& [id, v] : live) ids.push_back(id);
    for (std::size_t i : pick(ids.size(), per_round, 1702 + round)) {
      idx.erase(ids[i]);
      live.erase(ids[i]);
    }
    for (std::size_t i = 0; i < per_round; ++i) {
      auto v = new_row();
      live[idx.insert(v)] = v;
    }
    if (idx.needs_compaction()) {
      idx.compact();
      ++compactions;
    }
    CHECK(idx.size() == live.size());
    CHECK(store_rows(idx) == idx.size() + idx.deleted_count());
    idx.visit([&](auto& core) { CHECK(core.state().slot_ids.size() == idx.size() + idx.deleted_count()); });
    mem.push_back(idx.memory_bytes());
    trace += std::to_string(mem.back()) + (idx.deleted_count() == 0 ? "c " : " ");
  }
  const std::size_t early = *std::max_element(mem.begin(), mem.begin() + 5);
  const std::size_t late = *std::max_element(mem.end() - 5, mem.end());
  WARN(sk.name << " churn, memory_bytes per round (c: compacted): " << trace);
  CAPTURE(trace, early, late, compactions);
  CHECK(compactions >= 4);
  CHECK(late <= early * 11 / 10);
  // And it still answers: every live vector finds itself.
  std::size_t missed = 0;
  for (auto& [id, v] : live) missed += idx.search(v, 1, 64)[0].id != id;
  CHECK(missed <= (sk.quant == pv::quantization::none ? 0u : live.size() / 200));
  check_graph(idx);
}

TEST_CASE("repair: the same operations give byte-identical files; compact() is deterministic",
          "[repair][determinism]") {
  const std::size_t dim = 16, n = 1000;
  const pv::metric m = GENERATE(pv::metric::l2, pv::metric::cosine, pv::metric::ip);
  const store_kind sk = GENERATE(k_f32, k_sq8);
  CAPTURE(name_of(m), sk.name);
  const auto rows = near_duplicates(n + 400, dim, 3, 1801);
  const pv::index_params p = params_for(dim, m, sk);
  std::vector<std::uint8_t> tombstoned;
  auto run = [&](bool keep_tombstoned) {
    pv::index idx(p);
    idx.insert_batch(std::span<const float>(rows.data(), n * dim));
    for (std::size_t i : pick(n, n / 3, 1802)) idx.erase(static_cast<pv::id_t>(i));
    idx.compact();
    for (std::size_t i = n; i < n + 400; ++i) idx.insert({rows.data() + i * dim, dim});
    idx.upsert(3, {rows.data(), dim});
    std::vector<pv::id_t> live;
    for (pv::id_t id = 0; id < n + 400; ++id)
      if (idx.contains(id)) live.push_back(id);
    for (std::size_t i : pick(live.size(), live.size() / 4, 1803)) idx.erase(live[i]);
    if (keep_tombstoned) tombstoned = idx.save();
    idx.compact();
    return idx.save();
  };
  const auto a = run(true), b = run(false);
  CHECK(a == b);
  // compact() depends on the state alone: two loaded copies of the tombstoned index compact to
  // the bytes the original did, and a second compact() changes nothing.
  pv::index c = pv::index::load(tombstoned), d = pv::index::load(tombstoned);
  c.compact();
  d.compact();
  CHECK(c.save() == a);
  CHECK(d.save() == a);
  c.compact();
  CHECK(c.save() == a);
}

TEST_CASE("repair: compact() with nothing deleted is a no-op; everything deleted leaves an empty index "
          "that takes new inserts; a compact inside an open batch is refused",
          "[repair][edge]") {
  const std::size_t dim = 8, n = 600;
  const pv::metric m = GENERATE(pv::metric::l2, pv::metric::cosine, pv::metric::ip);
  const store_kind sk = GENERATE(k_f32, k_sq8);
  CAPTURE(name_of(m), sk.name);
  const auto rows = uniform_rows(n + 50, dim, 1901);
  pv::index idx(params_for(dim, m, sk));
  idx.insert_batch(std::span<const float>(rows.data(), n * dim));

  // Nothing deleted: same bytes, same answers.
  const auto bytes = idx.save();
  const auto hits = idx.search({rows.data() + n * dim, dim}, 10);
  idx.compact();
  CHECK(idx.save() == bytes);
  CHECK(idx.search({rows.data() + n * dim, dim}, 10) == hits);

  // Inside an open batch: refused, and the batch and the index are as they were.
  idx.begin_batch();
  idx.insert({rows.data() + n * dim, dim});
  CHECK(code_of([&] { idx.compact(); }) == pv::errc::invalid_argument);
  CHECK(code_of([&] { idx.rebuild(); }) == pv::errc::invalid_argument);
  CHECK(idx.visit([](auto& core) { return core.batch_open(); }));
  idx.rollback_batch();
  CHECK(idx.save() == bytes);
  idx.erase(3);
  idx.begin_batch();
  CHECK(code_of([&] { idx.compact(); }) == pv::errc::invalid_argument);
  CHECK(idx.deleted_count() == 1);
  idx.commit_batch();
  idx.compact();
  CHECK(idx.deleted_count() == 0);
  CHECK(idx.size() == n - 1);

  // Everything deleted.
  for (pv::id_t id = 0; id < n; ++id)
    if (id != 3) idx.erase(id);
  CHECK(idx.size() == 0);
  idx.compact();
  CHECK(idx.size() == 0);
  CHECK(idx.deleted_count() == 0);
  CHECK(store_rows(idx) == 0);
  idx.visit([](auto& core) {
    const pv::graph& g = core.state().links;
    CHECK(g.size() == 0);
    CHECK(g.entry_point() == pv::no_slot);
    CHECK(g.top_level() == -1);
    CHECK_NOTHROW(g.validate());
  });
  CHECK(code_of([&] { idx.search({rows.data(), dim}, 1); }) == pv::errc::empty_index);
  const auto empty = idx.save();
  pv::index reloaded = pv::index::load(empty);
  CHECK(reloaded.size() == 0);
  // New inserts: ids continue above every id used, and are found.
  for (std::size_t i = 0; i < 50; ++i) CHECK(idx.insert({rows.data() + (n + i) * dim, dim}) == n + i);
  CHECK(reloaded.insert({rows.data() + n * dim, dim}) == n);
  CHECK(idx.size() == 50);
  check_graph(idx, false);
  std::size_t missed = 0;
  for (std::size_t i = 0; i < 50; ++i) {
    const auto h = idx.search({rows.data() + (n + i) * dim, dim}, 1, 64);
    missed += m != pv::metric::ip && h[0].id != n + i;
  }
  CHECK(missed == 0);
}

TEST_CASE("repair: needs_compaction() says when tombstones pass compact_threshold, 0 meaning never, "
          "and nothing compacts by itself",
          "[repair][threshold]") {
  const std::size_t dim = 4;
  const auto rows = uniform_rows(100, dim, 2001);
  auto make = [&](float threshold, std::size_t count) {
    pv::index_params p = params_for(dim, pv::metric::l2, k_f32);
    p.compact_threshold = threshold;
    auto idx = std::make_unique<pv::index>(p);
    idx->insert_batch(std::span<const float>(rows.data(), count * dim));
    return idx;
  };
  {
    auto idx = make(0.30f, 100);
    CHECK_FALSE(idx->needs_compaction());
    for (pv::id_t id = 0; id < 30; ++id) idx->erase(id);
    CHECK_FALSE(idx->needs_compaction());  // 30 % is not past 30 %
    idx->erase(30);
    CHECK(idx->needs_compaction());
    for (pv::id_t id = 31; id < 100; ++id) idx->erase(id);
    CHECK(idx->deleted_count() == 100);    // still tombstones: nothing compacted by itself
    CHECK(store_rows(*idx) == 100);
    CHECK(idx->needs_compaction());
    idx->compact();
    CHECK_FALSE(idx->needs_compaction());
    CHECK(idx->tombstone_ratio() == 0);
  }
  {
    // Upserts tombstone the vector they replace, and count.
    auto idx = make(0.10f, 10);
    idx->upsert(0, {rows.data() + 50 * dim, dim});
    CHECK(idx->deleted_count() == 1);      // 1 of 11
    CHECK_FALSE(idx->needs_compaction());
    idx->upsert(0, {rows.data() + 51 * dim, dim});
    CHECK(idx->deleted_count() == 2);      // 2 of 12
    CHECK(idx->needs_compaction());
    idx->rebuild();                         // the full rebuild drops them too
    CHECK(idx->deleted_count() == 0);
    CHECK_FALSE(idx->needs_compaction());
    CHECK(idx->get(0) == std::vector<float>(rows.begin() + 51 * dim, rows.begin() + 52 * dim));
  }
  {
    // 0: never, even with everything deleted; 1: never either (the ratio cannot pass 1).
    for (float threshold : {0.0f, 1.0f}) {
      CAPTURE(threshold);
      auto idx = make(threshold, 20);
      for (pv::id_t id = 0; id < 20; ++id) idx->erase(id);
      CHECK(idx->tombstone_ratio() == 1.0);
      CHECK_FALSE(idx->needs_compaction());
      CHECK(idx->deleted_count() == 20);
    }
    pv::index_params p = params_for(dim, pv::metric::l2, k_f32);
    p.compact_threshold = 0.5f;
    pv::index empty(p);
    CHECK_FALSE(empty.needs_compaction());
  }
}

TEST_CASE("repair: under SQ8 compaction moves codes and never re-encodes them: survivors decode to the "
          "same bits and the quantizer's counts stay",
          "[repair][sq8]") {
  const std::size_t dim = 16, n = 1500, outliers = 300;
  const pv::metric m = GENERATE(pv::metric::l2, pv::metric::cosine, pv::metric::ip);
  const store_kind sk = GENERATE(k_sq8, k_sq8_rerank);
  CAPTURE(name_of(m), sk.name);
  auto rows = uniform_rows(n + outliers, dim, 2101);
  // Rows after training that reach outside the trained ranges: some components are clamped.
  for (std::size_t i = n * dim; i < rows.size(); ++i) rows[i] = rows[i] * 1.6f - 0.3f;
  pv::index idx(params_for(dim, m, sk));
  idx.insert_batch(rows);
  const pv::sq8_stats stats = idx.sq8();
  REQUIRE(stats.trained);
  REQUIRE(stats.clamped > 0);
  std::map<pv::id_t, std::vector<float>> before;
  for (pv::id_t id = 0; id < n + outliers; ++id) before[id] = idx.get(id);
  std::set<pv::id_t> gone;
  for (std::size_t i : pick(n + outliers, (n + outliers) * 35 / 100, 2102)) gone.insert(static_cast<pv::id_t>(i));
  for (pv::id_t id : gone) idx.erase(id);
  auto check_kept = [&](const char* after) {
    CAPTURE(after);
    std::size_t differ = 0;
    for (auto& [id, v] : before)
      if (!gone.count(id)) differ += !same_bits(idx.get(id), v);
    CHECK(differ == 0);
    const pv::sq8_stats now = idx.sq8();
    CHECK(now.trained);
    CHECK(now.encoded == stats.encoded);
    CHECK(now.clamped == stats.clamped);
  };
  idx.compact();
  check_kept("compact");
  // Once more after further deletions on the renumbered slots, then through save and load.
  for (pv::id_t id = 1; id < n + outliers; id += 7)
    if (!gone.count(id)) {
      idx.erase(id);
      gone.insert(id);
    }
  idx.compact();
  check_kept("second compact");
  idx = pv::index::load(idx.save());
  check_kept("save and load");
}

TEST_CASE("repair: an exhaustive search after compact() finds every live vector, also where one "
          "reachability fix cuts off what an earlier one reached",
          "[repair][connectivity]") {
  // Found by review: with three rounds of fixes, level 0 was left one to a few nodes short of
  // strongly connected (m 2 on Gaussian data, m 16 on near-duplicates, m 2 on small integers).
  struct config {
    std::size_t m, dim, n;
    int kind;  // 0 Gaussian, 1 six in seven rows identical, 2 small integers
    double deleted;
    unsigned seed;
  };
  const config configs[] = {{2, 32, 417, 0, 0.10, 2437429573u},
                            {16, 8, 3000, 1, 0.49, 2000946011u},
                            {2, 3, 519, 2, 0.30, 174174981u}};
  for (const config& c : configs) {
    CAPTURE(c.m, c.dim, c.n, c.kind, c.deleted, c.seed);
    std::mt19937 r(c.seed);
    std::normal_distribution<float> g;
    std::vector<float> v(c.n * c.dim);
    for (std::size_t i = 0; i < c.n; ++i)
      for (std::size_t d = 0; d < c.dim; ++d)
        v[i * c.dim + d] = c.kind == 0 ? g(r) : c.kind == 1 ? (i % 7 == 0 ? g(r) : 1.0f) : std::trunc(g(r) * 1.5f);
    pv::index_params p;
    p.dim = c.dim;
    p.m = c.m;
    p.ef_construction = 40;
    p.seed = c.seed;
    p.compact_threshold = 0;
    pv::index idx(p);
    for (std::size_t i = 0; i < c.n; ++i) idx.insert({v.data() + i * c.dim, c.dim});
    std::vector<pv::id_t> ids(c.n);
    for (std::size_t i = 0; i < c.n; ++i) ids[i] = static_cast<pv::id_t>(i);
    std::mt19937 r2(c.seed * 7 + 1);
    std::shuffle(ids.begin(), ids.end(), r2);
    const auto k = static_cast<std::size_t>(c.deleted * static_cast<double>(c.n));
    for (std::size_t i = 0; i < k; ++i) idx.erase(ids[i]);
    idx.compact();
    check_graph(idx);
    std::size_t fewest = idx.size();
    for (std::size_t i = 0; i < c.n; i += 7)
      fewest = std::min(fewest, idx.search({v.data() + i * c.dim, c.dim}, idx.size(), idx.size()).size());
    CHECK(fewest == idx.size());
  }
}
