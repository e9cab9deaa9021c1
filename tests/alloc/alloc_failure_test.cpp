// Strong exception guarantee under allocation failure: for each mutating operation, each store and
// each metric, the k-th allocation of the operation is made to fail (k = 0, 1, 2, ... until the
// operation no longer reaches k). An operation that throws std::bad_alloc (or pocketvec::error with
// errc::out_of_memory) must leave the index exactly as it was: the same save() bytes, size() and
// search answers; retried, it must then give what it gives on an untouched index; and the index
// must keep taking inserts and round-trip through save/load (the loader validates the graph).
//
// Each (operation, store) is its own TEST_CASE, so CTest runs it in its own process and an abort
// from POCKETVEC_ASSERT on a half-changed index fails that case alone. Every case is run from two
// starting states: the index as built by inserts (capacities with slack, warm scratch) and the
// same index after save/load (exact capacities: every array must grow, cold scratch).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <new>
#include <string>
#include <vector>

#include "../test_util.hpp"
#include "failing_new.hpp"

namespace pv = pocketvec;

namespace {

enum class store_kind { f32, sq8, sq8_rerank };

const char* store_name(store_kind s) {
  switch (s) {
    case store_kind::f32: return "f32";
    case store_kind::sq8: return "sq8";
    case store_kind::sq8_rerank: return "sq8_rerank";
  }
  return "?";
}

constexpr std::size_t dim = 5;
constexpr std::size_t base_n = 128;  // vectors before the operation; as built, many arrays are full
constexpr std::size_t m_param = 4;

using bytes_t = std::vector<std::uint8_t>;
using answers_t = std::vector<std::vector<pv::search_result>>;

std::vector<float> rows(std::size_t n, std::uint64_t seed) { return pvtest::clustered(n, dim, 6, seed); }

std::span<const float> row(const std::vector<float>& flat, std::size_t i) {
  return std::span<const float>(flat).subspan(i * dim, dim);
}

const std::vector<float>& base_rows() {
  static const std::vector<float> r = rows(base_n, 1);
  return r;
}
const std::vector<float>& extra_rows() {  // what the operations insert
  static const std::vector<float> r = rows(16, 2);
  return r;
}
const std::vector<float>& queries() {
  static const std::vector<float> r = rows(6, 3);
  return r;
}

/// One operation under test: the index before it, and the operation itself. `run` must allocate
/// nothing but what the index allocates (its inputs are prepared outside).
struct scenario {
  const char* name;
  std::size_t sq8_training_size = 32;  // SQ8: trained during the build unless the scenario says so
  std::uint64_t seed = 42;
  std::function<void(pv::index&)> build = [](pv::index& idx) {
    for (std::size_t i = 0; i < base_n; ++i) idx.insert(row(base_rows(), i));
  };
  std::function<void(pv::index&)> run = {};
};

pv::index_params params_for(const scenario& sc, store_kind s, pv::metric m) {
  pv::index_params p;
  p.dim = dim;
  p.metric_kind = m;
  p.m = m_param;
  p.ef_construction = 16;
  p.ef_search = 16;
  p.seed = sc.seed;
  p.compact_threshold = 0;  // no automatic compaction inside the operations
  if (s != store_kind::f32) {
    p.quant = pv::quantization::sq8;
    p.sq8_training_size = sc.sq8_training_size;
    p.sq8_rerank = s == store_kind::sq8_rerank;
  }
  return p;
}

answers_t answers(pv::index& idx) {
  answers_t out;
  for (std::size_t i = 0; i < queries().size() / dim; ++i) out.push_back(idx.search(row(queries(), i), 5, 32));
  return out;
}

/// A saved index cut into named pieces: the header fields, then one piece per section.
std::vector<std::pair<std::string, std::span<const std::uint8_t>>> pieces(const bytes_t& b) {
  struct field {
    std::size_t begin, end;
    const char* name;
  };
  static const field header[] = {
      {0, 10, "header magic/version/metric/quant"}, {10, 11, "header flags"},
      {11, 12, "header reserved byte"}, {12, 28, "header dim/m/ef"},
      {28, 36, "header seed"},          {36, 44, "header compact threshold/training size"},
      {44, 52, "header count"},         {52, 60, "header deleted count"},
      {60, 64, "header next id"},       {64, 68, "header reserved u32"},
      {68, 76, "header levels drawn"},  {76, 92, "header reserved tail"},
      {92, 96, "header crc"}};
  std::vector<std::pair<std::string, std::span<const std::uint8_t>>> out;
  const std::span<const std::uint8_t> all(b);
  if (b.size() < pv::format_header_bytes) return {{"whole file", all}};
  for (const field& f : header) out.push_back({f.name, all.subspan(f.begin, f.end - f.begin)});
  std::size_t pos = pv::format_header_bytes;
  while (pos + 16 <= b.size()) {
    std::uint64_t len;
    std::memcpy(&len, b.data() + pos + 4, 8);
    const std::string tag(reinterpret_cast<const char*>(b.data() + pos), 4);
    if (len > b.size() - pos - 16) break;
    out.push_back({"section " + tag, all.subspan(pos + 16, static_cast<std::size_t>(len))});
    pos += 16 + static_cast<std::size_t>(len);
  }
  if (pos != b.size()) out.push_back({"trailing bytes", all.subspan(pos)});
  return out;
}

/// Empty when equal, else which pieces differ ("header next id, section IDS_ (656 -> 660 bytes)").
std::string diff(const bytes_t& expected, const bytes_t& got) {
  if (expected == got) return {};
  const auto a = pieces(expected), b = pieces(got);
  std::string out;
  auto add = [&](const std::string& what) { out += (out.empty() ? "" : ", ") + what; };
  auto named = [](const auto& list, const std::string& name) {  // (clang 14: no captured bindings)
    return std::find_if(list.begin(), list.end(), [&](const auto& p) { return p.first == name; });
  };
  for (const auto& [name, bytes] : a) {
    auto it = named(b, name);
    if (it == b.end()) {
      add(name + " missing");
    } else if (bytes.size() != it->second.size()) {
      add(name + " (" + std::to_string(bytes.size()) + " -> " + std::to_string(it->second.size()) + " bytes)");
    } else if (!std::equal(bytes.begin(), bytes.end(), it->second.begin())) {
      if (name != "header crc") add(name);
    }
  }
  for (const auto& [name, bytes] : b)
    if (named(a, name) == a.end()) add(name + " added");
  return "differs in " + out;
}

/// save() plus the metadata and keys (not in the format yet) as one more piece, "section REC_":
/// every column array, dictionary and key byte, and each live id's record and key.
bytes_t snapshot(pv::index& idx) {
  bytes_t b = pv::save(idx);
  bytes_t rec;
  auto put = [&](const void* p, std::size_t n) {
    const auto* c = static_cast<const std::uint8_t*>(p);
    const std::uint64_t len = n;
    rec.insert(rec.end(), reinterpret_cast<const std::uint8_t*>(&len), reinterpret_cast<const std::uint8_t*>(&len) + 8);
    rec.insert(rec.end(), c, c + n);
  };
  auto vec = [&](const auto& v) { put(v.data(), v.size() * sizeof(v[0])); };
  idx.visit([&](auto& core) {
    const auto& st = core.state();
    const std::uint64_t rows = st.attrs.rows(), key_rows = st.keys.rows();
    put(&rows, 8);
    put(&key_rows, 8);
    for (const pv::column& c : st.attrs.columns()) {
      put(c.name.data(), c.name.size());
      put(&c.kind, 1);
      vec(c.codes), vec(c.numbers), vec(c.present), vec(c.truth), vec(c.list_offset), vec(c.list_count), vec(c.pool);
      vec(c.dict.ends()), vec(c.dict.bytes());
    }
    vec(st.keys.ends()), vec(st.keys.bytes());
    for (pv::id_t id = 0; id < core.id_bound(); ++id) {
      if (!core.contains(id)) continue;
      vec(pv::encode_metadata(core.get_metadata(id)));
      const auto k = core.key_of(id);
      const std::string key = k ? std::string(*k) : std::string("<none>");
      vec(key);
      if (k && core.find_key(*k) != std::optional<pv::id_t>(id)) vec(std::string("<key lookup broken>"));
    }
  });
  const std::uint8_t head[16] = {'R', 'E', 'C', '_'};
  b.insert(b.end(), head, head + 4);
  const std::uint64_t len = rec.size();
  b.insert(b.end(), reinterpret_cast<const std::uint8_t*>(&len), reinterpret_cast<const std::uint8_t*>(&len) + 8);
  b.insert(b.end(), head + 12, head + 16);
  b.insert(b.end(), rec.begin(), rec.end());
  return b;
}

/// After an operation failed: the checks of the file comment. Empty when all hold.
std::string check_after_failure(pv::index& idx, const scenario& sc, const bytes_t& before,
                                std::size_t size_before, const answers_t& answers_before,
                                const bytes_t& clean_after) {
  try {
    if (idx.size() != size_before)
      return "size() is " + std::to_string(idx.size()) + ", was " + std::to_string(size_before);
    if (auto d = diff(before, snapshot(idx)); !d.empty()) return "save() differs from before the operation: " + d;
    if (answers(idx) != answers_before) return "search answers differ from before the operation";
    INFO("state as before the failure; now retrying the operation");
    sc.run(idx);
    if (auto d = diff(clean_after, snapshot(idx)); !d.empty())
      return "retried, the operation gives other bytes than on an untouched index: " + d;
    INFO("retry as in the reference run; now inserting more");
    for (std::size_t i = 0; i < 3; ++i) idx.insert(row(extra_rows(), 10 + i));
    const bytes_t saved = pv::save(idx);
    pv::index back = pv::load(saved);
    if (pv::save(back) != saved) return "save(load(save(index))) != save(index)";
    if (answers(back) != answers(idx)) return "the reloaded index answers differently";
  } catch (const std::exception& e) {
    return std::string("after the failure: ") + e.what();
  }
  return {};
}

void run_scenario(const scenario& sc, store_kind s) {
  for (pv::metric m : {pv::metric::l2, pv::metric::cosine, pv::metric::ip}) {
    for (bool loaded : {false, true}) {
      const pv::index_params p = params_for(sc, s, m);
      auto fresh = [&] {
        pv::index idx(p);
        sc.build(idx);
        if (loaded) idx = pv::load(pv::save(idx));
        return idx;
      };
      bytes_t before, clean_after;
      std::size_t size_before = 0;
      answers_t answers_before;
      {
        pv::index ref = fresh();
        before = snapshot(ref);
        size_before = ref.size();
        answers_before = answers(ref);
      }
      std::size_t clean_allocs = 0;
      {
        pv::index ref = fresh();
        {
          pvalloc::armed count_only(~std::size_t{0});
          sc.run(ref);
          clean_allocs = pvalloc::counted();
        }
        clean_after = snapshot(ref);
      }

      // Every failure point is tried (each on a fresh index), so that one broken state does not hide
      // the others; distinct problems are reported once each, with the first point that shows them.
      std::vector<std::pair<std::string, std::size_t>> problems;  // problem, first k
      std::size_t broken = 0, k = 0;
      for (;; ++k) {
        // Shown if POCKETVEC_ASSERT aborts: Catch reports the messages in scope with the signal.
        INFO("running " << sc.name << ", " << store_name(s) << ", " << pv::metric_name(m) << ", "
                        << (loaded ? "after save/load" : "as built") << ", failing allocation " << k);
        pv::index idx = fresh();
        bool threw = false;
        std::string problem;
        {
          pvalloc::armed fail_at(k);
          try {
            sc.run(idx);
          } catch (const std::bad_alloc&) {
            threw = true;
          } catch (const pv::error& e) {
            if (e.code() == pv::errc::out_of_memory)
              threw = true;
            else
              problem = std::string("the operation threw pocketvec::error ") +
                        std::string(pv::errc_name(e.code())) + ": " + e.what();
          } catch (const std::exception& e) {
            problem = std::string("the operation threw ") + e.what();
          }
        }
        const bool done = !pvalloc::fired();  // the operation ended before its k-th allocation
        if (problem.empty() && (done || !threw)) {  // no failure, or one handled inside: the normal result
          if (auto d = diff(clean_after, snapshot(idx)); !d.empty())
            problem = std::string(done ? "completed" : "completed after a failed allocation") +
                      ", but not as in the reference run: " + d;
        } else if (problem.empty()) {
          problem = check_after_failure(idx, sc, before, size_before, answers_before, clean_after);
        }
        if (!problem.empty()) {
          ++broken;
          if (std::none_of(problems.begin(), problems.end(), [&](const auto& q) { return q.first == problem; }))
            problems.push_back({problem, k});
        }
        if (done) break;
      }
      std::string summary;
      for (const auto& [problem, first] : problems)
        summary += "\n  from allocation " + std::to_string(first) + ": " + problem;
      std::printf("alloc: %-22s %-10s %-6s %-6s %3zu allocations, %3zu broken\n", sc.name, store_name(s),
                  std::string(pv::metric_name(m)).c_str(), loaded ? "loaded" : "built", clean_allocs, broken);
      std::fflush(stdout);  // before a later abort can lose it
      INFO(sc.name << ", " << store_name(s) << ", " << pv::metric_name(m) << ", "
                   << (loaded ? "after save/load" : "as built") << ": " << broken << " of " << k
                   << " failed allocations break the index" << summary);
      CHECK(broken == 0);
    }
  }
}

// ---- the operations ----

scenario op_insert() {
  scenario sc{"insert"};
  sc.run = [](pv::index& idx) { idx.insert(row(extra_rows(), 0)); };
  return sc;
}

/// An insert whose node is drawn above the current top level, so it becomes the entry point.
scenario op_insert_new_top() {
  scenario sc{"insert (new top level)"};
  // The first seed whose level draw for the next node tops every level drawn so far.
  for (std::uint64_t seed = 1;; ++seed) {
    int top = -1;
    for (std::uint64_t c = 0; c < base_n; ++c) top = std::max(top, pv::detail::draw_level(seed, c, m_param));
    if (pv::detail::draw_level(seed, base_n, m_param) > top) {
      sc.seed = seed;
      break;
    }
  }
  sc.run = [](pv::index& idx) { idx.insert(row(extra_rows(), 0)); };
  return sc;
}

scenario op_upsert_existing() {
  scenario sc{"upsert (existing id)"};
  sc.run = [](pv::index& idx) { idx.upsert(37, row(extra_rows(), 1)); };
  return sc;
}

scenario op_upsert_new() {
  scenario sc{"upsert (new id)"};
  sc.run = [](pv::index& idx) { idx.upsert(1000, row(extra_rows(), 2)); };
  return sc;
}

scenario op_insert_batch() {
  scenario sc{"insert_batch"};
  sc.run = [](pv::index& idx) {
    idx.insert_batch(std::span<const float>(extra_rows()).first(8 * dim));
  };
  return sc;
}

scenario op_compact() {
  scenario sc{"compact"};
  sc.build = [](pv::index& idx) {
    for (std::size_t i = 0; i < base_n; ++i) idx.insert(row(base_rows(), i));
    for (pv::id_t id = 1; id < base_n; id += 4) idx.erase(id);
  };
  sc.run = [](pv::index& idx) { idx.compact(); };
  return sc;
}

scenario op_train() {
  scenario sc{"train(sample)"};
  sc.sq8_training_size = 1000;  // untrained when the operation starts
  sc.run = [](pv::index& idx) { idx.train(std::span<const float>(extra_rows()).first(12 * dim)); };
  return sc;
}

scenario op_auto_train() {
  scenario sc{"insert (auto-train)"};
  sc.sq8_training_size = base_n + 1;  // this insert reaches sq8_training_size
  sc.run = [](pv::index& idx) { idx.insert(row(extra_rows(), 0)); };
  return sc;
}

// ---- metadata and keys ----

/// The base rows with keys on every other one and metadata (strings, numbers, booleans, lists).
void build_with_records(pv::index& idx) {
  static const std::vector<pv::metadata> mds = [] {
    std::vector<pv::metadata> out;
    for (std::size_t i = 0; i < base_n; ++i)
      out.push_back({{"folder", std::string(i % 3 ? "work" : "home")}, {"year", 2000.0 + static_cast<double>(i % 7)},
                     {"tags", pv::string_list{"t" + std::to_string(i % 5), "all"}}, {"ok", i % 2 == 0}});
    return out;
  }();
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < base_n; ++i) out.push_back("key-" + std::to_string(i));
    return out;
  }();
  for (std::size_t i = 0; i < base_n; ++i) {
    if (i % 2) idx.insert(row(base_rows(), i), keys[i], mds[i]);
    else idx.insert(row(base_rows(), i), mds[i]);
  }
}

/// A record with a new field, new dictionary strings and a list: every staging step allocates.
const pv::metadata& new_record() {
  static const pv::metadata md = {{"folder", std::string("archive")}, {"year", 1999.0},
                                  {"tags", pv::string_list{"fresh", "all", "fresh2"}}, {"new_field", std::string("v")}};
  return md;
}

scenario op_insert_metadata() {
  scenario sc{"insert (metadata)"};
  sc.build = build_with_records;
  sc.run = [](pv::index& idx) { idx.insert(row(extra_rows(), 0), new_record()); };
  return sc;
}

scenario op_insert_key() {
  scenario sc{"insert (new key)"};
  sc.build = build_with_records;
  sc.run = [](pv::index& idx) { idx.insert(row(extra_rows(), 0), "a-new-key", new_record()); };
  return sc;
}

scenario op_upsert_key() {
  scenario sc{"insert (live key)"};
  sc.build = build_with_records;
  sc.run = [](pv::index& idx) { idx.insert(row(extra_rows(), 1), "key-37", new_record()); };
  return sc;
}

scenario op_set_metadata() {
  scenario sc{"set_metadata"};
  sc.build = build_with_records;
  sc.run = [](pv::index& idx) { idx.set_metadata(37, new_record()); };
  return sc;
}

scenario op_insert_batch_records() {
  scenario sc{"insert_batch (records)"};
  sc.build = build_with_records;
  sc.run = [](pv::index& idx) {
    static const std::vector<std::string> keys = {"b0", "b1", "b2", "b3", "b4", "b5"};
    static const std::vector<std::string_view> views(keys.begin(), keys.end());
    static const std::vector<pv::metadata> mds(6, new_record());
    idx.insert_batch(std::span<const float>(extra_rows()).first(6 * dim), views, mds);
  };
  return sc;
}

scenario op_compact_records() {
  scenario sc{"compact (records)"};
  sc.build = [](pv::index& idx) {
    build_with_records(idx);
    for (pv::id_t id = 1; id < base_n; id += 4) idx.erase(id);
    idx.set_metadata(2, new_record());  // a rewritten list leaves garbage in the pool
  };
  sc.run = [](pv::index& idx) { idx.compact(); };
  return sc;
}

}  // namespace

#define PV_ALLOC_CASE(op, store)                                                              \
  TEST_CASE("allocation failure leaves the index unchanged: " #op ", " #store, "[alloc]") { \
    run_scenario(op_##op(), store_kind::store);                                               \
  }

PV_ALLOC_CASE(insert, f32)
PV_ALLOC_CASE(insert, sq8)
PV_ALLOC_CASE(insert, sq8_rerank)
PV_ALLOC_CASE(insert_new_top, f32)
PV_ALLOC_CASE(insert_new_top, sq8)
PV_ALLOC_CASE(insert_new_top, sq8_rerank)
PV_ALLOC_CASE(upsert_existing, f32)
PV_ALLOC_CASE(upsert_existing, sq8)
PV_ALLOC_CASE(upsert_existing, sq8_rerank)
PV_ALLOC_CASE(upsert_new, f32)
PV_ALLOC_CASE(upsert_new, sq8)
PV_ALLOC_CASE(upsert_new, sq8_rerank)
PV_ALLOC_CASE(insert_batch, f32)
PV_ALLOC_CASE(insert_batch, sq8)
PV_ALLOC_CASE(insert_batch, sq8_rerank)
PV_ALLOC_CASE(compact, f32)
PV_ALLOC_CASE(compact, sq8)
PV_ALLOC_CASE(compact, sq8_rerank)
PV_ALLOC_CASE(train, sq8)
PV_ALLOC_CASE(train, sq8_rerank)
PV_ALLOC_CASE(auto_train, sq8)
PV_ALLOC_CASE(auto_train, sq8_rerank)
PV_ALLOC_CASE(insert_metadata, f32)
PV_ALLOC_CASE(insert_metadata, sq8)
PV_ALLOC_CASE(insert_key, f32)
PV_ALLOC_CASE(upsert_key, f32)
PV_ALLOC_CASE(upsert_key, sq8_rerank)
PV_ALLOC_CASE(set_metadata, f32)
PV_ALLOC_CASE(insert_batch_records, f32)
PV_ALLOC_CASE(insert_batch_records, sq8)
PV_ALLOC_CASE(compact_records, f32)
PV_ALLOC_CASE(compact_records, sq8)
