// Incremental saves against full saves (issue: saves that cost what changed). Builds an n x dim
// index (f32, then SQ8), saves it in full and marks the save point, inserts `add` more vectors, then
// times the next save both ways: the full file and the appended segment, each through
// chunked_writer in 1 MiB chunks copied out (what the JS stores do), `runs` times, interleaved.
// Prints bytes and the median and p99 times of each, and their ratios. Then checks that the base
// plus the segment loads to the index that saves like the in-memory one.
//   g++ -std=c++20 -O2 -Iinclude bench/persist/incremental_save.cpp -o incremental_save
//   ./incremental_save [n=100000] [dim=768] [add=100] [runs=15]
#include <pocketvec/pocketvec.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

namespace pv = pocketvec;
using clock_type = std::chrono::steady_clock;

namespace {

std::vector<float> rows(std::size_t n, std::size_t dim, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd;
  std::vector<float> v(n * dim);
  for (auto& x : v) x = nd(rng);
  return v;
}

/// Writes idx through a chunked_writer (full or append) into `out`; seconds taken.
double timed_save(const pv::index& idx, pv::save_mode mode, std::vector<std::uint8_t>& out, pv::save_point* pt) {
  const auto t0 = clock_type::now();
  pv::chunked_writer w(idx, std::size_t{1} << 20, mode);
  out.resize(static_cast<std::size_t>(w.total_bytes()));
  std::size_t at = 0;
  for (auto c = w.next(); !c.empty(); c = w.next()) {
    std::copy(c.begin(), c.end(), out.begin() + static_cast<std::ptrdiff_t>(at));
    at += c.size();
  }
  if (pt) *pt = w.point();
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

double pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 100000;
  const std::size_t dim = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 768;
  const std::size_t add = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 100;
  const int runs = argc > 4 ? std::atoi(argv[4]) : 15;
  const auto data = rows(n + add, dim, 7);
  for (auto q : {pv::quantization::none, pv::quantization::sq8}) {
    pv::index_params p;
    p.dim = dim;
    p.quant = q;
    p.ef_construction = 100;
    pv::index idx(p);
    const auto t0 = clock_type::now();
    idx.insert_batch(std::span<const float>(data).first(n * dim));
    const double build = std::chrono::duration<double>(clock_type::now() - t0).count();
    std::vector<std::uint8_t> base, full, seg;
    pv::save_point pt;
    timed_save(idx, pv::save_mode::full, base, &pt);
    idx.saved(pt);
    for (std::size_t i = 0; i < add; ++i) idx.insert(std::span<const float>(data).subspan((n + i) * dim, dim));
    std::vector<double> tf, ta;
    for (int r = 0; r < runs; ++r) {
      tf.push_back(timed_save(idx, pv::save_mode::full, full, nullptr));
      ta.push_back(timed_save(idx, pv::save_mode::append, seg, nullptr));
    }
    base.insert(base.end(), seg.begin(), seg.end());
    const bool same = pv::save(pv::load(base)) == full;
    std::printf("%s n=%zu dim=%zu (+%zu) built in %.1f s: full %zu B, segment %zu B (%.3f %%); "
                "full p50 %.2f ms p99 %.2f ms, segment p50 %.3f ms p99 %.3f ms (%.3f %% of full p50); reload %s\n",
                q == pv::quantization::none ? "f32" : "sq8", n, dim, add, build, full.size(), seg.size(),
                100.0 * static_cast<double>(seg.size()) / static_cast<double>(full.size()), 1e3 * pct(tf, 0.5),
                1e3 * pct(tf, 0.99), 1e3 * pct(ta, 0.5), 1e3 * pct(ta, 0.99), 100.0 * pct(ta, 0.5) / pct(tf, 0.5),
                same ? "equal" : "DIFFERENT");
    if (!same) return 1;
  }
}
