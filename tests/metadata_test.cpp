// Metadata, keys and filter expressions (attributes.hpp, query.hpp, index.hpp).
//
// Oracles: a reference evaluator written straight from the contract over std::map rows (it never
// sees a column, a dictionary or a bitset), and an exact filtered brute force (a plain loop over a
// model of the live vectors). Random metadata (absent fields, empty lists, repeated strings) and
// random expressions of every operator are compared bit for bit with evaluate(), and filtered
// searches with the brute force, through deletions, upserts by key, set_metadata, compact(),
// rebuild() and batch rollback, every metric and store. Every seed is printed on failure (INFO).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace pv = pocketvec;
using pv::where::all;
using pv::where::any;

namespace {

using row_t = std::map<std::string, pv::value>;

// ---- the reference evaluator: the contract's words, one row at a time ----

bool bytes_less(const std::string& a, const std::string& b) {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                      [](char x, char y) { return static_cast<unsigned char>(x) < static_cast<unsigned char>(y); });
}

/// x `op` v for two scalars of the same kind (false for other kinds).
bool scalar_holds(pv::filter_expr::op o, const pv::value& x, const pv::value& v) {
  using op = pv::filter_expr::op;
  if (x.index() != v.index()) return false;
  if (o == op::eq) return x == v;
  if (const auto* xs = std::get_if<std::string>(&x)) {
    const std::string& vs = std::get<std::string>(v);
    const bool lt = bytes_less(*xs, vs), gt = bytes_less(vs, *xs);
    switch (o) {
      case op::lt: return lt;
      case op::lte: return !gt;
      case op::gt: return gt;
      case op::gte: return !lt;
      default: return false;
    }
  }
  if (const auto* xn = std::get_if<double>(&x)) {
    const double vn = std::get<double>(v);
    switch (o) {
      case op::lt: return *xn < vn;
      case op::lte: return *xn <= vn;
      case op::gt: return *xn > vn;
      case op::gte: return *xn >= vn;
      default: return false;
    }
  }
  return false;
}

/// Some element (a list) or the value itself (a scalar) satisfies `op v`.
bool holds(pv::filter_expr::op o, const pv::value& x, const pv::value& v) {
  if (const auto* l = std::get_if<pv::string_list>(&x)) {
    for (const std::string& s : *l)
      if (scalar_holds(o, pv::value(s), v)) return true;
    return false;
  }
  return scalar_holds(o, x, v);
}

bool ref_eval(const pv::filter_expr& e, const row_t& r) {
  using op = pv::filter_expr::op;
  const auto it = e.name.empty() ? r.end() : r.find(e.name);
  const bool present = it != r.end();
  switch (e.o) {
    case op::all:
      for (const auto& c : e.children)
        if (!ref_eval(c, r)) return false;
      return true;
    case op::any:
      for (const auto& c : e.children)
        if (ref_eval(c, r)) return true;
      return false;
    case op::negate: return !ref_eval(e.children[0], r);
    case op::eq: return present && holds(op::eq, it->second, e.values[0]);
    case op::ne: return !(present && holds(op::eq, it->second, e.values[0]));
    case op::lt:
    case op::lte:
    case op::gt:
    case op::gte: return present && holds(e.o, it->second, e.values[0]);
    case op::in:
    case op::nin: {
      bool some = false;
      for (const auto& v : e.values) some = some || (present && holds(op::eq, it->second, v));
      return e.o == op::in ? some : !some;
    }
    case op::exists: return present == e.flag;
  }
  return false;
}

row_t to_row(const pv::metadata& md) {
  row_t r;
  for (const auto& f : md) r[f.name] = f.v;
  return r;
}

// ---- random data and expressions ----

const std::vector<std::string> string_pool = {"", "a", "b", "A", "work", "home", "\xc3\xa9t\xc3\xa9", "zz\xff", "ab"};
const std::vector<double> number_pool = {-1.5, -0.0, 0.0, 1.0, 2.0, 2020.0, 2021.0, 1e300, 0.25};

/// Fields: s string, n number, b boolean, t string list (each absent a third of the time, lists
/// often empty or with repeats), plus rare fields x (number) and y (string).
pv::metadata random_md(pvtest::rng& r) {
  pv::metadata md;
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(r.next() % n); };
  if (pick(3)) md.push_back({"s", string_pool[pick(string_pool.size())]});
  if (pick(3)) md.push_back({"n", number_pool[pick(number_pool.size())]});
  if (pick(3)) md.push_back({"b", pick(2) == 1});
  if (pick(3)) {
    pv::string_list l;
    for (std::size_t i = pick(4); i > 0; --i) l.push_back(string_pool[pick(string_pool.size())]);
    md.push_back({"t", l});
  }
  if (pick(10) == 0) md.push_back({"x", static_cast<double>(pick(5))});
  if (pick(10) == 0) md.push_back({"y", string_pool[pick(3)]});
  // random field order: first-seen order must not depend on it
  for (std::size_t i = md.size(); i > 1; --i) std::swap(md[i - 1], md[pick(i)]);
  return md;
}

pv::value random_value_for(pvtest::rng& r, char field) {
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(r.next() % n); };
  switch (field) {
    case 'n':
    case 'x': {
      const double extra[] = {1.7, -1e9, std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()};
      return pick(4) ? number_pool[pick(number_pool.size())] : extra[pick(4)];
    }
    case 'b': return pick(2) == 1;
    case 'u': {  // a field never stored: any scalar kind
      const std::size_t k = pick(3);
      if (k == 0) return std::string("q");
      if (k == 1) return 3.0;
      return true;
    }
    default: return pick(6) ? pv::value(string_pool[pick(string_pool.size())]) : pv::value(std::string("nope"));
  }
}

pv::filter_expr random_expr(pvtest::rng& r, int depth) {
  using op = pv::filter_expr::op;
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(r.next() % n); };
  if (depth > 0 && pick(3) == 0) {
    const std::size_t kind = pick(3);
    if (kind == 2) return pv::where::negate(random_expr(r, depth - 1));
    std::vector<pv::filter_expr> c;
    for (std::size_t i = 1 + pick(3); i > 0; --i) c.push_back(random_expr(r, depth - 1));
    return kind == 0 ? all(std::move(c)) : any(std::move(c));
  }
  const char fields[] = {'s', 'n', 'b', 't', 'x', 'y', 'u'};
  const char f = fields[pick(7)];
  const std::string name(1, f);
  std::vector<op> ops = {op::eq, op::ne, op::in, op::nin, op::exists};
  if (f != 'b') ops.insert(ops.end(), {op::lt, op::lte, op::gt, op::gte});
  const op o = ops[pick(ops.size())];
  bool boolean_value = f == 'b';
  pv::filter_expr e;
  if (o == op::exists) return pv::where::exists(name, pick(2) == 1);
  std::vector<pv::value> vs;
  const std::size_t n = (o == op::in || o == op::nin) ? pick(4) : 1;
  for (std::size_t i = 0; i < n; ++i) {
    pv::value v = random_value_for(r, f);
    if (f == 'u' && std::holds_alternative<bool>(v) && o >= op::lt && o <= op::gte) v = 1.0;  // booleans have no order
    vs.push_back(v);
  }
  (void)boolean_value;
  return pv::where::leaf(o, name, vs);
}

template <class F>
decltype(auto) core(pv::index& idx, F&& f) {
  return idx.visit([&](auto& b) -> decltype(auto) { return f(b); });
}

/// The model of an index: live ids -> vector, metadata, key.
struct model_row {
  std::vector<float> v;
  pv::metadata md;
  std::string key;
};

pv::index_params params(pv::metric m, int store, std::size_t dim) {
  pv::index_params p;
  p.dim = dim;
  p.metric_kind = m;
  p.m = 8;
  p.ef_construction = 64;
  p.ef_search = 32;
  p.compact_threshold = 0;
  if (store > 0) {
    p.quant = pv::quantization::sq8;
    p.sq8_training_size = 100;
    p.sq8_rerank = store == 2;
  }
  return p;
}

/// Bit for bit: evaluate() over the index's columns == ref_eval over the model's rows, for live
/// slots (deleted slots may hold anything: the search masks them).
void check_evaluation(pv::index& idx, const std::map<pv::id_t, model_row>& model, const pv::filter_expr& e) {
  std::vector<std::uint64_t> bits;
  core(idx, [&](auto& b) {
    const auto& st = b.state();
    pv::evaluate(e, st.attrs, bits);
    REQUIRE(bits.size() == (st.slot_ids.size() + 63) / 64);
    for (std::size_t s = 0; s < st.slot_ids.size(); ++s) {
      const bool deleted = (st.deleted[s / 64] >> (s % 64)) & 1u;
      if (deleted || !b.contains(st.slot_ids[s])) continue;
      const auto it = model.find(st.slot_ids[s]);
      if (it == model.end()) continue;  // an older slot of an upserted id (deleted above)
      const bool want = ref_eval(e, to_row(it->second.md));
      const bool got = (bits[s / 64] >> (s % 64)) & 1u;
      if (want != got) {
        INFO("slot " << s << " id " << st.slot_ids[s]);
        REQUIRE(want == got);
      }
    }
    if (st.slot_ids.size() % 64) REQUIRE((bits.back() >> (st.slot_ids.size() % 64)) == 0);
    return 0;
  });
}

/// A filtered search == the exact filtered brute force: size min(k, matches), every hit matching,
/// no repeats; forced scans (f32, re-rank) equal the brute force's distances rank by rank.
struct recall_sum {
  double hit = 0, total = 0;
};

void check_search(pv::index& idx, const std::map<pv::id_t, model_row>& model, const pv::filter_expr& e,
                  const float* q, std::size_t k, pv::filter_strategy strategy, int store, recall_sum& rs) {
  const std::size_t dim = idx.dim();
  const pv::metric m = idx.params().metric_kind;
  std::vector<std::pair<float, pv::id_t>> truth;
  for (const auto& [id, row] : model)
    if (ref_eval(e, to_row(row.md))) truth.push_back({pvtest::exact_distance(m, row.v.data(), q, dim), id});
  std::sort(truth.begin(), truth.end());
  pv::filter_options opt;
  opt.strategy = strategy;
  const auto got = idx.search(std::span<const float>(q, dim), k, e, opt);
  REQUIRE(got.size() == std::min(k, truth.size()));
  REQUIRE(idx.last_filter_report().estimated_matches == truth.size());
  std::set<pv::id_t> seen;
  std::set<pv::id_t> top;
  for (std::size_t i = 0; i < std::min(k, truth.size()); ++i) top.insert(truth[i].second);
  for (std::size_t i = 0; i < got.size(); ++i) {
    REQUIRE(seen.insert(got[i].id).second);
    const auto it = model.find(got[i].id);
    REQUIRE(it != model.end());
    REQUIRE(ref_eval(e, to_row(it->second.md)));
    if (i > 0) REQUIRE(got[i - 1].distance <= got[i].distance);
    if (top.count(got[i].id)) rs.hit += 1;
  }
  rs.total += static_cast<double>(top.size());
  if (strategy == pv::filter_strategy::scan && store != 1)
    for (std::size_t i = 0; i < got.size(); ++i) {
      const float want = truth[i].first;
      REQUIRE(std::fabs(got[i].distance - want) <= 2e-3f * std::max(1.0f, std::fabs(want)));
    }
}

}  // namespace

TEST_CASE("metadata: evaluation equals the reference evaluator on random rows and expressions", "[metadata][query]") {
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    INFO("seed " << seed);
    pvtest::rng r(seed);
    pv::index idx(params(pv::metric::l2, 0, 4));
    std::map<pv::id_t, model_row> model;
    const auto data = pvtest::clustered(700, 4, 5, seed);
    for (std::size_t i = 0; i < 600; ++i) {
      model_row row{{data.begin() + static_cast<std::ptrdiff_t>(i * 4), data.begin() + static_cast<std::ptrdiff_t>(i * 4 + 4)}, random_md(r), {}};
      const pv::id_t id = idx.insert(row.v, row.md);
      model[id] = row;
    }
    // Rewrites (list pools gain garbage), deletions, upserts without and with metadata.
    for (int i = 0; i < 150; ++i) {
      const pv::id_t id = static_cast<pv::id_t>(r.next() % 600);
      if (!model.count(id)) continue;
      switch (r.next() % 4) {
        case 0: {
          auto md = random_md(r);
          idx.set_metadata(id, md);
          model[id].md = md;
          break;
        }
        case 1:
          idx.erase(id);
          model.erase(id);
          break;
        case 2:
          idx.upsert(id, model[id].v);
          model[id].md.clear();
          break;
        default: {
          auto md = random_md(r);
          idx.upsert(id, model[id].v, md);
          model[id].md = md;
        }
      }
    }
    for (const auto& [id, row] : model) REQUIRE(to_row(idx.get_metadata(id)) == to_row(row.md));
    for (int i = 0; i < 300; ++i) check_evaluation(idx, model, random_expr(r, 3));
    idx.compact();
    for (const auto& [id, row] : model) REQUIRE(to_row(idx.get_metadata(id)) == to_row(row.md));
    for (int i = 0; i < 200; ++i) check_evaluation(idx, model, random_expr(r, 3));
    idx.rebuild();
    for (int i = 0; i < 100; ++i) check_evaluation(idx, model, random_expr(r, 3));
  }
}

TEST_CASE("metadata: every operator on hand-made rows", "[metadata][query]") {
  using namespace pv::where;
  pv::index idx(params(pv::metric::l2, 0, 2));
  const float v[2] = {1, 0};
  const pv::id_t a = idx.insert(v, {{"folder", std::string("work")}, {"year", 2021.0}, {"tags", pv::string_list{"x", "contract"}}, {"ok", true}});
  const pv::id_t b = idx.insert(v, {{"folder", std::string("home")}, {"year", 2019.0}, {"tags", pv::string_list{}}, {"ok", false}});
  const pv::id_t c = idx.insert(v, pv::metadata{});
  auto ids = [&](const pv::filter_expr& e) {
    std::vector<pv::id_t> out;
    pv::filter_options opt;
    for (const auto& h : idx.search(v, 10, e, opt)) out.push_back(h.id);
    std::sort(out.begin(), out.end());
    return out;
  };
  using V = std::vector<pv::id_t>;
  CHECK(ids(eq("folder", std::string("work"))) == V{a});
  CHECK(ids(ne("folder", std::string("work"))) == V{b, c});
  CHECK(ids(gte("year", 2020.0)) == V{a});
  CHECK(ids(lt("year", 2020.0)) == V{b});
  CHECK(ids(lte("folder", std::string("home"))) == V{b});
  CHECK(ids(gt("folder", std::string("home"))) == V{a});
  CHECK(ids(in("tags", {std::string("contract")})) == V{a});
  CHECK(ids(nin("tags", {std::string("contract")})) == V{b, c});
  CHECK(ids(in("folder", {})) == V{});
  CHECK(ids(nin("folder", {})) == V{a, b, c});
  CHECK(ids(exists("tags")) == V{a, b});  // an empty list is present
  CHECK(ids(exists("tags", false)) == V{c});
  CHECK(ids(eq("ok", false)) == V{b});
  CHECK(ids(ne("ok", true)) == V{b, c});
  CHECK(ids(eq("never", 1.0)) == V{});
  CHECK(ids(ne("never", std::string("q"))) == V{a, b, c});
  CHECK(ids(eq("folder", std::string("work")) || eq("year", 2019.0)) == V{a, b});
  CHECK(ids(!exists("folder") && !eq("ok", true)) == V{c});
  CHECK(ids(all({eq("folder", std::string("work")), gt("year", 2000.0), in("tags", {std::string("x")})})) == V{a});
  CHECK(idx.get_metadata(c).empty());
  // first-seen order, whatever order the record lists them in
  idx.set_metadata(c, {{"ok", true}, {"folder", std::string("z")}});
  const pv::metadata got = idx.get_metadata(c);
  REQUIRE(got.size() == 2);
  CHECK(got[0].name == "folder");
  CHECK(got[1].name == "ok");
}

TEST_CASE("metadata: filtered search equals an exact filtered brute force through changes", "[metadata][query]") {
  const std::size_t dim = 8;
  for (pv::metric m : {pv::metric::l2, pv::metric::cosine, pv::metric::ip})
    for (int store : {0, 1, 2}) {
      const std::uint64_t seed = 100 + static_cast<std::uint64_t>(m) * 3 + static_cast<std::uint64_t>(store);
      INFO("metric " << pv::metric_name(m) << " store " << store << " seed " << seed);
      pvtest::rng r(seed);
      pv::index idx(params(m, store, dim));
      std::map<pv::id_t, model_row> model;
      std::map<std::string, pv::id_t> live_keys;
      const auto data = pvtest::clustered(1400, dim, 12, seed);
      std::size_t next_row = 0;
      auto vec = [&] {
        std::vector<float> v(data.begin() + static_cast<std::ptrdiff_t>(next_row * dim), data.begin() + static_cast<std::ptrdiff_t>(next_row * dim + dim));
        ++next_row;
        return v;
      };
      recall_sum rs;
      auto check_all = [&](const char* stage) {
        INFO("after " << stage);
        for (const auto& [key, id] : live_keys) {
          REQUIRE(idx.find_key(key) == std::optional<pv::id_t>(id));
          REQUIRE(idx.key_of(id) == std::optional<std::string_view>(key));
        }
        for (int i = 0; i < 12; ++i) {
          const auto e = random_expr(r, 2);
          const auto q = vec();
          for (std::size_t k : {1u, 10u, 40u})
            for (auto st : {pv::filter_strategy::automatic, pv::filter_strategy::scan, pv::filter_strategy::graph})
              check_search(idx, model, e, q.data(), k, st, store, rs);
        }
      };
      for (int i = 0; i < 400; ++i) {
        model_row row{vec(), random_md(r), {}};
        pv::id_t id;
        if (r.next() % 2) {
          row.key = "doc-" + std::to_string(i);
          id = idx.insert(row.v, row.key, row.md);
          live_keys[row.key] = id;
        } else {
          id = idx.insert(row.v, row.md);
        }
        model[id] = row;
      }
      check_all("inserts");
      for (int i = 0; i < 60; ++i) {  // deletions (keys freed)
        const pv::id_t id = static_cast<pv::id_t>(r.next() % 400);
        if (!model.count(id)) continue;
        idx.erase(id);
        if (!model[id].key.empty()) live_keys.erase(model[id].key);
        model.erase(id);
      }
      for (int i = 0; i < 60; ++i) {  // upserts by key: same id, new vector and metadata
        if (live_keys.empty()) break;
        auto it = live_keys.begin();
        std::advance(it, static_cast<std::ptrdiff_t>(r.next() % live_keys.size()));
        model_row row{vec(), random_md(r), it->first};
        const pv::id_t id = idx.insert(row.v, row.key, row.md);
        REQUIRE(id == it->second);
        model[id] = row;
      }
      for (int i = 0; i < 40; ++i) {  // metadata rewrites
        const pv::id_t id = static_cast<pv::id_t>(r.next() % 400);
        if (!model.count(id)) continue;
        model[id].md = random_md(r);
        idx.set_metadata(id, model[id].md);
      }
      check_all("deletes, upserts, rewrites");
      idx.compact();
      check_all("compact");
      {  // a batch with keys and metadata
        std::vector<float> flat;
        std::vector<std::string> keys;
        std::vector<pv::metadata> mds;
        std::vector<model_row> rows;
        for (int i = 0; i < 50; ++i) {
          model_row row{vec(), random_md(r), "batch-" + std::to_string(i)};
          flat.insert(flat.end(), row.v.begin(), row.v.end());
          keys.push_back(row.key);
          mds.push_back(row.md);
          rows.push_back(row);
        }
        std::vector<std::string_view> kv(keys.begin(), keys.end());
        const auto ids = idx.insert_batch(flat, kv, mds);
        for (std::size_t i = 0; i < ids.size(); ++i) {
          model[ids[i]] = rows[i];
          live_keys[rows[i].key] = ids[i];
        }
      }
      check_all("insert_batch");
      {  // a rolled-back batch changes nothing
        idx.begin_batch();
        for (int i = 0; i < 20; ++i) {
          pv::metadata md = random_md(r);
          md.push_back({"batch_only_field", std::string("v") + std::to_string(i)});
          idx.insert(vec(), "rolled-" + std::to_string(i), md);
        }
        idx.rollback_batch();
        REQUIRE_FALSE(idx.find_key("rolled-3").has_value());
        core(idx, [&](auto& b) {
          REQUIRE(b.state().attrs.find_field("batch_only_field") == nullptr);
          REQUIRE(b.state().attrs.rows() == b.state().slot_ids.size());
          return 0;
        });
      }
      check_all("rollback_batch");
      idx.rebuild();
      check_all("rebuild");
      const double recall = rs.hit / std::max(1.0, rs.total);
      INFO("recall " << recall);
      std::printf("metadata search: %-6s store %d recall %.4f\n", std::string(pv::metric_name(m)).c_str(), store, recall);
      // (ip: the graph path's known limit, docs/architecture.md "Filtered search")
      CHECK(recall >= (store == 1 ? 0.85 : m == pv::metric::ip ? 0.93 : 0.97));
    }
}

TEST_CASE("keys: upsert by key, erase frees, compact and rebuild keep, reinsert gets a new id", "[metadata][keys]") {
  pv::index idx(params(pv::metric::l2, 0, 3));
  const float v1[3] = {1, 2, 3}, v2[3] = {3, 2, 1}, v3[3] = {0, 1, 0};
  const pv::id_t a = idx.insert(v1, "alpha", {{"n", 1.0}});
  const pv::id_t b = idx.insert(v2, "beta");
  const pv::id_t c = idx.insert(v3);
  CHECK(idx.find_key("alpha") == std::optional<pv::id_t>(a));
  CHECK(idx.key_of(b) == std::optional<std::string_view>("beta"));
  CHECK_FALSE(idx.key_of(c).has_value());
  CHECK_FALSE(idx.find_key("gamma").has_value());
  CHECK_FALSE(idx.find_key("").has_value());
  // upsert by key: same id, vector and metadata replaced
  CHECK(idx.insert(v3, "alpha", {{"n", 2.0}}) == a);
  CHECK(idx.size() == 3);
  CHECK(idx.get(a) == std::vector<float>(v3, v3 + 3));
  CHECK(idx.get_metadata(a) == pv::metadata{{"n", 2.0}});
  // upsert by id keeps the key, drops the metadata (none given)
  idx.upsert(a, v1);
  CHECK(idx.key_of(a) == std::optional<std::string_view>("alpha"));
  CHECK(idx.get_metadata(a).empty());
  // erase frees the key; a new insert under it gets a new id
  idx.erase(b);
  CHECK_FALSE(idx.find_key("beta").has_value());
  CHECK(pvtest::code_of([&] { (void)idx.key_of(b); }) == pv::errc::deleted_id);
  const pv::id_t b2 = idx.insert(v2, "beta");
  CHECK(b2 != b);
  CHECK(idx.find_key("beta") == std::optional<pv::id_t>(b2));
  idx.compact();
  CHECK(idx.find_key("alpha") == std::optional<pv::id_t>(a));
  CHECK(idx.find_key("beta") == std::optional<pv::id_t>(b2));
  CHECK(idx.key_of(a) == std::optional<std::string_view>("alpha"));
  idx.rebuild();
  CHECK(idx.find_key("beta") == std::optional<pv::id_t>(b2));
  CHECK(idx.key_of(b2) == std::optional<std::string_view>("beta"));
  // many keys: the table grows, compaction renumbers slots under it
  std::vector<pv::id_t> ids;
  for (int i = 0; i < 2000; ++i) {
    const float v[3] = {static_cast<float>(i), 1, 2};
    ids.push_back(idx.insert(v, "k" + std::to_string(i)));
  }
  for (int i = 0; i < 2000; i += 3) idx.erase(ids[static_cast<std::size_t>(i)]);
  idx.compact();
  for (int i = 0; i < 2000; ++i) {
    const auto got = idx.find_key("k" + std::to_string(i));
    if (i % 3 == 0) CHECK_FALSE(got.has_value());
    else CHECK(got == std::optional<pv::id_t>(ids[static_cast<std::size_t>(i)]));
  }
  const std::size_t before = idx.memory_bytes();
  idx.insert(v1, std::string(4096, 'k'), {{"big", std::string(10000, 'x')}});
  CHECK(idx.memory_bytes() > before + 14000);
}

TEST_CASE("metadata: errors name the field, the operator and the kinds; nothing changes", "[metadata][errors]") {
  using namespace pv::where;
  pv::index idx(params(pv::metric::l2, 0, 2));
  const float v[2] = {1, 2};
  const pv::id_t a = idx.insert(v, "a", {{"year", 2020.0}, {"ok", true}, {"tags", pv::string_list{"x"}}, {"s", std::string("q")}});
  auto message = [](auto&& fn) -> std::string {
    try {
      fn();
    } catch (const pv::error& e) {
      return std::string(pv::errc_name(e.code())) + ": " + e.what();
    }
    return "no error";
  };
  auto invalid = [&](auto&& fn) { return pvtest::code_of(fn) == pv::errc::invalid_argument; };
  const std::size_t size0 = idx.size();
  // stored values
  const std::string m1 = message([&] { idx.insert(v, {{"year", std::string("2020")}}); });
  CHECK(m1.find("invalid_argument") == 0);
  CHECK(m1.find("\"year\"") != std::string::npos);
  CHECK(m1.find("number") != std::string::npos);
  CHECK(m1.find("string") != std::string::npos);
  CHECK(invalid([&] { idx.insert(v, {{"tags", std::string("x")}}); }));  // string vs string list
  CHECK(invalid([&] { idx.insert(v, {{"n", std::nan("")}}); }));
  CHECK(invalid([&] { idx.insert(v, {{"n", std::numeric_limits<double>::infinity()}}); }));
  CHECK(invalid([&] { idx.insert(v, {{"", 1.0}}); }));
  CHECK(invalid([&] { idx.insert(v, {{"$x", 1.0}}); }));
  CHECK(invalid([&] { idx.insert(v, {{std::string(256, 'f'), 1.0}}); }));
  CHECK_FALSE(invalid([&] { idx.insert(v, {{std::string(255, 'f'), 1.0}}); }));
  CHECK(invalid([&] { idx.insert(v, {{"d", 1.0}, {"d", 2.0}}); }));
  CHECK(invalid([&] { idx.insert(v, ""); }));
  CHECK(invalid([&] { idx.insert(v, std::string(4097, 'k')); }));
  CHECK(invalid([&] { idx.set_metadata(a, {{"year", true}}); }));
  CHECK(pvtest::code_of([&] { idx.set_metadata(999, {}); }) == pv::errc::unknown_id);
  CHECK(pvtest::code_of([&] { (void)idx.get_metadata(999); }) == pv::errc::unknown_id);
  CHECK(pvtest::code_of([&] { (void)idx.key_of(999); }) == pv::errc::unknown_id);
  {
    pv::metadata many;
    for (int i = 0; i < 1025; ++i) many.push_back({"f" + std::to_string(i), 1.0});
    CHECK(invalid([&] { idx.insert(v, many); }));
    many.resize(1019);  // 5 fields exist: 1024 is the limit
    CHECK(idx.insert(v, many) != pv::invalid_id);
    CHECK(invalid([&] { idx.insert(v, {{"one_more", 1.0}}); }));
  }
  CHECK(idx.size() == size0 + 2);
  CHECK(idx.get_metadata(a).size() == 4);
  // filters
  const std::string m2 = message([&] { idx.search(v, 1, eq("year", std::string("2020"))); });
  CHECK(m2.find("invalid_argument") == 0);
  CHECK(m2.find("\"year\"") != std::string::npos);
  CHECK(m2.find("eq") != std::string::npos);
  CHECK(m2.find("number") != std::string::npos);
  CHECK(invalid([&] { idx.search(v, 1, lt("ok", true)); }));
  CHECK(invalid([&] { idx.search(v, 1, lt("ok", 1.0)); }));
  CHECK(invalid([&] { idx.search(v, 1, in("ok", {true, 1.0})); }));
  CHECK(invalid([&] { idx.search(v, 1, eq("tags", 1.0)); }));
  CHECK(invalid([&] { idx.search(v, 1, eq("tags", pv::string_list{"x"})); }));
  CHECK(invalid([&] { idx.search(v, 1, eq("year", std::nan(""))); }));
  CHECK(invalid([&] { idx.search(v, 1, eq("never", std::nan(""))); }));
  CHECK(invalid([&] { idx.search(v, 1, lt("never", true)); }));
  CHECK(invalid([&] { idx.search(v, 1, all({})); }));
  CHECK(invalid([&] { idx.search(v, 1, any({})); }));
  CHECK(invalid([&] { idx.search(v, 1, eq("$year", 1.0)); }));
  CHECK(invalid([&] { idx.search(v, 1, eq("", 1.0)); }));
  pv::filter_expr two = negate(eq("year", 1.0));
  two.children.push_back(eq("year", 2.0));
  CHECK(invalid([&] { idx.search(v, 1, two); }));
  pv::filter_expr bad_op = eq("year", 1.0);
  bad_op.o = static_cast<pv::filter_expr::op>(12);
  CHECK(invalid([&] { idx.search(v, 1, bad_op); }));
  pv::filter_expr deep = eq("year", 1.0);
  for (int i = 0; i < 63; ++i) deep = negate(std::move(deep));
  CHECK_FALSE(invalid([&] { idx.search(v, 1, deep); }));  // 64 levels
  deep = negate(std::move(deep));
  CHECK(invalid([&] { idx.search(v, 1, deep); }));
  CHECK(pvtest::code_of([&] { idx.search(v, 1, eq("never", 1.0)); }) == pv::errc{});  // a never-stored field
  // a batch checks every row before inserting any
  const float flat[4] = {1, 2, 3, 4};
  const std::string_view dup_keys[2] = {"p", "p"}, live_key[2] = {"a", "z"}, ok_keys[2] = {"p", "q"};
  const pv::metadata bad_kinds[2] = {{{"fresh", 1.0}}, {{"fresh", std::string("x")}}};
  const std::size_t size1 = idx.size();
  CHECK(invalid([&] { idx.insert_batch(flat, dup_keys, {}); }));
  CHECK(invalid([&] { idx.insert_batch(flat, live_key, {}); }));
  CHECK(invalid([&] { idx.insert_batch(flat, ok_keys, bad_kinds); }));
  CHECK(invalid([&] { idx.insert_batch(flat, std::span<const std::string_view>(ok_keys, 1), {}); }));
  CHECK(idx.size() == size1);
  core(idx, [&](auto& b) {
    CHECK(b.state().attrs.find_field("fresh") == nullptr);
    return 0;
  });
  CHECK(idx.insert_batch(flat, ok_keys, {}).size() == 2);
  // an upsert by key is refused inside a batch
  idx.begin_batch();
  CHECK(invalid([&] { idx.insert(v, "a"); }));
  CHECK(invalid([&] { idx.set_metadata(a, {}); }));
  idx.rollback_batch();
}

TEST_CASE("query: the filter and record wire formats round-trip and refuse bad bytes", "[metadata][wire]") {
  pvtest::rng r(7);
  for (int i = 0; i < 300; ++i) {
    const auto e = random_expr(r, 4);
    const auto bytes = pv::encode(e);
    REQUIRE(pv::decode_filter(bytes) == e);
    // every truncation is refused
    for (std::size_t n = 0; n < bytes.size(); ++n)
      REQUIRE(pvtest::code_of([&] { pv::decode_filter(std::span<const std::uint8_t>(bytes.data(), n)); }) == pv::errc::invalid_argument);
    auto longer = bytes;
    longer.push_back(0);
    REQUIRE(pvtest::code_of([&] { pv::decode_filter(longer); }) == pv::errc::invalid_argument);
    // bit flips: refused, or a valid filter that encodes back to the same bytes
    for (int f = 0; f < 8; ++f) {
      auto flipped = bytes;
      flipped[r.next() % flipped.size()] ^= static_cast<std::uint8_t>(1u << (r.next() % 8));
      try {
        const auto d = pv::decode_filter(flipped);
        REQUIRE(pv::encode(d) == flipped);
      } catch (const pv::error& err) {
        REQUIRE(err.code() == pv::errc::invalid_argument);
      }
    }
  }
  for (int i = 0; i < 300; ++i) {
    const auto md = random_md(r);
    const auto bytes = pv::encode_metadata(md);
    REQUIRE(pv::decode_metadata(bytes) == md);
    for (std::size_t n = 0; n < bytes.size(); ++n)
      REQUIRE(pvtest::code_of([&] { pv::decode_metadata(std::span<const std::uint8_t>(bytes.data(), n)); }) == pv::errc::invalid_argument);
    for (int f = 0; f < 8 && !bytes.empty(); ++f) {
      auto flipped = bytes;
      flipped[r.next() % flipped.size()] ^= static_cast<std::uint8_t>(1u << (r.next() % 8));
      try {
        const auto d = pv::decode_metadata(flipped);
        REQUIRE(pv::encode_metadata(d) == flipped);
      } catch (const pv::error& err) {
        REQUIRE(err.code() == pv::errc::invalid_argument);
      }
    }
  }
  {  // a batch of records
    std::vector<pv::metadata> mds;
    std::vector<std::uint8_t> all_bytes;
    for (int i = 0; i < 20; ++i) {
      mds.push_back(random_md(r));
      const auto b = pv::encode_metadata(mds.back());
      all_bytes.insert(all_bytes.end(), b.begin(), b.end());
    }
    CHECK(pv::decode_metadata_records(all_bytes, 20) == mds);
    CHECK(pvtest::code_of([&] { pv::decode_metadata_records(all_bytes, 19); }) == pv::errc::invalid_argument);
    CHECK(pvtest::code_of([&] { pv::decode_metadata_records(all_bytes, 21); }) == pv::errc::invalid_argument);
  }
  auto bad = [](std::vector<std::uint8_t> b) { return pvtest::code_of([&] { pv::decode_filter(b); }) == pv::errc::invalid_argument; };
  auto u32 = [](std::vector<std::uint8_t>& b, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  };
  // hand-made bad inputs
  CHECK(bad({}));
  CHECK(bad({12}));                       // unknown operator
  CHECK(bad({0, 0, 0, 0, 0}));            // and with no operands
  CHECK(bad({0, 0xFF, 0xFF, 0xFF, 0xFF}));  // a count far past the bytes
  {
    std::vector<std::uint8_t> b = {3};
    u32(b, 1);
    b.push_back('n');
    b.push_back(2);
    const double nan = std::nan("");
    std::uint64_t bits;
    std::memcpy(&bits, &nan, 8);
    for (int i = 0; i < 8; ++i) b.push_back(static_cast<std::uint8_t>(bits >> (8 * i)));
    CHECK(bad(b));  // NaN
    std::vector<std::uint8_t> list = {3};
    u32(list, 1);
    list.push_back('n');
    list.push_back(4);
    u32(list, 0);
    CHECK(bad(list));  // a string list in a filter
    std::vector<std::uint8_t> flag = {11};
    u32(flag, 1);
    flag.push_back('n');
    flag.push_back(2);
    CHECK(bad(flag));  // exists flag 2
    std::vector<std::uint8_t> order = {5};
    u32(order, 1);
    order.push_back('n');
    order.push_back(3);
    order.push_back(1);
    CHECK(bad(order));  // lt true
    std::vector<std::uint8_t> dollar = {11};
    u32(dollar, 2);
    dollar.push_back('$');
    dollar.push_back('n');
    dollar.push_back(1);
    CHECK(bad(dollar));
  }
  {  // depth: 64 levels decode, 65 do not
    std::vector<std::uint8_t> leaf = {11};
    u32(leaf, 1);
    leaf.push_back('n');
    leaf.push_back(1);
    std::vector<std::uint8_t> b(63, 2);
    b.insert(b.end(), leaf.begin(), leaf.end());
    CHECK_FALSE(bad(b));
    b.insert(b.begin(), 2);
    CHECK(bad(b));
    // nodes: an or of 65535 leaves is 65536 nodes; one more is refused
    std::vector<std::uint8_t> wide = {1};
    u32(wide, 65535);
    for (int i = 0; i < 65535; ++i) wide.insert(wide.end(), leaf.begin(), leaf.end());
    CHECK_FALSE(bad(wide));
    wide[1] = 0;
    wide[2] = 0;
    wide[3] = 1;  // 65536 operands
    wide.insert(wide.end(), leaf.begin(), leaf.end());
    CHECK(bad(wide));
  }
}

TEST_CASE("attributes: from_parts refuses inconsistent columns and keys", "[metadata][parts]") {
  pv::index idx(params(pv::metric::l2, 0, 2));
  const float v[2] = {1, 2};
  for (int i = 0; i < 70; ++i)
    idx.insert(v, "k" + std::to_string(i), {{"s", std::string(i % 2 ? "x" : "y")}, {"n", 1.0 * i}, {"b", i % 3 == 0}, {"t", pv::string_list{"p", "q"}}});
  core(idx, [&](auto& b) {
    const auto& st = b.state();
    const std::size_t n = st.slot_ids.size();
    // good parts rebuild an equal store
    const pv::attributes copy = pv::attributes::from_parts(n, st.attrs.columns());
    for (std::size_t r = 0; r < n; ++r) REQUIRE(copy.row(r) == st.attrs.row(r));
    const pv::key_table keys = pv::key_table::from_parts(n, st.keys.ends(), st.keys.bytes(), st.deleted);
    REQUIRE(keys.find("k5") == st.keys.find("k5"));
    auto corrupt = [&](auto mutate) {
      std::vector<pv::column> cols = st.attrs.columns();
      mutate(cols);
      return pvtest::code_of([&] { pv::attributes::from_parts(n, cols); }) == pv::errc::corrupt_data;
    };
    CHECK(corrupt([](auto& c) { c[0].codes[3] = 99; }));
    CHECK(corrupt([](auto& c) { c[0].codes.pop_back(); }));
    CHECK(corrupt([](auto& c) { c[1].numbers[0] = std::nan(""); }));
    CHECK(corrupt([](auto& c) { c[1].present.back() |= std::uint64_t{1} << 63; }));
    CHECK(corrupt([](auto& c) { c[2].truth.push_back(0); }));
    CHECK(corrupt([](auto& c) { c[3].list_count[5] = 1000; }));
    CHECK(corrupt([](auto& c) { c[3].pool[0] = 0; }));
    CHECK(corrupt([](auto& c) { c[1].name = c[0].name; }));
    CHECK(corrupt([](auto& c) { c[0].name = "$s"; }));
    CHECK(corrupt([](auto& c) { c[0].kind = static_cast<pv::value_kind>(9); }));
    CHECK(pvtest::code_of([&] { pv::string_dict::from_parts({1, 2}, "xx", "d"); }) == pv::errc::corrupt_data);
    CHECK(pvtest::code_of([&] { pv::string_dict::from_parts({2, 1}, "xy", "d"); }) == pv::errc::corrupt_data);
    CHECK(pvtest::code_of([&] { pv::string_dict::from_parts({1}, "xy", "d"); }) == pv::errc::corrupt_data);
    auto bad_keys = [&](std::vector<std::uint32_t> ends, std::string bytes) {
      return pvtest::code_of([&] { pv::key_table::from_parts(n, ends, bytes, st.deleted); }) == pv::errc::corrupt_data;
    };
    std::vector<std::uint32_t> ends = st.keys.ends();
    CHECK(bad_keys(std::vector<std::uint32_t>(ends.begin(), ends.end() - 1), st.keys.bytes()));
    std::string dup = st.keys.bytes();
    dup[3] = '0';  // "k1" -> "k0": two live slots with one key
    CHECK(bad_keys(ends, dup));
    std::vector<std::uint32_t> back = ends;
    std::swap(back[2], back[3]);
    CHECK(bad_keys(back, st.keys.bytes()));
    CHECK(bad_keys(ends, st.keys.bytes() + "x"));
    return 0;
  });
}

TEST_CASE("metadata: save/load still round-trips the vectors of an index with metadata", "[metadata]") {
  pv::index idx(params(pv::metric::cosine, 0, 3));
  const float v[3] = {1, 2, 3};
  for (int i = 0; i < 20; ++i) idx.insert(v, "k" + std::to_string(i), {{"n", 1.0 * i}});
  const auto bytes = pv::save(idx);
  pv::index back = pv::load(bytes);
  CHECK(back.size() == idx.size());
  CHECK(pv::save(back) == bytes);
}

TEST_CASE("keys: a key view from key_of() handed back to insert() re-puts the vector under that key", "[metadata][keys]") {
  // The view points into the key table's bytes, which the insert may move while making room: the
  // key must be read from the table after that, not through the caller's view (ASan: use after free).
  pv::index_params p;
  p.dim = 4;
  p.m = 4;
  p.ef_construction = 16;
  pv::index idx(p);
  const std::vector<float> v{1, 2, 3, 4};
  const pv::id_t a = idx.insert(v, "a key long enough to live on the heap, not in the string");
  for (int i = 0; i < 64; ++i) {
    const std::string_view k = *idx.key_of(a);
    CHECK(idx.insert(v, k, {{"n", static_cast<double>(i)}}) == a);
    idx.insert(v, "other " + std::to_string(i));  // grows the table's bytes
  }
  CHECK(idx.find_key("a key long enough to live on the heap, not in the string") == std::optional<pv::id_t>(a));
  CHECK(idx.get_metadata(a) == pv::metadata{{"n", 63.0}});
  CHECK(*idx.key_of(a) == "a key long enough to live on the heap, not in the string");
  CHECK(idx.size() == 65);
}
