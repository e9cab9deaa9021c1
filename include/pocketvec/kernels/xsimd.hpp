// pocketvec/kernels/xsimd.hpp — native SIMD distance kernels on xsimd 8.1.0.
//
// `xsimd_arch` has the backend interface of kernels/scalar.hpp (dot_f32, l2sq_f32, dot_f32_u8,
// dot_i16_u8, sumsq_scaled_u8, sumsq_lanes, name) and computes the same sums in a different order (several accumulators, then a horizontal
// add), so results differ from the scalar oracle only by float rounding.
//
// The instruction set is fixed at compile time by the consumer's flags through
// xsimd::default_arch: SSE2 on plain x86-64, AVX with -mavx, AVX2 with -mavx2, fma3+avx2 with
// -mavx2 -mfma (or -march=x86-64-v3), AVX-512F with -mavx512f, NEON on ARM. There is no run-time
// CPU dispatch: that would need one translation unit per instruction set, which a header-only
// library cannot provide (see kernels/kernels.hpp). `basic_xsimd_arch<Arch>` exists so tests and
// benchmarks can also instantiate a narrower arch than the default (e.g. sse2 under -mavx2).
//
// Invariants: pointers need no alignment (unaligned loads only); any n including 0; reads exactly
// a[0..n) / b[0..n) / c[0..n), never past the end. Depends on nothing else in pocketvec.
#pragma once

#include "../abi.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include <xsimd/xsimd.hpp>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

namespace pocketvec::inline POCKETVEC_ABI::kernels {

namespace xsimd_detail {

template <class Arch>
using f32_batch = xsimd::batch<float, Arch>;

// ---- u8 -> f32 widening -------------------------------------------------------------------------
// xsimd 8.1.0 has no efficient way to say "widen these bytes": loading a float batch from u8
// memory falls back to a scalar conversion loop, and zip_lo/zip_hi (byte interleave) exist only
// for NEON. So each x86 register width gets a few raw intrinsics; overloads are picked by the
// arch tag the way xsimd picks its own kernels (most derived tag wins; sse2, avx and avx512f all
// derive from xsimd::generic, avx2 from avx). The generic overload is the portable fallback (used
// on NEON) and is tested against the others on x86.

/// Codes c[0 .. size) as one float batch. Reads exactly size bytes.
template <class Arch>
inline f32_batch<Arch> widen_u8(const std::uint8_t* c, const xsimd::generic&) noexcept {
  return f32_batch<Arch>::load_unaligned(c);  // xsimd's element-wise conversion
}

#if defined(__SSE2__)
inline __m128i load_u32_bits(const std::uint8_t* c) noexcept {
  std::uint32_t bits;
  std::memcpy(&bits, c, sizeof bits);  // the only 4-byte vector load SSE2 has goes through a GPR
  return _mm_cvtsi32_si128(static_cast<int>(bits));
}

// Zero-extend bytes to 16 then 32 bits by interleaving with zero (SSE2 has no pmovzx), then
// convert as signed int32: values are 0..255, and the signed conversion is one instruction.
template <class Arch>
inline f32_batch<Arch> widen_u8(const std::uint8_t* c, const xsimd::sse2&) noexcept {
  const __m128i zero = _mm_setzero_si128();
  const __m128i u16 = _mm_unpacklo_epi8(load_u32_bits(c), zero);
  return _mm_cvtepi32_ps(_mm_unpacklo_epi16(u16, zero));
}
#endif

#if defined(__AVX__)
// AVX without AVX2 has no 256-bit integer ops: widen two halves with SSE2, then join the floats.
template <class Arch>
inline f32_batch<Arch> widen_u8(const std::uint8_t* c, const xsimd::avx&) noexcept {
  const __m128i zero = _mm_setzero_si128();
  const __m128i u16 = _mm_unpacklo_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(c)), zero);
  const __m128 lo = _mm_cvtepi32_ps(_mm_unpacklo_epi16(u16, zero));
  const __m128 hi = _mm_cvtepi32_ps(_mm_unpackhi_epi16(u16, zero));
  return _mm256_insertf128_ps(_mm256_castps128_ps256(lo), hi, 1);
}
#endif

#if defined(__AVX2__)
template <class Arch>
inline f32_batch<Arch> widen_u8(const std::uint8_t* c, const xsimd::avx2&) noexcept {
  const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(c));
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes));
}
#endif

#if defined(__AVX512F__)
// Compile-checked only: the machines we test on have no AVX-512.
template <class Arch>
inline f32_batch<Arch> widen_u8(const std::uint8_t* c, const xsimd::avx512f&) noexcept {
  const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(c));
  return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(bytes));
}
#endif

/// Codes c[0 .. 4*size) as four float batches, in order. Reads exactly 4*size bytes.
template <class Arch>
inline void widen_u8x4(const std::uint8_t* c, f32_batch<Arch> (&out)[4],
                       const xsimd::generic&) noexcept {
  constexpr std::size_t lanes = f32_batch<Arch>::size;
  for (std::size_t k = 0; k < 4; ++k) out[k] = widen_u8<Arch>(c + k * lanes, Arch{});
}

#if defined(__SSE2__)
// One 16-byte load and six unpacks instead of four 4-byte loads through a general register.
template <class Arch>
inline void widen_u8x4(const std::uint8_t* c, f32_batch<Arch> (&out)[4],
                       const xsimd::sse2&) noexcept {
  const __m128i zero = _mm_setzero_si128();
  const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(c));
  const __m128i lo = _mm_unpacklo_epi8(bytes, zero);
  const __m128i hi = _mm_unpackhi_epi8(bytes, zero);
  out[0] = _mm_cvtepi32_ps(_mm_unpacklo_epi16(lo, zero));
  out[1] = _mm_cvtepi32_ps(_mm_unpackhi_epi16(lo, zero));
  out[2] = _mm_cvtepi32_ps(_mm_unpacklo_epi16(hi, zero));
  out[3] = _mm_cvtepi32_ps(_mm_unpackhi_epi16(hi, zero));
}
#endif

// ---- i16 weights . u8 codes, exact in int32 (pmaddwd) ---------------------------------------------
// xsimd 8.1.0 has no widening multiply-add either, so the same tag overloads as above. Integer
// arithmetic: every overload returns the scalar reference's value exactly.

template <class Arch>
inline std::int32_t dot_i16_u8(const std::int16_t* w, const std::uint8_t* c, std::size_t n,
                               const xsimd::generic&) noexcept {
  std::int32_t sum = 0;
  for (std::size_t i = 0; i < n; ++i) sum += std::int32_t{w[i]} * std::int32_t{c[i]};
  return sum;
}

#if defined(__SSE2__)
inline std::int32_t hsum_i32(__m128i v) noexcept {
  alignas(16) std::int32_t lanes[4];
  _mm_store_si128(reinterpret_cast<__m128i*>(lanes), v);
  return (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
}

inline std::int32_t dot_i16_u8_sse2(const std::int16_t* w, const std::uint8_t* c, std::size_t n) noexcept {
  const __m128i zero = _mm_setzero_si128();
  __m128i acc0 = zero, acc1 = zero;
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(c + i));
    const __m128i w0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i));
    const __m128i w1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i + 8));
    acc0 = _mm_add_epi32(acc0, _mm_madd_epi16(w0, _mm_unpacklo_epi8(bytes, zero)));
    acc1 = _mm_add_epi32(acc1, _mm_madd_epi16(w1, _mm_unpackhi_epi8(bytes, zero)));
  }
  if (i + 8 <= n) {
    const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(c + i));
    const __m128i w0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i));
    acc0 = _mm_add_epi32(acc0, _mm_madd_epi16(w0, _mm_unpacklo_epi8(bytes, zero)));
    i += 8;
  }
  std::int32_t sum = hsum_i32(_mm_add_epi32(acc0, acc1));
  for (; i < n; ++i) sum += std::int32_t{w[i]} * std::int32_t{c[i]};
  return sum;
}

template <class Arch>
inline std::int32_t dot_i16_u8(const std::int16_t* w, const std::uint8_t* c, std::size_t n,
                               const xsimd::sse2&) noexcept {
  return dot_i16_u8_sse2(w, c, n);
}
#endif

#if defined(__AVX__)
template <class Arch>  // AVX has no 256-bit integer ops: the SSE2 loop it also has
inline std::int32_t dot_i16_u8(const std::int16_t* w, const std::uint8_t* c, std::size_t n,
                               const xsimd::avx&) noexcept {
  return dot_i16_u8_sse2(w, c, n);
}
#endif

#if defined(__AVX2__)
inline std::int32_t dot_i16_u8_avx2(const std::int16_t* w, const std::uint8_t* c, std::size_t n) noexcept {
  __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0;
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i c0 = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c + i)));
    const __m256i c1 = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c + i + 16)));
    acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i)), c0));
    acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i + 16)), c1));
  }
  const __m256i acc = _mm256_add_epi32(acc0, acc1);
  std::int32_t sum = hsum_i32(_mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1)));
  return sum + dot_i16_u8_sse2(w + i, c + i, n - i);
}

template <class Arch>
inline std::int32_t dot_i16_u8(const std::int16_t* w, const std::uint8_t* c, std::size_t n,
                               const xsimd::avx2&) noexcept {
  return dot_i16_u8_avx2(w, c, n);
}
#endif

#if defined(__AVX512F__) && defined(__AVX2__)
template <class Arch>  // AVX-512BW would widen 32 codes at once; the AVX2 loop is enough here
inline std::int32_t dot_i16_u8(const std::int16_t* w, const std::uint8_t* c, std::size_t n,
                               const xsimd::avx512f&) noexcept {
  return dot_i16_u8_avx2(w, c, n);
}
#endif

/// The sum of a batch's lanes. For 4-lane batches in the order (l0 + l1) + (l2 + l3), which is what
/// wasm128 does: with the same loop structure and no FMA, a default x86-64 build (SSE2..SSE4.2)
/// then computes bit-identical f32 distances to the WASM build, so the same inserts build the same
/// graph and save the same bytes on both. (xsimd::hadd sums (l0 + l2) + (l1 + l3) on SSE2 and the
/// other way on SSE3.) Wider batches, and FMA, round differently; their files remain compatible.
template <class Arch>
inline float hsum(const f32_batch<Arch>& v) noexcept {
  if constexpr (f32_batch<Arch>::size == 4) {
    alignas(16) float lanes[4];
    v.store_aligned(lanes);
    return (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  } else {
    return xsimd::hadd(v);
  }
}

/// "xsimd/<arch>" as a NUL-terminated array built at compile time (e.g. "xsimd/fma3+avx2").
template <class Arch>
inline constexpr auto label = [] {
  constexpr std::string_view prefix = "xsimd/";
  constexpr std::string_view arch = Arch::name();
  std::array<char, prefix.size() + arch.size() + 1> out{};
  std::copy(prefix.begin(), prefix.end(), out.begin());
  std::copy(arch.begin(), arch.end(), out.begin() + prefix.size());
  return out;
}();

}  // namespace xsimd_detail

/// The kernels for one xsimd arch. Main loops consume 4 batches per step into 4 independent
/// accumulators (hides the add latency), then single batches, then a scalar tail of < size.
template <class Arch>
struct basic_xsimd_arch {
  static constexpr const char* name = xsimd_detail::label<Arch>.data();
  static constexpr std::size_t sumsq_lanes = 4 * xsimd_detail::f32_batch<Arch>::size;  // four batch accumulators

  static float dot_f32(const float* a, const float* b, std::size_t n) noexcept {
    using batch = xsimd_detail::f32_batch<Arch>;
    constexpr std::size_t lanes = batch::size;
    batch acc0(0.0f), acc1(0.0f), acc2(0.0f), acc3(0.0f);
    std::size_t i = 0;
    for (; i + 4 * lanes <= n; i += 4 * lanes) {
      acc0 = xsimd::fma(batch::load_unaligned(a + i), batch::load_unaligned(b + i), acc0);
      acc1 = xsimd::fma(batch::load_unaligned(a + i + lanes), batch::load_unaligned(b + i + lanes), acc1);
      acc2 = xsimd::fma(batch::load_unaligned(a + i + 2 * lanes), batch::load_unaligned(b + i + 2 * lanes), acc2);
      acc3 = xsimd::fma(batch::load_unaligned(a + i + 3 * lanes), batch::load_unaligned(b + i + 3 * lanes), acc3);
    }
    for (; i + lanes <= n; i += lanes)
      acc0 = xsimd::fma(batch::load_unaligned(a + i), batch::load_unaligned(b + i), acc0);
    float sum = xsimd_detail::hsum<Arch>((acc0 + acc1) + (acc2 + acc3));
    for (; i < n; ++i) sum += a[i] * b[i];
    return sum;
  }

  static float l2sq_f32(const float* a, const float* b, std::size_t n) noexcept {
    using batch = xsimd_detail::f32_batch<Arch>;
    constexpr std::size_t lanes = batch::size;
    batch acc0(0.0f), acc1(0.0f), acc2(0.0f), acc3(0.0f);
    std::size_t i = 0;
    for (; i + 4 * lanes <= n; i += 4 * lanes) {
      const batch d0 = batch::load_unaligned(a + i) - batch::load_unaligned(b + i);
      const batch d1 = batch::load_unaligned(a + i + lanes) - batch::load_unaligned(b + i + lanes);
      const batch d2 = batch::load_unaligned(a + i + 2 * lanes) - batch::load_unaligned(b + i + 2 * lanes);
      const batch d3 = batch::load_unaligned(a + i + 3 * lanes) - batch::load_unaligned(b + i + 3 * lanes);
      acc0 = xsimd::fma(d0, d0, acc0);
      acc1 = xsimd::fma(d1, d1, acc1);
      acc2 = xsimd::fma(d2, d2, acc2);
      acc3 = xsimd::fma(d3, d3, acc3);
    }
    for (; i + lanes <= n; i += lanes) {
      const batch d = batch::load_unaligned(a + i) - batch::load_unaligned(b + i);
      acc0 = xsimd::fma(d, d, acc0);
    }
    float sum = xsimd_detail::hsum<Arch>((acc0 + acc1) + (acc2 + acc3));
    for (; i < n; ++i) {
      const float d = a[i] - b[i];
      sum += d * d;
    }
    return sum;
  }

  static float dot_f32_u8(const float* w, const std::uint8_t* c, std::size_t n) noexcept {
    using batch = xsimd_detail::f32_batch<Arch>;
    constexpr std::size_t lanes = batch::size;
    batch acc[4] = {batch(0.0f), batch(0.0f), batch(0.0f), batch(0.0f)};
    std::size_t i = 0;
    for (; i + 4 * lanes <= n; i += 4 * lanes) {
      batch codes[4];
      xsimd_detail::widen_u8x4<Arch>(c + i, codes, Arch{});
      for (std::size_t k = 0; k < 4; ++k)
        acc[k] = xsimd::fma(batch::load_unaligned(w + i + k * lanes), codes[k], acc[k]);
    }
    for (; i + lanes <= n; i += lanes)
      acc[0] = xsimd::fma(batch::load_unaligned(w + i), xsimd_detail::widen_u8<Arch>(c + i, Arch{}), acc[0]);
    float sum = xsimd_detail::hsum<Arch>((acc[0] + acc[1]) + (acc[2] + acc[3]));
    for (; i < n; ++i) sum += w[i] * static_cast<float>(c[i]);
    return sum;
  }

  static float sumsq_scaled_u8(const float* step, const std::uint8_t* c, std::size_t n) noexcept {
    using batch = xsimd_detail::f32_batch<Arch>;
    constexpr std::size_t lanes = batch::size;
    batch acc[4] = {batch(0.0f), batch(0.0f), batch(0.0f), batch(0.0f)};
    std::size_t i = 0;
    for (; i + 4 * lanes <= n; i += 4 * lanes) {
      batch codes[4];
      xsimd_detail::widen_u8x4<Arch>(c + i, codes, Arch{});
      for (std::size_t k = 0; k < 4; ++k) {
        const batch x = batch::load_unaligned(step + i + k * lanes) * codes[k];
        acc[k] = xsimd::fma(x, x, acc[k]);
      }
    }
    float sum = xsimd_detail::hsum<Arch>((acc[0] + acc[1]) + (acc[2] + acc[3]));
    for (; i < n; ++i) {
      const float x = step[i] * static_cast<float>(c[i]);
      sum += x * x;
    }
    return sum;
  }

  static std::int32_t dot_i16_u8(const std::int16_t* w, const std::uint8_t* c, std::size_t n) noexcept {
    return xsimd_detail::dot_i16_u8<Arch>(w, c, n, Arch{});
  }
};

/// The backend kernels::best picks natively: the widest arch the compiler flags allow.
using xsimd_arch = basic_xsimd_arch<xsimd::default_arch>;

}  // namespace pocketvec::POCKETVEC_ABI::kernels
