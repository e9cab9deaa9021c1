// Built with -mavx2 -mfma next to mixed_a.cpp (default flags): see there.
#include <pocketvec/pocketvec.hpp>

#include <vector>

const char* kernels_of_b() { return pocketvec::kernels_name(); }

pocketvec::id_t nearest_in_b(const std::vector<float>& rows, const std::vector<float>& q) {
  pocketvec::index idx({.dim = 8});
  idx.insert_batch(rows);
  return idx.search(q, 1)[0].id;
}
