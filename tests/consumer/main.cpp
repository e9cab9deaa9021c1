#include <pocketvec/pocketvec.hpp>
#include <cstdio>

int main() {
  pocketvec::index idx({.dim = 3, .metric_kind = pocketvec::metric::cosine});
  idx.insert(std::vector<float>{1, 0, 0});
  auto id = idx.insert(std::vector<float>{0.9f, 0.1f, 0});
  idx.insert(std::vector<float>{0, 1, 0});
  for (auto hit : idx.search(std::vector<float>{1, 0.2f, 0}, 2))
    std::printf("id %u  distance %.4f\n", hit.id, hit.distance);
  return idx.search(std::vector<float>{1, 0.2f, 0}, 1)[0].id == id ? 0 : 1;
}
