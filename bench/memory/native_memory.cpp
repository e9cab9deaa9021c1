// Native memory of one build (issue 16): n x dim random vectors inserted in batches of 1000 rows into
// pocketvec (f32 or SQ8) or hnswlib's HierarchicalNSW<float> (L2, same M and ef_construction), one
// library per process, reporting what the process paid (VmRSS growth, VmHWM: peak RSS) and what the
// allocator holds (mallinfo2) next to pocketvec's memory_bytes(). A benchmark: it asserts nothing.
//
//   pv_native_memory LIB N DIM M EF_CONSTRUCTION SEED      LIB: pocketvec-f32 | pocketvec-sq8 | hnswlib
//
// Rows are uniform in [-1, 1) from splitmix64(SEED), generated one batch at a time into one reused
// buffer, so the data never shows in RSS. pocketvec grows as rows arrive (insert_batch per batch, no
// reserve). hnswlib cannot grow on its own: its API takes max_elements up front (here n), mallocs the
// level-0 block for all of them in the constructor and takes rows one addPoint at a time; its RSS
// grows as those pages are first written. Output: one JSON object on stdout; progress on stderr.
#include <pocketvec/pocketvec.hpp>
#include <hnswlib/hnswlib.h>

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <span>
#include <string>
#include <vector>

namespace {

struct proc_memory {
  std::size_t rss = 0;  // VmRSS, bytes
  std::size_t hwm = 0;  // VmHWM (peak RSS), bytes
  std::size_t heap_used = 0;  // bytes malloc has handed out and not got back (arena + mmapped blocks)
};

proc_memory read_memory() {
  proc_memory m;
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    const auto kib = [&] { return std::strtoull(line.c_str() + line.find(':') + 1, nullptr, 10) * 1024; };
    if (line.rfind("VmRSS:", 0) == 0) m.rss = kib();
    if (line.rfind("VmHWM:", 0) == 0) m.hwm = kib();
  }
  const struct mallinfo2 info = mallinfo2();
  m.heap_used = info.uordblks + info.hblkhd;  // glibc serves large blocks by mmap, outside uordblks
  return m;
}

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// Fills `rows` with uniform [-1, 1) values (24 random bits each).
void fill(std::vector<float>& rows, std::uint64_t& state) {
  for (float& x : rows) x = static_cast<float>(splitmix64(state) >> 40) * 0x1p-23f - 1.0f;
}

void print_memory(const char* what, const proc_memory& m) {
  std::fprintf(stderr, "%s: rss %.1f MiB, hwm %.1f MiB, heap used %.1f MiB\n", what, m.rss / 1048576.0,
               m.hwm / 1048576.0, m.heap_used / 1048576.0);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: %s pocketvec-f32|pocketvec-sq8|hnswlib N DIM M EF_CONSTRUCTION SEED\n", argv[0]);
    return 2;
  }
  const std::string lib = argv[1];
  const std::size_t n = std::strtoull(argv[2], nullptr, 10);
  const std::size_t dim = std::strtoull(argv[3], nullptr, 10);
  const std::size_t m = std::strtoull(argv[4], nullptr, 10);
  const std::size_t ef_construction = std::strtoull(argv[5], nullptr, 10);
  std::uint64_t state = std::strtoull(argv[6], nullptr, 10);
  if (lib != "pocketvec-f32" && lib != "pocketvec-sq8" && lib != "hnswlib") {
    std::fprintf(stderr, "unknown library '%s'\n", lib.c_str());
    return 2;
  }
  constexpr std::size_t batch = 1000;
  std::vector<float> rows(batch * dim);  // allocated (and touched) before the first reading
  fill(rows, state);
  state = std::strtoull(argv[6], nullptr, 10);

  const proc_memory before = read_memory();
  print_memory("before", before);
  const auto t0 = std::chrono::steady_clock::now();
  std::size_t memory_bytes = 0;    // pocketvec's own figure
  std::size_t hnswlib_level0 = 0;  // hnswlib's level-0 block: max_elements x bytes per element
  proc_memory constructed = before;  // hnswlib: after its constructor has preallocated
  proc_memory built;                 // read while the index is still alive
  if (lib == "hnswlib") {
    hnswlib::L2Space space(dim);
    hnswlib::HierarchicalNSW<float> index(&space, n, m, ef_construction, /*random_seed=*/100);
    constructed = read_memory();
    print_memory("constructed", constructed);
    hnswlib_level0 = index.max_elements_ * index.size_data_per_element_;
    for (std::size_t first = 0; first < n; first += batch) {
      const std::size_t count = std::min(batch, n - first);
      fill(rows, state);
      for (std::size_t r = 0; r < count; ++r) index.addPoint(rows.data() + r * dim, first + r);
    }
    built = read_memory();
  } else {
    pocketvec::index index({.dim = dim,
                            .metric_kind = pocketvec::metric::l2,
                            .quant = lib == "pocketvec-sq8" ? pocketvec::quantization::sq8
                                                            : pocketvec::quantization::none,
                            .m = m,
                            .ef_construction = ef_construction});
    for (std::size_t first = 0; first < n; first += batch) {
      const std::size_t count = std::min(batch, n - first);
      fill(rows, state);
      index.insert_batch(std::span<const float>(rows.data(), count * dim));
    }
    memory_bytes = index.memory_bytes();
    built = read_memory();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  print_memory("built", built);
  std::printf(
      "{\"lib\":\"%s\",\"n\":%zu,\"dim\":%zu,\"m\":%zu,\"ef_construction\":%zu,\"seconds\":%.2f,"
      "\"raw_f32_bytes\":%zu,\"memory_bytes\":%zu,\"hnswlib_level0_bytes\":%zu,"
      "\"rss_before\":%zu,\"rss_constructed\":%zu,\"rss_after\":%zu,\"hwm_before\":%zu,\"hwm_after\":%zu,"
      "\"heap_used_before\":%zu,\"heap_used_after\":%zu}\n",
      lib.c_str(), n, dim, m, ef_construction, seconds, n * dim * sizeof(float), memory_bytes,
      hnswlib_level0, before.rss, constructed.rss, built.rss, before.hwm, built.hwm, before.heap_used,
      built.heap_used);
  return 0;
}
