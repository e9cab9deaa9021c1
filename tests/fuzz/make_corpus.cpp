// Writes the fuzzer's seed corpus: small valid index files of every metric x {f32, SQ8 trained,
// SQ8 untrained, SQ8 re-rank} x {without, with tombstones}, plus an empty index of each metric.
//   pocketvec_fuzz_make_corpus <out-dir>
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
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <out-dir>\n", argv[0]);
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
        const std::string name = std::string(pv::metric_name(m)) + "-" + kind_names[static_cast<int>(k)] +
                                 (tombstones ? "-tomb" : "") + ".pvx";
        write(dir / name, idx.save());
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
  return 0;
}
