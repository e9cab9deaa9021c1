// pocketvec/sq8.hpp — SQ8 scalar quantization: one byte per dimension, as a vector store.
//
// Each dimension i has a trained range [lo_i, lo_i + 255·step_i]; a value is stored as the nearest of
// the 256 levels (clamped to the range), and decodes to x̂_i = lo_i + step_i·c_i. The range is the
// min/max over the training vectors; a dimension that does not vary there gets a range around its
// value as wide as the others' median (see sq8_quantizer::train), so later data is not all clamped.
//
// Asymmetric distance: the query stays f32. Every metric reduces to one kernel call,
//   Σ (q_i - o_i) step_i c_i = unit · dot_i16_u8(w, c)
// with the weights w_i = (q_i - o_i) step_i prepared once per query as 16-bit fixed point
// (w_i ≈ unit·w16_i, unit chosen so that |w16_i| ≤ 32767 and Σ|w16_i|·255 fits an int32). The
// integer dot product is exact, so native and WASM builds compute the same distances, and it is 2-3x
// faster than widening codes to f32. Its rounding (≤ unit/2 per weight, about 2^-16 of the largest
// weight at 768 dims) is two orders of magnitude below the codes' own (step/2 per dimension). One
// stored float per vector:
//   l2      |q - x̂|² = |q - lo|² - 2 (q - lo)·(x̂ - lo) + |x̂ - lo|²   (o = lo; norms_ = |x̂ - lo|²)
//           Every term is measured from the range, not from 0: for data far from the origin the
//           plain |q|² - 2 q·x̂ + |x̂|² cancels the distance away between huge terms.
//   cosine  1 - (q·lo + Σ q_i step_i c_i) / |x̂|   (o = 0; norms_ = 1/|x̂|: quantization changes the
//                                                   length of x̂, and ignoring that cost 7 points)
//   ip      -(q·lo + Σ q_i step_i c_i)            (o = 0; no norms_)
// Range choice, measured (10k x 768 clustered Gaussian, cosine, decode-then-exact recall@10 against
// f32): min/max 0.961 with 1k training vectors, 0.974 with 10k; mean ± 3.5σ 0.972 / 0.971; ± 4σ
// 0.967 / 0.974. Min/max is kept: as good, and lossless for bounded integer data such as pixels.
//
// Training: until `training_size` vectors have arrived (or train() is called) the store keeps f32
// rows and answers exact distances; then it trains on those rows, encodes them and frees the f32
// copy. In re-rank mode the f32 rows are kept for good and exact_distance() re-scores candidates.
// Values outside the trained ranges clamp; the store counts them (clamped_components()), and
// train() may be called again at any time to re-learn the ranges and re-encode what it holds.
// Depends on kernels/, metric.hpp, storage.hpp (the concept and helpers). Knows nothing of graphs.
#pragma once

#include "abi.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <new>
#include <span>
#include <vector>

#include "blocks.hpp"
#include "config.hpp"
#include "error.hpp"
#include "kernels/kernels.hpp"
#include "metric.hpp"
#include "storage.hpp"

namespace pocketvec::inline POCKETVEC_ABI {

/// Rows to read by index: a flat array of rows, or a store's blocks (one non-template type, so the
/// cold training code exists once).
struct sq8_rows {
  const float* flat = nullptr;
  const row_blocks<float>* blocks = nullptr;
  std::size_t dim = 0;
  const float* operator()(std::size_t r) const noexcept { return blocks ? blocks->row(r) : flat + r * dim; }
};

/// Per-dimension affine u8 quantizer. All arithmetic in double, so ranges near ±FLT_MAX neither
/// overflow nor produce NaN.
class sq8_quantizer {
 public:
  sq8_quantizer() = default;
  sq8_quantizer(std::vector<float> lo, std::vector<float> step)
      : lo_(std::move(lo)), step_(std::move(step)) {
    set_wide();
  }

  /// Learns [min, max] per dimension from n rows of `dim` floats (n >= 1, all finite).
  /// A dimension that does not vary in the rows would get a range of one value, and every later
  /// value would clamp to it. It gets a range around its value instead (code 127 decodes to it),
  /// reaching as far to either side as the largest of: the median range of the dimensions that do
  /// vary, the largest |value| in the rows, and 1.
  void train(const float* rows, std::size_t n, std::size_t dim) { train(sq8_rows{rows, nullptr, dim}, n, dim); }
  POCKETVEC_COLD void train(sq8_rows rows, std::size_t n, std::size_t dim) {
    POCKETVEC_ASSERT(n >= 1);
    std::vector<double> lo(rows(0), rows(0) + dim), hi(rows(0), rows(0) + dim);
    for (std::size_t r = 1; r < n; ++r)
      for (std::size_t i = 0; i < dim; ++i) {
        const double v = rows(r)[i];
        lo[i] = std::min(lo[i], v);
        hi[i] = std::max(hi[i], v);
      }
    std::vector<double> widths;
    double largest = 0;
    for (std::size_t i = 0; i < dim; ++i) {
      if (hi[i] > lo[i]) widths.push_back(hi[i] - lo[i]);
      largest = std::max({largest, std::abs(lo[i]), std::abs(hi[i])});
    }
    // At least the largest magnitude in the rows, and at least 1 (the whole range of a unit
    // vector's components): a lone dimension that varies by float noise must not make every
    // constant one that narrow.
    double fill = std::max(largest, 1.0);
    if (!widths.empty()) {
      auto mid = widths.begin() + static_cast<std::ptrdiff_t>(widths.size() / 2);
      std::nth_element(widths.begin(), mid, widths.end());
      fill = std::max(fill, *mid);
    }
    constexpr double fmax = std::numeric_limits<float>::max();
    lo_.resize(dim);
    step_.resize(dim);
    for (std::size_t i = 0; i < dim; ++i) {
      if (hi[i] > lo[i]) {
        lo_[i] = static_cast<float>(lo[i]);
        step_[i] = static_cast<float>((hi[i] - lo[i]) / 255.0);
        continue;
      }
      // Centred on the value, kept inside the float range.
      const double c = lo[i];
      const double half = std::min(fill, fmax - std::abs(c));
      const double step = 2 * half / 255.0;
      lo_[i] = static_cast<float>(c - 127.0 * step);
      step_[i] = static_cast<float>(step);
      if (!(std::abs(double{lo_[i]} + 255.0 * double{step_[i]}) <= fmax)) {  // rounding at the edge
        lo_[i] = static_cast<float>(c);
        step_[i] = 0;
      }
    }
    set_wide();
  }

  std::size_t dim() const noexcept { return lo_.size(); }
  std::span<const float> lo() const noexcept { return lo_; }
  std::span<const float> step() const noexcept { return step_; }

  /// Round to nearest level, clamped to [0, 255]. Returns how many components fell outside the
  /// range by more than half a step (were clamped).
  std::size_t encode(const float* v, std::uint8_t* out) const noexcept {
    std::size_t clamped = 0;
    for (std::size_t i = 0; i < lo_.size(); ++i) {
      if (step_[i] == 0.0f) {
        out[i] = 0;
        clamped += v[i] != lo_[i];
        continue;
      }
      const double t = (double{v[i]} - lo_[i]) / step_[i];
      clamped += t < -0.5 || t > 255.5;
      out[i] = static_cast<std::uint8_t>(std::clamp(std::nearbyint(t), 0.0, 255.0));
    }
    return clamped;
  }

  void decode(const std::uint8_t* c, float* out) const noexcept {
    if (!wide_) {  // the common case, as a loop the compiler vectorizes
      for (std::size_t i = 0; i < lo_.size(); ++i) out[i] = lo_[i] + step_[i] * static_cast<float>(c[i]);
      return;
    }
    for (std::size_t i = 0; i < lo_.size(); ++i) out[i] = level(i, c[i]);
  }

  float level(std::size_t i, std::uint8_t c) const noexcept {
    if (!wide_) return lo_[i] + step_[i] * static_cast<float>(c);
    constexpr double fmax = std::numeric_limits<float>::max();
    return static_cast<float>(std::clamp(double{lo_[i]} + double{step_[i]} * c, -fmax, fmax));
  }

 private:
  // Ranges so wide that step·c can overflow a float (|values| near FLT_MAX) decode in double.
  void set_wide() noexcept {
    wide_ = false;
    for (std::size_t i = 0; i < lo_.size(); ++i)
      wide_ |= std::abs(double{lo_[i]}) + 255.0 * std::abs(double{step_[i]}) > 1e37;
  }

  std::vector<float> lo_, step_;
  bool wide_ = false;
};

/// Everything an SQ8 store persists (format.hpp writes and reads these).
struct sq8_parts {
  std::size_t dim = 0;
  std::size_t training_size = 1000;
  bool rerank = false;
  bool trained = false;
  std::vector<float> lo, step;       // dim each, when trained
  row_blocks<std::uint8_t> codes;    // size() rows of dim, when trained
  row_blocks<float> norms;           // size() rows of 1, when trained and the metric is not ip; empty: recompute
  row_blocks<float> raw;             // size() rows of dim, when untrained or rerank
  std::uint64_t encoded = 0;        // components encoded since training
  std::uint64_t clamped = 0;        // of those, clamped to the trained range
};

namespace detail {

// SQ8 query weights w_i = (v_i - o_i)·step_i as 16-bit fixed point (see the file comment), where o is
// the range origin under l2 and 0 otherwise: returns `unit`, the larger of max|w|/32767 (each weight
// fits an int16) and Σ|w|·255/(INT32_MAX − 255·dim) (no sum can overflow an int32, with room for the
// rounding of each weight by up to 1/2 and, in float, 0.1 % for the rounding of Σ|w| itself).
// Metric-independent, so not a member of the store template.
inline constexpr double sq8_int32_max = static_cast<double>(std::numeric_limits<std::int32_t>::max());

// In double, for ranges near FLT_MAX (or huge queries) where a float weight could overflow.
POCKETVEC_NOINLINE inline double sq8_weights_wide(const float* v, const float* origin, const float* step,
                                                  std::size_t dim, std::int16_t* out) {
  auto weight = [&](std::size_t i) {
    return (double{v[i]} - (origin ? double{origin[i]} : 0.0)) * double{step[i]};
  };
  double max_abs = 0, sum_abs = 0;
  for (std::size_t i = 0; i < dim; ++i) {
    const double a = std::fabs(weight(i));
    max_abs = std::max(max_abs, a);
    sum_abs += a;
  }
  double unit = std::max(max_abs / 32767.0, sum_abs * 255.0 / (sq8_int32_max - 255.0 * static_cast<double>(dim)));
  if (!(unit > 0)) unit = 1;  // all weights zero
  const double inv = 1.0 / unit;
  for (std::size_t i = 0; i < dim; ++i) {
    const double x = weight(i) * inv;
    out[i] = static_cast<std::int16_t>(static_cast<std::int32_t>(x + (x < 0 ? -0.5 : 0.5)));
  }
  return unit;
}

// In float when that is exact enough, which is almost always; every case where float overflows
// (weights or their sum past FLT_MAX, 1/unit past FLT_MAX) falls back to the double version.
inline double sq8_weights(const float* v, const float* origin, const float* step, std::size_t dim,
                          std::vector<float>& scratch, std::int16_t* out) {
  scratch.resize(dim);
  float* w = scratch.data();
  if (origin)
    for (std::size_t i = 0; i < dim; ++i) w[i] = (v[i] - origin[i]) * step[i];
  else
    for (std::size_t i = 0; i < dim; ++i) w[i] = v[i] * step[i];
  float max_abs = 0, sum_abs = 0;
  for (std::size_t i = 0; i < dim; ++i) {
    const float a = std::fabs(w[i]);
    max_abs = std::max(max_abs, a);
    sum_abs += a;
  }
  // Huge queries against a wide-enough range overflow a float weight (or their sum): redo it in
  // double, where no float product or sum of 4096 of them can overflow.
  if (!std::isfinite(sum_abs)) return sq8_weights_wide(v, origin, step, dim, out);
  const double headroom = 0.999 * sq8_int32_max - 255.0 * static_cast<double>(dim);
  double unit = std::max(double{max_abs} / 32767.0, double{sum_abs} * 255.0 / headroom);
  if (!(unit > 0)) unit = 1;
  const float inv = static_cast<float>(1.0 / unit);
  // Tiny weights (|w| below ~1e-34) put 1/unit past FLT_MAX: double handles those too.
  if (!std::isfinite(inv)) return sq8_weights_wide(v, origin, step, dim, out);
  // Round half away from zero. |x| ≤ 32767 up to float rounding, so the int16 cannot overflow.
  for (std::size_t i = 0; i < dim; ++i) {
    const float x = w[i] * inv;
    out[i] = static_cast<std::int16_t>(static_cast<std::int32_t>(x + (x < 0 ? -0.5f : 0.5f)));
  }
  return unit;
}

/// The per-vector term of an SQ8 distance for codes `c`: |x̂ - lo|² (l2), 1/|x̂| (cosine), nothing (ip).
inline float sq8_norm_term(const sq8_quantizer& q, metric m, const std::uint8_t* c) noexcept {
  double n2 = 0;
  const std::size_t dim = q.dim();
  const auto step = q.step();
  if (m == metric::l2) {
    for (std::size_t i = 0; i < dim; ++i) {
      const double x = double{step[i]} * c[i];
      n2 += x * x;
    }
    return n2 <= std::numeric_limits<float>::max() ? static_cast<float>(n2) : std::numeric_limits<float>::infinity();
  }
  for (std::size_t i = 0; i < dim; ++i) {
    const double x = q.level(i, c[i]);
    n2 += x * x;
  }
  // Codes that decode to (nearly) all zeros have no direction: 0 makes their distance 1. A length
  // whose inverse would overflow a float counts as zero too, or distances would be inf or NaN.
  const double inv = n2 > 0 ? 1.0 / std::sqrt(n2) : 0.0;
  return inv <= std::numeric_limits<float>::max() ? static_cast<float>(inv) : 0.0f;
}

/// Whether a stored l2 term `got` agrees with codes `c` to the loader's 1e-5, decided from the float
/// SIMD sum Σ(step·c)² alone: only when that sum is a normal float and `got` lies within 1e-5 minus
/// the sum's own worst-case rounding. For non-negative terms that is at most one 2⁻²⁴ per add on a
/// term's way into the result: dim / lanes in its lane, log2(lanes) combining, fewer than lanes in
/// the scalar tail, and the product and square: (dim / lanes + lanes + 8)·2⁻²⁴. Otherwise
/// false, and check_norms asks the exact sq8_norm_term. (l2 only: its decoded values are products,
/// with no cancellation for a different rounding to turn into a large error, as cosine's lo + step·c has.)
template <class Kernels>
bool sq8_l2_term_agrees_fast(const sq8_quantizer& q, const std::uint8_t* c, double got) noexcept {
  constexpr double lanes = Kernels::sumsq_lanes;
  const double bound = 1e-5 - (static_cast<double>(q.dim()) / lanes + lanes + 8) * 0x1p-24;
  if (bound <= 0) return false;
  const double n2 = Kernels::sumsq_scaled_u8(q.step().data(), c, q.dim());
  if (!(n2 >= std::numeric_limits<float>::min() && n2 <= std::numeric_limits<float>::max())) return false;
  return std::abs(got - n2) <= bound * n2;
}

/// Training's heavy part, one copy for every store: encodes `count` vectors with `q` into `codes`
/// (and, unless ip, their norm terms into `norms`; both empty, of stride dim and 1), each vector
/// from its f32 row in `raw` when given, else decoded from `old_codes` with `old_q`. Room for `room`
/// rows is asked for, best effort. Returns how many components clamped. May throw std::bad_alloc;
/// changes only its outputs.
POCKETVEC_COLD inline std::uint64_t sq8_encode_all(const sq8_quantizer& q, metric m, std::size_t count,
                                                       const row_blocks<float>* raw, const sq8_quantizer& old_q,
                                                       const row_blocks<std::uint8_t>& old_codes, std::size_t room,
                                                       row_blocks<std::uint8_t>& codes,
                                                       row_blocks<float>& norms) {
  const std::size_t dim = q.dim();
  try {  // room for later appends is a convenience: never fail training for it
    codes.reserve(room);
    if (m != metric::ip) norms.reserve(room);
  } catch (const std::bad_alloc&) {
  }
  codes.reserve(count);
  if (m != metric::ip) norms.reserve(count);
  std::vector<float> row(raw ? 0 : dim);
  std::uint64_t clamped = 0;
  for (std::size_t s = 0; s < count; ++s) {
    const float* v = raw ? raw->row(s) : row.data();
    if (!raw) old_q.decode(old_codes.row(s), row.data());
    std::uint8_t* c = codes.push_zero();
    clamped += q.encode(v, c);
    if (m != metric::ip) {
      const float term = sq8_norm_term(q, m, c);
      norms.push_back(&term);
    }
  }
  return clamped;
}

}  // namespace detail

/// The SQ8 store: dim() bytes per vector once trained, +4 bytes under l2 and cosine.
template <metric M, class Kernels = kernels::best>
class sq8_store {
 public:
  static constexpr metric metric_kind = M;

  /// A prepared query: the f32 query (for untrained stores and re-ranking) plus the SQ8 weights.
  struct query_type {
    const float* v = nullptr;
    std::vector<std::int16_t> w;  // (q_i - o_i) · step_i ≈ unit · w_i (o = lo under l2, else 0)
    double unit = 0;
    std::vector<float> scratch;   // the weights in float, while preparing
    double bias = 0;              // cosine, ip: Σ q_i lo_i
    double norm2 = 0;             // l2: |q - lo|²
  };

  using parts = sq8_parts;

  sq8_store() = default;
  /// training_size >= 1: the store trains itself when that many vectors have been appended.
  sq8_store(std::size_t dim, std::size_t training_size, bool rerank)
      : dim_(dim), training_size_(training_size), rerank_(rerank), codes_(dim), norms_(1), raw_(dim), undo_raw_(dim) {}

  /// Adopts persisted parts; the caller (the loader) has checked their sizes and values. Norms
  /// left empty (files that stored them in another form) are recomputed from the codes.
  POCKETVEC_COLD static sq8_store from_parts(parts p) {
    sq8_store s(p.dim, p.training_size, p.rerank);
    s.trained_ = p.trained;
    if (p.trained) s.q_ = sq8_quantizer(std::move(p.lo), std::move(p.step));
    adopt(s.codes_, std::move(p.codes));
    adopt(s.norms_, std::move(p.norms));
    adopt(s.raw_, std::move(p.raw));
    s.encoded_ = p.encoded;
    s.clamped_ = p.clamped;
    s.count_ = s.trained_ ? s.codes_.size() : s.raw_.size();
    if constexpr (M != metric::ip)
      if (s.trained_) s.check_norms();
    s.ready_cache();
    return s;
  }

  parts to_parts() const {
    parts p{dim_, training_size_, rerank_, trained_, {}, {}, codes_, norms_, raw_, encoded_, clamped_};
    if (trained_) {
      p.lo.assign(q_.lo().begin(), q_.lo().end());
      p.step.assign(q_.step().begin(), q_.step().end());
    }
    return p;
  }

  std::size_t dim() const noexcept { return dim_; }
  std::size_t size() const noexcept { return count_; }
  bool is_trained() const noexcept { return trained_; }
  bool rerank() const noexcept { return rerank_; }
  std::size_t training_size() const noexcept { return training_size_; }
  const sq8_quantizer& quantizer() const noexcept { return q_; }
  /// Components encoded since the ranges were trained, and how many of them fell outside the ranges
  /// (were clamped). A growing clamped share means the data has drifted: train() again.
  std::uint64_t encoded_components() const noexcept { return encoded_; }
  std::uint64_t clamped_components() const noexcept { return clamped_; }

  // The arrays, for serialization.
  const row_blocks<std::uint8_t>& codes() const noexcept { return codes_; }
  const row_blocks<float>& norms() const noexcept { return norms_; }
  const row_blocks<float>& raw() const noexcept { return raw_; }

  void reserve(std::size_t n) {
    if (trained_) {
      codes_.reserve(n);
      if constexpr (M != metric::ip) norms_.reserve(n);
    }
    // Untrained and not re-ranking, the f32 rows are freed after training_size of them: reserving
    // room for all n would make a bulk load peak at the f32 index's size (WASM memory never shrinks).
    if (rerank_)
      raw_.reserve(n);
    else if (!trained_)
      raw_.reserve(std::min(n, training_size_));
    reserved_ = std::max(reserved_, n);
  }

  /// Strong: on a throw (allocation, or the training this append triggers) nothing changed.
  slot_t append(const float* v) {
    const auto slot = static_cast<slot_t>(count_);
    if (!trained_) {
      raw_.push_back(v);
      ++count_;
      if (count_ >= training_size_) {
        try {
          train_on(sq8_rows{nullptr, &raw_, dim_}, count_);
        } catch (...) {
          --count_;
          raw_.truncate(count_);
          throw;
        }
      }
      return slot;
    }
    codes_.reserve(count_ + 1);
    if constexpr (M != metric::ip) norms_.reserve(count_ + 1);
    if (rerank_) raw_.reserve(count_ + 1);
    // Nothing below allocates.
    if (rerank_) raw_.push_back(v);
    std::uint8_t* c = codes_.push_zero();
    // Saturating: a file may hold any counts (clamped <= encoded is what the loader checks).
    const std::uint64_t top = ~std::uint64_t{0};
    encoded_ = encoded_ > top - dim_ ? top : encoded_ + dim_;
    clamped_ = std::min(encoded_, clamped_ + std::min<std::uint64_t>(q_.encode(v, c), top - clamped_));
    if constexpr (M != metric::ip) {
      const float term = detail::sq8_norm_term(q_, M, c);
      norms_.push_back(&term);
    }
    ++count_;
    return slot;
  }

  store_mark mark() const noexcept { return {count_, trained_, encoded_, clamped_}; }

  /// Drops every append since `m`, and the training one of them triggered.
  void rollback(store_mark m) noexcept {
    if (trained_ && !m.trained) {
      if (!rerank_) raw_.swap(undo_raw_);  // the rows the training freed
      codes_.clear();
      norms_.clear();
      q_ = sq8_quantizer();
      trained_ = false;
    }
    count_ = m.count;
    if (trained_) {
      codes_.truncate(count_);
      norms_.truncate(count_);
    }
    if (!trained_ || rerank_) raw_.truncate(count_);
    encoded_ = m.encoded;
    clamped_ = m.clamped;
    cached_ = no_slot;
  }

  /// Frees the f32 rows an automatic training kept for rollback().
  void settle() noexcept { undo_raw_.clear(); }

  /// Trains the ranges on `n` rows (flat, checked by the caller) and re-encodes every vector held:
  /// from its f32 row when the store has one (untrained, or re-rank), else from its decoded codes
  /// (so a component clamped before stays clamped). Strong: on a throw nothing changed.
  void train(const float* rows, std::size_t n) {
    train_on(sq8_rows{rows, nullptr, dim_}, n);
    settle();
  }

  void prepare(query_type& q, const float* v) const {
    q.v = v;
    if (!trained_) return;
    q.w.resize(dim_);
    const float* lo = q_.lo().data();
    if constexpr (M == metric::l2) {
      // Relative to the range origin: far from 0, |q|² - 2 q·x̂ + |x̂|² would cancel away the
      // distance between large terms (data offset by 1000 lost 28 points of recall@10).
      q.unit = detail::sq8_weights(v, lo, q_.step().data(), dim_, q.scratch, q.w.data());
      q.norm2 = Kernels::l2sq_f32(v, lo, dim_);
      if (!std::isfinite(q.norm2)) {  // (a query far from a range near FLT_MAX)
        double norm2 = 0;
        for (std::size_t i = 0; i < dim_; ++i) {
          const double d = double{v[i]} - double{lo[i]};
          norm2 += d * d;
        }
        q.norm2 = norm2;
      }
    } else {
      q.unit = detail::sq8_weights(v, nullptr, q_.step().data(), dim_, q.scratch, q.w.data());
      q.bias = Kernels::dot_f32(v, lo, dim_);
      if (!std::isfinite(q.bias)) {
        // q·lo of a legal query against a legal range (from a file) can pass FLT_MAX: redo in double.
        double bias = 0;
        for (std::size_t i = 0; i < dim_; ++i) bias += double{v[i]} * double{lo[i]};
        q.bias = bias;
      }
    }
  }

  float distance(const query_type& q, slot_t s) const noexcept {
    if (!trained_) return detail::f32_distance<M, Kernels>(q.v, raw_row(s), dim_);
    // Combined in double: nothing here overflows or cancels to NaN, whatever ranges a file holds
    // (norm terms are finite, or +inf under l2 only); the float result may be ±inf, never NaN.
    const double dot = q.unit * Kernels::dot_i16_u8(q.w.data(), code_row(s), dim_);
    if constexpr (M == metric::l2) {
      return static_cast<float>(std::max(0.0, q.norm2 - 2.0 * dot + double{*norms_.row(s)}));
    } else if constexpr (M == metric::cosine) {
      return static_cast<float>(1.0 - (q.bias + dot) * double{*norms_.row(s)});
    } else {
      return static_cast<float>(-(q.bias + dot));
    }
  }

  /// Used by the neighbour heuristic, mostly with the same `a` many times in a row: `a`'s decoded
  /// codes are prepared once and cached until a different `a` (or a mutation) comes. Decoded in
  /// re-rank mode too: both sides in code space agree with the distances the graph is searched with
  /// (the f32 row here cost SQ8 + re-rank 1.2-1.9 points of recall@10 under ip). Allocates nothing:
  /// the cache is sized when the store is trained.
  float distance_between(slot_t a, slot_t b) const {
    if (!trained_) return detail::f32_distance<M, Kernels>(raw_row(a), raw_row(b), dim_);
    if (cached_ != a) {
      q_.decode(code_row(a), cached_row_.data());
      prepare(cached_query_, cached_row_.data());
      cached_ = a;
    }
    return distance(cached_query_, b);
  }

  /// Identical stored vectors: the same codes once trained, the same f32 rows before.
  bool same(slot_t a, slot_t b) const noexcept {
    if (!trained_) return std::memcmp(raw_row(a), raw_row(b), dim_ * sizeof(float)) == 0;
    return std::memcmp(code_row(a), code_row(b), dim_) == 0;
  }

  void prefetch(slot_t s) const noexcept {
    if (trained_)
      detail::prefetch_bytes(code_row(s), dim_);
    else
      detail::prefetch_bytes(raw_row(s), dim_ * sizeof(float));
  }

  /// The stored vector: exact in re-rank mode or before training, decoded otherwise.
  void decode(slot_t s, std::span<float> out) const noexcept {
    if (!trained_ || rerank_)
      std::memcpy(out.data(), raw_row(s), dim_ * sizeof(float));
    else
      q_.decode(code_row(s), out.data());
  }

  bool has_exact() const noexcept { return rerank_ && trained_; }
  /// Exact distance from the f32 query to the f32 copy of `s` (re-rank mode, or untrained).
  float exact_distance(const float* q, slot_t s) const noexcept {
    return detail::f32_distance<M, Kernels>(q, raw_row(s), dim_);
  }

  POCKETVEC_COLD sq8_store compacted(std::span<const slot_t> keep) const {
    sq8_store out(dim_, training_size_, rerank_);
    out.trained_ = trained_;
    out.q_ = q_;
    out.count_ = keep.size();
    out.encoded_ = encoded_;
    out.clamped_ = clamped_;
    if (trained_) {
      out.codes_.reserve(keep.size());
      if constexpr (M != metric::ip) out.norms_.reserve(keep.size());
    }
    if (!trained_ || rerank_) out.raw_.reserve(keep.size());
    for (slot_t s : keep) {
      if (trained_) {
        out.codes_.push_back(code_row(s));
        if constexpr (M != metric::ip) out.norms_.push_back(norms_.row(s));
      }
      if (!trained_ || rerank_) out.raw_.push_back(raw_row(s));
    }
    out.ready_cache();
    return out;
  }

  /// Drops the rows whose remap[] is no_slot and moves the others to remap[s] (ascending); `live`
  /// remain. Codes and norms move as they are: nothing is re-encoded. Allocates nothing.
  void keep_only(std::span<const slot_t> remap, std::size_t live) noexcept {
    if (trained_) {
      codes_.keep_rows(remap, live);
      norms_.keep_rows(remap, live);
    }
    if (!trained_ || rerank_) raw_.keep_rows(remap, live);
    count_ = live;
    cached_ = no_slot;
  }

  std::size_t memory_bytes() const noexcept {
    return codes_.memory_bytes() + norms_.memory_bytes() + raw_.memory_bytes() + undo_raw_.memory_bytes() +
           2 * q_.dim() * sizeof(float) + cached_row_.capacity() * sizeof(float) +
           cached_query_.w.capacity() * sizeof(std::int16_t) + cached_query_.scratch.capacity() * sizeof(float);
  }

 private:
  const float* raw_row(slot_t s) const noexcept { return raw_.row(s); }
  const std::uint8_t* code_row(slot_t s) const noexcept { return codes_.row(s); }

  /// Takes loaded rows; empty parts (a store with nothing in that array) keep the store's strides.
  template <class T>
  static void adopt(row_blocks<T>& to, row_blocks<T>&& from) {
    if (from.empty()) return;
    POCKETVEC_ASSERT(from.stride() == to.stride());
    to = std::move(from);
  }

  /// Norm terms are derived data: recomputed from the codes when absent (1.0 files under l2), else
  /// held to them (a file whose norms disagree would answer wrong distances). Stored values are kept
  /// when they agree to 1e-5, so a file re-saves byte for byte. Throws errc::corrupt_data.
  POCKETVEC_COLD void check_norms() {
    if (norms_.size() != count_) {
      norms_.clear();
      norms_.reserve(count_);
      for (std::size_t r = 0; r < count_; ++r) {
        const float term = detail::sq8_norm_term(q_, M, code_row(static_cast<slot_t>(r)));
        norms_.push_back(&term);
      }
      return;
    }
    // A term that overflows a float (+inf, allowed) agrees only with +inf.
    auto agree = [](double got, double want) {
      return got == want || (std::isfinite(want) && std::abs(got - want) <= 1e-5 * std::max(std::abs(want), 1e-30));
    };
    for (std::size_t r = 0; r < count_; ++r) {
      const std::uint8_t* c = code_row(static_cast<slot_t>(r));
      const double got = *norms_.row(r);
      if constexpr (M == metric::l2)
        if (detail::sq8_l2_term_agrees_fast<Kernels>(q_, c, got)) continue;
      if (!agree(got, detail::sq8_norm_term(q_, M, c)))
        detail::fail(errc::corrupt_data, "corrupt index bytes: SQ8 norm of slot " + std::to_string(r) +
                                             " does not match its codes");
    }
  }

  /// Sizes distance_between's cache, so that it never allocates (the insert's commit step relies
  /// on that).
  void ready_cache() {
    if (!trained_) return;
    cached_row_.resize(dim_);
    cached_query_.w.resize(dim_);
    cached_query_.scratch.resize(dim_);
    cached_ = no_slot;
  }

  /// Trains on `rows` and re-encodes everything held. Strong; the f32 rows training frees are kept
  /// in undo_raw_ for rollback() until settle().
  POCKETVEC_COLD void train_on(sq8_rows rows, std::size_t n) {
    sq8_quantizer q;
    q.train(rows, n, dim_);
    row_blocks<std::uint8_t> codes(dim_);
    row_blocks<float> norms(1);
    const bool from_codes = trained_ && !rerank_;  // retraining: the codes are all there is
    const std::uint64_t clamped = detail::sq8_encode_all(q, M, count_, from_codes ? nullptr : &raw_, q_,
                                                         codes_, std::max(count_, reserved_), codes, norms);
    std::vector<float> cache_row(dim_), cache_scratch(dim_);
    std::vector<std::int16_t> cache_w(dim_);
    // Commit: nothing below throws.
    const bool first = !trained_;
    q_ = std::move(q);
    codes_.swap(codes);
    norms_.swap(norms);
    trained_ = true;
    encoded_ = count_ * dim_;
    clamped_ = clamped;
    cached_row_.swap(cache_row);
    cached_query_.w.swap(cache_w);
    cached_query_.scratch.swap(cache_scratch);
    cached_ = no_slot;
    if (first && !rerank_) {
      settle();
      undo_raw_.swap(raw_);
    }
  }

  std::size_t dim_ = 0;
  std::size_t training_size_ = 1000;
  bool rerank_ = false;
  bool trained_ = false;
  std::size_t count_ = 0;
  sq8_quantizer q_;
  row_blocks<std::uint8_t> codes_;  // dim per vector
  std::size_t reserved_ = 0;  // the largest reserve() asked for: codes_ get it once trained
  row_blocks<float> norms_;   // per vector: |x̂ - lo|² (l2), 1/|x̂| (cosine), none (ip)
  row_blocks<float> raw_;     // f32 rows: all of them before training, or in re-rank mode
  row_blocks<float> undo_raw_;  // the rows an automatic training freed, until settle()
  std::uint64_t encoded_ = 0, clamped_ = 0;  // components since training; clamped ones
  // distance_between's cache: the last `a`, decoded and prepared.
  mutable slot_t cached_ = no_slot;
  mutable std::vector<float> cached_row_;
  mutable query_type cached_query_;
};

}  // namespace pocketvec::POCKETVEC_ABI
