// A plain textbook HNSW (Malkov & Yashunin, "Efficient and robust approximate nearest neighbor
// search using Hierarchical Navigable Small World graphs", Algorithms 1, 2, 4 and 5), as an oracle
// for the quality tests. Written for obviousness, not speed:
//   - exact distances in double, from the original float rows (cosine: rows and queries are
//     normalised in double on the way in, then distance = 1 - dot);
//   - one std::vector<std::vector<uint32_t>> of adjacency lists per level, no packing;
//   - every search allocates its own visited set and heaps (no scratch reuse);
//   - ties in distance are ordered by node index (std::pair<double, uint32_t> comparison).
// It shares exactly one thing with pocketvec: the level of the i-th insert is
// pocketvec::detail::draw_level(seed, i, m), so both graphs have the same nodes on the same levels.
// Nothing else of pocketvec's HNSW code is used.
#pragma once

#include <pocketvec/pocketvec.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <queue>
#include <utility>
#include <vector>

namespace pvref {

class hnsw {
 public:
  using node = std::uint32_t;
  using scored = std::pair<double, node>;  // (distance to the query, node): ties go by node index

  hnsw(pocketvec::metric metric_kind, std::size_t dim, std::size_t m, std::size_t ef_construction,
       std::uint64_t seed)
      : metric_(metric_kind), dim_(dim), m_(m), ef_construction_(ef_construction), seed_(seed) {}

  std::size_t size() const { return levels_.size(); }
  std::size_t dim() const { return dim_; }
  int level(node n) const { return levels_[n]; }
  int top_level() const { return top_level_; }
  /// Level 0 holds up to 2*m neighbours, every level above up to m (the paper's Mmax0, Mmax).
  std::size_t capacity(int level) const { return level == 0 ? 2 * m_ : m_; }
  const std::vector<node>& neighbors(node n, int level) const {
    return links_[static_cast<std::size_t>(level)][n];
  }

  /// The vector as the reference sees it (normalised under cosine), in double: dim() values.
  const double* row(node n) const { return rows_.data() + std::size_t{n} * dim_; }

  /// Exact distance between a prepared query (see prepare()) and a node.
  double distance(const std::vector<double>& q, node n) const { return distance(q.data(), row(n)); }

  double distance(const double* a, const double* b) const {
    // Accumulated in double throughout, in four partial sums (for speed only).
    double s[4] = {0, 0, 0, 0};
    std::size_t i = 0;
    if (metric_ == pocketvec::metric::l2) {
      for (; i + 4 <= dim_; i += 4)
        for (std::size_t j = 0; j < 4; ++j) s[j] += (a[i + j] - b[i + j]) * (a[i + j] - b[i + j]);
      for (; i < dim_; ++i) s[0] += (a[i] - b[i]) * (a[i] - b[i]);
      return (s[0] + s[1]) + (s[2] + s[3]);
    }
    for (; i + 4 <= dim_; i += 4)
      for (std::size_t j = 0; j < 4; ++j) s[j] += a[i + j] * b[i + j];
    for (; i < dim_; ++i) s[0] += a[i] * b[i];
    const double dot = (s[0] + s[1]) + (s[2] + s[3]);
    return metric_ == pocketvec::metric::cosine ? 1.0 - dot : -dot;
  }

  /// A float vector in the reference's terms: widened to double, normalised under cosine.
  std::vector<double> prepare(const float* v) const {
    std::vector<double> out(v, v + dim_);
    if (metric_ == pocketvec::metric::cosine) {
      double n2 = 0;
      for (double x : out) n2 += x * x;
      const double inv = 1.0 / std::sqrt(n2);
      for (double& x : out) x *= inv;
    }
    return out;
  }

  /// INSERT (Algorithm 1) with SELECT-NEIGHBORS-HEURISTIC (Algorithm 4, no extension, no kept
  /// pruned connections) for the new node's m links and for re-pruning an overfull reverse list.
  node insert(const float* v) {
    const node q = static_cast<node>(size());
    const int l = pocketvec::detail::draw_level(seed_, q, m_);
    const std::vector<double> x = prepare(v);
    rows_.insert(rows_.end(), x.begin(), x.end());
    levels_.push_back(l);
    while (links_.size() < static_cast<std::size_t>(l) + 1) links_.emplace_back();
    for (auto& level_links : links_) level_links.resize(size());
    if (q == 0) {
      entry_ = 0;
      top_level_ = l;
      return q;
    }
    std::vector<scored> eps{{distance(x, entry_), entry_}};
    for (int lc = top_level_; lc > l; --lc) eps = nearest(search_layer(x, eps, 1, lc), 1);
    for (int lc = std::min(top_level_, l); lc >= 0; --lc) {
      std::vector<scored> w = search_layer(x, eps, ef_construction_, lc);
      std::vector<node> chosen = select_heuristic(w, m_);
      auto& lists = links_[static_cast<std::size_t>(lc)];
      lists[q] = chosen;
      for (node e : chosen) {
        std::vector<node>& conn = lists[e];
        conn.push_back(q);
        if (conn.size() > capacity(lc)) {
          std::vector<scored> pool;
          for (node c : conn) pool.push_back({distance(row(e), row(c)), c});
          conn = select_heuristic(std::move(pool), capacity(lc));
        }
      }
      eps = std::move(w);
    }
    if (l > top_level_) {
      top_level_ = l;
      entry_ = q;
    }
    return q;
  }

  void insert_all(const std::vector<float>& flat) {
    for (std::size_t i = 0; i < flat.size() / dim_; ++i) insert(flat.data() + i * dim_);
  }

  /// K-NN-SEARCH (Algorithm 5): the k nearest as (distance, node), ascending.
  std::vector<scored> search(const float* query, std::size_t k, std::size_t ef) const {
    const std::vector<double> x = prepare(query);
    std::vector<scored> eps{{distance(x, entry_), entry_}};
    for (int lc = top_level_; lc > 0; --lc) eps = nearest(search_layer(x, eps, 1, lc), 1);
    return nearest(search_layer(x, eps, std::max(ef, k), 0), k);
  }

 private:
  /// SEARCH-LAYER (Algorithm 2): the ef nearest found from `eps` at level lc, unordered.
  std::vector<scored> search_layer(const std::vector<double>& x, const std::vector<scored>& eps,
                                   std::size_t ef, int lc) const {
    std::vector<char> visited(size(), 0);
    std::priority_queue<scored, std::vector<scored>, std::greater<scored>> candidates;  // nearest on top
    std::priority_queue<scored> found;                                                 // furthest on top
    for (const scored& e : eps) {
      if (visited[e.second]) continue;
      visited[e.second] = 1;
      candidates.push(e);
      found.push(e);
      if (found.size() > ef) found.pop();
    }
    const auto& lists = links_[static_cast<std::size_t>(lc)];
    while (!candidates.empty()) {
      const scored c = candidates.top();
      candidates.pop();
      if (c > found.top()) break;  // every remaining candidate is further than the furthest found
      for (node e : lists[c.second]) {
        if (visited[e]) continue;
        visited[e] = 1;
        const scored s{distance(x, e), e};
        if (found.size() < ef || s < found.top()) {
          candidates.push(s);
          found.push(s);
          if (found.size() > ef) found.pop();
        }
      }
    }
    std::vector<scored> out;
    for (; !found.empty(); found.pop()) out.push_back(found.top());
    return out;
  }

  static std::vector<scored> nearest(std::vector<scored> w, std::size_t k) {
    std::sort(w.begin(), w.end());
    if (w.size() > k) w.resize(k);
    return w;
  }

  /// Algorithm 4: walk the candidates nearest first; keep one if it is closer to the base than
  /// to every neighbour kept so far; stop at `m`.
  std::vector<node> select_heuristic(std::vector<scored> w, std::size_t m) const {
    std::sort(w.begin(), w.end());
    std::vector<node> kept;
    for (const scored& c : w) {
      if (kept.size() >= m) break;
      bool good = true;
      for (node r : kept)
        if (!(c.first < distance(row(c.second), row(r)))) {
          good = false;
          break;
        }
      if (good) kept.push_back(c.second);
    }
    return kept;
  }

  pocketvec::metric metric_;
  std::size_t dim_, m_, ef_construction_;
  std::uint64_t seed_;
  std::vector<double> rows_;                          // size() rows of dim_, one after another
  std::vector<int> levels_;
  std::vector<std::vector<std::vector<node>>> links_;  // [level][node] -> neighbours
  node entry_ = 0;
  int top_level_ = -1;
};

}  // namespace pvref
