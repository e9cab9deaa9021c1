// tests/fuzz/seeded_rows.hpp — reproducible rows in [-1, 1) from splitmix64, the same on every
// platform and standard library (used by the corpus generator and the throughput probe).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <pocketvec/pocketvec.hpp>

namespace pocketvec_fuzz {

inline std::vector<float> seeded_rows(std::size_t n, std::size_t dim, std::uint64_t seed) {
  std::vector<float> out(n * dim);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const std::uint64_t r = pocketvec::detail::splitmix64(seed ^ pocketvec::detail::splitmix64(i));
    out[i] = static_cast<float>(r >> 40) / static_cast<float>(1u << 24) * 2.0f - 1.0f;
  }
  return out;
}

}  // namespace pocketvec_fuzz
