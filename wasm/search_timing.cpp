// wasm/search_timing.cpp — times pocketvec::index::search (and the build) inside WebAssembly, with no JS
// boundary.
//
// The C++ half of the per-call overhead measurement in docs/js.md: js/bench/search-overhead.mjs
// builds the same index from the same generator and times Index.search from JS; the difference is
// what the embind call, staging and copying out cost. Usage (Node, from the build folder):
//   node --no-liftoff pocketvec_search_timing.js [dim=32] [n=1000] [k=10] [iterations=20000] [none|sq8]
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <pocketvec/pocketvec.hpp>

namespace {
// xorshift32 mapped to [-1, 1): js/bench/search-overhead.mjs has the same generator.
struct xorshift32 {
  std::uint32_t state = 2463534242u;
  float next() {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return static_cast<float>(static_cast<double>(state) / 4294967296.0 * 2.0 - 1.0);
  }
};

std::size_t arg(int argc, char** argv, int i, std::size_t fallback) {
  return argc > i ? static_cast<std::size_t>(std::strtoull(argv[i], nullptr, 10)) : fallback;
}
}  // namespace

int main(int argc, char** argv) {
  const std::size_t dim = arg(argc, argv, 1, 32), n = arg(argc, argv, 2, 1000);
  const std::size_t k = arg(argc, argv, 3, 10), iterations = arg(argc, argv, 4, 20000);
  const bool sq8 = argc > 5 && std::string(argv[5]) == "sq8";
  pocketvec::index_params p;
  p.dim = dim;
  p.quant = sq8 ? pocketvec::quantization::sq8 : pocketvec::quantization::none;
  pocketvec::index index(p);
  xorshift32 rng;
  std::vector<float> data(n * dim);
  for (auto& x : data) x = rng.next();
  const auto build_start = std::chrono::steady_clock::now();
  index.insert_batch(data);
  const double build_ns =
      std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - build_start).count();
  std::vector<float> queries(64 * dim);
  for (auto& x : queries) x = rng.next();

  float warm = 0;  // keeps the searches observable
  for (std::size_t i = 0; i < 1000; ++i) warm += index.search({&queries[(i % 64) * dim], dim}, k)[0].distance;
  double checksum = 0;  // the same sum the JS probe prints
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < iterations; ++i) {
    checksum += index.search({&queries[(i % 64) * dim], dim}, k)[0].distance;
  }
  const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
  std::printf("wasm C++ index::search: dim=%zu n=%zu k=%zu %s: %.0f ns/call (checksum %.6g, warm-up %g)\n", dim,
              n, k, sq8 ? "sq8" : "f32", ns / static_cast<double>(iterations), checksum, static_cast<double>(warm));
  std::printf("wasm C++ index::insert_batch: %.0f ns/vector\n", build_ns / static_cast<double>(n));
  return 0;
}
