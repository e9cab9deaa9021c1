// Loader throughput: builds a 20k x 768 index (f32, then SQ8 and SQ8 re-rank), saves it to bytes,
// and times load() on those bytes: median of several runs, in MB/s of input (1 MB = 10^6 bytes).
// CRC-32C over the same bytes is timed too, as the floor a checked load cannot beat.
//   pocketvec_load_throughput [n=20000] [dim=768] [runs=7] [out-dir]
//   pocketvec_load_throughput FILE.pvx [runs=9]      times load() alone on a file written before
//                                                    (to compare two builds back to back, no rebuild)
// With out-dir, each index's bytes are also written there as <name>.pvx (js/bench/load-throughput.mjs
// times the WASM loader on them).
#include <pocketvec/pocketvec.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "seeded_rows.hpp"

namespace pv = pocketvec;
using clock_type = std::chrono::steady_clock;

namespace {

using pocketvec_fuzz::seeded_rows;

template <class F>
double median_seconds(int runs, F&& f) {
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    const auto start = clock_type::now();
    f();
    t.push_back(std::chrono::duration<double>(clock_type::now() - start).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int load_file(const char* path, int runs) {
  std::ifstream in(path, std::ios::binary);
  const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.eof() && !in) {
    std::fprintf(stderr, "cannot read %s\n", path);
    return 1;
  }
  const double s = median_seconds(runs, [&] { (void)pv::index::load(bytes); });
  std::printf("%s  %.1f MB  load %.1f ms = %.0f MB/s (median of %d, kernels %s)\n", path, bytes.size() / 1e6, s * 1e3,
              bytes.size() / 1e6 / s, runs, pv::kernels::best::name);
  return 0;
}

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]).ends_with(".pvx")) return load_file(argv[1], argc > 2 ? std::atoi(argv[2]) : 9);
  const std::size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 20000;
  const std::size_t dim = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 768;
  const int runs = argc > 3 ? std::atoi(argv[3]) : 7;
  const auto rows = seeded_rows(n, dim, 1);
  std::printf("load throughput: %zu x %zu, median of %d runs, kernels %s\n", n, dim, runs,
              pv::kernels::best::name);
  struct config {
    const char* name;
    pv::quantization q;
    bool rerank;
  };
  for (auto c : {config{"f32", pv::quantization::none, false}, config{"sq8", pv::quantization::sq8, false},
                 config{"sq8-rerank", pv::quantization::sq8, true}}) {
    pv::index_params p;
    p.dim = dim;
    p.quant = c.q;
    p.sq8_rerank = c.rerank;
    p.m = 16;
    p.ef_construction = 32;  // graph quality does not matter here, build time does
    pv::index idx(p);
    const auto b0 = clock_type::now();
    idx.insert_batch(rows);
    const double build_s = std::chrono::duration<double>(clock_type::now() - b0).count();
    for (pv::id_t id = 0; id < n; id += 10) idx.erase(id);
    const auto bytes = idx.save();
    std::size_t loaded = 0;
    if (argc > 4) {
      std::ofstream out(std::string(argv[4]) + "/" + c.name + ".pvx", std::ios::binary);
      out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    }
    // The push parser fed 1 MiB at a time, as the JS package feeds it.
    const double pieces_s = median_seconds(runs, [&] {
      pv::chunked_reader r;
      for (std::size_t at = 0; at < bytes.size(); at += 1 << 20)
        r.feed({bytes.data() + at, std::min<std::size_t>(1 << 20, bytes.size() - at)});
      loaded += r.finish().size();
    });
    const double load_s = median_seconds(runs, [&] { loaded += pv::load(bytes).size(); });
    std::uint32_t crc = 0;
    const double crc_s = median_seconds(runs, [&] { crc ^= pv::detail::crc32c::of(bytes); });
    const double save_s = median_seconds(runs, [&] { loaded += pv::save(idx).size(); });
    const double mb = static_cast<double>(bytes.size()) / 1e6;
    std::printf("  %-10s %8.1f MB  load %7.1f ms = %6.0f MB/s   in 1 MiB pieces %6.0f MB/s   crc32c alone %6.0f MB/s"
                "   save %6.0f MB/s   (build %.1f s)\n",
                c.name, mb, load_s * 1e3, mb / load_s, mb / pieces_s, mb / crc_s, mb / save_s, build_s);
    if (loaded == 0 || crc == 0xDEADBEEF) std::printf("  (unlikely)\n");
  }
  return 0;
}
