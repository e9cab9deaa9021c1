// Cross-build test: the same program compiled natively and with em++ (run under Node with NODERAWFS)
// writes index files and query answers in one build and checks them in the other.
//
//   cross write <dir>   builds every seeded index, writes <dir>/<name>.pvx and <dir>/<name>.results
//   cross check <dir>   for each <name>.pvx written by the other build:
//     load      it loads, and save() of the loaded index gives the file back byte for byte
//     answers   the fixed seeded queries on the loaded index give the ids and distance bits of
//               <name>.results (the other build's answers on its own index)
//     bytes     this build's own index from the same seeds saves to the same bytes as the file
//   Every comparison is reported; the exit status is 1 if any of them fails.
//
// Data and queries come from splitmix64 and integer arithmetic only (no libm), so both builds feed
// the index the same floats. What can still differ is the distance kernels: xsimd natively,
// wasm_simd128 in WASM. A difference is reported section by section, never tolerated silently.
#include <pocketvec/pocketvec.hpp>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace pv = pocketvec;
namespace fs = std::filesystem;

namespace {

constexpr std::size_t dim = 48, count = 3000, n_queries = 25, k = 10, ef = 48;

/// Uniform float in [-1, 1) from (seed, i): 24 random bits, exact in a float.
float uniform(std::uint64_t seed, std::uint64_t i) {
  const std::uint64_t r = pv::detail::splitmix64(seed ^ pv::detail::splitmix64(i));
  return static_cast<float>(r >> 40) / static_cast<float>(1u << 23) - 1.0f;
}

/// n vectors around 12 centres: centre + 0.25 * (sum of 3 uniforms), all without libm.
std::vector<float> clustered(std::size_t n, std::uint64_t seed) {
  constexpr std::size_t centres = 12;
  std::vector<float> out(n * dim);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t c = pv::detail::splitmix64(seed * 31 + i) % centres;
    for (std::size_t d = 0; d < dim; ++d) {
      const std::uint64_t j = (i * dim + d) * 3;
      const float noise = uniform(seed + 1, j) + uniform(seed + 1, j + 1) + uniform(seed + 1, j + 2);
      out[i * dim + d] = uniform(seed + 2, c * dim + d) + 0.25f * noise;
    }
  }
  return out;
}

struct config {
  std::string name;
  pv::index_params params;
};

std::vector<config> configs() {
  std::vector<config> out;
  for (auto m : {pv::metric::l2, pv::metric::cosine, pv::metric::ip})
    for (int store = 0; store < 3; ++store) {
      pv::index_params p;
      p.dim = dim;
      p.metric_kind = m;
      p.quant = store == 0 ? pv::quantization::none : pv::quantization::sq8;
      p.sq8_rerank = store == 2;
      p.sq8_training_size = 500;
      p.m = 12;
      p.ef_construction = 64;
      p.ef_search = 32;
      p.compact_threshold = 0;
      p.seed = 1000 + static_cast<std::uint64_t>(m) * 10 + static_cast<std::uint64_t>(store);
      const char* stores[] = {"f32", "sq8", "sq8-rerank"};
      out.push_back({std::string(pv::metric_name(m)) + "-" + stores[store], p});
    }
  return out;
}

/// Row i's metadata: every kind of field, some absent (integer arithmetic only).
pv::metadata record(std::size_t i) {
  const char* folders[] = {"work", "home", "archive", "travel"};
  pv::metadata md{{"folder", std::string(folders[pv::detail::splitmix64(i) % 4])}, {"year", 1990.0 + static_cast<double>(i % 35)}};
  if (i % 3) md.push_back({"read", i % 2 == 0});
  if (i % 5) md.push_back({"tags", pv::string_list{folders[i % 4], i % 7 ? "x" : "contract"}});
  return md;
}

/// The filters whose answers are compared (the JS filter language compiles to these trees).
std::vector<pv::filter_expr> filters() {
  using namespace pv::where;
  return {eq("folder", std::string("work")), gte("year", 2015.0) && exists("read"),
          in("tags", {std::string("contract")}) || eq("read", false), !eq("folder", std::string("home")) && lt("year", 1992.0)};
}

/// The seeded build: a batch, some tombstones, some upserts (tombstone + new slot), one more batch,
/// then keyed rows with metadata, one key replaced and one deleted.
pv::index build(const config& c) {
  pv::index idx(c.params);
  const auto rows = clustered(count, c.params.seed);
  idx.insert_batch(std::span<const float>(rows).first(count / 2 * dim));
  for (pv::id_t id = 3; id < count / 2; id += 7) idx.erase(id);
  for (pv::id_t id = 5; id < count / 2; id += 50)
    idx.upsert(id, std::span<const float>(rows).subspan((count / 2 + id) * dim, dim));
  idx.insert_batch(std::span<const float>(rows).subspan(count / 2 * dim, count / 4 * dim));
  for (std::size_t i = count / 2 + count / 4; i < count; ++i) {
    const auto v = std::span<const float>(rows).subspan(i * dim, dim);
    if (i % 4) idx.insert(v, "doc-" + std::to_string(i), record(i));
    else idx.insert(v, record(i));
  }
  idx.insert(std::span<const float>(rows).first(dim), "doc-" + std::to_string(count - 1), record(1));
  idx.erase(*idx.find_key("doc-" + std::to_string(count - 2)));
  return idx;
}

/// build(c) saved in full, then two incremental saves (format 1.3 segments) after seeded changes:
/// inserts with and without keys, deletes, an upsert, new metadata. Returns the file (base + both
/// segments); `idx` ends in the state the file holds.
std::vector<std::uint8_t> build_segmented(const config& c, pv::index& idx) {
  pv::save_point pt;
  auto file = pv::save(idx, pv::save_mode::full, &pt);
  idx.saved(pt);
  for (std::uint64_t round = 0; round < 2; ++round) {
    const auto rows = clustered(40, c.params.seed + 100 + round);
    idx.insert_batch(std::span<const float>(rows).first(30 * dim));
    for (std::size_t i = 30; i < 40; ++i)
      idx.insert(std::span<const float>(rows).subspan(i * dim, dim), "seg-" + std::to_string(round * 100 + i), record(i));
    for (pv::id_t id = static_cast<pv::id_t>(11 + round); id < count / 2; id += 97)
      if (idx.contains(id)) idx.erase(id);
    idx.upsert(static_cast<pv::id_t>(20 + round), std::span<const float>(rows).first(dim));
    auto live = static_cast<pv::id_t>(30 + round);
    while (!idx.contains(live)) ++live;
    idx.set_metadata(live, record(round));
    const auto seg = pv::save(idx, pv::save_mode::append, &pt);
    idx.saved(pt);
    file.insert(file.end(), seg.begin(), seg.end());
  }
  return file;
}

std::vector<float> queries(const config& c) { return clustered(n_queries, c.params.seed + 77); }

std::uint32_t bits(float f) {
  std::uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

/// One line per query: "id:bits id:bits ..." (bits = the float distance's bit pattern in hex).
std::string answers(pv::index& idx, const config& c) {
  const auto q = queries(c);
  std::ostringstream os;
  for (std::size_t i = 0; i < n_queries; ++i) {
    for (const auto& r : idx.search(std::span<const float>(q).subspan(i * dim, dim), k, ef)) {
      char buf[40];
      std::snprintf(buf, sizeof buf, "%" PRIu32 ":%08" PRIx32 " ", r.id, bits(r.distance));
      os << buf;
    }
    os << '\n';
  }
  for (const auto& f : filters())
    for (std::size_t i = 0; i < n_queries; i += 5) {
      for (const auto& r : idx.search(std::span<const float>(q).subspan(i * dim, dim), k, f)) {
        char buf[40];
        std::snprintf(buf, sizeof buf, "%" PRIu32 ":%08" PRIx32 " ", r.id, bits(r.distance));
        os << buf;
      }
      os << '\n';
    }
  return os.str();
}

std::vector<std::uint8_t> read_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return {};
  return {std::istreambuf_iterator<char>(f), {}};
}

bool write_bytes(const fs::path& p, const void* data, std::size_t n) {
  std::ofstream f(p, std::ios::binary);
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
  return static_cast<bool>(f);
}

/// Where two index files differ, section by section (header, then each tagged section).
void describe_difference(const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b) {
  auto diff_range = [&](const char* what, std::size_t from, std::size_t len_a, std::size_t len_b) {
    std::size_t differing = 0, first = ~std::size_t{0};
    for (std::size_t i = 0; i < std::min(len_a, len_b); ++i)
      if (a[from + i] != b[from + i]) {
        ++differing;
        first = std::min(first, i);
      }
    if (differing || len_a != len_b)
      std::printf("      %-6s %zu of %zu bytes differ (first at +%zu), lengths %zu / %zu\n", what,
                  differing, len_a, first == ~std::size_t{0} ? 0 : first, len_a, len_b);
  };
  std::printf("    files differ: %zu / %zu bytes\n", a.size(), b.size());
  if (a.size() < pv::format_header_bytes || b.size() < pv::format_header_bytes) return;
  diff_range("header", 0, pv::format_header_bytes, pv::format_header_bytes);
  std::size_t at = pv::format_header_bytes;  // both walk the same section sequence (same params)
  std::size_t bt = pv::format_header_bytes;
  while (at + 16 <= a.size() && bt + 16 <= b.size()) {
    std::uint64_t la, lb;
    std::memcpy(&la, a.data() + at + 4, 8);
    std::memcpy(&lb, b.data() + bt + 4, 8);
    const std::string tag(reinterpret_cast<const char*>(a.data() + at), 4);
    if (at != bt || la != lb) {
      std::printf("      %-6s lengths %" PRIu64 " / %" PRIu64 " (sections after it not compared)\n",
                  tag.c_str(), la, lb);
      return;
    }
    diff_range(tag.c_str(), at + 16, static_cast<std::size_t>(la), static_cast<std::size_t>(lb));
    at += 16 + static_cast<std::size_t>(la);
    bt += 16 + static_cast<std::size_t>(lb);
  }
}

/// Compares answer files line by line: ids exactly, distance bits exactly; counts the differences.
struct answer_diff {
  std::size_t queries = 0, id_lists_differ = 0, distances = 0, distance_bits_differ = 0;
  std::size_t beyond_tolerance = 0;
  std::uint32_t max_ulp = 0;
  double max_rel = 0;
};

/// The distance tolerance between builds whose kernels sum in different orders: 1e-5 relative to
/// max(1, |a|, |b|) (a few ulp of the partial sums for dim 48; cosine and ip cancel, hence the 1).
constexpr double distance_tolerance = 1e-5;

float from_bits(std::uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

std::vector<std::pair<std::uint32_t, std::uint32_t>> parse(const std::string& line) {
  std::vector<std::pair<std::uint32_t, std::uint32_t>> out;
  std::istringstream s(line);
  std::string tok;
  while (s >> tok) {
    const auto colon = tok.find(':');
    out.push_back({static_cast<std::uint32_t>(std::stoul(tok.substr(0, colon))),
                   static_cast<std::uint32_t>(std::stoul(tok.substr(colon + 1), nullptr, 16))});
  }
  return out;
}

answer_diff compare_answers(const std::string& mine, const std::string& theirs) {
  answer_diff d;
  std::istringstream a(mine), b(theirs);
  std::string la, lb;
  while (true) {
    const bool ga = static_cast<bool>(std::getline(a, la)), gb = static_cast<bool>(std::getline(b, lb));
    if (!ga && !gb) break;
    ++d.queries;
    const auto ra = parse(ga ? la : ""), rb = parse(gb ? lb : "");
    bool ids_same = ra.size() == rb.size();
    for (std::size_t i = 0; ids_same && i < ra.size(); ++i) ids_same = ra[i].first == rb[i].first;
    if (!ids_same) {
      ++d.id_lists_differ;
      continue;
    }
    for (std::size_t i = 0; i < ra.size(); ++i) {
      ++d.distances;
      if (ra[i].second != rb[i].second) {
        ++d.distance_bits_differ;
        // Same-sign floats: the bit patterns' distance is the distance in ulps.
        const std::uint32_t x = ra[i].second, y = rb[i].second;
        const std::uint32_t ulp = (x >> 31) == (y >> 31) ? (x > y ? x - y : y - x) : 0xFFFFFFFFu;
        d.max_ulp = std::max(d.max_ulp, ulp);
        const double a = from_bits(x), b = from_bits(y);
        const double rel = std::abs(a - b) / std::max({1.0, std::abs(a), std::abs(b)});
        d.max_rel = std::max(d.max_rel, rel);
        if (!(rel <= distance_tolerance)) ++d.beyond_tolerance;
      }
    }
  }
  return d;
}

int write_all(const fs::path& dir) {
  fs::create_directories(dir);
  for (const auto& c : configs()) {
    auto idx = build(c);
    const auto bytes = idx.save();
    const auto ans = answers(idx, c);
    if (!write_bytes(dir / (c.name + ".pvx"), bytes.data(), bytes.size()) ||
        !write_bytes(dir / (c.name + ".results"), ans.data(), ans.size())) {
      std::fprintf(stderr, "cross: cannot write into %s\n", dir.c_str());
      return 1;
    }
    std::printf("  wrote %-18s %7zu bytes, %zu live, %zu deleted\n", c.name.c_str(), bytes.size(),
                idx.size(), idx.deleted_count());
    // The same index with two segments appended, and the answers of its final state.
    const auto seg = build_segmented(c, idx);
    const auto seg_ans = answers(idx, c);
    if (!write_bytes(dir / (c.name + "-seg.pvx"), seg.data(), seg.size()) ||
        !write_bytes(dir / (c.name + "-seg.results"), seg_ans.data(), seg_ans.size())) {
      std::fprintf(stderr, "cross: cannot write into %s\n", dir.c_str());
      return 1;
    }
    std::printf("  wrote %-18s %7zu bytes (base + 2 segments)\n", (c.name + "-seg").c_str(), seg.size());
  }
  return 0;
}

int check_all(const fs::path& dir) {
  int failures = 0;
  bool bit_identical_answers = true;
  auto verdict = [&](bool ok, const std::string& name, const char* what) {
    std::printf("  %-4s %-18s %s\n", ok ? "ok" : "FAIL", name.c_str(), what);
    if (!ok) ++failures;
  };
  for (const auto& c : configs()) {
    const auto file = read_bytes(dir / (c.name + ".pvx"));
    const auto their_answers = read_bytes(dir / (c.name + ".results"));
    if (file.empty() || their_answers.empty()) {
      verdict(false, c.name, "missing .pvx or .results");
      continue;
    }
    std::string theirs(their_answers.begin(), their_answers.end());

    // load: the other build's file loads here and re-saves to the same bytes.
    std::optional<pv::index> loaded;
    try {
      loaded.emplace(pv::load(file));
    } catch (const pv::error& e) {
      std::printf("    load: %s\n", e.what());
      verdict(false, c.name, "load of the other build's file");
      continue;
    }
    verdict(loaded->save() == file, c.name, "load + save() gives the file byte for byte");

    // answers: this build's kernels on the other build's index, against the other build's answers.
    const auto d = compare_answers(answers(*loaded, c), theirs);
    std::printf("    answers on the loaded index: %zu queries, %zu id lists differ, %zu of %zu distances"
                " differ in their bits (max %" PRIu32 " ulp, %.1e relative)\n",
                d.queries, d.id_lists_differ, d.distance_bits_differ, d.distances, d.max_ulp, d.max_rel);
    verdict(d.id_lists_differ == 0, c.name, "same ids on the loaded index");
    // Exact bits when both builds sum in the same order; within the tolerance otherwise.
    verdict(d.beyond_tolerance == 0, c.name,
            d.distance_bits_differ == 0 ? "same distance bits on the loaded index"
                                        : "distances within 1e-5 relative (not bit-identical)");
    bit_identical_answers &= d.distance_bits_differ == 0;

    // bytes: this build's own index from the same seeds is the same file.
    auto own = build(c);
    const auto own_bytes = own.save();
    const bool same = own_bytes == file;
    if (!same) describe_difference(own_bytes, file);
    verdict(same, c.name, "own seeded build saves the same bytes as the other build");
    const auto od = compare_answers(answers(own, c), theirs);
    if (!same)
      std::printf("    own index's answers: %zu of %zu id lists differ from the other build's\n",
                  od.id_lists_differ, od.queries);

    // segments: the other build's base + 2 segments loads here to the state this build reaches by
    // the same changes (the same full bytes), answers as the other build's did, and this build's
    // own segmented file is the same bytes.
    const auto seg_file = read_bytes(dir / (c.name + "-seg.pvx"));
    const auto seg_theirs = read_bytes(dir / (c.name + "-seg.results"));
    const std::string seg_name = c.name + "-seg";
    if (seg_file.empty() || seg_theirs.empty()) {
      verdict(false, seg_name, "missing .pvx or .results");
      continue;
    }
    const auto own_seg = build_segmented(c, own);
    verdict(own_seg == seg_file, seg_name, "own segmented file is the same bytes as the other build's");
    try {
      auto back = pv::load(seg_file);
      verdict(back.save() == own.save(), seg_name, "loads to the state of the same changes (same full bytes)");
      const auto sd = compare_answers(answers(back, c), std::string(seg_theirs.begin(), seg_theirs.end()));
      verdict(sd.id_lists_differ == 0 && sd.beyond_tolerance == 0, seg_name, "same answers after the segments");
      bit_identical_answers &= sd.distance_bits_differ == 0;
    } catch (const pv::error& e) {
      std::printf("    load: %s\n", e.what());
      verdict(false, seg_name, "load of the other build's segmented file");
    }
  }
  std::printf("cross check (%s): %d failure(s); answers %s\n", pv::kernels::best::name, failures,
              bit_identical_answers ? "bit-identical" : "NOT bit-identical (kernels sum in another order)");
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || (std::strcmp(argv[1], "write") != 0 && std::strcmp(argv[1], "check") != 0)) {
    std::fprintf(stderr, "usage: %s write|check <dir>\n", argv[0]);
    return 2;
  }
  std::printf("cross %s %s (kernels %s)\n", argv[1], argv[2], pv::kernels::best::name);
  try {
    return std::strcmp(argv[1], "write") == 0 ? write_all(argv[2]) : check_all(argv[2]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cross: %s\n", e.what());
    return 1;
  }
}
