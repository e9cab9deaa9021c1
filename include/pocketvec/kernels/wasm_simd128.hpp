// pocketvec/kernels/wasm_simd128.hpp — distance kernels on WebAssembly SIMD (128-bit, -msimd128).
//
// `wasm128` has the backend interface of kernels/scalar.hpp (dot_f32, l2sq_f32, dot_f32_u8,
// dot_i16_u8, sumsq_scaled_u8, sumsq_lanes, name) and computes the same sums in a different order (four f32x4 accumulators, then a
// horizontal add), so results differ from the scalar oracle only by float rounding. Plain
// mul + add: WASM SIMD has no fused multiply-add outside relaxed SIMD, which we cannot use.
//
// Invariants: pointers need no alignment (wasm loads are unaligned); any n including 0; reads
// exactly a[0..n) / b[0..n) / c[0..n). Only compiled under Emscripten with -msimd128 (see
// kernels/kernels.hpp). Depends on nothing else in pocketvec.
#pragma once

#include "../abi.hpp"

#include <cstddef>
#include <cstdint>

#include <wasm_simd128.h>

namespace pocketvec::inline POCKETVEC_ABI::kernels {

namespace wasm128_detail {

inline float hsum(v128_t v) noexcept {
  return (wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1)) +
         (wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3));
}

// Codes to f32: four bytes of `bytes` (starting at byte First) zero-extended into u32 lanes, then
// converted. One i8x16.shuffle against zero per four codes, not the extend_low/high chain:
// clang 14 folds convert(extend(extend(x))) into a u16 -> f32 conversion that it scalarizes
// (16 extract_lane + scalar converts per 16 codes, 3x slower in Node 20), while V8 lowers this
// shuffle to palignr + pmovzxbd. The signed conversion is exact for 0..255 and, unlike
// f32x4.convert_i32x4_u, is a single instruction on x86 engines (cvtdq2ps).
template <int First>
inline v128_t widen4(v128_t bytes) noexcept {
  const v128_t u32 = wasm_i8x16_shuffle(bytes, wasm_i32x4_splat(0), First, 16, 16, 16, First + 1, 16, 16, 16,
                                        First + 2, 16, 16, 16, First + 3, 16, 16, 16);
  return wasm_f32x4_convert_i32x4(u32);
}

}  // namespace wasm128_detail

struct wasm128 {
  static constexpr const char* name = "wasm_simd128";
  static constexpr std::size_t sumsq_lanes = 16;  // four f32x4 accumulators

  static float dot_f32(const float* a, const float* b, std::size_t n) noexcept {
    v128_t acc0 = wasm_f32x4_splat(0.0f), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
      acc0 = wasm_f32x4_add(acc0, wasm_f32x4_mul(wasm_v128_load(a + i), wasm_v128_load(b + i)));
      acc1 = wasm_f32x4_add(acc1, wasm_f32x4_mul(wasm_v128_load(a + i + 4), wasm_v128_load(b + i + 4)));
      acc2 = wasm_f32x4_add(acc2, wasm_f32x4_mul(wasm_v128_load(a + i + 8), wasm_v128_load(b + i + 8)));
      acc3 = wasm_f32x4_add(acc3, wasm_f32x4_mul(wasm_v128_load(a + i + 12), wasm_v128_load(b + i + 12)));
    }
    for (; i + 4 <= n; i += 4)
      acc0 = wasm_f32x4_add(acc0, wasm_f32x4_mul(wasm_v128_load(a + i), wasm_v128_load(b + i)));
    float sum = wasm128_detail::hsum(wasm_f32x4_add(wasm_f32x4_add(acc0, acc1), wasm_f32x4_add(acc2, acc3)));
    for (; i < n; ++i) sum += a[i] * b[i];
    return sum;
  }

  static float l2sq_f32(const float* a, const float* b, std::size_t n) noexcept {
    v128_t acc0 = wasm_f32x4_splat(0.0f), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
      const v128_t d0 = wasm_f32x4_sub(wasm_v128_load(a + i), wasm_v128_load(b + i));
      const v128_t d1 = wasm_f32x4_sub(wasm_v128_load(a + i + 4), wasm_v128_load(b + i + 4));
      const v128_t d2 = wasm_f32x4_sub(wasm_v128_load(a + i + 8), wasm_v128_load(b + i + 8));
      const v128_t d3 = wasm_f32x4_sub(wasm_v128_load(a + i + 12), wasm_v128_load(b + i + 12));
      acc0 = wasm_f32x4_add(acc0, wasm_f32x4_mul(d0, d0));
      acc1 = wasm_f32x4_add(acc1, wasm_f32x4_mul(d1, d1));
      acc2 = wasm_f32x4_add(acc2, wasm_f32x4_mul(d2, d2));
      acc3 = wasm_f32x4_add(acc3, wasm_f32x4_mul(d3, d3));
    }
    for (; i + 4 <= n; i += 4) {
      const v128_t d = wasm_f32x4_sub(wasm_v128_load(a + i), wasm_v128_load(b + i));
      acc0 = wasm_f32x4_add(acc0, wasm_f32x4_mul(d, d));
    }
    float sum = wasm128_detail::hsum(wasm_f32x4_add(wasm_f32x4_add(acc0, acc1), wasm_f32x4_add(acc2, acc3)));
    for (; i < n; ++i) {
      const float d = a[i] - b[i];
      sum += d * d;
    }
    return sum;
  }

  /// 16 codes per step (one load, four widenings), one accumulator per group of four codes.
  static float dot_f32_u8(const float* w, const std::uint8_t* c, std::size_t n) noexcept {
    using wasm128_detail::widen4;
    v128_t acc0 = wasm_f32x4_splat(0.0f), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
      const v128_t bytes = wasm_v128_load(c + i);
      acc0 = wasm_f32x4_add(acc0, wasm_f32x4_mul(wasm_v128_load(w + i), widen4<0>(bytes)));
      acc1 = wasm_f32x4_add(acc1, wasm_f32x4_mul(wasm_v128_load(w + i + 4), widen4<4>(bytes)));
      acc2 = wasm_f32x4_add(acc2, wasm_f32x4_mul(wasm_v128_load(w + i + 8), widen4<8>(bytes)));
      acc3 = wasm_f32x4_add(acc3, wasm_f32x4_mul(wasm_v128_load(w + i + 12), widen4<12>(bytes)));
    }
    for (; i + 4 <= n; i += 4)
      acc0 = wasm_f32x4_add(acc0, wasm_f32x4_mul(wasm_v128_load(w + i), widen4<0>(wasm_v128_load32_zero(c + i))));
    float sum = wasm128_detail::hsum(wasm_f32x4_add(wasm_f32x4_add(acc0, acc1), wasm_f32x4_add(acc2, acc3)));
    for (; i < n; ++i) sum += w[i] * static_cast<float>(c[i]);
    return sum;
  }

  static float sumsq_scaled_u8(const float* step, const std::uint8_t* c, std::size_t n) noexcept {
    using wasm128_detail::widen4;
    v128_t acc0 = wasm_f32x4_splat(0.0f), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    auto sq = [step](v128_t acc, std::size_t at, v128_t codes) {
      const v128_t x = wasm_f32x4_mul(wasm_v128_load(step + at), codes);
      return wasm_f32x4_add(acc, wasm_f32x4_mul(x, x));
    };
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
      const v128_t bytes = wasm_v128_load(c + i);
      acc0 = sq(acc0, i, widen4<0>(bytes));
      acc1 = sq(acc1, i + 4, widen4<4>(bytes));
      acc2 = sq(acc2, i + 8, widen4<8>(bytes));
      acc3 = sq(acc3, i + 12, widen4<12>(bytes));
    }
    float sum = wasm128_detail::hsum(wasm_f32x4_add(wasm_f32x4_add(acc0, acc1), wasm_f32x4_add(acc2, acc3)));
    for (; i < n; ++i) {
      const float x = step[i] * static_cast<float>(c[i]);
      sum += x * x;
    }
    return sum;
  }

  /// 16 codes per step: zero-extend to two i16x8 and multiply-add pairs into i32 lanes
  /// (i32x4.dot_i16x8_s). Exact, so it equals the scalar reference bit for bit.
  static std::int32_t dot_i16_u8(const std::int16_t* w, const std::uint8_t* c, std::size_t n) noexcept {
    v128_t acc0 = wasm_i32x4_splat(0), acc1 = acc0;
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
      const v128_t bytes = wasm_v128_load(c + i);
      acc0 = wasm_i32x4_add(acc0, wasm_i32x4_dot_i16x8(wasm_v128_load(w + i), wasm_u16x8_extend_low_u8x16(bytes)));
      acc1 = wasm_i32x4_add(acc1, wasm_i32x4_dot_i16x8(wasm_v128_load(w + i + 8), wasm_u16x8_extend_high_u8x16(bytes)));
    }
    if (i + 8 <= n) {
      const v128_t bytes = wasm_v128_load64_zero(c + i);
      acc0 = wasm_i32x4_add(acc0, wasm_i32x4_dot_i16x8(wasm_v128_load(w + i), wasm_u16x8_extend_low_u8x16(bytes)));
      i += 8;
    }
    const v128_t acc = wasm_i32x4_add(acc0, acc1);
    std::int32_t sum = (wasm_i32x4_extract_lane(acc, 0) + wasm_i32x4_extract_lane(acc, 1)) +
                       (wasm_i32x4_extract_lane(acc, 2) + wasm_i32x4_extract_lane(acc, 3));
    for (; i < n; ++i) sum += std::int32_t{w[i]} * std::int32_t{c[i]};
    return sum;
  }
};

}  // namespace pocketvec::POCKETVEC_ABI::kernels
