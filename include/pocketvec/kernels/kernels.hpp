// pocketvec/kernels/kernels.hpp — picks the distance-kernel backend once, at compile time.
//
//   Emscripten with -msimd128        -> kernels::wasm128   (wasm_simd128.h)
//   native, <xsimd/xsimd.hpp> on the include path -> kernels::xsimd_arch (the arch the compiler
//                                        targets: SSE2 by default on x86-64, AVX2 with -mavx2 ...)
//   otherwise                        -> kernels::scalar
// Define POCKETVEC_NO_XSIMD to ignore an installed xsimd, POCKETVEC_FORCE_SCALAR to force the
// reference kernels everywhere. The choice is per translation
// unit and never changes at run time: no global dispatch pointers.
#pragma once

#include "../abi.hpp"

#include "scalar.hpp"

#if !defined(POCKETVEC_FORCE_SCALAR) && defined(__EMSCRIPTEN__) && defined(__wasm_simd128__)
#include "wasm_simd128.hpp"
namespace pocketvec::inline POCKETVEC_ABI::kernels { using best = wasm128; }
#elif !defined(POCKETVEC_FORCE_SCALAR) && !defined(POCKETVEC_NO_XSIMD) && !defined(__EMSCRIPTEN__) && \
    __has_include(<xsimd/xsimd.hpp>)
#define POCKETVEC_HAS_XSIMD 1
#include "xsimd.hpp"
namespace pocketvec::inline POCKETVEC_ABI::kernels { using best = xsimd_arch; }
#else
namespace pocketvec::inline POCKETVEC_ABI::kernels { using best = scalar; }
#endif

namespace pocketvec::inline POCKETVEC_ABI {
/// The kernel backend this translation unit uses ("xsimd/sse2", "wasm_simd128", "scalar", ...).
inline const char* kernels_name() noexcept { return kernels::best::name; }
}  // namespace pocketvec::POCKETVEC_ABI
