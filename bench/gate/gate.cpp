// The regression gate's fixed workload. Deterministic: seeded data, seeded index, fixed queries.
// Run under `valgrind --tool=callgrind`; scripts/bench-gate.sh reads the inclusive instruction
// counts of gate_build() and gate_search() and compares them with bench/gate/baseline.txt.
// Prints recall@10 per configuration (checked against the baseline too) and, outside valgrind,
// wall-clock p50/p99 per query for information.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "../../tests/test_util.hpp"

namespace {

constexpr std::size_t n = 4000, dim = 96, n_queries = 300, k = 10, ef = 64;

struct workload {
  std::vector<float> base, queries;
};

workload make_workload() {
  workload w;
  w.base = pvtest::clustered(n + n_queries, dim, 40, 2024);
  w.queries.assign(w.base.begin() + n * dim, w.base.end());
  w.base.resize(n * dim);
  return w;
}

[[gnu::noinline]] std::unique_ptr<pocketvec::index> gate_build(const workload& w,
                                                               pocketvec::quantization q) {
  pocketvec::index_params p;
  p.dim = dim;
  p.metric_kind = pocketvec::metric::l2;
  p.quant = q;
  auto idx = std::make_unique<pocketvec::index>(p);
  idx->insert_batch(w.base);
  return idx;
}

[[gnu::noinline]] std::vector<std::vector<pocketvec::search_result>> gate_search(
    pocketvec::index& idx, const workload& w, std::vector<double>& micros) {
  std::vector<std::vector<pocketvec::search_result>> out;
  for (std::size_t i = 0; i < n_queries; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    out.push_back(idx.search({w.queries.data() + i * dim, dim}, k, ef));
    micros.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string kind = argc > 1 ? argv[1] : "f32";
  if (kind != "f32" && kind != "sq8") {
    std::fprintf(stderr, "usage: pv_gate f32|sq8\n");
    return 2;
  }
  const auto q = kind == "f32" ? pocketvec::quantization::none : pocketvec::quantization::sq8;
  const workload w = make_workload();
  std::vector<pocketvec::id_t> ids(n);
  for (std::size_t i = 0; i < n; ++i) ids[i] = static_cast<pocketvec::id_t>(i);
  auto idx = gate_build(w, q);
  std::vector<double> micros;
  auto results = gate_search(*idx, w, micros);
  double recall = 0;
  for (std::size_t i = 0; i < n_queries; ++i)
    recall += pvtest::overlap(results[i], pvtest::brute_force(pocketvec::metric::l2, w.base, ids,
                                                              w.queries.data() + i * dim, dim, k));
  std::sort(micros.begin(), micros.end());
  std::printf("%s recall@10 %.4f p50_us %.1f p99_us %.1f\n", kind.c_str(), recall / n_queries,
              micros[n_queries / 2], micros[n_queries * 99 / 100]);
}
