// Native benchmarks for deletions: local repair (compact()) against a full rebuild (rebuild()) and
// a fresh build over the survivors, and a churn run that keeps a live set steady while vectors come
// and go. A benchmark, not a test: it asserts nothing.
//
//   pv_repair deletes [key=value ...]   build once, then per deletion fraction and storage, on copies
//                                       of the built index (save/load bytes): compact(), rebuild(),
//                                       a fresh build over the survivors; times, recall@10, peak heap
//   pv_repair churn [key=value ...]     keep `live` vectors while inserting and erasing `ops` in all
//   pv_repair phases [key=value ...]    where compact()'s time goes (plan_repair vs the rest)
//
// deletes keys: n=100000 dim=768 m=16 efc=200 queries=1000 fractions=0.1,0.3 storages=f32,sq8
//               seed=1 fresh=1 rebuild=1 import=DIR export=DIR (data, deletions, truth and built indexes for
//               bench/repair/wasm.mjs, which runs the same measurements on the WASM package)
// churn keys:   live=20000 dim=128 ops=200000 round=1000 queries=1000 m=16 efc=200 storage=f32
//               seed=1 every=10000 fresh_every=50000
// phases keys:  n=20000 dim=128 fraction=0.3 storage=f32 reps=3 cache=FILE (bytes of the tombstoned index)
// The metric is always cosine; SQ8 uses the default training (the first 1000 inserts).
//
// Data: 100 clusters, each a centre c ~ N(0, I) and a rank-16 basis B (entries N(0, 1/16)); a row
// is c + 0.5 B z + 0.25 N(0, I), z ~ N(0, I_16), scaled to unit length (the shape of bench/recall's
// `synthetic` set, drawn from splitmix64 here). Queries come from the same clusters, never stored.
//
// recall@10: the exact top-10 over the survivors (live set) by brute force. Distances are 1 - dot
// on unit rows, computed in float over blocks of queries; the 10 found are then re-measured in
// double, and a returned id counts when its double distance is within the 10th (relative 1e-5), as
// in bench/recall. Peak heap: every operator new/delete of the process is counted (live bytes and
// their peak); the peak during a call minus the live bytes before it is what the call added.
//
// Compile-time: PV_OLD for a core before 1a90686 (no rebuild(), needs_compaction(),
// last_repair_count(); compact() was the full rebuild and erase() compacted by itself past the
// threshold: compact_threshold is set to 0 in `deletes` so that only the explicit call compacts).
// PV_CORE names the core in the output. Output: JSON lines on stdout, progress on stderr.
#include <pocketvec/pocketvec.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <new>
#include <numeric>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#ifndef PV_CORE
#define PV_CORE "unnamed"
#endif
#ifndef PV_REV
#define PV_REV ""
#endif

// ---- counting allocator ------------------------------------------------------------------------
// Each block carries a header of max(16, alignment) bytes; its last 16 hold the size and the header
// length, so every delete (sized or not, aligned or not) knows what it frees.

namespace heap {
std::size_t live = 0, peak = 0, calls = 0;
inline void* get(std::size_t size, std::size_t align) {
  if (align < 16) align = 16;
  const std::size_t total = (size + align + align - 1) / align * align;
  void* raw = std::aligned_alloc(align, total);
  if (!raw) return nullptr;
  char* user = static_cast<char*>(raw) + align;
  reinterpret_cast<std::size_t*>(user)[-2] = size;
  reinterpret_cast<std::size_t*>(user)[-1] = align;
  live += size;
  ++calls;
  if (live > peak) peak = live;
  return user;
}
inline void put(void* p) noexcept {
  if (!p) return;
  char* user = static_cast<char*>(p);
  const std::size_t size = reinterpret_cast<std::size_t*>(user)[-2];
  const std::size_t align = reinterpret_cast<std::size_t*>(user)[-1];
  live -= size;
  std::free(user - align);
}
inline void* get_or_throw(std::size_t size, std::size_t align) {
  void* p = get(size, align);
  if (!p) throw std::bad_alloc();
  return p;
}
/// Starts a measurement: the peak is reset to what is live now.
inline std::size_t start() {
  peak = live;
  return live;
}
}  // namespace heap

void* operator new(std::size_t n) { return heap::get_or_throw(n, 16); }
void* operator new[](std::size_t n) { return heap::get_or_throw(n, 16); }
void* operator new(std::size_t n, std::align_val_t a) { return heap::get_or_throw(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return heap::get_or_throw(n, static_cast<std::size_t>(a)); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return heap::get(n, 16); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return heap::get(n, 16); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return heap::get(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return heap::get(n, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept { heap::put(p); }
void operator delete[](void* p) noexcept { heap::put(p); }
void operator delete(void* p, std::size_t) noexcept { heap::put(p); }
void operator delete[](void* p, std::size_t) noexcept { heap::put(p); }
void operator delete(void* p, std::align_val_t) noexcept { heap::put(p); }
void operator delete[](void* p, std::align_val_t) noexcept { heap::put(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { heap::put(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { heap::put(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { heap::put(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { heap::put(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { heap::put(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { heap::put(p); }

namespace {

using clock_type = std::chrono::steady_clock;
double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

constexpr std::size_t k = 10;
constexpr std::size_t efs[] = {16, 32, 64};

// ---- options -----------------------------------------------------------------------------------

struct options {
  std::map<std::string, std::string> kv;
  options(int argc, char** argv, int first) {
    for (int i = first; i < argc; ++i) {
      const std::string a = argv[i];
      const auto eq = a.find('=');
      if (eq == std::string::npos) throw std::runtime_error("expected key=value, got " + a);
      kv[a.substr(0, eq)] = a.substr(eq + 1);
    }
  }
  std::string str(const std::string& key, const std::string& def) const {
    const auto it = kv.find(key);
    return it == kv.end() ? def : it->second;
  }
  std::size_t num(const std::string& key, std::size_t def) const {
    const auto it = kv.find(key);
    return it == kv.end() ? def : std::stoul(it->second);
  }
  static std::vector<std::string> list(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    for (std::string x; std::getline(ss, x, ',');) out.push_back(x);
    return out;
  }
};

// ---- data --------------------------------------------------------------------------------------

struct rng {
  std::uint64_t state;
  explicit rng(std::uint64_t seed) : state(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1p-53; }
  // Box-Muller, both outputs used.
  bool has_spare = false;
  double spare = 0;
  double normal() {
    if (has_spare) {
      has_spare = false;
      return spare;
    }
    const double u1 = 1.0 - uniform(), u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare = r * std::sin(6.283185307179586 * u2);
    has_spare = true;
    return r * std::cos(6.283185307179586 * u2);
  }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
};

/// Low-rank clusters (see the header comment); rows come out unit length.
struct generator {
  static constexpr std::size_t clusters = 100, rank = 16;
  std::size_t dim;
  std::vector<float> centres, bases;
  rng r;
  generator(std::size_t dim_, std::uint64_t seed) : dim(dim_), centres(clusters * dim_), bases(clusters * dim_ * rank), r(seed) {
    for (float& c : centres) c = static_cast<float>(r.normal());
    for (float& b : bases) b = static_cast<float>(r.normal() * 0.25);
  }
  void row(float* out) {
    const std::size_t c = r.below(clusters);
    double z[rank];
    for (double& x : z) x = r.normal();
    double s2 = 0;
    for (std::size_t j = 0; j < dim; ++j) {
      const float* b = &bases[(c * dim + j) * rank];
      double lat = 0;
      for (std::size_t t = 0; t < rank; ++t) lat += b[t] * z[t];
      const double v = centres[c * dim + j] + 0.5 * lat + 0.25 * r.normal();
      out[j] = static_cast<float>(v);
      s2 += v * v;
    }
    const double inv = 1.0 / std::sqrt(s2);
    for (std::size_t j = 0; j < dim; ++j) out[j] = static_cast<float>(out[j] * inv);
  }
  std::vector<float> rows(std::size_t n) {
    std::vector<float> out(n * dim);
    for (std::size_t i = 0; i < n; ++i) row(out.data() + i * dim);
    return out;
  }
};

// ---- exact search ------------------------------------------------------------------------------

/// Float dot product with 16 independent sums (vectorised by the compiler; no -ffast-math needed).
inline float dotf(const float* a, const float* b, std::size_t dim) {
  float acc[16] = {};
  std::size_t i = 0;
  for (; i + 16 <= dim; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] += a[i + j] * b[i + j];
  float s = 0;
  for (; i < dim; ++i) s += a[i] * b[i];
  for (float x : acc) s += x;
  return s;
}
inline double dotd(const float* a, const float* b, std::size_t dim) {
  double s = 0;
  for (std::size_t i = 0; i < dim; ++i) s += double{a[i]} * b[i];
  return s;
}

/// For `nq` queries: the distances 1 - dot to every one of `n` rows, written to dist[q * n + i].
/// Rows are visited once per block of 8 queries, so the base is read nq / 8 times.
void distances(const float* queries, std::size_t nq, const float* base, std::size_t n, std::size_t dim,
               std::vector<float>& dist) {
  dist.resize(nq * n);
  constexpr std::size_t block = 8;
  for (std::size_t q0 = 0; q0 < nq; q0 += block) {
    const std::size_t q1 = std::min(nq, q0 + block);
    for (std::size_t i = 0; i < n; ++i) {
      const float* row = base + i * dim;
      for (std::size_t q = q0; q < q1; ++q) dist[q * n + i] = 1.0f - dotf(queries + q * dim, row, dim);
    }
  }
}

struct truth {
  std::vector<double> kth;  // per query: the exact (double) 10th distance among the eligible rows
};

/// The eligible rows' top-10 per query from float distances, re-measured in double.
/// `keep(i)` says which rows count; `row(i)` gives a row's floats.
template <class Keep, class Row>
truth top_k(const float* queries, std::size_t nq, std::size_t dim, const std::vector<float>& dist,
            std::size_t n, Keep keep, Row row) {
  truth t;
  t.kth.resize(nq);
  std::vector<std::pair<float, std::uint32_t>> all;
  all.reserve(n);
  for (std::size_t q = 0; q < nq; ++q) {
    all.clear();
    for (std::size_t i = 0; i < n; ++i)
      if (keep(i)) all.push_back({dist[q * n + i], static_cast<std::uint32_t>(i)});
    const std::size_t kk = std::min(k, all.size());
    std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(kk), all.end());
    double kth = 0;
    for (std::size_t j = 0; j < kk; ++j)
      kth = std::max(kth, 1.0 - dotd(queries + q * dim, row(all[j].second), dim));
    t.kth[q] = kth;
  }
  return t;
}

/// recall@10 at `ef` over the queries; `vec(id)` gives the row stored under a returned id (or
/// nullptr for one that must not be returned). Also the mean search time in microseconds.
template <class Vec>
std::pair<double, double> recall(pocketvec::index& idx, const float* queries, std::size_t nq, std::size_t dim,
                                 const truth& t, std::size_t ef, Vec vec) {
  double sum = 0;
  double us = 0;
  for (std::size_t q = 0; q < nq; ++q) {
    const float* qv = queries + q * dim;
    const auto t0 = clock_type::now();
    const auto hits = idx.search(std::span<const float>(qv, dim), k, ef);
    us += seconds_since(t0) * 1e6;
    const double limit = t.kth[q] + 1e-5 * std::abs(t.kth[q]) + 1e-12;
    std::size_t good = 0;
    std::vector<pocketvec::id_t> seen;
    for (const auto& h : hits) {
      if (std::find(seen.begin(), seen.end(), h.id) != seen.end()) continue;
      seen.push_back(h.id);
      const float* r = vec(h.id);
      if (r && 1.0 - dotd(qv, r, dim) <= limit) ++good;
    }
    sum += static_cast<double>(std::min(good, k)) / k;
  }
  return {sum / static_cast<double>(nq), us / static_cast<double>(nq)};
}

std::size_t rss_bytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
  return 0;
}

double load1() {
  double l = -1;
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &l) != 1) l = -1;
    std::fclose(f);
  }
  return l;
}

pocketvec::index_params make_params(std::size_t dim, const std::string& storage, std::size_t m, std::size_t efc) {
  pocketvec::index_params p;
  p.dim = dim;
  p.metric_kind = pocketvec::metric::cosine;
  p.m = m;
  p.ef_construction = efc;
  if (storage == "sq8")
    p.quant = pocketvec::quantization::sq8;
  else if (storage != "f32")
    throw std::runtime_error("unknown storage " + storage + " (f32 | sq8)");
  return p;
}

/// CPU time of the calling thread: what a call costs on a shared machine, where wall time also
/// counts the time the scheduler gave to others.
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

/// A measured call: seconds, and heap bytes it added at its peak over what was live before it.
struct measured {
  double s = 0;
  double cpu = 0;  // thread CPU seconds
  std::size_t peak_extra = 0;
  std::size_t heap_before = 0;
};
template <class F>
measured measure(F&& f) {
  measured m;
  m.heap_before = heap::start();
  const auto t0 = clock_type::now();
  const double c0 = thread_cpu_seconds();
  f();
  m.cpu = thread_cpu_seconds() - c0;
  m.s = seconds_since(t0);
  m.peak_extra = heap::peak - m.heap_before;
  return m;
}

std::string recall_json(const std::vector<std::pair<double, double>>& r) {
  std::string out = "{";
  for (std::size_t i = 0; i < r.size(); ++i) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "%s\"%zu\":%.4f", i ? "," : "", efs[i], r[i].first);
    out += buf;
  }
  out += "}";
  return out;
}
std::string us_json(const std::vector<std::pair<double, double>>& r) {
  std::string out = "{";
  for (std::size_t i = 0; i < r.size(); ++i) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "%s\"%zu\":%.1f", i ? "," : "", efs[i], r[i].second);
    out += buf;
  }
  out += "}";
  return out;
}

// ---- deletes -----------------------------------------------------------------------------------

std::vector<std::uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_file(const std::string& path, const void* data, std::size_t bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  if (!out) throw std::runtime_error("cannot write " + path);
}

int run_deletes(const options& o) {
  const std::size_t n = o.num("n", 100000), dim = o.num("dim", 768), m = o.num("m", 16), efc = o.num("efc", 200);
  const std::size_t nq = o.num("queries", 1000), seed = o.num("seed", 1);
  const bool do_fresh = o.num("fresh", 1) != 0, do_rebuild = o.num("rebuild", 1) != 0;
  (void)do_rebuild;  // unused under PV_OLD
  std::vector<double> fractions;
  for (const auto& f : options::list(o.str("fractions", "0.1,0.3"))) fractions.push_back(std::stod(f));
  const auto storages = options::list(o.str("storages", "f32,sq8"));

  auto t0 = clock_type::now();
  generator gen(dim, seed);
  const std::vector<float> base = gen.rows(n);
  const std::vector<float> queries = gen.rows(nq);
  std::fprintf(stderr, "[%s] data %zu x %zu + %zu queries: %.1f s\n", PV_CORE, n, dim, nq, seconds_since(t0));

  // One random order of the ids; fraction f deletes its first round(f * n) (nested sets).
  std::vector<std::uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  rng shuffle(seed * 7919 + 13);
  for (std::size_t i = n - 1; i > 0; --i) std::swap(order[i], order[shuffle.below(i + 1)]);
  std::vector<std::vector<std::uint8_t>> deleted(fractions.size(), std::vector<std::uint8_t>(n, 0));
  std::vector<std::size_t> n_deleted(fractions.size());
  for (std::size_t f = 0; f < fractions.size(); ++f) {
    n_deleted[f] = static_cast<std::size_t>(std::llround(fractions[f] * static_cast<double>(n)));
    for (std::size_t i = 0; i < n_deleted[f]; ++i) deleted[f][order[i]] = 1;
  }

  // Exact top-10 over the survivors of each fraction, from one pass of distances; or, with
  // import=DIR (an earlier run's export=DIR with the same n, dim, queries, seed and fractions), its
  // truth and its built indexes (building is the same whatever the repair: this measures a new
  // compact() on the same bytes without building again).
  const std::string import_dir = o.str("import", "");
  t0 = clock_type::now();
  std::vector<truth> truths(fractions.size());
  if (!import_dir.empty()) {
    // The export must describe this run: same data, queries, graph parameters and fractions.
    const auto mraw = read_file(import_dir + "/meta.json");
    const std::string meta(mraw.begin(), mraw.end());
    auto field = [&](const std::string& key) {
      const auto at = meta.find("\"" + key + "\":");
      if (at == std::string::npos) throw std::runtime_error("import: meta.json has no " + key);
      return std::stod(meta.substr(at + key.size() + 3));
    };
    const std::pair<const char*, double> want[] = {{"n", double(n)}, {"dim", double(dim)}, {"queries", double(nq)},
                                                   {"m", double(m)}, {"ef_construction", double(efc)},
                                                   {"seed", double(seed)}};
    for (const auto& [key, value] : want)
      if (field(key) != value) throw std::runtime_error(std::string("import: meta.json's ") + key + " differs from this run's");
    std::size_t at = meta.find("\"fractions\":");
    for (std::size_t f = 0; f < fractions.size(); ++f) {
      at = meta.find("\"fraction\":", at == std::string::npos ? 0 : at + 1);
      if (at == std::string::npos || std::abs(std::stod(meta.substr(at + 11)) - fractions[f]) > 1e-9)
        throw std::runtime_error("import: meta.json's fractions differ from this run's (same values, same order)");
    }
    for (std::size_t f = 0; f < fractions.size(); ++f) {
      const auto raw = read_file(import_dir + "/kth-" + std::to_string(f) + ".f64");
      if (raw.size() != nq * sizeof(double)) throw std::runtime_error("import: kth file does not match queries=");
      truths[f].kth.resize(nq);
      std::memcpy(truths[f].kth.data(), raw.data(), raw.size());
    }
  } else {
    std::vector<float> dist;
    distances(queries.data(), nq, base.data(), n, dim, dist);
    const double dist_s = seconds_since(t0);
    for (std::size_t f = 0; f < fractions.size(); ++f)
      truths[f] = top_k(queries.data(), nq, dim, dist, n, [&](std::size_t i) { return !deleted[f][i]; },
                        [&](std::size_t i) { return base.data() + i * dim; });
    std::fprintf(stderr, "[%s] ground truth (%zu queries, %zu fractions): distances %.1f s, total %.1f s\n", PV_CORE,
                 nq, fractions.size(), dist_s, seconds_since(t0));
  }
  const double truth_s = seconds_since(t0);
  // export=DIR: the same data, deletions and truth for bench/repair/wasm.mjs (the WASM side of this run).
  const std::string export_dir = o.str("export", "");
  if (!export_dir.empty()) {
    write_file(export_dir + "/base.f32", base.data(), base.size() * sizeof(float));
    write_file(export_dir + "/queries.f32", queries.data(), queries.size() * sizeof(float));
    write_file(export_dir + "/order.u32", order.data(), order.size() * sizeof(std::uint32_t));
    std::string meta = "{\"n\":" + std::to_string(n) + ",\"dim\":" + std::to_string(dim) + ",\"queries\":" +
                       std::to_string(nq) + ",\"m\":" + std::to_string(m) + ",\"ef_construction\":" +
                       std::to_string(efc) + ",\"seed\":" + std::to_string(seed) + ",\"fractions\":[";
    for (std::size_t f = 0; f < fractions.size(); ++f) {
      write_file(export_dir + "/kth-" + std::to_string(f) + ".f64", truths[f].kth.data(),
                 truths[f].kth.size() * sizeof(double));
      meta += (f ? "," : "") + std::string("{\"fraction\":") + std::to_string(fractions[f]) + ",\"deleted\":" +
              std::to_string(n_deleted[f]) + "}";
    }
    meta += "]}\n";
    write_file(export_dir + "/meta.json", meta.data(), meta.size());
  }

  for (const std::string& storage : storages) {
    pocketvec::index_params p = make_params(dim, storage, m, efc);
#ifdef PV_OLD
    p.compact_threshold = 0.0f;  // the old erase() compacts by itself past the threshold
#endif
    const double load_build = load1();
    std::vector<std::uint8_t> bytes;
    std::size_t built_memory = 0;
    double build_s = 0;
    if (!import_dir.empty()) {
      bytes = read_file(import_dir + "/" + storage + ".bin");
      built_memory = pocketvec::index::load(bytes).memory_bytes();
    } else {
      pocketvec::index idx(p);
      t0 = clock_type::now();
      idx.insert_batch(base);
      build_s = seconds_since(t0);
      built_memory = idx.memory_bytes();
      bytes = idx.save();
    }
    std::fprintf(stderr, "[%s] %s build %zu: %.1f s, memory_bytes %.1f MiB\n", PV_CORE, storage.c_str(), n, build_s,
                 built_memory / 1048576.0);
    if (!export_dir.empty()) write_file(export_dir + "/" + storage + ".bin", bytes.data(), bytes.size());
    std::printf("{\"kind\":\"build\",\"core\":\"%s\",\"rev\":\"%s\",\"storage\":\"%s\",\"n\":%zu,\"dim\":%zu,\"m\":%zu,"
                "\"ef_construction\":%zu,\"build_s\":%.2f,\"memory_bytes\":%zu,\"truth_s\":%.2f,\"queries\":%zu,"
                "\"load1\":%.2f}\n",
                PV_CORE, PV_REV, storage.c_str(), n, dim, m, efc, build_s, built_memory, truth_s, nq, load_build);
    std::fflush(stdout);

    for (std::size_t f = 0; f < fractions.size(); ++f) {
      const auto& del = deleted[f];
      const truth& t = truths[f];
      auto survivor_row = [&](pocketvec::id_t id) -> const float* {
        return id < n && !del[id] ? base.data() + std::size_t{id} * dim : nullptr;
      };
      auto erase_all = [&](pocketvec::index& idx) {
        for (std::size_t i = 0; i < n_deleted[f]; ++i) idx.erase(order[i]);
      };
      auto recalls = [&](pocketvec::index& idx, auto vec) {
        std::vector<std::pair<double, double>> r;
        for (std::size_t ef : efs) r.push_back(recall(idx, queries.data(), nq, dim, t, ef, vec));
        return r;
      };
      char head[512];
      std::snprintf(head, sizeof head,
                    "\"core\":\"%s\",\"rev\":\"%s\",\"storage\":\"%s\",\"n\":%zu,\"dim\":%zu,\"m\":%zu,"
                    "\"ef_construction\":%zu,\"fraction\":%.2f,\"deleted\":%zu,\"survivors\":%zu,\"queries\":%zu",
                    PV_CORE, PV_REV, storage.c_str(), n, dim, m, efc, fractions[f], n_deleted[f], n - n_deleted[f],
                    nq);

      // The tombstoned index before any compaction (what searches see until compact()).
      double compact_s = 0;
      {
        pocketvec::index idx = pocketvec::index::load(bytes);
        erase_all(idx);
        const auto tomb = recalls(idx, survivor_row);
        const std::size_t before = idx.memory_bytes();
        const double load_c = load1();
        const measured c = measure([&] { idx.compact(); });
        compact_s = c.s;
#ifdef PV_OLD
        const std::size_t repaired = 0;
#else
        const std::size_t repaired = idx.last_repair_count();
#endif
        const auto rep = recalls(idx, survivor_row);
        std::fprintf(stderr, "[%s] %s %.0f%%: compact %.2f s (repaired %zu), peak +%.1f MiB over %.1f MiB, recall@ef64 %.4f (tombstoned %.4f)\n",
                     PV_CORE, storage.c_str(), fractions[f] * 100, c.s, repaired, c.peak_extra / 1048576.0,
                     before / 1048576.0, rep[2].first, tomb[2].first);
        std::printf("{\"kind\":\"compact\",%s,\"seconds\":%.3f,\"memory_before\":%zu,\"memory_after\":%zu,"
                    "\"peak_extra\":%zu,\"peak_ratio\":%.4f,\"extra_ratio\":%.4f,\"last_repair_count\":%zu,"
                    "\"recall\":%s,\"search_us\":%s,\"recall_tombstoned\":%s,\"load1\":%.2f,\"cpu_seconds\":%.3f}\n",
                    head, c.s, before, idx.memory_bytes(), c.peak_extra,
                    static_cast<double>(before + c.peak_extra) / static_cast<double>(before),
                    static_cast<double>(c.peak_extra) / static_cast<double>(before), repaired,
                    recall_json(rep).c_str(), us_json(rep).c_str(), recall_json(tomb).c_str(), load_c, c.cpu);
        std::fflush(stdout);
      }
#ifndef PV_OLD
      if (do_rebuild) {
        pocketvec::index idx = pocketvec::index::load(bytes);
        erase_all(idx);
        const std::size_t before = idx.memory_bytes();
        const double load_r = load1();
        const measured r = measure([&] { idx.rebuild(); });
        const auto rec = recalls(idx, survivor_row);
        std::fprintf(stderr, "[%s] %s %.0f%%: rebuild %.2f s, peak +%.1f MiB over %.1f MiB, recall@ef64 %.4f\n", PV_CORE,
                     storage.c_str(), fractions[f] * 100, r.s, r.peak_extra / 1048576.0, before / 1048576.0,
                     rec[2].first);
        std::printf("{\"kind\":\"rebuild\",%s,\"seconds\":%.3f,\"memory_before\":%zu,\"memory_after\":%zu,"
                    "\"peak_extra\":%zu,\"peak_ratio\":%.4f,\"extra_ratio\":%.4f,\"vs_compact\":%.2f,"
                    "\"recall\":%s,\"search_us\":%s,\"load1\":%.2f}\n",
                    head, r.s, before, idx.memory_bytes(), r.peak_extra,
                    static_cast<double>(before + r.peak_extra) / static_cast<double>(before),
                    static_cast<double>(r.peak_extra) / static_cast<double>(before), r.s / compact_s,
                    recall_json(rec).c_str(), us_json(rec).c_str(), load_r);
        std::fflush(stdout);
      }
#endif
      if (do_fresh) {
        std::vector<float> rows;
        std::vector<std::uint32_t> ids;  // fresh id -> original id
        rows.reserve((n - n_deleted[f]) * dim);
        for (std::size_t i = 0; i < n; ++i)
          if (!del[i]) {
            rows.insert(rows.end(), base.begin() + static_cast<std::ptrdiff_t>(i * dim),
                        base.begin() + static_cast<std::ptrdiff_t>((i + 1) * dim));
            ids.push_back(static_cast<std::uint32_t>(i));
          }
        pocketvec::index idx(p);
        const double load_f = load1();
        const measured b = measure([&] { idx.insert_batch(rows); });
        auto fresh_row = [&](pocketvec::id_t id) -> const float* {
          return id < ids.size() ? base.data() + std::size_t{ids[id]} * dim : nullptr;
        };
        const auto rec = recalls(idx, fresh_row);
        std::fprintf(stderr, "[%s] %s %.0f%%: fresh build %.2f s, recall@ef64 %.4f\n", PV_CORE, storage.c_str(),
                     fractions[f] * 100, b.s, rec[2].first);
        std::printf("{\"kind\":\"fresh\",%s,\"seconds\":%.3f,\"memory_after\":%zu,\"vs_compact\":%.2f,"
                    "\"recall\":%s,\"search_us\":%s,\"load1\":%.2f}\n",
                    head, b.s, idx.memory_bytes(), b.s / compact_s, recall_json(rec).c_str(), us_json(rec).c_str(),
                    load_f);
        std::fflush(stdout);
      }
    }
  }
  return 0;
}

// ---- churn -------------------------------------------------------------------------------------

struct timings {
  std::vector<double> s;
  void add(double x) { s.push_back(x); }
  double pct(double p) const {
    if (s.empty()) return 0;
    std::vector<double> v = s;
    const std::size_t i = std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
    return v[i];
  }
  double max() const { return s.empty() ? 0 : *std::max_element(s.begin(), s.end()); }
};

int run_churn(const options& o) {
  const std::size_t live = o.num("live", 20000), dim = o.num("dim", 128), total_ops = o.num("ops", 200000);
  const std::size_t round = o.num("round", 1000), nq = o.num("queries", 1000), m = o.num("m", 16),
                    efc = o.num("efc", 200), seed = o.num("seed", 1);
  const std::size_t every = o.num("every", 10000), fresh_every = o.num("fresh_every", 50000);
  // The checkpoints' recall@10 is at this ef (the JSON keys say recall64 whatever it is; check_ef says it).
  const std::size_t check_ef = o.num("ef", 64);
  const std::string storage = o.str("storage", "f32");
  pocketvec::index_params p = make_params(dim, storage, m, efc);
  // needs_compaction()'s tombstone ratio (compact() cost grows with the tombstones it clears).
  p.compact_threshold = std::stof(o.str("threshold", "0.3"));

  generator gen(dim, seed);
  const std::vector<float> queries = gen.rows(nq);
  rng pick(seed * 104729 + 7);
  // The live set: ids and rows side by side (a deleted one is swapped with the last).
  std::vector<pocketvec::id_t> pool_ids;
  std::vector<float> pool(live * dim);
  pool_ids.reserve(live + round);
  pool.reserve((live + round) * dim);
  for (std::size_t i = 0; i < live; ++i) gen.row(pool.data() + i * dim);

  const std::size_t rss0 = rss_bytes();
  pocketvec::index idx(p);
  auto t0 = clock_type::now();
  for (pocketvec::id_t id : idx.insert_batch(pool)) pool_ids.push_back(id);
  std::fprintf(stderr, "[%s] churn %s %zu x %zu: fill %.1f s\n", PV_CORE, storage.c_str(), live, dim, seconds_since(t0));

  timings ins, era, com, com_cpu;
  struct worst_call {
    double s = 0;
    const char* kind = "";
    std::size_t op = 0;
  } worst;
  auto note = [&](timings& t, const char* kind, double s, std::size_t op) {
    t.add(s);
    if (s > worst.s) worst = {s, kind, op};
  };
  std::size_t ops = 0, compactions = 0;
  std::vector<float> row(dim);
  std::vector<float> dist;
  const double fill_s = seconds_since(t0);

  auto checkpoint = [&] {
    const std::size_t nlive = pool_ids.size();
    const auto tc = clock_type::now();
    distances(queries.data(), nq, pool.data(), nlive, dim, dist);
    const truth t = top_k(queries.data(), nq, dim, dist, nlive, [](std::size_t) { return true; },
                          [&](std::size_t i) { return pool.data() + i * dim; });
    // id -> pool position, for the recall check.
    std::map<pocketvec::id_t, std::size_t> where;
    for (std::size_t i = 0; i < nlive; ++i) where[pool_ids[i]] = i;
    auto live_row = [&](pocketvec::id_t id) -> const float* {
      const auto it = where.find(id);
      return it == where.end() ? nullptr : pool.data() + it->second * dim;
    };
    const auto r = recall(idx, queries.data(), nq, dim, t, check_ef, live_row);
    std::vector<float>().swap(dist);  // so that RSS shows the index, not this harness's distances
    double fresh_recall = -1, fresh_s = -1;
    std::size_t fresh_memory = 0;
    if (fresh_every && ops % fresh_every == 0) {
      pocketvec::index fresh(p);
      const auto tf = clock_type::now();
      fresh.insert_batch(std::span<const float>(pool.data(), nlive * dim));
      fresh_s = seconds_since(tf);
      fresh_memory = fresh.memory_bytes();
      auto fresh_row = [&](pocketvec::id_t id) -> const float* {
        return id < nlive ? pool.data() + std::size_t{id} * dim : nullptr;
      };
      fresh_recall = recall(fresh, queries.data(), nq, dim, t, check_ef, fresh_row).first;
    }
    std::printf("{\"kind\":\"churn_point\",\"core\":\"%s\",\"rev\":\"%s\",\"storage\":\"%s\",\"dim\":%zu,"
                "\"live_target\":%zu,\"ops\":%zu,\"live\":%zu,\"deleted\":%zu,\"tombstone_ratio\":%.4f,"
                "\"memory_bytes\":%zu,\"rss\":%zu,\"rss_at_start\":%zu,\"heap_live\":%zu,\"compactions\":%zu,"
                "\"recall64\":%.4f,\"fresh_recall64\":%.4f,\"fresh_memory_bytes\":%zu,\"fresh_build_s\":%.2f,"
                "\"checkpoint_s\":%.2f,\"queries\":%zu,\"check_ef\":%zu}\n",
                PV_CORE, PV_REV, storage.c_str(), dim, live, ops, idx.size(), idx.deleted_count(),
                idx.tombstone_ratio(), idx.memory_bytes(), rss_bytes(), rss0, heap::live, compactions, r.first,
                fresh_recall, fresh_memory, fresh_s, seconds_since(tc), nq, check_ef);
    std::fflush(stdout);
    std::fprintf(stderr, "[%s] ops %zu: memory %.1f MiB, rss %.1f MiB, tombstones %.3f, recall64 %.4f%s\n", PV_CORE, ops,
                 idx.memory_bytes() / 1048576.0, rss_bytes() / 1048576.0, idx.tombstone_ratio(), r.first,
                 fresh_recall >= 0 ? (" fresh " + std::to_string(fresh_recall)).c_str() : "");
  };

  checkpoint();
  t0 = clock_type::now();
  while (ops < total_ops) {
    for (std::size_t i = 0; i < round && ops < total_ops; ++i) {
      gen.row(row.data());
      const auto ti = clock_type::now();
      const pocketvec::id_t id = idx.insert(row);
      note(ins, "insert", seconds_since(ti), ops);
      pool_ids.push_back(id);
      pool.insert(pool.end(), row.begin(), row.end());
      ++ops;
      if (ops % every == 0) checkpoint();
    }
    for (std::size_t i = 0; i < round && ops < total_ops; ++i) {
      const std::size_t at = pick.below(pool_ids.size());
      const pocketvec::id_t id = pool_ids[at];
      pool_ids[at] = pool_ids.back();
      pool_ids.pop_back();
      std::copy(pool.end() - static_cast<std::ptrdiff_t>(dim), pool.end(),
                pool.begin() + static_cast<std::ptrdiff_t>(at * dim));
      pool.resize(pool.size() - dim);
      const std::size_t deleted_before = idx.deleted_count();
      const auto te = clock_type::now();
      idx.erase(id);
      const double es = seconds_since(te);
#ifdef PV_OLD
      // The old erase() compacted (rebuilt) by itself past the threshold.
      if (idx.deleted_count() < deleted_before) {
        note(com, "erase+auto-compact", es, ops);
        ++compactions;
        std::printf("{\"kind\":\"churn_compact\",\"core\":\"%s\",\"dim\":%zu,\"op\":%zu,\"seconds\":%.4f,"
                    "\"deleted_before\":%zu,\"slots_before\":%zu,\"repaired\":0}\n",
                    PV_CORE, dim, ops, es, deleted_before + 1, idx.size() + deleted_before + 1);
      } else {
        note(era, "erase", es, ops);
      }
#else
      (void)deleted_before;
      note(era, "erase", es, ops);
      if (idx.needs_compaction()) {
        const std::size_t dels = idx.deleted_count(), slots = idx.size() + dels;
        const measured c = measure([&] { idx.compact(); });
        note(com, "compact", c.s, ops);
        com_cpu.add(c.cpu);
        ++compactions;
        std::printf("{\"kind\":\"churn_compact\",\"core\":\"%s\",\"dim\":%zu,\"op\":%zu,\"seconds\":%.4f,"
                    "\"cpu_seconds\":%.4f,\"deleted_before\":%zu,\"slots_before\":%zu,\"repaired\":%zu,\"peak_extra\":%zu,"
                    "\"memory_after\":%zu}\n",
                    PV_CORE, dim, ops, c.s, c.cpu, dels, slots, idx.last_repair_count(), c.peak_extra, idx.memory_bytes());
        std::fflush(stdout);
      }
#endif
      ++ops;
      if (ops % every == 0) checkpoint();
    }
  }
  const double churn_s = seconds_since(t0);
  auto kind_json = [](const timings& t) {
    char buf[192];
    std::snprintf(buf, sizeof buf, "{\"count\":%zu,\"p50_ms\":%.4f,\"p99_ms\":%.4f,\"max_ms\":%.3f}", t.s.size(),
                  t.pct(0.50) * 1e3, t.pct(0.99) * 1e3, t.max() * 1e3);
    return std::string(buf);
  };
  std::printf("{\"kind\":\"churn_summary\",\"core\":\"%s\",\"rev\":\"%s\",\"storage\":\"%s\",\"dim\":%zu,"
              "\"live_target\":%zu,\"ops\":%zu,\"round\":%zu,\"m\":%zu,\"ef_construction\":%zu,\"fill_s\":%.2f,"
              "\"wall_s\":%.1f,\"compactions\":%zu,\"insert\":%s,\"erase\":%s,\"compact\":%s,\"compact_cpu\":%s,"
              "\"worst\":{\"kind\":\"%s\",\"ms\":%.3f,\"op\":%zu}}\n",
              PV_CORE, PV_REV, storage.c_str(), dim, live, ops, round, m, efc, fill_s, churn_s, compactions,
              kind_json(ins).c_str(), kind_json(era).c_str(), kind_json(com).c_str(), kind_json(com_cpu).c_str(), worst.kind, worst.s * 1e3,
              worst.op);
  std::fprintf(stderr, "[%s] churn done: %.1f s, %zu compactions, worst %s %.2f ms at op %zu, compact() CPU max %.2f ms\n",
               PV_CORE, churn_s, compactions, worst.kind, worst.s * 1e3, worst.op, com_cpu.max() * 1e3);
  return 0;
}


// ---- phases ------------------------------------------------------------------------------------

#ifndef PV_OLD
/// Where compact()'s time goes: builds (or loads, `cache=FILE`) an index, tombstones `fraction` at
/// random, then per repetition on a fresh copy times plan_repair() alone (gather + heuristic +
/// connect_level0, which it calls) and, on another copy, the whole compact(); the rest of compact
/// (id map, commit_repair, graph::keep_only, store.keep_only) is the difference. Run it under
/// `perf record -g` to split plan_repair into its parts (see README.md).
int run_phases(const options& o) {
  const std::size_t n = o.num("n", 20000), dim = o.num("dim", 128), m = o.num("m", 16), efc = o.num("efc", 200);
  const std::size_t seed = o.num("seed", 1), reps = o.num("reps", 3);
  const double fraction = std::stod(o.str("fraction", "0.3"));
  const std::string storage = o.str("storage", "f32"), cache = o.str("cache", "");
  std::vector<std::uint8_t> bytes;
  if (!cache.empty())
    if (std::ifstream f{cache, std::ios::binary}) bytes.assign(std::istreambuf_iterator<char>(f), {});
  if (bytes.empty()) {
    generator gen(dim, seed);
    const std::vector<float> base = gen.rows(n);
    pocketvec::index idx(make_params(dim, storage, m, efc));
    idx.insert_batch(base);
    std::vector<std::uint32_t> order(n);
    std::iota(order.begin(), order.end(), 0u);
    rng shuffle(seed * 7919 + 13);
    for (std::size_t i = n - 1; i > 0; --i) std::swap(order[i], order[shuffle.below(i + 1)]);
    const auto del = static_cast<std::size_t>(std::llround(fraction * static_cast<double>(n)));
    for (std::size_t i = 0; i < del; ++i) idx.erase(order[i]);
    bytes = idx.save();
    if (!cache.empty()) {
      std::ofstream f(cache, std::ios::binary);
      f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    }
  }
  for (std::size_t r = 0; r < reps; ++r) {
    double plan_s = 0;
    std::size_t planned0 = 0, planned_upper = 0, plan_bytes = 0;
    {
      pocketvec::index idx = pocketvec::index::load(bytes);
      idx.visit([&](auto& bi) {
        const auto& st = bi.state();
        pocketvec::repair_plan plan;
        pocketvec::repair_scratch sc;
        const auto t0 = clock_type::now();
        pocketvec::plan_repair(st.links, pocketvec::repair_oracle::of(st.store), st.deleted.data(), plan, sc);
        plan_s = seconds_since(t0);
        planned0 = plan.heads0.size();
        planned_upper = plan.upper.size();
        plan_bytes = plan.heads0.memory_bytes() + plan.lists0.memory_bytes() + plan.flat.capacity() * 4 +
                     plan.remap.capacity() * 4 + plan.pos0.capacity() * 4;
      });
    }
    pocketvec::index idx = pocketvec::index::load(bytes);
    const std::size_t slots = idx.size() + idx.deleted_count(), dels = idx.deleted_count();
    const measured c = measure([&] { idx.compact(); });
    std::printf("{\"kind\":\"phases\",\"core\":\"%s\",\"rev\":\"%s\",\"storage\":\"%s\",\"dim\":%zu,\"slots\":%zu,"
                "\"deleted\":%zu,\"rep\":%zu,\"compact_s\":%.4f,\"plan_repair_s\":%.4f,\"rest_s\":%.4f,"
                "\"planned_level0_lists\":%zu,\"planned_upper_lists\":%zu,\"plan_bytes\":%zu,"
                "\"last_repair_count\":%zu,\"peak_extra\":%zu,\"load1\":%.2f}\n",
                PV_CORE, PV_REV, storage.c_str(), dim, slots, dels, r, c.s, plan_s, c.s - plan_s, planned0,
                planned_upper, plan_bytes, idx.last_repair_count(), c.peak_extra, load1());
    std::fflush(stdout);
  }
  return 0;
}
#endif

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 2) {
    std::fprintf(stderr, "usage: pv_repair deletes|churn [key=value ...]\n");
    return 2;
  }
  const std::string mode = argv[1];
  const options o(argc, argv, 2);
  if (mode == "deletes") return run_deletes(o);
  if (mode == "churn") return run_churn(o);
#ifndef PV_OLD
  if (mode == "phases") return run_phases(o);
#endif
  std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
} catch (const std::exception& e) {
  std::fprintf(stderr, "pv_repair: %s\n", e.what());
  return 1;
}
