// SQ8: quantizer error bounds, training edge cases, the store's asymmetric distances against
// decode-then-exact, and SQ8 indexes against brute force.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>

#include "test_util.hpp"

namespace pv = pocketvec;

namespace {

template <pv::metric M>
float decode_then_exact(const pv::sq8_store<M>& st, const float* q, pv::slot_t s) {
  std::vector<float> x(st.dim());
  st.decode(s, x);
  if constexpr (M == pv::metric::cosine) {
    double dot = 0, n2 = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      dot += double{q[i]} * x[i];
      n2 += double{x[i]} * x[i];
    }
    return static_cast<float>(1.0 - dot / std::sqrt(n2));
  } else {
    return pvtest::exact_distance(M, q, x.data(), x.size());
  }
}

template <pv::metric M>
void check_asymmetric_matches_decode() {
  const std::size_t dim = 77, n = 300;
  auto data = pvtest::clustered(n, dim, 5, 17);
  if (M == pv::metric::cosine)
    for (std::size_t r = 0; r < n; ++r) {
      double n2 = 0;
      for (std::size_t i = 0; i < dim; ++i) n2 += data[r * dim + i] * data[r * dim + i];
      for (std::size_t i = 0; i < dim; ++i) data[r * dim + i] = static_cast<float>(data[r * dim + i] / std::sqrt(n2));
    }
  pv::sq8_store<M> st(dim, 100, false);
  for (std::size_t r = 0; r < n; ++r) st.append(data.data() + r * dim);
  REQUIRE(st.is_trained());
  typename pv::sq8_store<M>::query_type q;
  for (std::size_t qi = 0; qi < 20; ++qi) {
    const float* qv = data.data() + qi * 13 * dim;
    st.prepare(q, qv);
    for (pv::slot_t s = 0; s < n; s += 7) {
      const float want = decode_then_exact(st, qv, s);
      const float got = st.distance(q, s);
      // Two roundings: float accumulation, and the query weights' 16-bit fixed point (≤ 2^-16 of
      // the largest weight each). Both scale with the magnitudes the distance is made of
      // (Σ|q_i x̂_i|, plus |q|² + |x̂|² for l2), not with the distance itself, which can be tiny.
      std::vector<float> x(dim);
      st.decode(s, x);
      double mag = 0;
      for (std::size_t i = 0; i < dim; ++i) {
        mag += std::abs(double{qv[i]} * x[i]);
        if (M == pv::metric::l2) mag += double{qv[i]} * qv[i] + double{x[i]} * x[i];
      }
      // The fixed point's worst case: unit/2 per weight times a code of at most 255, scaled by
      // what multiplies the dot product (2 under l2, 1/|x̂| under cosine).
      double x_norm = 0;
      for (float xi : x) x_norm += double{xi} * xi;
      const double factor = M == pv::metric::l2 ? 2.0 : M == pv::metric::cosine ? 1.0 / std::sqrt(x_norm) : 1.0;
      const double fixed_point = factor * q.unit * 0.5 * 255.0 * static_cast<double>(dim);
      CAPTURE(mag, fixed_point);
      CHECK(got == Approx(want).margin(1e-4 * (1 + std::abs(want)) + 1e-5 * mag + fixed_point));
    }
  }
}

/// Trained SQ8 parts as a file would hold them: ranges, rows of `codes` and, when given, norm terms.
pv::sq8_parts trained_parts(std::vector<float> lo, std::vector<float> step, const std::vector<std::uint8_t>& codes,
                            const std::vector<float>& terms = {}) {
  pv::sq8_parts parts;
  parts.dim = lo.size();
  parts.trained = true;
  parts.lo = std::move(lo);
  parts.step = std::move(step);
  parts.codes = pv::row_blocks<std::uint8_t>(parts.dim);
  parts.codes.append_rows(codes.data(), codes.size() / parts.dim);
  if (!terms.empty()) {
    parts.norms = pv::row_blocks<float>(1);
    parts.norms.append_rows(terms.data(), terms.size());
  }
  return parts;
}

/// The errc from_parts throws for `parts` (errc{}: it takes them).
template <pv::metric M>
pv::errc parts_code(const pv::sq8_parts& parts) {
  return pvtest::code_of([&] { pv::sq8_store<M>::from_parts(parts); });
}

}  // namespace

TEST_CASE("sq8: round trip error is at most half a step per dimension", "[sq8]") {
  const std::size_t dim = 64, n = 500;
  auto data = pvtest::clustered(n, dim, 4, 5, 2.0f);
  pv::sq8_quantizer q;
  q.train(data.data(), n, dim);
  std::vector<std::uint8_t> c(dim);
  std::vector<float> back(dim);
  for (std::size_t r = 0; r < n; ++r) {
    q.encode(data.data() + r * dim, c.data());
    q.decode(c.data(), back.data());
    for (std::size_t i = 0; i < dim; ++i)
      REQUIRE(std::abs(back[i] - data[r * dim + i]) <= q.step()[i] * 0.5001f + 1e-6f);
  }
}

TEST_CASE("sq8: values outside the trained range clamp to its ends", "[sq8]") {
  const float rows[] = {0.0f, -1.0f, 10.0f, 1.0f};  // two rows, dim 2: ranges [0,10], [-1,1]
  pv::sq8_quantizer q;
  q.train(rows, 2, 2);
  const float out[] = {-5.0f, 7.0f};
  std::uint8_t c[2];
  q.encode(out, c);
  CHECK(c[0] == 0);
  CHECK(c[1] == 255);
  float back[2];
  q.decode(c, back);
  CHECK(back[0] == 0.0f);
  CHECK(back[1] == Approx(1.0f));
}

TEST_CASE("sq8: training edge cases decode without NaN", "[sq8]") {
  SECTION("a constant dimension gets a range around its value, so later values are not lost") {
    // Before, it got step 0: every later value in that dimension decoded to the constant.
    const float rows[] = {3.5f, 1.0f, 3.5f, 2.0f, 3.5f, 3.0f};
    pv::sq8_quantizer q;
    q.train(rows, 3, 2);
    CHECK(q.step()[0] > 0.0f);
    std::uint8_t c[2];
    float back[2];
    q.encode(rows + 2, c);
    q.decode(c, back);
    CHECK(back[0] == Approx(3.5f).epsilon(1e-6));
    CHECK(back[1] == Approx(2.0f).margin(1.0 / 255));
    const float later[] = {4.25f, 2.0f};  // within the median width (2) of the constant
    CHECK(q.encode(later, c) == 0);
    q.decode(c, back);
    CHECK(back[0] == Approx(4.25f).margin(q.step()[0] * 0.5001f));
  }
  SECTION("a single training vector reproduces itself, and nearby vectors get their own codes") {
    const float row[] = {1.0f, -2.0f, 0.0f};
    pv::sq8_quantizer q;
    q.train(row, 1, 3);
    std::uint8_t c[3], own[3];
    float back[3];
    q.encode(row, own);
    q.decode(own, back);
    for (int i = 0; i < 3; ++i) CHECK(back[i] == Approx(row[i]).margin(1e-6));
    const float other[] = {2.0f, -1.0f, 1.0f};
    CHECK(q.encode(other, c) == 0);
    q.decode(c, back);
    for (int i = 0; i < 3; ++i) CHECK(back[i] == Approx(other[i]).margin(q.step()[i] * 0.5001f));
    const float far[] = {100.0f, -2.0f, 0.0f};
    CHECK(q.encode(far, c) == 1);  // one component clamped, and counted
  }
  SECTION("all-zero vectors") {
    std::vector<float> rows(10 * 8, 0.0f);
    pv::sq8_quantizer q;
    q.train(rows.data(), 10, 8);
    std::vector<std::uint8_t> c(8);
    std::vector<float> back(8);
    q.encode(rows.data(), c.data());
    q.decode(c.data(), back.data());
    for (float x : back) CHECK(x == Approx(0.0f).margin(1e-6));
  }
  SECTION("huge magnitudes near the float limit") {
    const float big = 3.0e38f;
    const float rows[] = {-big, big, big, -big};
    pv::sq8_quantizer q;
    q.train(rows, 2, 2);
    std::uint8_t c[2];
    float back[2];
    const float mid[] = {0.0f, 1.0e38f};
    q.encode(mid, c);
    q.decode(c, back);
    for (int i = 0; i < 2; ++i) {
      CHECK(std::isfinite(back[i]));
      CHECK(std::abs(back[i] - mid[i]) <= q.step()[i] * 0.5001f);
    }
  }
}

TEST_CASE("sq8: extreme magnitudes: huge vectors refused past float range, huge and tiny weights handled", "[sq8][errors]") {
  std::vector<float> v(8);
  SECTION("squared length past FLT_MAX/4 is refused under l2 and ip, normalised under cosine") {
    for (const auto m : {pv::metric::l2, pv::metric::ip, pv::metric::cosine}) {
      CAPTURE(pv::metric_name(m));
      pv::index idx({.dim = 8, .metric_kind = m, .quant = pv::quantization::sq8});
      std::fill(v.begin(), v.end(), 1.0e30f);
      if (m == pv::metric::cosine) {
        CHECK_NOTHROW(idx.insert(v));
      } else {
        try {
          idx.insert(v);
          FAIL("a vector of squared length 8e60 was accepted");
        } catch (const pv::error& e) {
          CHECK(e.code() == pv::errc::out_of_range);
          CHECK(std::string(e.what()).find("too large") != std::string::npos);
        }
      }
    }
  }
  SECTION("the largest accepted lengths still give ordered, finite distances") {
    for (const auto m : {pv::metric::l2, pv::metric::ip, pv::metric::cosine}) {
      CAPTURE(pv::metric_name(m));
      pv::index idx({.dim = 8, .metric_kind = m, .quant = pv::quantization::sq8, .sq8_training_size = 16});
      for (int r = 0; r < 40; ++r) {
        for (int i = 0; i < 8; ++i)
          v[static_cast<std::size_t>(i)] = static_cast<float>((r * 7 + i * 3) % 11 - 5) * 1.9e17f + 1.0e16f;
        idx.insert(v);
      }
      const auto hits = idx.search(idx.get(5), 10, 64);
      REQUIRE(hits.size() == 10);
      for (std::size_t i = 1; i < hits.size(); ++i) CHECK(hits[i - 1].distance <= hits[i].distance);
      for (const auto& h : hits) CHECK(std::isfinite(h.distance));
    }
  }
  SECTION("weights that overflow a float (ranges from a file) take the double path") {
    // A loaded file may hold any finite range; q_i·step_i = 1e19·1e35 overflows a float. The fuzzer
    // found a NaN -> int conversion here once.
    std::vector<std::uint8_t> codes(3 * 8);
    for (std::size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<std::uint8_t>(i * 37);
    auto st = pv::sq8_store<pv::metric::ip>::from_parts(trained_parts(std::vector<float>(8, -1.0e37f),
                                                                      std::vector<float>(8, 1.0e35f), codes));
    pv::sq8_store<pv::metric::ip>::query_type q;
    std::fill(v.begin(), v.end(), 1.0e19f);
    st.prepare(q, v.data());
    for (pv::slot_t s = 0; s < 3; ++s) CHECK_FALSE(std::isnan(st.distance(q, s)));
  }
  SECTION("cosine norm terms of rows whose squares pass float's range are held to the exact sum") {
    // Rows decoding to |x| ~ 1e20: a float sum of their squares overflows, the exact term is a plain
    // float (~1e-20). from_parts must take the exact term and refuse one that is 0.1 % off.
    std::vector<std::uint8_t> codes(3 * 8);
    for (std::size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<std::uint8_t>(i * 37);
    std::vector<float> terms(3);
    for (std::size_t r = 0; r < 3; ++r) {
      double n2 = 0;
      for (std::size_t i = 0; i < 8; ++i) {
        const double x = double{-1.0e20f} + double{1.0e18f} * codes[r * 8 + i];
        n2 += x * x;
      }
      terms[r] = static_cast<float>(1.0 / std::sqrt(n2));
      REQUIRE(terms[r] > 1e-21f);
    }
    const std::vector<float> lo(8, -1.0e20f), step(8, 1.0e18f);
    CHECK(parts_code<pv::metric::cosine>(trained_parts(lo, step, codes, terms)) == pv::errc{});
    auto off = terms;
    off[1] *= 1.001f;
    CHECK(parts_code<pv::metric::cosine>(trained_parts(lo, step, codes, off)) == pv::errc::corrupt_data);
  }
  SECTION("l2 norm terms: the float sum that accepts most of them never widens the 1e-5 tolerance") {
    // One row: 16 components of exactly 1, the rest exactly 2^-12, whose squares (2^-24) vanish when
    // a float lane holding 1 adds them. The exact term is 16 + (dim - 16)·2^-24; a float sum can come
    // out 16. Stored terms off from the exact one by more than 1e-5 must be refused whatever the
    // float sum says, and the exact term taken.
    for (const std::size_t dim : {std::size_t{768}, std::size_t{4096}}) {
      std::vector<float> step(dim, 0x1p-12f);
      std::vector<std::uint8_t> codes(dim, 1);
      for (std::size_t i = 0; i < 16; ++i) {
        step[i] = 1.0f / 128;
        codes[i] = 128;
      }
      const double exact = 16.0 + static_cast<double>(dim - 16) * 0x1p-24;
      auto load = [&](float term) {
        return parts_code<pv::metric::l2>(trained_parts(std::vector<float>(dim, 0.0f), step, codes, {term}));
      };
      INFO("dim " << dim);
      CHECK(load(static_cast<float>(exact)) == pv::errc{});
      CHECK(load(static_cast<float>(exact * (1 + 0.5e-5))) == pv::errc{});
      // 16: what a float sum of 16 lanes gives; 1.5e-5 off at dim 4096.
      if (dim == 4096) CHECK(load(16.0f) == pv::errc::corrupt_data);
      // 8e-6 below 16 but 1.08e-5 below the exact term at dim 768.
      if (dim == 768) CHECK(load(16.0f * (1 - 8e-6f)) == pv::errc::corrupt_data);
      CHECK(load(static_cast<float>(exact * (1 - 1.2e-5))) == pv::errc::corrupt_data);
    }
  }
  SECTION("an l2 term that overflows a float agrees only with +inf") {
    const std::vector<std::uint8_t> codes(8, 255);  // x = 1e20: x² overflows even the sum of one
    auto load = [&](float term) {
      return parts_code<pv::metric::l2>(
          trained_parts(std::vector<float>(8, 0.0f), std::vector<float>(8, 1e20f / 255), codes, {term}));
    };
    CHECK(load(std::numeric_limits<float>::infinity()) == pv::errc{});
    CHECK(load(12345.0f) == pv::errc::corrupt_data);
    CHECK(load(std::numeric_limits<float>::max()) == pv::errc::corrupt_data);
  }
  SECTION("weights so tiny that 1/unit overflows a float take the double path") {
    // The fuzzer's second find: q_i·step_i ≈ 1e-40 makes the fixed-point scale 1/unit ≈ 1e45.
    const std::vector<std::uint8_t> codes(2 * 8, 200);
    auto st = pv::sq8_store<pv::metric::ip>::from_parts(
        trained_parts(std::vector<float>(8, 0.0f), std::vector<float>(8, 1.0e-30f), codes));
    pv::sq8_store<pv::metric::ip>::query_type q;
    std::fill(v.begin(), v.end(), 1.0e-10f);
    st.prepare(q, v.data());
    for (std::int16_t w : q.w) CHECK(w == 32767);
    CHECK(st.distance(q, 0) == Approx(-8 * 200 * 1.0e-40).epsilon(1e-3));
  }
}

TEST_CASE("sq8: asymmetric distance matches decode-then-exact", "[sq8]") {
  check_asymmetric_matches_decode<pv::metric::l2>();
  check_asymmetric_matches_decode<pv::metric::cosine>();
  check_asymmetric_matches_decode<pv::metric::ip>();
}

TEST_CASE("sq8: vectors inserted before training are kept and encoded once trained", "[sq8]") {
  const std::size_t dim = 16;
  auto data = pvtest::clustered(50, dim, 3, 9);
  pv::sq8_store<pv::metric::l2> st(dim, 20, false);
  std::vector<float> back(dim);
  for (std::size_t r = 0; r < 19; ++r) st.append(data.data() + r * dim);
  CHECK_FALSE(st.is_trained());
  st.decode(5, back);  // still exact
  CHECK(std::memcmp(back.data(), data.data() + 5 * dim, dim * sizeof(float)) == 0);
  for (std::size_t r = 19; r < 50; ++r) st.append(data.data() + r * dim);
  REQUIRE(st.is_trained());
  for (pv::slot_t s = 0; s < 20; ++s) {  // the training rows themselves are inside the range
    st.decode(s, back);
    for (std::size_t i = 0; i < dim; ++i)
      CHECK(std::abs(back[i] - data[s * dim + i]) <= st.quantizer().step()[i] * 0.5001f + 1e-6f);
  }
}

TEST_CASE("sq8: compacted() keeps codes and ranges bit for bit", "[sq8]") {
  const std::size_t dim = 12;
  auto data = pvtest::clustered(40, dim, 3, 4);
  pv::sq8_store<pv::metric::cosine> st(dim, 10, false);
  for (std::size_t r = 0; r < 40; ++r) st.append(data.data() + r * dim);
  const std::vector<pv::slot_t> keep = {1, 5, 6, 39};
  auto c = st.compacted(keep);
  auto a = st.to_parts(), b = c.to_parts();
  CHECK(a.lo == b.lo);
  CHECK(a.step == b.step);
  for (std::size_t i = 0; i < keep.size(); ++i) {
    CHECK(std::memcmp(a.codes.row(keep[i]), b.codes.row(i), dim) == 0);
    CHECK(*a.norms.row(keep[i]) == *b.norms.row(i));
  }
}

TEST_CASE("sq8: a cosine vector whose codes decode to almost nothing gets distance 1, never NaN",
          "[sq8][edge]") {
  // A range of [0, 1e-40] in one dimension: (0, 0, 1) clamps to (0, 0, 1e-40), whose 1/|x̂|
  // overflows a float. It used to give -inf and NaN distances and unsorted results.
  pv::index idx({.dim = 3, .metric_kind = pv::metric::cosine, .quant = pv::quantization::sq8,
                 .sq8_training_size = 4});
  const std::vector<std::vector<float>> rows = {{1, 0, 0}, {0, 1, 0}, {1, 0, 1e-40f}, {0, 1, 0}};
  for (const auto& r : rows) idx.insert(r);
  pvtest::rng r(4);
  for (int i = 0; i < 20; ++i) idx.insert(std::vector<float>{r.uniform() + 0.1f, r.uniform(), 0});
  const pv::id_t odd = idx.insert(std::vector<float>{0, 0, 1});
  for (const auto& q : {std::vector<float>{1, 0, 0}, std::vector<float>{0, 0, 1}, std::vector<float>{1, 1, 0.5f}}) {
    const auto hits = idx.search(q, 25, 64);
    REQUIRE(hits.size() == 25);
    for (std::size_t i = 0; i < hits.size(); ++i) {
      CHECK(std::isfinite(hits[i].distance));
      if (i) CHECK(hits[i - 1].distance <= hits[i].distance);
      if (hits[i].id == odd) CHECK(hits[i].distance == 1.0f);
    }
  }
}

TEST_CASE("sq8: near-constant training dimensions still get usable ranges", "[sq8][edge]") {
  // Before, a constant dimension's range was the median range of the varying ones: one dimension
  // varying by float noise (1e-6) made every other one 1e-6 wide, and 91 % of later N(0,1)
  // components clamped.
  pv::index idx({.dim = 8, .quant = pv::quantization::sq8, .sq8_training_size = 100});
  for (int i = 0; i < 100; ++i) {
    std::vector<float> v(8, 0.0f);
    v[7] = 1e-6f * static_cast<float>(i % 2);
    idx.insert(v);
  }
  pvtest::rng r(10);
  for (int i = 0; i < 1000; ++i) {
    std::vector<float> v(8);
    for (float& x : v) x = r.normal();
    idx.insert(v);
  }
  const float step = idx.visit([](auto& c) {
    if constexpr (requires { c.state().store.quantizer(); }) return c.state().store.quantizer().step()[0];
    else return 0.0f;
  });
  CHECK(step >= 2.0f / 255 * 0.99f);  // ±1 at least around the constant
  CHECK(idx.sq8().clamped_fraction() < 0.4);  // dimension 7 (trained 1e-6 wide) clamps; the rest mostly not
}

TEST_CASE("sq8: the index reports training and drift, and train() again re-learns the ranges",
          "[sq8]") {
  // Before, drift was silent (values past the ranges clamped with no signal, recall@10 fell from
  // 0.98 to 0.13 on shifted data), a second train() was refused, and an index that never reached
  // its training size could not tell it was still f32.
  const std::size_t dim = 16;
  for (const bool rerank : {false, true}) {
    CAPTURE(rerank);
    pv::index_params p;
    p.dim = dim;
    p.quant = pv::quantization::sq8;
    p.sq8_training_size = 200;
    p.sq8_rerank = rerank;
    pv::index idx(p);
    auto first = pvtest::clustered(150, dim, 4, 3);
    idx.insert_batch(first);
    CHECK_FALSE(idx.sq8().trained);
    CHECK(idx.sq8().encoded == 0);
    auto more = pvtest::clustered(100, dim, 4, 3);
    idx.insert_batch(more);
    REQUIRE(idx.sq8().trained);
    CHECK(idx.sq8().encoded == 250 * dim);
    const double before = idx.sq8().clamped_fraction();
    CHECK(before < 0.01);
    // The data moves: everything later lies past the trained ranges.
    auto shifted = pvtest::clustered(300, dim, 4, 3);
    for (float& x : shifted) x += 20.0f;
    idx.insert_batch(shifted);
    CHECK(idx.sq8().clamped_fraction() > 0.5);
    // Recall on the shifted part, before and after retraining on a sample of it.
    std::vector<float> all(first);
    all.insert(all.end(), more.begin(), more.end());
    all.insert(all.end(), shifted.begin(), shifted.end());
    std::vector<pv::id_t> ids(550);
    for (pv::id_t i = 0; i < 550; ++i) ids[i] = i;
    auto recall = [&] {
      double sum = 0;
      for (std::size_t qi = 250; qi < 550; qi += 10) {
        const float* q = all.data() + qi * dim;
        sum += pvtest::overlap(idx.search({q, dim}, 10, 64),
                               pvtest::brute_force(pv::metric::l2, all, ids, q, dim, 10));
      }
      return sum / 30;
    };
    const double drifted = recall();
    idx.train(all);  // every row so far: ranges that cover both; the graph is rebuilt
    CHECK(idx.sq8().trained);
    CHECK(idx.sq8().encoded == 550 * dim);
    CHECK(idx.size() == 550);
    const double retrained = recall();
    CAPTURE(drifted, retrained);
    if (rerank) {
      CHECK(idx.sq8().clamped == 0);  // re-encoded from the exact rows
      CHECK(retrained >= 0.95);
      CHECK(retrained > drifted + 0.3);
    }
    // Either way, what arrives after retraining is encoded within the new ranges.
    const auto clamped = idx.sq8().clamped;
    auto later = pvtest::clustered(100, dim, 4, 11);
    for (float& x : later) x += 20.0f;
    const auto later_ids = idx.insert_batch(later);
    CHECK(idx.sq8().clamped - clamped < later.size() / 50);  // under 2 % (other centres)
    for (std::size_t i = 0; i < later_ids.size(); ++i)
      CHECK(idx.search({later.data() + i * dim, dim}, 1, 64)[0].id == later_ids[i]);
    // The counts survive a save and load.
    const auto stats = idx.sq8();
    auto back = pv::index::load(idx.save());
    CHECK(back.sq8().encoded == stats.encoded);
    CHECK(back.sq8().clamped == stats.clamped);
  }
  pv::index_params f;
  f.dim = 4;
  pv::index plain(f);
  CHECK_FALSE(plain.sq8().trained);
  const std::vector<float> sample = {0, 0, 0, 0, 1, 1, 1, 1};
  CHECK_THROWS_AS(plain.train(sample), pv::error);
}

TEST_CASE("sq8: index recall@10 against brute force, memory about a quarter of f32",
          "[sq8][recall][scale]") {
  const std::size_t dim = 128, n = 5000;
  const pv::metric m = GENERATE(pv::metric::l2, pv::metric::cosine, pv::metric::ip);
  CAPTURE(pv::metric_name(m));
  auto base = pvtest::clustered(n + 100, dim, 50, 77);
  std::vector<float> queries(base.begin() + n * dim, base.end());
  base.resize(n * dim);
  auto build = [&](pv::quantization q, bool rerank) {
    pv::index_params p;
    p.dim = dim;
    p.metric_kind = m;
    p.quant = q;
    p.sq8_rerank = rerank;
    auto idx = std::make_unique<pv::index>(p);
    idx->insert_batch(base);
    return idx;
  };
  auto f32 = build(pv::quantization::none, false);
  auto sq8 = build(pv::quantization::sq8, false);
  auto rr = build(pv::quantization::sq8, true);
  std::vector<pv::id_t> ids(n);
  for (std::size_t i = 0; i < n; ++i) ids[i] = static_cast<pv::id_t>(i);
  double r_f32 = 0, r_sq8 = 0, r_rr = 0;
  for (std::size_t qi = 0; qi < 100; ++qi) {
    const float* q = queries.data() + qi * dim;
    auto truth = pvtest::brute_force(m, base, ids, q, dim, 10);
    r_f32 += pvtest::overlap(f32->search({q, dim}, 10, 64), truth) / 100;
    r_sq8 += pvtest::overlap(sq8->search({q, dim}, 10, 64), truth) / 100;
    r_rr += pvtest::overlap(rr->search({q, dim}, 10, 64), truth) / 100;
  }
  CAPTURE(r_f32, r_sq8, r_rr);
  CHECK(r_sq8 >= 0.90);
  CHECK(r_rr >= r_f32 - 0.01);
  const double ratio = static_cast<double>(f32->memory_bytes()) / static_cast<double>(sq8->memory_bytes());
  CAPTURE(ratio);
  // 128 dims: ~160 graph bytes per vector dominate (f32 ~670 B vs SQ8 ~290 B); 768 dims is benchmarked
  CHECK(ratio >= 2.1);
  CHECK(sq8->get(7).size() == dim);
}

TEST_CASE("sq8: at 768 dims the whole index is at least 3.6x smaller than f32 with the same graph",
          "[sq8][memory][scale]") {
  // memory_bytes() counts everything the index holds: vectors or codes, norms, quantizer, graph,
  // ids, tombstones, search scratch. Graph parameters are equal (ef_construction only changes which
  // links are chosen, not what they cost, so a small one keeps the test fast).
  const std::size_t dim = 768, n = 3000;
  const pv::metric m = GENERATE(pv::metric::l2, pv::metric::cosine);
  CAPTURE(pv::metric_name(m));
  auto base = pvtest::clustered(n, dim, 30, 5);
  auto build = [&](pv::quantization q) {
    pv::index_params p;
    p.dim = dim;
    p.metric_kind = m;
    p.quant = q;
    p.ef_construction = 16;
    auto idx = std::make_unique<pv::index>(p);
    idx->insert_batch(base);
    return idx;
  };
  auto f32 = build(pv::quantization::none);
  auto sq8 = build(pv::quantization::sq8);
  const double f32_per = static_cast<double>(f32->memory_bytes()) / n;
  const double sq8_per = static_cast<double>(sq8->memory_bytes()) / n;
  CAPTURE(f32_per, sq8_per);
  CHECK(f32_per / sq8_per >= 3.6);
  // Besides the codes, about 74 B per vector: 32 level-0 links of 12 bits (48 B), level, count,
  // upper-level links, slot -> id, visited tags and the norm. No id hash table while ids are in order.
  // Blocks add the unused rest of each array's last block (about 5 B per vector at this size).
  CHECK(sq8_per - static_cast<double>(dim) <= 88.0);
  // An upsert of an existing id builds the id hash table (8-byte entries): still above 3.55.
  f32->reserve(n + 1);
  sq8->reserve(n + 1);
  const std::size_t before = sq8->memory_bytes();
  f32->upsert(0, {base.data(), dim});
  sq8->upsert(0, {base.data(), dim});
  CHECK(sq8->memory_bytes() >= before + 8 * n);
  CHECK(static_cast<double>(f32->memory_bytes()) / static_cast<double>(sq8->memory_bytes()) >= 3.55);
}

TEST_CASE("sq8: norms grow in full blocks, not one allocation per vector", "[sq8][memory]") {
  // Found by review: the norms' blocks were built with the default stride and held one row each,
  // so single inserts re-allocated the block table every time and the heap was 1.5x memory_bytes.
  const std::size_t dim = 8;
  auto data = pvtest::clustered(3000, dim, 3, 12);
  pv::sq8_store<pv::metric::l2> st(dim, 100, false);
  for (std::size_t r = 0; r < 3000; ++r) st.append(data.data() + r * dim);
  REQUIRE(st.is_trained());
  CHECK(st.norms().size() == 3000);
  CHECK(st.norms().rows_per_block() >= 1024);
  CHECK(st.codes().rows_per_block() >= 1024);
}
