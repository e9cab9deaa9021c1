// Native search and insert benchmarks (Google Benchmark) on seeded clustered data.
//
//   BM_insert/<n>/<dim>/<quant>      inserts per second building an index of n vectors
//   BM_search/<n>/<dim>/<quant>/<ef> one query per iteration; counters: recall@10 against brute force,
//                                    p50_us / p99_us over every query timed in the run,
//                                    bytes_per_vector (memory_bytes() / n), and build_inserts_per_s
//                                    (the one build of the cached index, insert_batch of all n rows)
// quant: 0 = f32, 1 = sq8. Cosine metric, M = 16, ef_construction = 200, seed 42.
// Indexes are built once per (n, dim, quant) and cached for the search cases (a static fixture), so
// the 100k x 768 indexes are built once per process, not once per benchmark run; their build rate is
// reported through build_inserts_per_s instead of a BM_insert case of their own.
// JSON: pocketvec_search_bench --benchmark_format=json --benchmark_out=FILE (see docs/benchmarks.md).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <tuple>

#include "../tests/test_util.hpp"

namespace {

constexpr std::size_t n_queries = 1000;

// Data and exact top-10 per (n, dim), shared by the f32 and sq8 indexes built on it.
struct dataset {
  std::vector<float> base, queries;
  std::vector<std::vector<pocketvec::id_t>> truth;
};

struct fixture {
  const dataset* data = nullptr;
  std::unique_ptr<pocketvec::index> idx;
  double build_seconds = 0;
};

pocketvec::index_params params(std::size_t dim, int quant) {
  pocketvec::index_params p;
  p.dim = dim;
  p.metric_kind = pocketvec::metric::cosine;
  p.quant = quant ? pocketvec::quantization::sq8 : pocketvec::quantization::none;
  return p;
}

std::vector<float> unit_rows(const std::vector<float>& rows, std::size_t dim) {
  std::vector<float> out(rows.size());
  for (std::size_t r = 0; r < rows.size() / dim; ++r) {
    double n2 = 0;
    for (std::size_t i = 0; i < dim; ++i) n2 += double{rows[r * dim + i]} * rows[r * dim + i];
    const double inv = 1.0 / std::sqrt(n2);
    for (std::size_t i = 0; i < dim; ++i) out[r * dim + i] = static_cast<float>(rows[r * dim + i] * inv);
  }
  return out;
}

// Cosine ground truth by brute force over unit-length copies with the SIMD float dot product (the
// double-precision pvtest::brute_force takes minutes at 100k x 768 x 1000 queries).
// Ids are insertion order (0..n-1), which is what insert_batch hands out on a fresh index.
const dataset& get_dataset(std::size_t n, std::size_t dim) {
  static std::map<std::pair<std::size_t, std::size_t>, dataset> cache;
  auto [it, fresh] = cache.try_emplace({n, dim});
  dataset& d = it->second;
  if (!fresh) return d;
  d.base = pvtest::clustered(n + n_queries, dim, 100, 42);
  d.queries.assign(d.base.begin() + static_cast<std::ptrdiff_t>(n * dim), d.base.end());
  d.base.resize(n * dim);
  const auto ub = unit_rows(d.base, dim);
  const auto uq = unit_rows(d.queries, dim);
  std::vector<std::pair<float, pocketvec::id_t>> all(n);
  for (std::size_t q = 0; q < n_queries; ++q) {
    const float* qv = uq.data() + q * dim;
    for (std::size_t i = 0; i < n; ++i) {
      const float* b = ub.data() + i * dim;
      all[i] = {-pocketvec::kernels::best::dot_f32(qv, b, dim), static_cast<pocketvec::id_t>(i)};
    }
    std::partial_sort(all.begin(), all.begin() + 10, all.end());
    std::vector<pocketvec::id_t> top;
    for (std::size_t i = 0; i < 10; ++i) top.push_back(all[i].second);
    d.truth.push_back(std::move(top));
  }
  return d;
}

fixture& get_fixture(std::size_t n, std::size_t dim, int quant) {
  static std::map<std::tuple<std::size_t, std::size_t, int>, fixture> cache;
  auto [it, fresh] = cache.try_emplace({n, dim, quant});
  fixture& f = it->second;
  if (!fresh) return f;
  f.data = &get_dataset(n, dim);
  f.idx = std::make_unique<pocketvec::index>(params(dim, quant));
  const auto t0 = std::chrono::steady_clock::now();
  f.idx->insert_batch(f.data->base);
  f.build_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return f;
}

void BM_insert(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto dim = static_cast<std::size_t>(state.range(1));
  const int quant = static_cast<int>(state.range(2));
  const auto data = pvtest::clustered(n, dim, 100, 7);
  for (auto _ : state) {
    pocketvec::index idx(params(dim, quant));
    idx.insert_batch(data);
    benchmark::DoNotOptimize(idx.size());
  }
  state.counters["inserts_per_s"] = benchmark::Counter(
      static_cast<double>(n) * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_search(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto dim = static_cast<std::size_t>(state.range(1));
  const int quant = static_cast<int>(state.range(2));
  const auto ef = static_cast<std::size_t>(state.range(3));
  fixture& f = get_fixture(n, dim, quant);
  std::vector<double> micros;
  double recall = 0;
  std::size_t q = 0;
  for (auto _ : state) {
    const float* query = f.data->queries.data() + (q % n_queries) * dim;
    const auto t0 = std::chrono::steady_clock::now();
    auto hits = f.idx->search({query, dim}, 10, ef);
    const auto t1 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(hits.data());
    micros.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    recall += pvtest::overlap(hits, f.data->truth[q % n_queries]);
    ++q;
  }
  std::sort(micros.begin(), micros.end());
  auto pct = [&](double p) { return micros[static_cast<std::size_t>(p * (micros.size() - 1))]; };
  state.counters["recall@10"] = recall / static_cast<double>(q);
  state.counters["p50_us"] = pct(0.50);
  state.counters["p99_us"] = pct(0.99);
  state.counters["bytes_per_vector"] =
      static_cast<double>(f.idx->memory_bytes()) / static_cast<double>(n);
  state.counters["build_inserts_per_s"] = static_cast<double>(n) / f.build_seconds;
}

}  // namespace

BENCHMARK(BM_insert)->Args({10000, 128, 0})->Args({10000, 128, 1})->Args({10000, 768, 0})
    ->Args({10000, 768, 1})->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(BM_search)
    ->ArgsProduct({{10000}, {128, 768}, {0, 1}, {16, 64, 128}})
    ->ArgsProduct({{100000}, {768}, {0, 1}, {16, 32, 64, 128}})
    ->Unit(benchmark::kMicrosecond)->MinTime(0.5);

BENCHMARK_MAIN();
