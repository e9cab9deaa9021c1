// libFuzzer target on the two byte formats that cross the JS <-> WASM boundary (attributes.hpp,
// query.hpp): the filter program and the metadata record. The first input byte picks which; the rest
// is decoded. Bad bytes must fail with errc::invalid_argument and nothing else; bytes that decode must
// re-encode to themselves (the formats are canonical), and be put to work on a small index with
// metadata of every kind: a filter is evaluated by search(), whose answer must hold exactly
// min(k, matches) live, distinct ids, matches counted by a plain loop over the stored records with
// the same expression evaluated by the filter's own id path; a record is stored with set_metadata()
// and read back equal, or refused whole with invalid_argument (a kind its field does not hold).
//   pocketvec_fuzz_wire corpus/ -max_total_time=60   (scripts/stage-fuzz.sh runs it)
#include <pocketvec/pocketvec.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <set>
#include <span>
#include <vector>

namespace pv = pocketvec;

namespace {

[[noreturn]] void violated(const char* what) {
  std::fprintf(stderr, "fuzz_wire: invariant violated: %s\n", what);
  std::abort();
}
#define FUZZ_CHECK(cond) ((cond) ? void(0) : violated(#cond))

pv::index& fixture() {
  static pv::index* idx = [] {
    pv::index_params p;
    p.dim = 2;
    p.m = 4;
    p.ef_construction = 16;
    auto* i = new pv::index(p);
    const char* folders[] = {"a", "b", "c"};
    for (int r = 0; r < 64; ++r) {
      const float v[2] = {static_cast<float>(r % 8), static_cast<float>(r / 8)};
      pv::metadata md;
      if (r % 5) md.push_back({"s", std::string(folders[r % 3])});
      if (r % 4) md.push_back({"n", static_cast<double>(r % 10) - 2.5});
      if (r % 3) md.push_back({"b", r % 2 == 0});
      if (r % 7) md.push_back({"t", pv::string_list(static_cast<std::size_t>(r % 3), folders[r % 2])});
      i->insert(v, "k" + std::to_string(r), md);
    }
    for (pv::id_t id = 0; id < 64; id += 9) i->erase(id);
    return i;
  }();
  return *idx;
}

void check_filter(std::span<const std::uint8_t> b) {
  std::optional<pv::filter_expr> e;
  try {
    e.emplace(pv::decode_filter(b));
  } catch (const pv::error& err) {
    if (err.code() != pv::errc::invalid_argument) violated("decode_filter fails only with invalid_argument");
    return;
  }
  const auto again = pv::encode(*e);
  FUZZ_CHECK(std::vector<std::uint8_t>(b.begin(), b.end()) == again);
  pv::index& idx = fixture();
  const float q[2] = {3.0f, 3.0f};
  std::vector<pv::search_result> hits;
  try {
    hits = idx.search(q, 10, *e);
  } catch (const pv::error& err) {  // a kind its field does not hold, a range on booleans
    if (err.code() != pv::errc::invalid_argument) violated("a filtered search fails only with invalid_argument");
    return;
  }
  // The expression's matches, counted through the scan: strategy forced, k = every vector.
  pv::filter_options all;
  all.strategy = pv::filter_strategy::scan;
  const auto every = idx.search(q, 1000, *e, all);
  std::set<pv::id_t> seen;
  for (const auto& h : every) {
    FUZZ_CHECK(idx.contains(h.id));
    FUZZ_CHECK(seen.insert(h.id).second);
  }
  FUZZ_CHECK(hits.size() == std::min<std::size_t>(10, every.size()));
  for (const auto& h : hits) FUZZ_CHECK(seen.count(h.id) == 1);
}

void check_record(std::span<const std::uint8_t> b) {
  std::optional<pv::metadata> md;
  try {
    md.emplace(pv::decode_metadata(b));
  } catch (const pv::error& err) {
    if (err.code() != pv::errc::invalid_argument) violated("decode_metadata fails only with invalid_argument");
    return;
  }
  FUZZ_CHECK(pv::encode_metadata(*md) == std::vector<std::uint8_t>(b.begin(), b.end()));
  pv::index& idx = fixture();
  const pv::id_t id = 1;
  const auto before = idx.get_metadata(id);
  try {
    idx.set_metadata(id, *md);
  } catch (const pv::error& err) {
    if (err.code() != pv::errc::invalid_argument) violated("set_metadata fails only with invalid_argument");
    FUZZ_CHECK(idx.get_metadata(id) == before);  // refused whole
    return;
  }
  const auto back = idx.get_metadata(id);
  FUZZ_CHECK(back.size() == md->size());
  for (const auto& f : *md) {
    bool found = false;
    for (const auto& g : back) found |= g == f;
    FUZZ_CHECK(found);
  }
  idx.set_metadata(id, before);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::span<const std::uint8_t> rest(data + 1, size - 1);
  if (data[0] & 1) check_record(rest);
  else check_filter(rest);
  return 0;
}
