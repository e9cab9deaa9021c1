// Every compiled SIMD kernel backend against kernels::scalar, the oracle.
//
// Random data is reproducible across standard libraries: std::mt19937 is bit-exact by the
// standard but the std distributions are not (libstdc++ vs libc++ under Emscripten), so integers
// are mapped to floats here. Buffers hold exactly offset + n elements with the vector at the end,
// so a kernel that reads past n trips a sanitizer build (POCKETVEC_SANITIZE) or valgrind.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <type_traits>
#include <vector>

#include <pocketvec/kernels/kernels.hpp>
#include <pocketvec/kernels/scalar.hpp>
#if defined(POCKETVEC_HAS_XSIMD) && POCKETVEC_HAS_XSIMD && !defined(__EMSCRIPTEN__)
#define POCKETVEC_TEST_XSIMD 1
#include <pocketvec/kernels/xsimd.hpp>
#endif
#if defined(__EMSCRIPTEN__) && defined(__wasm_simd128__)
#define POCKETVEC_TEST_WASM128 1
#include <pocketvec/kernels/wasm_simd128.hpp>
#endif

namespace {

namespace pk = pocketvec::kernels;

// Calls f(std::type_identity<K>{}) for every backend compiled into this binary. The explicit
// narrower xsimd archs cover the code paths a consumer gets with fewer -m flags than ours.
template <class F>
void for_each_backend(F&& f) {
  f(std::type_identity<pk::best>{});
#if defined(POCKETVEC_TEST_XSIMD)
  f(std::type_identity<pk::xsimd_arch>{});
#if XSIMD_WITH_SSE2
  f(std::type_identity<pk::basic_xsimd_arch<xsimd::sse2>>{});
#endif
#if XSIMD_WITH_AVX
  f(std::type_identity<pk::basic_xsimd_arch<xsimd::avx>>{});
#endif
#if XSIMD_WITH_AVX2
  f(std::type_identity<pk::basic_xsimd_arch<xsimd::avx2>>{});
#endif
#endif
#if defined(POCKETVEC_TEST_WASM128)
  f(std::type_identity<pk::wasm128>{});
#endif
}

constexpr std::size_t dims[] = {0,  1,  2,  3,  4,   5,   7,   8,   15,  16,  17,   31,
                                32, 33, 63, 64, 65, 127, 128, 129, 768, 784, 1536, 4096};

constexpr std::size_t offsets[] = {0, 1};  // elements: misaligns by one float / one byte

class data_source {
 public:
  explicit data_source(std::uint32_t seed) : gen_(seed) {}
  /// Uniform in [-scale, scale): a 24-bit integer scaled by a power of two, so exact.
  float uniform(float scale = 1.0f) {
    const auto k = static_cast<std::int32_t>(gen_() >> 8) - (1 << 23);
    return static_cast<float>(k) * 0x1p-23f * scale;
  }
  /// Uniform integer in [lo, hi], hi - lo < 2^16.
  int integer(int lo, int hi) {
    return lo + static_cast<int>((gen_() >> 16) % static_cast<std::uint32_t>(hi - lo + 1));
  }
  std::uint8_t byte() { return static_cast<std::uint8_t>(gen_() >> 24); }

 private:
  std::mt19937 gen_;
};

/// offset + n floats; the vector is the last n of them (see the file comment).
std::vector<float> random_floats(data_source& src, std::size_t offset, std::size_t n, float scale = 1.0f) {
  std::vector<float> v(offset + n, 0.0f);
  for (std::size_t i = offset; i < v.size(); ++i) v[i] = src.uniform(scale);
  return v;
}

std::vector<std::uint8_t> random_codes(data_source& src, std::size_t offset, std::size_t n) {
  std::vector<std::uint8_t> v(offset + n, 0);
  for (std::size_t i = offset; i < v.size(); ++i) v[i] = src.byte();
  return v;
}

// Backends and the oracle add the same terms in different orders (and SIMD may fuse the
// multiply-add), so they differ by rounding only. The worst case is about n·2^-24·Σ|terms|; on
// random inputs it grows like √n·2^-24·Σ|terms|. Measured over 200 random vectors per n up to
// 4096: dot_f32 and dot_f32_u8 differ by ≤ 1.2e-7·Σ|terms|, l2sq_f32 by ≤ 3e-6·Σ|terms| (all terms
// positive: the oracle's sequential sum is the less accurate side). 1e-5·Σ|terms| stays above
// that and below the average |term| (Σ|terms|/n) for every n tested, so a dropped or doubled
// element shows. Σ|terms| is accumulated in double so that it cannot overflow.
// (The integer-valued test below checks exact equality, which catches every dropped element.)
double tolerance(double sum_abs_terms) { return 1e-5 * sum_abs_terms + 1e-6; }

void check_close(float got, float want, double sum_abs_terms) {
  INFO("got " << got << ", reference " << want << ", sum |terms| " << sum_abs_terms);
  if (std::isinf(want)) {
    REQUIRE(got == want);
    return;
  }
  REQUIRE(std::isfinite(got));
  REQUIRE(std::abs(static_cast<double>(got) - static_cast<double>(want)) <= tolerance(sum_abs_terms));
}

double sum_abs_products(const float* a, const float* b, std::size_t n) {
  double s = 0.0;
  for (std::size_t i = 0; i < n; ++i) s += std::abs(static_cast<double>(a[i]) * b[i]);
  return s;
}

double sum_squared_differences(const float* a, const float* b, std::size_t n) {
  double s = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    s += d * d;
  }
  return s;
}

double sum_abs_products(const float* w, const std::uint8_t* c, std::size_t n) {
  double s = 0.0;
  for (std::size_t i = 0; i < n; ++i) s += std::abs(static_cast<double>(w[i]) * c[i]);
  return s;
}

}  // namespace

TEST_CASE("kernels: best is the backend the build flags select", "[kernels]") {
#if defined(POCKETVEC_FORCE_SCALAR)
  STATIC_REQUIRE(std::is_same_v<pk::best, pk::scalar>);
#elif defined(POCKETVEC_TEST_WASM128)
  STATIC_REQUIRE(std::is_same_v<pk::best, pk::wasm128>);
#elif defined(POCKETVEC_TEST_XSIMD)
  STATIC_REQUIRE(std::is_same_v<pk::best, pk::xsimd_arch>);
#else
  STATIC_REQUIRE(std::is_same_v<pk::best, pk::scalar>);
#endif
  INFO("kernels::best is " << pk::best::name);
  REQUIRE(pk::best::name != nullptr);
}

TEST_CASE("kernels: dot_f32 matches the scalar reference", "[kernels]") {
  for_each_backend([]<class K>(std::type_identity<K>) {
    data_source src(1234);
    for (const std::size_t n : dims) {
      for (const std::size_t off_a : offsets) {
        for (const std::size_t off_b : offsets) {
          const auto a = random_floats(src, off_a, n);
          const auto b = random_floats(src, off_b, n);
          const float* pa = a.data() + off_a;
          const float* pb = b.data() + off_b;
          INFO(K::name << " n=" << n << " offsets " << off_a << "," << off_b);
          check_close(K::dot_f32(pa, pb, n), pk::scalar::dot_f32(pa, pb, n), sum_abs_products(pa, pb, n));
        }
      }
    }
  });
}

TEST_CASE("kernels: l2sq_f32 matches the scalar reference", "[kernels]") {
  for_each_backend([]<class K>(std::type_identity<K>) {
    data_source src(5678);
    for (const std::size_t n : dims) {
      for (const std::size_t off_a : offsets) {
        for (const std::size_t off_b : offsets) {
          const auto a = random_floats(src, off_a, n);
          const auto b = random_floats(src, off_b, n);
          const float* pa = a.data() + off_a;
          const float* pb = b.data() + off_b;
          INFO(K::name << " n=" << n << " offsets " << off_a << "," << off_b);
          check_close(K::l2sq_f32(pa, pb, n), pk::scalar::l2sq_f32(pa, pb, n), sum_squared_differences(pa, pb, n));
        }
      }
    }
  });
}

TEST_CASE("kernels: dot_f32_u8 matches the scalar reference", "[kernels]") {
  for_each_backend([]<class K>(std::type_identity<K>) {
    data_source src(9012);
    for (const std::size_t n : dims) {
      for (const std::size_t off_w : offsets) {
        for (const std::size_t off_c : offsets) {
          const auto w = random_floats(src, off_w, n);
          const auto c = random_codes(src, off_c, n);
          const float* pw = w.data() + off_w;
          const std::uint8_t* pc = c.data() + off_c;
          INFO(K::name << " n=" << n << " offsets " << off_w << "," << off_c);
          check_close(K::dot_f32_u8(pw, pc, n), pk::scalar::dot_f32_u8(pw, pc, n), sum_abs_products(pw, pc, n));
        }
      }
    }
  });
}

// Small integers make every partial sum exactly representable (|sum| < 2^24), so any summation
// order must give the exact value: a dropped, doubled or misplaced element cannot hide in a
// tolerance.
TEST_CASE("kernels: integer-valued inputs give exact results on every backend", "[kernels]") {
  for_each_backend([]<class K>(std::type_identity<K>) {
    data_source src(3456);
    for (const std::size_t n : dims) {
      std::vector<float> a(n), b(n), w(n);
      std::vector<std::uint8_t> c(n);
      std::int64_t dot = 0, l2 = 0, dot_u8 = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const int ai = src.integer(-8, 8), bi = src.integer(-8, 8), wi = src.integer(-8, 8);
        const std::uint8_t ci = src.byte();
        a[i] = static_cast<float>(ai);
        b[i] = static_cast<float>(bi);
        w[i] = static_cast<float>(wi);
        c[i] = ci;
        dot += ai * bi;
        l2 += (ai - bi) * (ai - bi);
        dot_u8 += wi * ci;
      }
      INFO(K::name << " n=" << n);
      REQUIRE(K::dot_f32(a.data(), b.data(), n) == static_cast<float>(dot));
      REQUIRE(K::l2sq_f32(a.data(), b.data(), n) == static_cast<float>(l2));
      REQUIRE(K::dot_f32_u8(w.data(), c.data(), n) == static_cast<float>(dot_u8));
    }
  });
}

TEST_CASE("kernels: zero vectors give zero and identical vectors have l2 distance 0", "[kernels]") {
  for_each_backend([]<class K>(std::type_identity<K>) {
    data_source src(7890);
    for (const std::size_t n : dims) {
      const std::vector<float> zeros(n, 0.0f);
      const std::vector<std::uint8_t> zero_codes(n, 0);
      const auto x = random_floats(src, 0, n, 1e6f);
      std::vector<std::uint8_t> codes(n);
      for (auto& code : codes) code = src.byte();
      INFO(K::name << " n=" << n);
      REQUIRE(K::dot_f32(zeros.data(), x.data(), n) == 0.0f);
      REQUIRE(K::l2sq_f32(zeros.data(), zeros.data(), n) == 0.0f);
      REQUIRE(K::l2sq_f32(x.data(), x.data(), n) == 0.0f);
      REQUIRE(K::dot_f32_u8(zeros.data(), codes.data(), n) == 0.0f);
      REQUIRE(K::dot_f32_u8(x.data(), zero_codes.data(), n) == 0.0f);
    }
  });
}

// A single 255 at position p with weights w[i] = i + 1 must give exactly 255·(p + 1): this pins
// each code to its own weight, which a lane-order mistake in the u8 widening would break.
TEST_CASE("kernels: dot_f32_u8 widens codes 0 and 255 exactly and in order", "[kernels]") {
  for_each_backend([]<class K>(std::type_identity<K>) {
    for (const std::size_t n : dims) {
      if (n > 129) continue;  // every lane position and tail shape occurs below 130
      std::vector<float> w(n);
      for (std::size_t i = 0; i < n; ++i) w[i] = static_cast<float>(i + 1);
      for (std::size_t p = 0; p < n; ++p) {
        std::vector<std::uint8_t> c(n, 0);
        c[p] = 255;
        INFO(K::name << " n=" << n << " p=" << p);
        REQUIRE(K::dot_f32_u8(w.data(), c.data(), n) == static_cast<float>(255 * (p + 1)));
      }
    }
    for (const std::size_t n : dims) {
      const std::vector<float> ones(n, 1.0f);
      const std::vector<std::uint8_t> all_max(n, 255);
      INFO(K::name << " n=" << n);
      REQUIRE(K::dot_f32_u8(ones.data(), all_max.data(), n) == static_cast<float>(255 * n));
    }
  });
}

// sumsq_scaled_u8 is the loader's check of stored SQ8 l2 norm terms: Σ (step·c)², every term
// non-negative, so Σ|terms| is the exact (double) value itself.
TEST_CASE("kernels: sumsq_scaled_u8 matches the scalar reference and an exact double sum", "[kernels]") {
  for_each_backend([]<class K>(std::type_identity<K>) {
    data_source src(4455);
    for (const std::size_t n : dims) {
      for (const std::size_t off : offsets) {
        const auto step = random_floats(src, off, n, 0.01f);
        const auto c = random_codes(src, off, n);
        const float* ps = step.data() + off;
        const std::uint8_t* pc = c.data() + off;
        double exact = 0;
        for (std::size_t i = 0; i < n; ++i) {
          const double x = double{ps[i]} * pc[i];
          exact += x * x;
        }
        INFO(K::name << " n=" << n << " offset " << off);
        check_close(K::sumsq_scaled_u8(ps, pc, n), pk::scalar::sumsq_scaled_u8(ps, pc, n), exact);
        check_close(K::sumsq_scaled_u8(ps, pc, n), static_cast<float>(exact), exact);
      }
    }
  });
}

// A single 255 at position p with step[i] = 1 + i mod 5, every other code 1: every term and partial
// sum is an integer below 2^24, so exact in any order, and a code paired with another position's
// step changes the sum.
TEST_CASE("kernels: sumsq_scaled_u8 pairs each code with its own step", "[kernels]") {
  for_each_backend([]<class K>(std::type_identity<K>) {
    for (const std::size_t n : dims) {
      if (n > 129) continue;
      std::vector<float> step(n);
      for (std::size_t i = 0; i < n; ++i) step[i] = static_cast<float>(1 + i % 5);
      for (std::size_t p = 0; p < n; ++p) {
        std::vector<std::uint8_t> c(n, 1);
        c[p] = 255;
        double want = 0;
        for (std::size_t i = 0; i < n; ++i) {
          const double x = static_cast<double>(1 + i % 5) * (i == p ? 255.0 : 1.0);
          want += x * x;
        }
        INFO(K::name << " n=" << n << " p=" << p);
        REQUIRE(K::sumsq_scaled_u8(step.data(), c.data(), n) == static_cast<float>(want));
      }
    }
  });
}

TEST_CASE("kernels: large magnitudes agree with the reference, or overflow to inf on both", "[kernels]") {
  for_each_backend([]<class K>(std::type_identity<K>) {
    data_source src(2468);
    for (const std::size_t n : dims) {
      INFO(K::name << " n=" << n);
      // ±1e18: products up to 1e36, signed sums well inside float range for every n here.
      const auto a = random_floats(src, 0, n, 1e18f);
      const auto b = random_floats(src, 0, n, 1e18f);
      check_close(K::dot_f32(a.data(), b.data(), n), pk::scalar::dot_f32(a.data(), b.data(), n),
                  sum_abs_products(a.data(), b.data(), n));
      check_close(K::l2sq_f32(a.data(), b.data(), n), pk::scalar::l2sq_f32(a.data(), b.data(), n),
                  sum_squared_differences(a.data(), b.data(), n));
      const auto w = random_floats(src, 0, n, 1e33f);
      const auto c = random_codes(src, 0, n);
      check_close(K::dot_f32_u8(w.data(), c.data(), n), pk::scalar::dot_f32_u8(w.data(), c.data(), n),
                  sum_abs_products(w.data(), c.data(), n));

      // Same-sign terms past FLT_MAX in total: +inf whatever the order of the additions.
      if (n < 2) continue;
      constexpr float inf = std::numeric_limits<float>::infinity();
      const std::vector<float> big(n, 2e19f), neg_big(n, -2e19f);
      const std::vector<float> big_w(n, 1e37f);
      const std::vector<std::uint8_t> max_codes(n, 255);
      REQUIRE(pk::scalar::dot_f32(big.data(), big.data(), n) == inf);
      REQUIRE(K::dot_f32(big.data(), big.data(), n) == inf);
      REQUIRE(K::dot_f32(big.data(), neg_big.data(), n) == -inf);
      REQUIRE(K::l2sq_f32(big.data(), neg_big.data(), n) == inf);
      REQUIRE(K::dot_f32_u8(big_w.data(), max_codes.data(), n) == inf);
    }
  });
}

#if defined(POCKETVEC_TEST_XSIMD)
namespace {
template <class Arch>
void check_widening() {
  namespace xd = pk::xsimd_detail;
  constexpr std::size_t lanes = xd::f32_batch<Arch>::size;
  // 256 codes plus slack, starting at every offset within one block, so that every value lands
  // in every lane of every batch of the 4-batch widening.
  std::vector<std::uint8_t> bytes(256 + 8 * lanes);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(i * 7 + 3);
  for (std::size_t start = 0; start + 4 * lanes <= bytes.size(); ++start) {
    const std::uint8_t* c = bytes.data() + start;
    xd::f32_batch<Arch> x4[4];
    xd::widen_u8x4<Arch>(c, x4, Arch{});
    for (std::size_t k = 0; k < 4; ++k) {
      const auto one = xd::widen_u8<Arch>(c + k * lanes, Arch{});
      const auto fallback = xd::widen_u8<Arch>(c + k * lanes, xsimd::generic{});
      for (std::size_t j = 0; j < lanes; ++j) {
        const auto want = static_cast<float>(c[k * lanes + j]);
        INFO(Arch::name() << " start=" << start << " batch " << k << " lane " << j);
        REQUIRE(x4[k].get(j) == want);
        REQUIRE(one.get(j) == want);
        REQUIRE(fallback.get(j) == want);
      }
    }
  }
}
}  // namespace

TEST_CASE("kernels: xsimd u8 widening agrees with the portable fallback on every arch", "[kernels]") {
  check_widening<xsimd::default_arch>();
#if XSIMD_WITH_SSE2
  check_widening<xsimd::sse2>();
#endif
#if XSIMD_WITH_AVX
  check_widening<xsimd::avx>();
#endif
#if XSIMD_WITH_AVX2
  check_widening<xsimd::avx2>();
#endif
}
#endif

TEST_CASE("kernels: dot_i16_u8 equals the scalar reference exactly, up to the int32 bound", "[kernels]") {
  for_each_backend([]<class K>(std::type_identity<K>) {
    data_source src(4242);
    for (const std::size_t n : dims) {
      // The largest weights the precondition allows (Σ|w|·255 ≤ INT32_MAX), both signs.
      const int limit = n == 0 ? 32767
                               : static_cast<int>(std::min<std::int64_t>(
                                     32767, std::numeric_limits<std::int32_t>::max() / (255 * static_cast<std::int64_t>(n))));
      for (const std::size_t off_w : offsets) {
        for (const std::size_t off_c : offsets) {
          std::vector<std::int16_t> w(off_w + n, 0);
          for (std::size_t i = off_w; i < w.size(); ++i) w[i] = static_cast<std::int16_t>(src.integer(-limit, limit));
          const auto c = random_codes(src, off_c, n);
          const std::int16_t* pw = w.data() + off_w;
          const std::uint8_t* pc = c.data() + off_c;
          INFO(K::name << " n=" << n << " offsets " << off_w << "," << off_c);
          std::int64_t exact = 0;
          for (std::size_t i = 0; i < n; ++i) exact += std::int64_t{pw[i]} * pc[i];
          REQUIRE(K::dot_i16_u8(pw, pc, n) == exact);
          REQUIRE(K::dot_i16_u8(pw, pc, n) == pk::scalar::dot_i16_u8(pw, pc, n));
          // Every code 255 against the extreme weights: lanes and the tail see the largest sums.
          std::vector<std::uint8_t> all_max(n, 255);
          std::vector<std::int16_t> extreme(n, static_cast<std::int16_t>(-limit));
          REQUIRE(K::dot_i16_u8(extreme.data(), all_max.data(), n) == -static_cast<std::int64_t>(limit) * 255 * static_cast<std::int64_t>(n));
        }
      }
    }
  });
}

TEST_CASE("kernels: dot_i16_u8 pairs each weight with its own code", "[kernels]") {
  for_each_backend([]<class K>(std::type_identity<K>) {
    for (const std::size_t n : dims) {
      std::vector<std::int16_t> w(n, 0);
      std::vector<std::uint8_t> c(n, 0);
      for (std::size_t p = 0; p < n; ++p) {  // one nonzero weight at p, codes count up
        for (std::size_t i = 0; i < n; ++i) c[i] = static_cast<std::uint8_t>(i % 251);
        w[p] = -3;
        INFO(K::name << " n=" << n << " p=" << p);
        REQUIRE(K::dot_i16_u8(w.data(), c.data(), n) == -3 * static_cast<std::int32_t>(p % 251));
        w[p] = 0;
      }
    }
  });
}

namespace {
// The summation order of wasm128 and of every 4-lane xsimd arch without FMA, written out in scalar
// code: sixteen partial sums (four accumulators of four lanes), then four-lane steps into the
// first, then (l0 + l1) + (l2 + l3) of their sum, then the tail. Equal bits here is what makes a
// default native build and the WASM build construct identical graphs (tests/cross checks files).
template <class Term>
float lane_order_sum(std::size_t n, Term term) {
  float acc[4][4] = {};
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (std::size_t a = 0; a < 4; ++a)
      for (std::size_t l = 0; l < 4; ++l) acc[a][l] = acc[a][l] + term(i + 4 * a + l);
  for (; i + 4 <= n; i += 4)
    for (std::size_t l = 0; l < 4; ++l) acc[0][l] = acc[0][l] + term(i + l);
  float lanes[4];
  for (std::size_t l = 0; l < 4; ++l) lanes[l] = (acc[0][l] + acc[1][l]) + (acc[2][l] + acc[3][l]);
  float sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  for (; i < n; ++i) sum += term(i);
  return sum;
}

template <class F>
void for_each_four_lane_backend_without_fma(F&& f) {
// Not when this file is compiled with FMA: the compiler may then fuse the reference's own
// multiply-adds (GCC's default -ffp-contract=fast), though the SSE2 kernels never do.
#if defined(POCKETVEC_TEST_XSIMD) && XSIMD_WITH_SSE2 && !defined(__FMA__)
  f(std::type_identity<pk::basic_xsimd_arch<xsimd::sse2>>{});
#endif
#if defined(POCKETVEC_TEST_WASM128)
  f(std::type_identity<pk::wasm128>{});
#endif
}
}  // namespace

TEST_CASE("kernels: 4-lane backends without FMA sum f32 in one order, bit for bit", "[kernels]") {
  for_each_four_lane_backend_without_fma([]<class K>(std::type_identity<K>) {
    data_source src(777);
    for (const std::size_t n : dims) {
      const auto a = random_floats(src, 0, n);
      const auto b = random_floats(src, 0, n);
      INFO(K::name << " n=" << n);
      const float dot = lane_order_sum(n, [&](std::size_t i) {
        const float p = a[i] * b[i];  // rounded before the add, as a separate mul and add do
        return p;
      });
      const float l2 = lane_order_sum(n, [&](std::size_t i) {
        const float d = a[i] - b[i];
        const float p = d * d;
        return p;
      });
      REQUIRE(K::dot_f32(a.data(), b.data(), n) == dot);
      REQUIRE(K::l2sq_f32(a.data(), b.data(), n) == l2);
    }
  });
}
