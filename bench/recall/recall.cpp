// Native recall benchmark: recall@10 against exact brute force (double precision) and per-query
// search latency, for f32, SQ8 and SQ8 with exact re-rank, on Fashion-MNIST, the JS harness's
// synthetic sets and a few hard distributions. A benchmark, not a test: it asserts nothing.
//
// Uses only the public API that every core since the first release has (pocketvec::index,
// index_params, insert_batch, search, memory_bytes), so the same file compiles against an older
// include/ tree for before/after comparisons; bench/recall/run.sh builds it twice and runs both.
//
//   pv_recall SET METRIC STORAGES [n]     e.g.  pv_recall fashion-mnist l2 f32,sq8,sq8r
//
// SET: fashion-mnist | synthetic | iso768 | uniform32 | clustered128 | offset128 | dups128 (make_set)
// METRIC: l2 | cosine | ip. STORAGES: comma list of f32, sq8, sq8r (SQ8 with sq8_rerank = true).
// n: base rows (defaults per set). Always 1 000 queries, k = 10, ef 16, 32, 64, M = 16,
// ef_construction = 200, index seed 42 (the index_params defaults).
// Environment: PV_CACHE (default /tmp/pv-recall-cache) holds the exact top-10 per query so the
// second core's run does not recompute it; PV_FASHION_DIR (default /tmp/fashion-mnist) holds the
// gunzipped idx files. Compile-time: PV_CORE names the core in the output ("before", "after").
//
// Output: one JSON object per line on stdout, one per (storage, ef); progress on stderr.
//
// recall@10 counts a returned id when its exact distance is within the exact 10th-smallest
// distance (relative tolerance 1e-5), as the JS harness does, so that among equidistant rows
// (exact duplicates) any choice counts; `recall_ids` is the plain overlap with one exact top-10
// (ties broken by id), which differs only where there are ties.
#include <pocketvec/pocketvec.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <numeric>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#ifndef PV_CORE
#define PV_CORE "unnamed"
#endif
#ifndef PV_REV
#define PV_REV ""
#endif

namespace {

constexpr std::size_t n_queries = 1000, k = 10;
constexpr std::size_t efs[] = {16, 32, 64};

struct data_set {
  std::string name;
  std::size_t dim = 0;
  std::vector<float> base, queries;
};

// ---- generators -----------------------------------------------------------------------------

// splitmix64 uniform / Box-Muller normal (the same stream as tests/test_util.hpp's pvtest::rng).
struct rng {
  std::uint64_t state;
  explicit rng(std::uint64_t seed) : state(seed) {}
  std::uint64_t next() {
    state += 0x9E3779B97F4A7C15ull;
    std::uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  float uniform() { return static_cast<float>(next() >> 40) / static_cast<float>(1u << 24); }
  float normal() {
    const float u1 = std::max(uniform(), 1e-7f), u2 = uniform();
    return std::sqrt(-2.0f * std::log(u1)) * std::cos(6.2831853f * u2);
  }
};

// Isotropic Gaussian clusters: centres N(0, I), each row = its centre + spread * N(0, I).
std::vector<float> clustered(rng& r, std::size_t rows, std::size_t dim, std::size_t clusters,
                             float spread) {
  std::vector<float> centres(clusters * dim);
  for (float& c : centres) c = r.normal();
  std::vector<float> out(rows * dim);
  for (std::size_t i = 0; i < rows; ++i) {
    const std::size_t c = r.next() % clusters;
    for (std::size_t d = 0; d < dim; ++d) out[i * dim + d] = centres[c * dim + d] + spread * r.normal();
  }
  return out;
}

// bench/js/lib/data.mjs generateSynthetic, bit for bit up to libm: mulberry32 seeded 20240601,
// Box-Muller using both outputs, 100 clusters with centre m_c ~ N(0, I) and basis B_c (dim x 16,
// entries N(0, 1/16)); x = m_c + 0.5 B_c z + 0.25 N(0, I), z ~ N(0, I_16), scaled to unit length.
// Base rows first, then the query rows from the same stream.
struct mulberry32 {
  std::uint32_t a;
  double operator()() {
    a += 0x6d2b79f5u;
    std::uint32_t t = a;
    t = (t ^ (t >> 15)) * (t | 1u);
    t ^= t + (t ^ (t >> 7)) * (t | 61u);
    return static_cast<double>(t ^ (t >> 14)) / 4294967296.0;
  }
};
struct js_gaussian {
  mulberry32& u;
  bool has_spare = false;
  double spare = 0;
  double operator()() {
    if (has_spare) {
      has_spare = false;
      return spare;
    }
    const double u1 = 1 - u(), u2 = u();
    const double r = std::sqrt(-2 * std::log(u1));
    spare = r * std::sin(2 * M_PI * u2);
    has_spare = true;
    return r * std::cos(2 * M_PI * u2);
  }
};
void synthetic(data_set& s, std::size_t n, std::size_t dim) {
  constexpr std::size_t clusters = 100, rank = 16;
  mulberry32 u{20240601u};
  js_gaussian normal{u};
  std::vector<float> centres(clusters * dim), bases(clusters * dim * rank);
  for (float& c : centres) c = static_cast<float>(normal());
  const double b_scale = 1 / std::sqrt(static_cast<double>(rank));
  for (float& b : bases) b = static_cast<float>(normal() * b_scale);
  double z[rank];
  auto draw = [&](std::vector<float>& out, std::size_t rows) {
    out.resize(rows * dim);
    for (std::size_t i = 0; i < rows; ++i) {
      const auto c = std::min<std::size_t>(clusters - 1, static_cast<std::size_t>(std::floor(u() * clusters)));
      for (double& zr : z) zr = normal();
      for (std::size_t j = 0; j < dim; ++j) {
        double v = centres[c * dim + j];
        const float* b = &bases[(c * dim + j) * rank];
        double lat = 0;
        for (std::size_t r = 0; r < rank; ++r) lat += b[r] * z[r];
        const double latent = 0.5 * lat;
        v += latent + 0.25 * normal();
        out[i * dim + j] = static_cast<float>(v);
      }
    }
    for (std::size_t i = 0; i < rows; ++i) {
      double s2 = 0;
      for (std::size_t j = 0; j < dim; ++j) s2 += double{out[i * dim + j]} * out[i * dim + j];
      const double inv = s2 > 0 ? 1 / std::sqrt(s2) : 0;
      for (std::size_t j = 0; j < dim; ++j) out[i * dim + j] = static_cast<float>(out[i * dim + j] * inv);
    }
  };
  draw(s.base, n);
  draw(s.queries, n_queries);
}

std::vector<std::uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path + " (gunzip the .gz files there first)");
  return {std::istreambuf_iterator<char>(f), {}};
}
// idx3 images, pixels as f32 0..255, not rescaled (as bench/js does).
std::vector<float> idx_images(const std::string& path, std::size_t limit, std::size_t& dim) {
  const auto b = read_file(path);
  auto be32 = [&](std::size_t o) {
    return std::uint32_t{b[o]} << 24 | std::uint32_t{b[o + 1]} << 16 | std::uint32_t{b[o + 2]} << 8 | b[o + 3];
  };
  if (b.size() < 16 || be32(0) != 0x803) throw std::runtime_error(path + ": not an idx3 image file");
  const std::size_t count = std::min<std::size_t>(be32(4), limit);
  dim = std::size_t{be32(8)} * be32(12);
  std::vector<float> out(count * dim);
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = b[16 + i];
  return out;
}

data_set make_set(const std::string& name, std::size_t n) {
  data_set s;
  s.name = name;
  auto split = [&](std::vector<float> all, std::size_t dim) {
    s.dim = dim;
    s.queries.assign(all.begin() + static_cast<std::ptrdiff_t>(n * dim), all.end());
    all.resize(n * dim);
    s.base = std::move(all);
  };
  if (name == "fashion-mnist") {
    // 60 000 train images as the base, the first 1 000 test images as queries.
    const char* dir = std::getenv("PV_FASHION_DIR");
    const std::string d = dir ? dir : "/tmp/fashion-mnist";
    std::size_t dim = 0, qdim = 0;
    s.base = idx_images(d + "/train-images-idx3-ubyte", n ? n : 60000, dim);
    s.queries = idx_images(d + "/t10k-images-idx3-ubyte", n_queries, qdim);
    s.dim = dim;
  } else if (name == "synthetic") {
    // bench/js's synthetic-10k / synthetic-100k (n = 10 000 / 100 000), 768 dims.
    synthetic(s, n ? n : 100000, 768);
    s.dim = 768;
  } else if (name == "iso768") {
    // 100 isotropic clusters whose per-dimension noise equals the centre spread (both 1): a row is
    // about as far from its own centre as two centres are from each other/sqrt(2), so within a
    // cluster distances concentrate and the top-10 are near-ties.
    rng r(768);
    split(clustered(r, (n ? n : 20000) + n_queries, 768, 100, 1.0f), 768);
  } else if (name == "uniform32") {
    rng r(32);
    std::vector<float> all(((n ? n : 20000) + n_queries) * 32);
    for (float& x : all) x = r.uniform();
    split(std::move(all), 32);
  } else if (name == "offset128" || name == "clustered128") {
    // Clustered (100 clusters, spread 0.35) at 128 dims; offset128 then adds 1000 to every
    // component (the same rows otherwise: clustered128 is its control).
    rng r(1000);
    auto all = clustered(r, (n ? n : 20000) + n_queries, 128, 100, 0.35f);
    if (name == "offset128")
      for (float& x : all) x += 1000.0f;
    split(std::move(all), 128);
  } else if (name == "dups128") {
    // 10 vectors with 300 exact copies each (3 000 rows), interleaved at random positions with
    // clustered rows (50 clusters, spread 0.35, 128 dims). Queries: 500 copies of the duplicated
    // vectors plus 0.01 N(0, I) noise, then 500 fresh clustered rows.
    const std::size_t rows = n ? n : 20000, dim = 128, hot = 10, copies = 300;
    rng r(300);
    auto pool = clustered(r, rows - hot * copies + hot + n_queries / 2, dim, 50, 0.35f);
    const float* hot_rows = pool.data();
    std::vector<std::size_t> order(rows);  // < hot*copies: copy of hot vector order % hot
    std::iota(order.begin(), order.end(), std::size_t{0});
    for (std::size_t i = rows - 1; i > 0; --i) std::swap(order[i], order[r.next() % (i + 1)]);
    s.dim = dim;
    s.base.resize(rows * dim);
    std::size_t next_fresh = hot;
    for (std::size_t i = 0; i < rows; ++i) {
      const float* src = order[i] < hot * copies ? hot_rows + (order[i] % hot) * dim : pool.data() + next_fresh++ * dim;
      std::copy(src, src + dim, s.base.begin() + static_cast<std::ptrdiff_t>(i * dim));
    }
    s.queries.resize(n_queries * dim);
    for (std::size_t q = 0; q < n_queries / 2; ++q)
      for (std::size_t d = 0; d < dim; ++d) s.queries[q * dim + d] = hot_rows[(q % hot) * dim + d] + 0.01f * r.normal();
    std::copy(pool.begin() + static_cast<std::ptrdiff_t>(next_fresh * dim), pool.end(),
              s.queries.begin() + static_cast<std::ptrdiff_t>(n_queries / 2 * dim));
  } else {
    throw std::runtime_error("unknown set " + name);
  }
  return s;
}

// ---- exact ground truth (double) --------------------------------------------------------------

pocketvec::metric parse_metric(const std::string& m) {
  if (m == "l2") return pocketvec::metric::l2;
  if (m == "cosine") return pocketvec::metric::cosine;
  if (m == "ip") return pocketvec::metric::ip;
  throw std::runtime_error("unknown metric " + m);
}

struct exact {
  pocketvec::metric m;
  const data_set& s;
  std::vector<double> norms;  // |base row| for cosine
  exact(pocketvec::metric m_, const data_set& s_) : m(m_), s(s_) {
    const std::size_t n = s.base.size() / s.dim;
    norms.resize(n);
    for (std::size_t i = 0; i < n; ++i) norms[i] = std::sqrt(dot(row(i), row(i)));
  }
  const float* row(std::size_t i) const { return s.base.data() + i * s.dim; }
  double dot(const float* a, const float* b) const {
    double acc[4] = {0, 0, 0, 0};
    std::size_t i = 0;
    for (; i + 4 <= s.dim; i += 4)
      for (int j = 0; j < 4; ++j) acc[j] += double{a[i + j]} * b[i + j];
    for (; i < s.dim; ++i) acc[0] += double{a[i]} * b[i];
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
  }
  double l2(const float* a, const float* b) const {
    double acc[4] = {0, 0, 0, 0};
    std::size_t i = 0;
    for (; i + 4 <= s.dim; i += 4)
      for (int j = 0; j < 4; ++j) {
        const double d = double{a[i + j]} - b[i + j];
        acc[j] += d * d;
      }
    for (; i < s.dim; ++i) acc[0] += (double{a[i]} - b[i]) * (double{a[i]} - b[i]);
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
  }
  // pocketvec's conventions: squared L2, 1 - cosine similarity, minus the inner product.
  double distance(const float* q, double q_norm, std::size_t i) const {
    switch (m) {
      case pocketvec::metric::l2: return l2(q, row(i));
      case pocketvec::metric::cosine: return 1.0 - dot(q, row(i)) / (q_norm * norms[i]);
      case pocketvec::metric::ip: return -dot(q, row(i));
    }
    return 0;
  }
};

struct truth {
  std::vector<std::uint32_t> ids;  // n_queries x k, exact top-k (ties by lower id)
  std::vector<double> kth;         // the exact k-th smallest distance per query
};

truth ground_truth(const exact& ex, const std::string& key) {
  const char* dir = std::getenv("PV_CACHE");
  const std::string path = std::string(dir ? dir : "/tmp/pv-recall-cache") + "/" + key + ".truth";
  truth t;
  t.ids.resize(n_queries * k);
  t.kth.resize(n_queries);
  if (std::ifstream f{path, std::ios::binary}) {
    f.read(reinterpret_cast<char*>(t.ids.data()), static_cast<std::streamsize>(t.ids.size() * 4));
    f.read(reinterpret_cast<char*>(t.kth.data()), static_cast<std::streamsize>(t.kth.size() * 8));
    if (f) return t;
  }
  const auto t0 = std::chrono::steady_clock::now();
  const std::size_t n = ex.s.base.size() / ex.s.dim;
  std::vector<std::pair<double, std::uint32_t>> all(n);
  for (std::size_t q = 0; q < n_queries; ++q) {
    const float* qv = ex.s.queries.data() + q * ex.s.dim;
    const double qn = std::sqrt(ex.dot(qv, qv));
    for (std::size_t i = 0; i < n; ++i) all[i] = {ex.distance(qv, qn, i), static_cast<std::uint32_t>(i)};
    std::partial_sort(all.begin(), all.begin() + k, all.end());
    for (std::size_t j = 0; j < k; ++j) t.ids[q * k + j] = all[j].second;
    t.kth[q] = all[k - 1].first;
  }
  std::fprintf(stderr, "  ground truth %s: %.1f s\n", key.c_str(),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  std::system(("mkdir -p '" + path.substr(0, path.rfind('/')) + "'").c_str());
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(t.ids.data()), static_cast<std::streamsize>(t.ids.size() * 4));
  f.write(reinterpret_cast<const char*>(t.kth.data()), static_cast<std::streamsize>(t.kth.size() * 8));
  return t;
}

double load1() {
  double l = -1;
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &l) != 1) l = -1;
    std::fclose(f);
  }
  return l;
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 4) {
    std::fprintf(stderr, "usage: pv_recall SET l2|cosine|ip f32,sq8,sq8r [n]\n");
    return 2;
  }
  const std::string set_name = argv[1], metric_name = argv[2];
  const std::size_t n_arg = argc > 4 ? std::stoul(argv[4]) : 0;
  const auto m = parse_metric(metric_name);
  const data_set s = make_set(set_name, n_arg);
  const std::size_t n = s.base.size() / s.dim;
  const exact ex(m, s);
  const truth t = ground_truth(ex, set_name + "-" + std::to_string(n) + "-" + metric_name);

  std::stringstream storages(argv[3]);
  for (std::string st; std::getline(storages, st, ',');) {
    pocketvec::index_params p;
    p.dim = s.dim;
    p.metric_kind = m;
    if (st == "sq8" || st == "sq8r") p.quant = pocketvec::quantization::sq8;
    else if (st != "f32") throw std::runtime_error("unknown storage " + st);
    p.sq8_rerank = st == "sq8r";
    const double load_build = load1();
    pocketvec::index idx(p);
    const auto b0 = std::chrono::steady_clock::now();
    idx.insert_batch(s.base);
    const double build_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - b0).count();
    std::fprintf(stderr, "  %s %s %s %s n=%zu: build %.1f s\n", PV_CORE, set_name.c_str(),
                 metric_name.c_str(), st.c_str(), n, build_s);
    for (std::size_t ef : efs) {
      const double load_search = load1();
      double recall = 0, recall_ids = 0, recall_first_half = 0;
      std::vector<double> micros(n_queries);
      // pass 0: recall (and warm-up); pass 1: one timed search per query.
      for (int pass = 0; pass < 2; ++pass)
        for (std::size_t q = 0; q < n_queries; ++q) {
          const std::span<const float> qv(s.queries.data() + q * s.dim, s.dim);
          const auto t0 = std::chrono::steady_clock::now();
          const auto hits = idx.search(qv, k, ef);
          const auto t1 = std::chrono::steady_clock::now();
          if (pass == 1) {
            micros[q] = std::chrono::duration<double, std::micro>(t1 - t0).count();
            continue;
          }
          const double qn = std::sqrt(ex.dot(qv.data(), qv.data()));
          const double limit = t.kth[q] + 1e-5 * std::abs(t.kth[q]) + 1e-12;
          std::vector<pocketvec::id_t> seen;
          std::size_t good = 0, same = 0;
          for (const auto& h : hits) {
            if (std::find(seen.begin(), seen.end(), h.id) != seen.end()) continue;  // count once
            seen.push_back(h.id);
            if (h.id < n && ex.distance(qv.data(), qn, h.id) <= limit) ++good;
            for (std::size_t j = 0; j < k; ++j) same += t.ids[q * k + j] == h.id;
          }
          recall += static_cast<double>(std::min(good, k)) / k;
          if (q < n_queries / 2) recall_first_half += static_cast<double>(std::min(good, k)) / k;
          recall_ids += static_cast<double>(same) / k;
        }
      std::sort(micros.begin(), micros.end());
      std::printf(
          "{\"core\":\"%s\",\"rev\":\"%s\",\"set\":\"%s\",\"n\":%zu,\"dim\":%zu,\"metric\":\"%s\",\"storage\":\"%s\","
          "\"m\":%zu,\"ef_construction\":%zu,\"ef\":%zu,\"queries\":%zu,\"recall\":%.4f,\"recall_ids\":%.4f,"
          "\"recall_first_half\":%.4f,\"recall_second_half\":%.4f,"
          "\"p50_us\":%.1f,\"p90_us\":%.1f,\"memory_bytes\":%zu,\"build_s\":%.2f,\"load1_build\":%.2f,"
          "\"load1_search\":%.2f}\n",
          PV_CORE, PV_REV, set_name.c_str(), n, s.dim, metric_name.c_str(), st.c_str(), p.m, p.ef_construction, ef,
          n_queries, recall / n_queries, recall_ids / n_queries,
          recall_first_half / (n_queries / 2), (recall - recall_first_half) / (n_queries - n_queries / 2), (micros[n_queries / 2 - 1] + micros[n_queries / 2]) / 2,
          micros[n_queries * 9 / 10], idx.memory_bytes(), build_s, load_build, load_search);
      std::fflush(stdout);
    }
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "pv_recall: %s\n", e.what());
  return 1;
}
