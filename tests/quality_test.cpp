// Search and graph quality on hard data, against oracles only: exact brute force, and a textbook
// HNSW (reference_hnsw.hpp) built with the same parameters and the same levels. Each test states
// the behaviour it pins down. No expected result is hard-coded: every assertion compares pocketvec
// with an oracle, with margins taken from measurement (the numbers are in the comments: "today"
// is the core at d11ea47, with its known graph, duplicate and SQ8-precision defects; "fixed" the
// core at d44a343, which fixes them).
// Set POCKETVEC_QUALITY_VERBOSE=1 to print every measurement.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "reference_hnsw.hpp"
#include "test_util.hpp"

namespace pv = pocketvec;

namespace {

// Every index here (and the reference) uses these; ef_search is the default search beam, ef_low a
// beam as narrow as k, where the graph alone decides what is found.
constexpr std::size_t k_m = 16, k_ef_construction = 100, k_ef_search = 64, k_ef_low = 10,
                      k_training = 500;  // SQ8 trains during the build
constexpr std::uint64_t k_seed = 42;

bool verbose() {
  static const bool on = [] {
    const char* v = std::getenv("POCKETVEC_QUALITY_VERBOSE");
    return v != nullptr && *v != '\0' && *v != '0';
  }();
  return on;
}

template <class... A>
void note(const char* fmt, A... a) {
  if (verbose()) {
    std::fprintf(stderr, fmt, a...);
    std::fputc('\n', stderr);
  }
}

std::string name_of(pv::metric m) { return std::string(pv::metric_name(m)); }

struct dataset {
  std::size_t dim = 0;
  std::vector<float> base, queries;  // flat rows
  std::size_t n() const { return base.size() / dim; }
  std::size_t nq() const { return queries.size() / dim; }
};

std::vector<float> uniform_rows(std::size_t n, std::size_t dim, std::uint64_t seed, float offset = 0) {
  pvtest::rng r(seed);
  std::vector<float> out(n * dim);
  for (float& x : out) x = offset + r.uniform();
  return out;
}

/// The last `nq` rows become the queries.
dataset split(std::vector<float> rows, std::size_t dim, std::size_t nq) {
  dataset d;
  d.dim = dim;
  const std::size_t n = rows.size() / dim - nq;
  d.queries.assign(rows.begin() + static_cast<std::ptrdiff_t>(n * dim), rows.end());
  rows.resize(n * dim);
  d.base = std::move(rows);
  return d;
}

pv::index_params params_for(std::size_t dim, pv::metric m, pv::quantization q, bool rerank) {
  pv::index_params p;
  p.dim = dim;
  p.metric_kind = m;
  p.quant = q;
  p.m = k_m;
  p.ef_construction = k_ef_construction;
  p.ef_search = k_ef_search;
  p.seed = k_seed;
  p.sq8_training_size = k_training;
  p.sq8_rerank = rerank;
  return p;
}

const char* store_name(pv::quantization q, bool rerank) {
  return q == pv::quantization::none ? "f32" : rerank ? "sq8+rerank" : "sq8";
}

/// Exact top-10 of every query (brute force in double, test_util.hpp).
std::vector<std::vector<pv::id_t>> truth_of(pv::metric m, const dataset& d) {
  std::vector<pv::id_t> ids(d.n());
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<pv::id_t>(i);
  std::vector<std::vector<pv::id_t>> out;
  for (std::size_t i = 0; i < d.nq(); ++i)
    out.push_back(pvtest::brute_force(m, d.base, ids, d.queries.data() + i * d.dim, d.dim, 10));
  return out;
}

double recall_of(pv::index& idx, const dataset& d, const std::vector<std::vector<pv::id_t>>& truth,
                 std::size_t ef) {
  double sum = 0;
  for (std::size_t i = 0; i < d.nq(); ++i)
    sum += pvtest::overlap(idx.search({d.queries.data() + i * d.dim, d.dim}, 10, ef), truth[i]);
  return sum / static_cast<double>(d.nq());
}

double recall_of(const pvref::hnsw& ref, const dataset& d,
                 const std::vector<std::vector<pv::id_t>>& truth, std::size_t ef) {
  double sum = 0;
  for (std::size_t i = 0; i < d.nq(); ++i) {
    std::vector<pv::search_result> found;
    for (const auto& [dist, node] : ref.search(d.queries.data() + i * d.dim, 10, ef))
      found.push_back({node, static_cast<float>(dist)});
    sum += pvtest::overlap(found, truth[i]);
  }
  return sum / static_cast<double>(d.nq());
}

/// The best recall@10 an SQ8 index can be asked for: exact brute force (double) from each query to
/// every base vector quantized and decoded by a textbook per-dimension min/max u8 quantizer trained
/// on the first k_training rows (normalised first under cosine, as the index stores them). Where
/// near ties are many, quantization alone loses more than the graph does. Independent of sq8.hpp.
double sq8_brute_force_recall(pv::metric m, const dataset& d,
                              const std::vector<std::vector<pv::id_t>>& truth) {
  const std::size_t dim = d.dim, n = d.n();
  auto normalise = [dim](double* v) {
    double n2 = 0;
    for (std::size_t t = 0; t < dim; ++t) n2 += v[t] * v[t];
    const double inv = 1.0 / std::sqrt(n2);
    for (std::size_t t = 0; t < dim; ++t) v[t] *= inv;
  };
  std::vector<double> rows(d.base.begin(), d.base.end());
  if (m == pv::metric::cosine)
    for (std::size_t i = 0; i < n; ++i) normalise(rows.data() + i * dim);
  const std::size_t train = std::min(n, k_training);
  for (std::size_t t = 0; t < dim; ++t) {
    double lo = rows[t], hi = rows[t];
    for (std::size_t i = 1; i < train; ++i) {
      lo = std::min(lo, rows[i * dim + t]);
      hi = std::max(hi, rows[i * dim + t]);
    }
    const double step = (hi - lo) / 255.0;
    for (std::size_t i = 0; i < n; ++i) {
      double& x = rows[i * dim + t];
      x = step == 0 ? lo : lo + step * std::clamp(std::nearbyint((x - lo) / step), 0.0, 255.0);
    }
  }
  double sum = 0;
  std::vector<std::pair<double, pv::id_t>> all(n);
  std::vector<double> q(dim);
  for (std::size_t qi = 0; qi < d.nq(); ++qi) {
    for (std::size_t t = 0; t < dim; ++t) q[t] = d.queries[qi * dim + t];
    if (m == pv::metric::cosine) normalise(q.data());
    for (std::size_t i = 0; i < n; ++i) {
      const double* x = rows.data() + i * dim;
      double l2 = 0, dot = 0, nx = 0;
      for (std::size_t t = 0; t < dim; ++t) {
        l2 += (q[t] - x[t]) * (q[t] - x[t]);
        dot += q[t] * x[t];
        nx += x[t] * x[t];
      }
      const double dist = m == pv::metric::l2       ? l2
                          : m == pv::metric::cosine ? 1 - dot / std::sqrt(nx)
                                                    : -dot;
      all[i] = {dist, static_cast<pv::id_t>(i)};
    }
    std::partial_sort(all.begin(), all.begin() + 10, all.end());
    std::vector<pv::search_result> found;
    for (std::size_t t = 0; t < 10; ++t) found.push_back({all[t].second, static_cast<float>(all[t].first)});
    sum += pvtest::overlap(found, truth[qi]);
  }
  return sum / static_cast<double>(d.nq());
}

struct recalls {
  double ref = 0, ref_low = 0;  // the textbook HNSW at ef_search and at ef_low
  double f32 = 0, f32_low = 0;  // pocketvec f32 at ef_search and at ef_low
  double sq8 = 0, rerank = 0;   // pocketvec SQ8 and SQ8 + re-rank at ef_search
  double sq8_brute = 0;         // brute force over SQ8-decoded vectors
};

/// recall@10 of the reference HNSW, pocketvec f32, SQ8 and SQ8 + re-rank, all built with the same
/// parameters, and of SQ8 brute force.
recalls measure(pv::metric m, const dataset& d) {
  const auto truth = truth_of(m, d);
  recalls r;
  {
    pvref::hnsw ref(m, d.dim, k_m, k_ef_construction, k_seed);
    ref.insert_all(d.base);
    r.ref = recall_of(ref, d, truth, k_ef_search);
    r.ref_low = recall_of(ref, d, truth, k_ef_low);
  }
  {
    pv::index idx(params_for(d.dim, m, pv::quantization::none, false));
    idx.insert_batch(d.base);
    r.f32 = recall_of(idx, d, truth, k_ef_search);
    r.f32_low = recall_of(idx, d, truth, k_ef_low);
  }
  for (const bool rerank : {false, true}) {
    pv::index idx(params_for(d.dim, m, pv::quantization::sq8, rerank));
    idx.insert_batch(d.base);
    (rerank ? r.rerank : r.sq8) = recall_of(idx, d, truth, k_ef_search);
  }
  r.sq8_brute = sq8_brute_force_recall(m, d, truth);
  note("  %-6s n=%zu dim=%zu | ef %zu: ref %.4f f32 %.4f sq8 %.4f sq8+rerank %.4f | sq8 brute force %.4f"
       " | ef %zu: ref %.4f f32 %.4f",
       name_of(m).c_str(), d.n(), d.dim, k_ef_search, r.ref, r.f32, r.sq8, r.rerank, r.sq8_brute,
       k_ef_low, r.ref_low, r.f32_low);
  return r;
}

/// What every recall test asserts, each against an oracle, with margins from measurement (numbers
/// in the test cases):
///   f32 vs the textbook HNSW: at most half a point below, at ef_search and at ef_low. With the
///     known defects fixed the two are equal to the query in all 11 data set x metric runs, on the
///     SSE2, AVX2 and WASM kernels alike; today's core is up to 1.45 points below at ef_low.
///   SQ8 vs the lower of f32 and SQ8 brute force: at most 2 points below. SQ8 cannot beat exact
///     search over its own decoded vectors, and on the 768-d near-tie clusters quantization alone
///     costs more than 2 points (l2: 0.979 at 600 vectors, 0.939 at 1000, against 1.0 for f32).
///   SQ8 + re-rank vs f32: at most 1 point below.
///   Floors (recall@10 against brute force) of 0.90 for each store: the lowest measured without a
///     known defect is 0.947 (Fashion-MNIST under ip, where the reference gets 0.947 too).
void check_recalls(const recalls& r) {
  CAPTURE(r.ref, r.f32, r.sq8, r.rerank, r.sq8_brute, r.ref_low, r.f32_low);
  CHECK(r.f32 >= r.ref - 0.005);
  CHECK(r.f32_low >= r.ref_low - 0.005);
  CHECK(r.sq8 >= std::min(r.f32, r.sq8_brute) - 0.02);
  CHECK(r.rerank >= r.f32 - 0.01);
  CHECK(r.f32 >= 0.90);
  CHECK(r.sq8 >= 0.90);
  CHECK(r.rerank >= 0.90);
}

/// For every node, its K exact nearest other nodes, sorted by node (double distances between the
/// reference's rows: the float rows widened, and normalised under cosine).
std::vector<std::vector<std::uint32_t>> true_neighbours(pv::metric m, const pvref::hnsw& ref,
                                                        std::size_t k) {
  const std::size_t n = ref.size(), dim = ref.dim();
  std::vector<double> flat;
  flat.reserve(n * dim);
  for (std::uint32_t i = 0; i < n; ++i) flat.insert(flat.end(), ref.row(i), ref.row(i) + dim);
  std::vector<std::vector<std::uint32_t>> out(n);
  std::vector<std::pair<double, std::uint32_t>> all(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    const double* a = flat.data() + std::size_t{i} * dim;
    for (std::uint32_t j = 0; j < n; ++j) {
      const double* b = flat.data() + std::size_t{j} * dim;
      double sum = 0;
      if (m == pv::metric::l2) {
        for (std::size_t t = 0; t < dim; ++t) sum += (a[t] - b[t]) * (a[t] - b[t]);
      } else {  // cosine on unit rows ranks as ip: by -dot
        for (std::size_t t = 0; t < dim; ++t) sum -= a[t] * b[t];
      }
      all[j] = {j == i ? std::numeric_limits<double>::infinity() : sum, j};
    }
    std::nth_element(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k), all.end());
    for (std::size_t t = 0; t < k; ++t) out[i].push_back(all[t].second);
    std::sort(out[i].begin(), out[i].end());
  }
  return out;
}

/// Mean over nodes, all and hubs (level > 0), of the fraction of a node's level-0 links that are
/// among its true K nearest.
struct link_quality {
  double all = 0, hubs = 0;
  std::size_t hub_count = 0;
};

template <class Links, class Level>
link_quality quality_of(std::size_t n, const std::vector<std::vector<std::uint32_t>>& truth,
                        Links links_of, Level level_of) {
  link_quality q;
  double sum_all = 0, sum_hubs = 0;
  for (std::uint32_t s = 0; s < n; ++s) {
    std::size_t links = 0, good = 0;
    for (std::uint32_t t : links_of(s)) {
      ++links;
      good += std::binary_search(truth[s].begin(), truth[s].end(), t) ? 1 : 0;
    }
    const double frac = links == 0 ? 0.0 : static_cast<double>(good) / static_cast<double>(links);
    sum_all += frac;
    if (level_of(s) > 0) {
      sum_hubs += frac;
      ++q.hub_count;
    }
  }
  q.all = sum_all / static_cast<double>(n);
  q.hubs = q.hub_count == 0 ? 0.0 : sum_hubs / static_cast<double>(q.hub_count);
  return q;
}

}  // namespace

TEST_CASE("HNSW build: every node's level-0 links, hubs' included, are as near as a textbook HNSW's",
          "[quality][graph][scale]") {
  // 4000 x 32 uniform random (hard: no cluster structure), m 16, ef_construction 100, and the
  // reference built with the same levels. Truth: each node's 64 (twice the level-0 capacity)
  // exact nearest. Slots equal insertion order (no deletes), so node i is slot i in both graphs.
  const std::size_t dim = 32, n = 4000, truth_k = 4 * k_m;
  const pv::metric m = GENERATE(pv::metric::l2, pv::metric::cosine);
  CAPTURE(name_of(m));
  const auto rows = uniform_rows(n, dim, 1001);

  pvref::hnsw ref(m, dim, k_m, k_ef_construction, k_seed);
  ref.insert_all(rows);
  const auto truth = true_neighbours(m, ref, truth_k);
  const link_quality want = quality_of(
      n, truth, [&](std::uint32_t s) { return ref.neighbors(s, 0); },
      [&](std::uint32_t s) { return ref.level(s); });

  pv::index idx(params_for(dim, m, pv::quantization::none, false));
  idx.insert_batch(rows);
  const link_quality got = idx.visit([&](auto& core) {
    const pv::graph& g = core.state().links;
    REQUIRE(g.size() == n);
    return quality_of(
        n, truth, [&](std::uint32_t s) { return g.neighbors(s, 0); },
        [&](std::uint32_t s) { return g.level(s); });
  });
  note("graph %s: reference all %.4f hubs %.4f (%zu hubs) | pocketvec all %.4f hubs %.4f (%zu hubs)",
       name_of(m).c_str(), want.all, want.hubs, want.hub_count, got.all, got.hubs, got.hub_count);
  CAPTURE(want.all, want.hubs, want.hub_count, got.all, got.hubs, got.hub_count);
  CHECK(got.hub_count == want.hub_count);  // the same nodes sit above level 0 in both
  // Measured, mean fraction of level-0 links among the true 64, all nodes / the 233 hubs:
  //           reference        today            fixed
  //   l2      0.869 / 0.867    0.853 / 0.687    0.869 / 0.867
  //   cosine  0.840 / 0.833    0.827 / 0.687    0.840 / 0.833
  // Today all four checks fail: re-pruning a full list in link_back re-prepares the insert's own
  // query with the neighbour's vector, so the lower levels of that insert search and link for the
  // wrong point. Every node above level 0 is hit (its level-0 search comes after re-pruning), and
  // the wrong links it makes show in the all-node mean as well.
  CHECK(got.hubs >= want.hubs - 0.02);
  CHECK(got.all >= want.all - 0.005);
}

TEST_CASE("Search on 768-d isotropic clusters with near ties: f32 recall@10 matches a textbook "
          "HNSW, SQ8 is within 2 points of f32 or of exact search over its codes, SQ8 + re-rank "
          "within 1 of f32",
          "[quality][recall][scale]") {
  // 10 Gaussian centres (spread 1 in every dimension) plus per-dimension noise of the same spread,
  // so a query's neighbours are nearly equidistant; 600 base vectors, 100 queries.
  // Measured, recall@10 at ef 64 (ef 10), the same today and with the defects fixed:
  //           reference   f32         SQ8     SQ8 brute force  SQ8 + re-rank
  //   l2      1 (0.955)   1 (0.955)   0.979   0.979            1
  //   cosine  1 (0.958)   1 (0.958)   0.996   0.996            1
  //   ip      1 (0.968)   1 (0.968)   0.986   0.986            1
  // SQ8 under l2 is 2.1 points below f32 and exactly at SQ8 brute force: the loss is the codes'.
  const pv::metric m = GENERATE(pv::metric::l2, pv::metric::cosine, pv::metric::ip);
  CAPTURE(name_of(m));
  check_recalls(measure(m, split(pvtest::clustered(600 + 100, 768, 10, 2002, 1.0f), 768, 100)));
}

TEST_CASE("Search on 32-d uniform random data: f32 recall@10 matches a textbook HNSW, SQ8 is "
          "within 2 points of f32 or of exact search over its codes, SQ8 + re-rank within 1 of f32",
          "[quality][recall][scale]") {
  // 3000 base vectors, 200 queries, uniform in [0, 1)^32: no structure for the graph to exploit.
  // Measured, recall@10 at ef 64 (ef 10):
  //           reference        today f32        fixed f32        SQ8 today/fixed  re-rank today/fixed
  //   l2      0.9900 (0.7170)  0.9840 (0.7025)  0.9900 (0.7170)  0.980 / 0.985    0.984 / 0.991
  //   cosine  0.9905 (0.7290)  0.9890 (0.7165)  0.9905 (0.7290)  0.983 / 0.983    0.9895 / 0.989
  //   ip      0.9850 (0.9195)  0.9830 (0.9180)  0.9850 (0.9195)  0.977 / 0.9805   0.982 / 0.9855
  // SQ8 brute force 0.9935-0.9945. Today l2 and cosine fail against the reference (the hubs'
  // bad links, see the graph test): at ef 10 by 1.45 and 1.25 points, l2 at ef 64 by 0.6.
  const pv::metric m = GENERATE(pv::metric::l2, pv::metric::cosine, pv::metric::ip);
  CAPTURE(name_of(m));
  check_recalls(measure(m, split(uniform_rows(3000 + 200, 32, 3003), 32, 200)));
}

namespace {

/// The first `n` images of a decompressed idx3 file (big-endian header: magic 0x803, count, rows,
/// cols; then one byte per pixel) as floats, all-zero images left out (they have no direction);
/// empty if the file is missing or malformed.
std::vector<float> read_idx3(const std::string& path, std::size_t n, std::size_t& dim) {
  std::ifstream in(path, std::ios::binary);
  unsigned char header[16];
  if (!in.read(reinterpret_cast<char*>(header), 16)) return {};
  auto be32 = [&](int at) {
    return std::uint32_t{header[at]} << 24 | std::uint32_t{header[at + 1]} << 16 |
           std::uint32_t{header[at + 2]} << 8 | std::uint32_t{header[at + 3]};
  };
  if (be32(0) != 0x803) return {};
  dim = std::size_t{be32(8)} * be32(12);
  if (dim == 0 || dim > pv::max_dim) return {};
  n = std::min<std::size_t>(n, be32(4));
  std::vector<unsigned char> pixels(n * dim);
  if (!in.read(reinterpret_cast<char*>(pixels.data()), static_cast<std::streamsize>(pixels.size())))
    return {};
  std::vector<float> out;
  out.reserve(n * dim);
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char* row = pixels.data() + i * dim;
    if (std::all_of(row, row + dim, [](unsigned char p) { return p == 0; })) continue;
    for (std::size_t t = 0; t < dim; ++t) out.push_back(static_cast<float>(row[t]));
  }
  return out;
}

}  // namespace

TEST_CASE("Search on a Fashion-MNIST sample: f32 recall@10 matches a textbook HNSW, SQ8 is "
          "within 2 points of f32 or of exact search over its codes, SQ8 + re-rank within 1 of f32",
          "[quality][recall][fashion-mnist][scale]") {
  // The first 600 training images as the base, the first 100 test images as queries (784 dims,
  // pixel values 0..255). The idx files must be decompressed into POCKETVEC_FASHION_MNIST_DIR
  // (the test binary has no zlib); without them the test passes with a warning.
  // Measured, recall@10 at ef 64 (ef 10), the same today and with the defects fixed except where
  // noted: l2 reference 1 (0.985), f32 1 (0.984 today, 0.985 fixed), SQ8 1, re-rank 1; cosine
  // reference = f32 = 1 (0.994), SQ8 0.998 (= SQ8 brute force), re-rank 1; ip reference = f32 =
  // SQ8 = re-rank 0.947 (0.903), SQ8 brute force 1. Passes today.
#ifdef POCKETVEC_FASHION_MNIST_DIR
  const std::string dir = POCKETVEC_FASHION_MNIST_DIR;
#else
  const std::string dir;
#endif
  dataset d;
  std::size_t qdim = 0;
  if (!dir.empty()) {
    d.base = read_idx3(dir + "/train-images-idx3-ubyte", 600, d.dim);
    d.queries = read_idx3(dir + "/t10k-images-idx3-ubyte", 100, qdim);
  }
  if (d.base.empty() || d.queries.empty() || d.dim != qdim) {
    WARN("skipped: no decompressed Fashion-MNIST train-images-idx3-ubyte and t10k-images-idx3-ubyte in '"
         << dir << "' (POCKETVEC_FASHION_MNIST_DIR)");
    return;
  }
  const pv::metric m = GENERATE(pv::metric::l2, pv::metric::cosine, pv::metric::ip);
  CAPTURE(name_of(m));
  check_recalls(measure(m, d));
}

TEST_CASE("Search on data far from the origin (+1000 in every dimension): f32 recall@10 matches "
          "a textbook HNSW, SQ8 is within 2 points of f32 or of exact search over its codes, "
          "SQ8 + re-rank within 1 of f32",
          "[quality][recall][offset][scale]") {
  // 3000 + 200 uniform vectors in [1000, 1001)^32, base and queries alike. The neighbourhoods are
  // those of the uniform test: only the coordinates are far from zero.
  // Measured, recall@10 at ef 64 (ef 10), SQ8 brute force 0.994 (l2):
  //   l2  reference 0.9905 (0.7070); today f32 0.9890 (0.6935), SQ8 0.2905, SQ8 + re-rank 0.5625;
  //       fixed f32 0.9905 (0.7070), SQ8 0.983, SQ8 + re-rank 0.9895
  //   ip  1 for everything, today and fixed (the ranking follows the coordinates' sum)
  // Today l2 fails: SQ8's |q|² - 2 q.x + |x|² cancels catastrophically at |q|² ~ 3.2e7 (SQ8 and
  // re-rank, whose candidates come from the SQ8 graph), and f32 is 1.35 points below the
  // reference at ef 10 (the graph defect).
  const pv::metric m = GENERATE(pv::metric::l2, pv::metric::ip);
  CAPTURE(name_of(m));
  check_recalls(measure(m, split(uniform_rows(3000 + 200, 32, 4004, 1000.0f), 32, 200)));
}

TEST_CASE("Search: among hundreds of exact copies of a few vectors, every vector's search for itself "
          "returns it or an exact copy first, every metric and store",
          "[quality][duplicates]") {
  // 300 copies of one vector first (the entry point and the first hubs are all copies), then 200
  // copies each of three more shuffled in among 700 random vectors: 1600 rows of 16 dims. Every
  // row has unit length, so under every metric (ip included) a vector's nearest is itself, at
  // its self-distance; the brute-force check below confirms it.
  // Measured today, vectors that found themselves, of 1600 (in brackets: misses with no level-0
  // in-link):
  //           f32          SQ8          SQ8 + re-rank
  //   l2      1596 (2)     1577 (13)    1596 (4)
  //   cosine  1566 (7)     1457 (12)    1489 (13)
  //   ip      1293 (245)   1325 (244)   1326 (243)
  // Today copies are recognised only at distance exactly 0, which cosine (±1 ulp), ip (-|x|²) and
  // SQ8 (the quantization error) do not give. Even l2 f32, where that works, fails (the same
  // random vectors without the copies are all found): a guard that recognised copies by their
  // self-distance still left 1596-1598 of 1600, as an insert's beam filled up with equidistant
  // copies. Fixed (copies by stored bytes, at most one twin per insert's candidates): 1600
  // everywhere but ip SQ8 and ip SQ8 + re-rank, 1599 each.
  const std::size_t dim = 16, copies_first = 300, copies_each = 200, extra = 3, random_rows = 700;
  pvtest::rng r(5005);
  auto unit_row = [&] {
    std::vector<float> v(dim);
    double n2 = 0;
    for (float& x : v) {
      x = r.normal();
      n2 += double{x} * x;
    }
    for (float& x : v) x = static_cast<float>(x / std::sqrt(n2));
    return v;
  };
  std::vector<std::vector<float>> rows(copies_first, unit_row());
  std::vector<std::vector<float>> rest;
  for (std::size_t c = 0; c < extra; ++c) rest.insert(rest.end(), copies_each, unit_row());
  for (std::size_t i = 0; i < random_rows; ++i) rest.push_back(unit_row());
  for (std::size_t i = rest.size(); i > 1; --i) std::swap(rest[i - 1], rest[r.next() % i]);  // Fisher-Yates
  rows.insert(rows.end(), rest.begin(), rest.end());
  const std::size_t n = rows.size();
  std::vector<float> flat;
  for (const auto& v : rows) flat.insert(flat.end(), v.begin(), v.end());

  const pv::metric m = GENERATE(pv::metric::l2, pv::metric::cosine, pv::metric::ip);
  const auto [quant, rerank] = GENERATE(std::pair{pv::quantization::none, false},
                                        std::pair{pv::quantization::sq8, false},
                                        std::pair{pv::quantization::sq8, true});
  CAPTURE(name_of(m), store_name(quant, rerank));

  // The oracle: by brute force, no row is nearer to a row than the row itself.
  std::size_t self_nearest = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const float self = pvtest::exact_distance(m, rows[i].data(), rows[i].data(), dim);
    bool nearest = true;
    for (std::size_t j = 0; j < n && nearest; ++j)
      nearest = pvtest::exact_distance(m, rows[i].data(), rows[j].data(), dim) >= self;
    self_nearest += nearest ? 1 : 0;
  }
  REQUIRE(self_nearest == n);

  pv::index idx(params_for(dim, m, quant, rerank));
  const auto ids = idx.insert_batch(flat);
  REQUIRE(ids.back() == n - 1);
  std::vector<std::size_t> in_links(n, 0);
  idx.visit([&](auto& core) {
    const pv::graph& g = core.state().links;
    for (std::uint32_t s = 0; s < n; ++s)
      for (std::uint32_t t : g.neighbors(s, 0)) ++in_links[t];
  });
  std::size_t found = 0, missed_unlinked = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const auto hits = idx.search(rows[i], 1);
    const bool ok = !hits.empty() && rows[hits[0].id] == rows[i];
    found += ok ? 1 : 0;
    missed_unlinked += !ok && in_links[i] == 0 ? 1 : 0;
  }
  const double rate = static_cast<double>(found) / static_cast<double>(n);
  note("duplicates %-6s %-10s: %zu of %zu found themselves (%.4f); %zu of the misses have no level-0 in-link",
       name_of(m).c_str(), store_name(quant, rerank), found, n, rate, missed_unlinked);
  CAPTURE(found, n, missed_unlinked);
  CHECK(rate >= 0.999);
}
