// Distance-kernel micro-benchmark (Google Benchmark): kernels::scalar vs kernels::best.
//
//   <kernel>/<backend>/<dim>       e.g. dot_f32_u8/xsimd/sse2/768
//   <kernel>/<backend>/<dim>/hot   the same with an L1-resident pool: kernel arithmetic only
// One call per iteration: a fixed query (stays in L1, like the prepared query of a search) against
// a stored vector drawn from a pool larger than L2 (8 MiB; L3-sized caches may still hold it), so
// the numbers include the cache misses a graph search pays. The pool index advances by an odd
// stride under a power-of-two mask: a full cycle over the pool that jumps between unrelated
// vectors, as graph search does, instead of a sequential stream the prefetcher would hide.
// The /hot variants (8 KiB pool) separate kernel speed from memory behaviour, which on a shared
// machine is the noisier part.
// Counters: bytes = both operands' bytes per call; items = vector elements (dimensions) per call.
// The backend under `best` follows the compiler flags (SSE2 by default; configure with
// -DCMAKE_CXX_FLAGS=-march=native to see AVX2).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include <pocketvec/kernels/kernels.hpp>
#include <pocketvec/kernels/scalar.hpp>

namespace {

namespace pk = pocketvec::kernels;

constexpr std::size_t cold_pool_bytes = std::size_t{8} << 20;
constexpr std::size_t hot_pool_bytes = std::size_t{8} << 10;
constexpr std::size_t stride = 40503;  // odd, so i * stride & mask visits every vector once per cycle
constexpr std::size_t bench_dims[] = {128, 768, 1536};

template <class T>
struct pool {
  std::vector<T> data;
  std::size_t dim = 0;
  std::size_t mask = 0;  // vector count - 1, a power of two
  const T* vector(std::size_t i) const noexcept { return data.data() + ((i * stride) & mask) * dim; }
};

template <class T>
pool<T> make_pool(std::size_t dim, std::size_t bytes, std::uint32_t seed) {
  const std::size_t count = std::bit_ceil(std::max<std::size_t>(1, bytes / (dim * sizeof(T))));
  pool<T> p{std::vector<T>(count * dim), dim, count - 1};
  std::mt19937 gen(seed);
  for (auto& x : p.data) {
    if constexpr (sizeof(T) == 1) {
      x = static_cast<T>(gen() >> 24);
    } else {
      x = static_cast<T>(static_cast<std::int32_t>(gen() >> 8) - (1 << 23)) * 0x1p-23f;
    }
  }
  return p;
}

std::vector<float> make_query(std::size_t dim) {
  std::vector<float> q(dim);
  std::mt19937 gen(7);
  for (auto& x : q) x = static_cast<float>(static_cast<std::int32_t>(gen() >> 8) - (1 << 23)) * 0x1p-23f;
  return q;
}

void set_counters(benchmark::State& state, std::size_t dim, std::size_t bytes_per_call) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes_per_call));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * dim));
}

template <class K>
void bm_dot_f32(benchmark::State& state, std::size_t dim, std::size_t pool_bytes) {
  const auto p = make_pool<float>(dim, pool_bytes, 1);
  const auto q = make_query(dim);
  std::size_t i = 0;
  for (auto _ : state) {
    float d = K::dot_f32(q.data(), p.vector(i++), dim);
    benchmark::DoNotOptimize(d);
  }
  set_counters(state, dim, 2 * dim * sizeof(float));
}

template <class K>
void bm_l2sq_f32(benchmark::State& state, std::size_t dim, std::size_t pool_bytes) {
  const auto p = make_pool<float>(dim, pool_bytes, 2);
  const auto q = make_query(dim);
  std::size_t i = 0;
  for (auto _ : state) {
    float d = K::l2sq_f32(q.data(), p.vector(i++), dim);
    benchmark::DoNotOptimize(d);
  }
  set_counters(state, dim, 2 * dim * sizeof(float));
}

template <class K>
void bm_dot_f32_u8(benchmark::State& state, std::size_t dim, std::size_t pool_bytes) {
  const auto p = make_pool<std::uint8_t>(dim, pool_bytes, 3);
  const auto q = make_query(dim);
  std::size_t i = 0;
  for (auto _ : state) {
    float d = K::dot_f32_u8(q.data(), p.vector(i++), dim);
    benchmark::DoNotOptimize(d);
  }
  set_counters(state, dim, dim * (sizeof(float) + 1));
}

template <class K>
void bm_dot_i16_u8(benchmark::State& state, std::size_t dim, std::size_t pool_bytes) {
  const auto p = make_pool<std::uint8_t>(dim, pool_bytes, 3);
  const auto qf = make_query(dim);
  std::vector<std::int16_t> q(dim);  // the SQ8 store's fixed-point weights: |w| < 2^15
  for (std::size_t j = 0; j < dim; ++j) q[j] = static_cast<std::int16_t>(qf[j] * 2000.0f);
  std::size_t i = 0;
  for (auto _ : state) {
    std::int32_t d = K::dot_i16_u8(q.data(), p.vector(i++), dim);
    benchmark::DoNotOptimize(d);
  }
  set_counters(state, dim, dim * (sizeof(std::int16_t) + 1));
}

template <class K>
void register_backend() {
  for (const bool hot : {false, true}) {
    const std::size_t bytes = hot ? hot_pool_bytes : cold_pool_bytes;
    for (const std::size_t dim : bench_dims) {
      const std::string suffix = std::string("/") + K::name + "/" + std::to_string(dim) + (hot ? "/hot" : "");
      benchmark::RegisterBenchmark(("dot_f32" + suffix).c_str(), bm_dot_f32<K>, dim, bytes);
      benchmark::RegisterBenchmark(("l2sq_f32" + suffix).c_str(), bm_l2sq_f32<K>, dim, bytes);
      benchmark::RegisterBenchmark(("dot_f32_u8" + suffix).c_str(), bm_dot_f32_u8<K>, dim, bytes);
      benchmark::RegisterBenchmark(("dot_i16_u8" + suffix).c_str(), bm_dot_i16_u8<K>, dim, bytes);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_backend<pk::scalar>();
  if constexpr (!std::is_same_v<pk::best, pk::scalar>) register_backend<pk::best>();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
