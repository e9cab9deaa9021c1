// Shared helpers for the test suite: seeded data sets and the brute-force oracle.
#pragma once

#include <pocketvec/pocketvec.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace pvtest {

/// The errc of the pocketvec::error `fn` throws; errc{} when it throws none.
template <class F>
pocketvec::errc code_of(F&& fn) {
  try {
    fn();
  } catch (const pocketvec::error& e) {
    return e.code();
  }
  return pocketvec::errc{};
}

/// The errc and message of the pocketvec::error `fn` throws; errc{} and "" when it throws none.
template <class F>
std::pair<pocketvec::errc, std::string> error_of(F&& fn) {
  try {
    fn();
  } catch (const pocketvec::error& e) {
    return {e.code(), e.what()};
  }
  return {pocketvec::errc{}, ""};
}

// ---- editing index bytes by offset (tests of the loader's checks behind valid checksums) ----

inline std::uint32_t rd32(const std::vector<std::uint8_t>& b, std::size_t at) {
  std::uint32_t v;
  std::memcpy(&v, b.data() + at, 4);
  return v;
}
inline void wr32(std::vector<std::uint8_t>& b, std::size_t at, std::uint32_t v) { std::memcpy(b.data() + at, &v, 4); }

/// Offset of section `tag`'s head (tag u32, length u64, crc u32) in the part whose 96-byte header
/// starts at `header` (0: the base; a segment's header follows its 8-byte envelope); SIZE_MAX when
/// the part has none.
inline std::size_t find_section_in(const std::vector<std::uint8_t>& b, std::size_t header, const char (&tag)[5]) {
  std::size_t at = header + pocketvec::format_header_bytes;
  while (at + 16 <= b.size()) {
    if (std::memcmp(b.data() + at, "PVSG", 4) == 0) break;  // the next part
    std::uint64_t len;
    std::memcpy(&len, b.data() + at + 4, 8);
    if (std::memcmp(b.data() + at, tag, 4) == 0) return at;
    at += 16 + static_cast<std::size_t>(len);
  }
  return SIZE_MAX;
}
/// Recomputes the CRC of the 96-byte header at `header`.
inline void fix_header_crc(std::vector<std::uint8_t>& b, std::size_t header = 0) {
  wr32(b, header + pocketvec::format_header_bytes - 4,
       pocketvec::detail::crc32c::of({b.data() + header, pocketvec::format_header_bytes - 4}));
}
/// Recomputes the CRC of the section whose head is at `at`.
inline void fix_section_crc(std::vector<std::uint8_t>& b, std::size_t at) {
  std::uint64_t len;
  std::memcpy(&len, b.data() + at + 4, 8);
  wr32(b, at + 12, pocketvec::detail::crc32c::of({b.data() + at + 16, static_cast<std::size_t>(len)}));
}

/// Deterministic uniform floats in [0, 1) from splitmix64 (same on every platform).
struct rng {
  std::uint64_t state;
  explicit rng(std::uint64_t seed) : state(seed) {}
  std::uint64_t next() {
    state += 0x9E3779B97F4A7C15ull;
    std::uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  float uniform() { return static_cast<float>(next() >> 40) / static_cast<float>(1u << 24); }
  float normal() {  // Box-Muller
    const float u1 = std::max(uniform(), 1e-7f), u2 = uniform();
    return std::sqrt(-2.0f * std::log(u1)) * std::cos(6.2831853f * u2);
  }
};

/// n vectors around `clusters` Gaussian centres (centre spread 1, cluster spread `spread`).
inline std::vector<float> clustered(std::size_t n, std::size_t dim, std::size_t clusters,
                                    std::uint64_t seed, float spread = 0.35f) {
  rng r(seed);
  std::vector<float> centres(clusters * dim);
  for (float& c : centres) c = r.normal();
  std::vector<float> out(n * dim);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t c = r.next() % clusters;
    for (std::size_t d = 0; d < dim; ++d) out[i * dim + d] = centres[c * dim + d] + spread * r.normal();
  }
  return out;
}

inline float exact_distance(pocketvec::metric m, const float* a, const float* b, std::size_t dim) {
  double dot = 0, na = 0, nb = 0, l2 = 0;
  for (std::size_t i = 0; i < dim; ++i) {
    dot += double{a[i]} * b[i];
    na += double{a[i]} * a[i];
    nb += double{b[i]} * b[i];
    l2 += (double{a[i]} - b[i]) * (double{a[i]} - b[i]);
  }
  switch (m) {
    case pocketvec::metric::l2: return static_cast<float>(l2);
    case pocketvec::metric::cosine: return static_cast<float>(1.0 - dot / std::sqrt(na * nb));
    case pocketvec::metric::ip: return static_cast<float>(-dot);
  }
  return 0;
}

/// Exact top-k ids (as positions in `base`, mapped through `ids`), skipping `skip[i]` rows.
inline std::vector<pocketvec::id_t> brute_force(pocketvec::metric m, std::span<const float> base,
                                                std::span<const pocketvec::id_t> ids,
                                                const float* q, std::size_t dim, std::size_t k,
                                                const std::vector<bool>* skip = nullptr) {
  std::vector<std::pair<float, pocketvec::id_t>> all;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (skip && (*skip)[i]) continue;
    all.push_back({exact_distance(m, base.data() + i * dim, q, dim), ids[i]});
  }
  k = std::min(k, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k), all.end());
  std::vector<pocketvec::id_t> out;
  for (std::size_t i = 0; i < k; ++i) out.push_back(all[i].second);
  return out;
}

/// |found ∩ truth| / |truth|.
inline double overlap(const std::vector<pocketvec::search_result>& found,
                      const std::vector<pocketvec::id_t>& truth) {
  std::size_t hit = 0;
  for (auto id : truth)
    for (auto& r : found)
      if (r.id == id) {
        ++hit;
        break;
      }
  return truth.empty() ? 1.0 : static_cast<double>(hit) / static_cast<double>(truth.size());
}

}  // namespace pvtest
