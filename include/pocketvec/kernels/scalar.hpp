// pocketvec/kernels/scalar.hpp — the portable reference kernels (the oracle every SIMD kernel is
// tested against). Plain loops with a float accumulator in index order; no intrinsics.
//
// Every backend is a struct of static, noexcept functions with exactly these signatures:
//   dot_f32(a, b, n)       sum a[i]*b[i]                          (f32 . f32)
//   l2sq_f32(a, b, n)      sum (a[i]-b[i])^2                      (f32 . f32)
//   dot_f32_u8(w, c, n)    sum w[i]*float(c[i])                   (f32 weights . u8 codes, SQ8)
//   dot_i16_u8(w, c, n)    sum w[i]*c[i] in int32                 (i16 weights . u8 codes, SQ8 search)
//   sumsq_scaled_u8(s, c, n)  sum (s[i]*float(c[i]))^2            (an SQ8 l2 norm term, the loader's check)
//   sumsq_lanes            independent partial sums sumsq_scaled_u8 keeps (bounds its rounding error)
// dot_i16_u8 is exact integer arithmetic, so every backend returns the same value bit for bit;
// its precondition is sum |w[i]|*255 <= INT32_MAX, which bounds every partial sum in any order.
// Pointers need no alignment; n may be any value including 0.
// Depends on nothing else in pocketvec.
#pragma once

#include "../abi.hpp"

#include <cstddef>
#include <cstdint>

namespace pocketvec::inline POCKETVEC_ABI::kernels {

struct scalar {
  static constexpr const char* name = "scalar";
  static constexpr std::size_t sumsq_lanes = 1;

  static float dot_f32(const float* a, const float* b, std::size_t n) noexcept {
    float sum = 0.0f;
    for (std::size_t i = 0; i < n; ++i) sum += a[i] * b[i];
    return sum;
  }

  static float l2sq_f32(const float* a, const float* b, std::size_t n) noexcept {
    float sum = 0.0f;
    for (std::size_t i = 0; i < n; ++i) {
      const float d = a[i] - b[i];
      sum += d * d;
    }
    return sum;
  }

  static float dot_f32_u8(const float* w, const std::uint8_t* c, std::size_t n) noexcept {
    float sum = 0.0f;
    for (std::size_t i = 0; i < n; ++i) sum += w[i] * static_cast<float>(c[i]);
    return sum;
  }

  static std::int32_t dot_i16_u8(const std::int16_t* w, const std::uint8_t* c, std::size_t n) noexcept {
    std::int32_t sum = 0;
    for (std::size_t i = 0; i < n; ++i) sum += std::int32_t{w[i]} * std::int32_t{c[i]};
    return sum;
  }

  static float sumsq_scaled_u8(const float* step, const std::uint8_t* c, std::size_t n) noexcept {
    float sum = 0.0f;
    for (std::size_t i = 0; i < n; ++i) {
      const float x = step[i] * static_cast<float>(c[i]);
      sum += x * x;
    }
    return sum;
  }
};

}  // namespace pocketvec::POCKETVEC_ABI::kernels
