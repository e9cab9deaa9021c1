// Built with -mssse3 next to mixed_a.cpp (default flags): xsimd picks other kernels for SSSE3 than
// for SSE2, so this file too must keep its own definitions. See mixed_a.cpp.
#include <pocketvec/pocketvec.hpp>

const char* kernels_of_c() { return pocketvec::kernels_name(); }
