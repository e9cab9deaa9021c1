// Filtered search benchmark (native): recall@10 against an exact filtered brute force and latency
// per query at several selectivities, for the automatic strategy and for each path forced, next
// to the unfiltered search in the same run. A benchmark, not a test: it asserts nothing.
//
//   pv_filter [n=100000] [dim=768] [queries=300] [ef=64] [cache=FILE] [build_only=1] [paired=1]
//
// Data: 100 clusters, each a centre c ~ N(0, I) and a rank-16 basis B (entries N(0, 1/16)); a row is
// c + 0.5 B z + 0.25 N(0, I), z ~ N(0, I_16), scaled to unit length (bench/repair's shape), cosine,
// M 16, ef_construction 200. Queries come from the same clusters and are never stored. Filters:
// an id_set of a seeded random share of the ids (so selectivity is unrelated to the query), and
// one callable (the same set behind a lambda) at 50 %. The built index is saved to `cache` and
// loaded from it on later runs with the same n and dim.
// recall@10: the exact top-10 of the matching rows by brute force (float dot products); a returned
// id counts when its distance is within the 10th's (relative 1e-5).
#include <pocketvec/pocketvec.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

namespace {

struct rng {
  std::uint64_t s;
  std::uint64_t next() {
    s += 0x9E3779B97F4A7C15ull;
    std::uint64_t z = s;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) / 9007199254740992.0; }
  float normal() {
    const double u1 = std::max(uniform(), 1e-12), u2 = uniform();
    return static_cast<float>(std::sqrt(-2 * std::log(u1)) * std::cos(6.283185307179586 * u2));
  }
};

std::vector<float> make_rows(std::size_t n, std::size_t dim, std::uint64_t seed, rng& shared_centres) {
  const std::size_t clusters = 100, rank = 16;
  rng cr = shared_centres;  // the same clusters for base and queries
  std::vector<float> centres(clusters * dim), basis(clusters * rank * dim);
  for (float& c : centres) c = cr.normal();
  for (float& b : basis) b = cr.normal() / 4.0f;
  rng r{seed};
  std::vector<float> out(n * dim), z(rank);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t c = r.next() % clusters;
    for (float& v : z) v = r.normal();
    float* row = out.data() + i * dim;
    double norm = 0;
    for (std::size_t d = 0; d < dim; ++d) {
      float v = centres[c * dim + d] + 0.25f * r.normal();
      for (std::size_t j = 0; j < rank; ++j) v += 0.5f * basis[(c * rank + j) * dim + d] * z[j];
      row[d] = v;
      norm += double{v} * v;
    }
    const float inv = static_cast<float>(1.0 / std::sqrt(norm));
    for (std::size_t d = 0; d < dim; ++d) row[d] *= inv;
  }
  return out;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> kv;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    const auto eq = a.find('=');
    if (eq != std::string::npos) kv[a.substr(0, eq)] = a.substr(eq + 1);
  }
  auto num = [&](const char* k, std::size_t def) { return kv.count(k) ? std::stoul(kv[k]) : def; };
  const std::size_t n = num("n", 100000), dim = num("dim", 768), nq = num("queries", 300), ef = num("ef", 64);
  const std::string cache = kv.count("cache") ? kv["cache"] : "";

  rng centres{12345};
  const auto base = make_rows(n, dim, 1, centres);
  const auto queries = make_rows(nq, dim, 2, centres);

  pocketvec::index_params p;
  p.dim = dim;
  p.metric_kind = pocketvec::metric::cosine;
  std::unique_ptr<pocketvec::index> idx;
  double build_s = 0;
  if (!cache.empty()) {
    std::ifstream in(cache, std::ios::binary);
    if (in) {
      std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      auto loaded = pocketvec::index::load(bytes);
      if (loaded.size() == n && loaded.dim() == dim) idx = std::make_unique<pocketvec::index>(std::move(loaded));
    }
  }
  if (!idx) {
    const auto t0 = std::chrono::steady_clock::now();
    idx = std::make_unique<pocketvec::index>(p);
    for (std::size_t i = 0; i < n; i += 1000)
      idx->insert_batch({base.data() + i * dim, std::min<std::size_t>(1000, n - i) * dim});
    build_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "built %zu x %zu in %.1f s\n", n, dim, build_s);
    if (!cache.empty()) {
      const auto bytes = idx->save();
      std::ofstream(cache, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                                   static_cast<std::streamsize>(bytes.size()));
    }
  }

  if (num("build_only", 0)) return 0;
  if (num("paired", 0)) {
    // Unfiltered and 50 % filtered back to back, alternating, in thread CPU time, so that on a
    // shared machine both see the same conditions (the main table's rows run minutes apart). The
    // filtered search takes a query half the set away, not the same one: the same query would find
    // its rows in cache, warmed by the unfiltered search just before.
    rng r{static_cast<std::uint64_t>(0.5 * 1e6) + 7};
    pocketvec::id_set set(idx->id_bound());
    for (std::size_t i = 0; i < n; ++i)
      if (r.uniform() < 0.5) set.insert(static_cast<pocketvec::id_t>(i));
    auto cpu_us = [] {
      timespec ts;
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
      return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
    };
    std::vector<double> plain, filtered, ratio;
    for (int pass = 0; pass < 3; ++pass)
      for (std::size_t q = 0; q < nq; ++q) {
        const std::span<const float> qs(queries.data() + q * dim, dim);
        double t0 = cpu_us();
        idx->search(qs, 10, ef);
        const double a = cpu_us() - t0;
        const std::span<const float> other(queries.data() + (q + nq / 2) % nq * dim, dim);
        t0 = cpu_us();
        idx->search(other, 10, set, {.ef = ef});
        const double b = cpu_us() - t0;
        if (pass == 0) continue;
        plain.push_back(a);
        filtered.push_back(b);
        ratio.push_back(b / a);
      }
    std::printf("paired, thread CPU time, %zu queries x 2 passes: unfiltered p50 %.1f us p99 %.1f us; "
                "50 %% id_set p50 %.1f us p99 %.1f us; p50 ratio %.2f; median per-query ratio %.2f\n",
                nq, percentile(plain, 0.5), percentile(plain, 0.99), percentile(filtered, 0.5),
                percentile(filtered, 0.99), percentile(filtered, 0.5) / percentile(plain, 0.5),
                percentile(ratio, 0.5));
    return 0;
  }
  // Every query's distance to every row, once (float dot products on unit rows).
  std::vector<float> dist(nq * n);
  for (std::size_t q = 0; q < nq; ++q)
    for (std::size_t i = 0; i < n; ++i) {
      float dot = 0;
      for (std::size_t d = 0; d < dim; ++d) dot += queries[q * dim + d] * base[i * dim + d];
      dist[q * n + i] = 1.0f - dot;
    }
  std::fprintf(stderr, "brute force done\n");

  struct row {
    std::string name, strategy;
    double recall, p50, p99, distances, fallbacks, graph_share;
  };
  std::vector<row> rows;
  auto run = [&](const std::string& name, const std::vector<char>* member, auto&& do_search, const char* strategy) {
    std::vector<double> us;
    double rec = 0, distances = 0, fallbacks = 0, graphs = 0;
    for (int pass = 0; pass < 2; ++pass)  // the first pass warms caches up and is not timed
      for (std::size_t q = 0; q < nq; ++q) {
        const std::span<const float> qs(queries.data() + q * dim, dim);
        const auto t0 = std::chrono::steady_clock::now();
        const auto r = do_search(qs);
        const double t = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
        if (pass == 0) continue;
        us.push_back(t);
        if (member) {
          const auto& rep = idx->last_filter_report();
          distances += static_cast<double>(rep.distances);
          fallbacks += rep.fell_back ? 1 : 0;
          graphs += rep.strategy == pocketvec::filter_strategy::graph ? 1 : 0;
        }
        // the exact filtered top 10
        std::vector<float> d;
        for (std::size_t i = 0; i < n; ++i)
          if (!member || (*member)[i]) d.push_back(dist[q * n + i]);
        const std::size_t k = std::min<std::size_t>(10, d.size());
        if (k == 0) {
          rec += r.empty() ? 1 : 0;
          continue;
        }
        std::nth_element(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(k - 1), d.end());
        const float kth = d[k - 1];
        std::size_t hit = 0;
        for (const auto& h : r)
          if ((!member || (*member)[h.id]) && dist[q * n + h.id] <= kth + 1e-5f * std::abs(kth)) ++hit;
        rec += static_cast<double>(std::min(hit, k)) / static_cast<double>(k);
      }
    const double m = static_cast<double>(nq);
    rows.push_back({name, strategy, rec / m, percentile(us, 0.5), percentile(us, 0.99), distances / m, fallbacks / m, graphs / m});
    std::fprintf(stderr, "%-28s %-9s recall %.4f p50 %8.1f us p99 %8.1f us\n", name.c_str(), strategy, rec / m,
                 percentile(us, 0.5), percentile(us, 0.99));
  };

  run("unfiltered", nullptr, [&](std::span<const float> q) { return idx->search(q, 10, ef); }, "-");
  for (double share : {0.5, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01, 0.001, 0.0}) {
    rng r{static_cast<std::uint64_t>(share * 1e6) + 7};
    pocketvec::id_set set(idx->id_bound());
    std::vector<char> member(n, 0);
    for (std::size_t i = 0; i < n; ++i)
      if (r.uniform() < share) {
        set.insert(static_cast<pocketvec::id_t>(i));
        member[i] = 1;
      }
    char name[64];
    std::snprintf(name, sizeof name, "id_set %.1f %% (%zu)", share * 100, set.count());
    using fs = pocketvec::filter_strategy;
    for (auto [s, label] : {std::pair{fs::automatic, "automatic"}, std::pair{fs::graph, "graph"}, std::pair{fs::scan, "scan"}})
      run(name, &member, [&](std::span<const float> q) { return idx->search(q, 10, set, {.ef = ef, .strategy = s}); }, label);
    if (share == 0.5) {
      std::snprintf(name, sizeof name, "callable %.1f %%", share * 100);
      run(name, &member, [&](std::span<const float> q) { return idx->search(q, 10, [&](pocketvec::id_t id) { return set.test(id); }, {.ef = ef}); }, "automatic");
    }
  }
  std::printf("n %zu dim %zu queries %zu ef %zu k 10 threshold %zu build_s %.1f\n\n", n, dim, nq, ef,
              pocketvec::filter_scan_threshold(ef, n), build_s);
  std::printf("| filter | strategy | recall@10 | p50 us | p99 us | p50 / unfiltered | distances | graph share | fallbacks |\n");
  std::printf("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
  for (const auto& r : rows)
    std::printf("| %s | %s | %.4f | %.1f | %.1f | %.2f | %.0f | %.2f | %.2f |\n", r.name.c_str(), r.strategy.c_str(), r.recall,
                r.p50, r.p99, r.p50 / rows[0].p50, r.distances, r.graph_share, r.fallbacks);
}
