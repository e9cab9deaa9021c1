// Writes the fuzzer's seed corpus: small valid index files of every metric x {f32, SQ8 trained,
// SQ8 untrained, SQ8 re-rank} x {plain, with tombstones, upserts, keys and metadata}, plus an empty
// index of each metric.
//   pocketvec_fuzz_make_corpus <out-dir> [<wire-seeds-dir>]   (the second: fuzz_wire's seeds)
// Deterministic (seeded, no libm); the golden files are copied next to these by stage-fuzz.sh.
#include <pocketvec/pocketvec.hpp>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "seeded_rows.hpp"

namespace pv = pocketvec;

namespace {

using pocketvec_fuzz::seeded_rows;

void write(const std::filesystem::path& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!f) {
    std::fprintf(stderr, "make_corpus: cannot write %s\n", path.c_str());
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 && argc != 3) {
    std::fprintf(stderr, "usage: %s <out-dir> [<wire-seeds-dir>]\n", argv[0]);
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);
  int files = 0;
  enum class kind { f32, sq8_trained, sq8_untrained, sq8_rerank };
  const char* kind_names[] = {"f32", "sq8", "sq8-untrained", "sq8-rerank"};
  for (auto m : {pv::metric::l2, pv::metric::cosine, pv::metric::ip}) {
    for (kind k : {kind::f32, kind::sq8_trained, kind::sq8_untrained, kind::sq8_rerank}) {
      for (bool tombstones : {false, true}) {
        pv::index_params p;
        p.dim = 6;
        p.metric_kind = m;
        p.quant = k == kind::f32 ? pv::quantization::none : pv::quantization::sq8;
        p.m = 3;  // small lists, and levels above 0 with few nodes
        p.ef_construction = 12;
        p.ef_search = 8;
        p.compact_threshold = 0;
        p.sq8_training_size = k == kind::sq8_untrained ? 64 : 12;
        p.sq8_rerank = k == kind::sq8_rerank;
        p.seed = 7 + static_cast<std::uint64_t>(m);
        pv::index idx(p);
        const std::size_t n = 30;
        idx.insert_batch(seeded_rows(n, p.dim, p.seed));
        if (tombstones) {
          for (pv::id_t id = 1; id < n; id += 4) idx.erase(id);
          // upsert: a live id moves to a new slot, a deleted one comes back; both leave tombstones
          const auto more = seeded_rows(2, p.dim, p.seed + 1);
          idx.upsert(2, std::span<const float>(more).first(p.dim));
          idx.upsert(5, std::span<const float>(more).last(p.dim));
        }
        if (tombstones) {  // keys and metadata (1.2): every kind of field, some rows without
          const auto more = seeded_rows(3, p.dim, p.seed + 2);
          for (std::size_t i = 0; i < 3; ++i) {
            pv::metadata md{{"s", std::string(i ? "a" : "b")}, {"n", static_cast<double>(i)}};
            if (i != 1) md.push_back({"t", pv::string_list{"x", i ? "y" : "x2"}});
            if (i != 2) md.push_back({"b", i == 0});
            idx.insert(std::span<const float>(more).subspan(i * p.dim, p.dim), "k" + std::to_string(i), md);
          }
          idx.erase(idx.id_bound() - 1);
        }
        const std::string name = std::string(pv::metric_name(m)) + "-" + kind_names[static_cast<int>(k)] +
                                 (tombstones ? "-tomb-records" : "") + ".pvx";
        write(dir / name, idx.save());
        ++files;
        if (!tombstones) continue;
        // 1.3: the same file with two segments appended (inserts, a delete, an upsert, new metadata).
        pv::save_point pt;
        auto file = pv::save(idx, pv::save_mode::full, &pt);
        idx.saved(pt);
        for (int round = 0; round < 2; ++round) {
          const auto more = seeded_rows(3, p.dim, p.seed + 3 + static_cast<std::uint64_t>(round));
          idx.insert_batch(more);
          idx.erase(static_cast<pv::id_t>(3 + round));
          idx.upsert(static_cast<pv::id_t>(6 + round), std::span<const float>(more).first(p.dim));
          idx.set_metadata(static_cast<pv::id_t>(10 + round), {{"s", std::string("seg")}, {"n", 1.5 * round}});
          const auto seg = pv::save(idx, pv::save_mode::append, &pt);
          idx.saved(pt);
          file.insert(file.end(), seg.begin(), seg.end());
        }
        write(dir / (name.substr(0, name.size() - 4) + "-segments.pvx"), file);
        ++files;
      }
    }
    pv::index_params p;
    p.dim = 3;
    p.metric_kind = m;
    write(dir / (std::string(pv::metric_name(m)) + "-empty.pvx"), pv::index(p).save());
    ++files;
  }
  // Regression seed: huge components (the largest squared lengths insert() accepts, ~1e37) in an
  // SQ8 index: weights q_i·step_i that overflow a float once made search convert NaN to int.
  {
    pv::index_params p;
    p.dim = 4;
    p.quant = pv::quantization::sq8;
    p.sq8_training_size = 3;
    p.m = 3;
    pv::index idx(p);
    auto rows = seeded_rows(12, p.dim, 11);
    for (float& x : rows) x *= 1.5e18f;
    idx.insert_batch(rows);
    write(dir / "l2-sq8-huge.pvx", idx.save());
    ++files;
  }
  std::printf("make_corpus: %d files in %s\n", files, dir.c_str());
  if (argc == 3) {  // seeds of fuzz_wire: a mode byte (0 filter, 1 record), then the encoded bytes
    const std::filesystem::path wire = argv[2];
    std::filesystem::create_directories(wire);
    using namespace pv::where;
    const pv::filter_expr filters[] = {
        eq("s", std::string("a")),
        (gte("n", 0.5) && lt("n", 4.0)) || !exists("b"),
        in("t", {std::string("a"), std::string("b")}) && ne("b", true),
        nin("s", {std::string("c")}) || all({gt("n", -1.0), lte("n", 2.0)}),
        any({eq("b", false), eq("zz", 1.0), negate(in("s", {}))}),
    };
    int k = 0;
    for (const auto& f : filters) {
      auto b = pv::encode(f);
      b.insert(b.begin(), 0);
      write(wire / ("filter-" + std::to_string(k++)), b);
    }
    const pv::metadata records[] = {
        {},
        {{"s", std::string("b")}, {"n", 1.5}, {"b", true}, {"t", pv::string_list{"a", "c"}}},
        {{"new", std::string("x")}, {"t", pv::string_list{}}},
    };
    k = 0;
    for (const auto& md : records) {
      auto b = pv::encode_metadata(md);
      b.insert(b.begin(), 1);
      write(wire / ("record-" + std::to_string(k++)), b);
    }
  }
  return 0;
}
