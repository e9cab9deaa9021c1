// Two files of one program built for different instruction sets (this one with the default flags,
// mixed_b.cpp with -mavx2 -mfma) both use pocketvec. Each must run its own definitions: with one
// shared set the linker keeps one file's copy of every inline function for both (an ODR violation),
// and this file would run AVX2 kernels, or the other SSE2 ones. Built without optimisation, so that
// the calls below are real calls the linker could merge.
#include <pocketvec/pocketvec.hpp>

#include <cstdio>
#include <cstring>
#include <vector>

const char* kernels_of_b();
const char* kernels_of_c();
pocketvec::id_t nearest_in_b(const std::vector<float>& rows, const std::vector<float>& q);

namespace {
pocketvec::id_t nearest_here(const std::vector<float>& rows, const std::vector<float>& q) {
  pocketvec::index idx({.dim = 8});
  idx.insert_batch(rows);
  return idx.search(q, 1)[0].id;
}
}  // namespace

int main() {
#if defined(__x86_64__) || defined(__i386__)
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma") || !__builtin_cpu_supports("ssse3")) {
    std::puts("mixed flags: this CPU has no AVX2+FMA, skipped");
    return 0;
  }
#endif
  std::vector<float> rows;
  for (int i = 0; i < 64; ++i)
    for (int d = 0; d < 8; ++d) rows.push_back(static_cast<float>((i * (d + 1)) % 31) + 0.1f * static_cast<float>(i));
  const std::vector<float> q(rows.begin() + 8 * 21, rows.begin() + 8 * 22);
  const char* a = pocketvec::kernels_name();
  const char* b = kernels_of_b();
  const char* c = kernels_of_c();
  std::printf("default file: %s, -mavx2 -mfma file: %s, -mssse3 file: %s\n", a, b, c);
  if (std::strcmp(a, b) == 0 || std::strcmp(a, c) == 0 || std::strcmp(b, c) == 0) {
    std::puts("FAILED: both files run the same kernels (their definitions were merged)");
    return 1;
  }
  if (nearest_here(rows, q) != 21 || nearest_in_b(rows, q) != 21) {
    std::puts("FAILED: a search in one of the files went wrong");
    return 1;
  }
  std::puts("mixed flags: each file keeps its own kernels");
  return 0;
}
