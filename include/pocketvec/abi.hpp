// pocketvec/abi.hpp — the name of the inline namespace that holds all of pocketvec.
//
// Everything in pocketvec is inline code, and the kernels (and whatever the compiler vectorises)
// depend on the instruction set a translation unit is compiled for. Two files of one program built
// with different flags (-mavx2 and the default, say) would otherwise define `pocketvec::index` and
// its members twice with different bodies, and the linker would keep one of them for both: an ODR
// violation that runs AVX2 code where the other file promised SSE2, or mixes two kernel backends
// in one index. So every declaration lives in `pocketvec::inline POCKETVEC_ABI`, a namespace named
// after the backend and the instruction-set level. Users still write `pocketvec::index`; files
// built alike share one set of definitions; files built differently get separate ones, and
// passing an index (or catching a pocketvec::error) from one to the other is a link error or a
// type mismatch instead of silent misbehaviour.
// Depends on nothing; every other header includes it first.
#pragma once

// The backend kernels.hpp will pick (keep the two in step).
#if defined(POCKETVEC_FORCE_SCALAR)
#define POCKETVEC_ABI_KERNELS s
#elif defined(__EMSCRIPTEN__) && defined(__wasm_simd128__)
#define POCKETVEC_ABI_KERNELS w
#elif !defined(POCKETVEC_NO_XSIMD) && !defined(__EMSCRIPTEN__) && __has_include(<xsimd/xsimd.hpp>)
#define POCKETVEC_ABI_KERNELS x
#else
#define POCKETVEC_ABI_KERNELS s
#endif

// The instruction-set level the compiler targets, in the order xsimd picks its default arch (so
// that two files with different kernels never share a name), plus FMA where it can be on or off.
#if defined(__AVX512BW__)
#define POCKETVEC_ABI_ISA avx512bw
#elif defined(__AVX512DQ__)
#define POCKETVEC_ABI_ISA avx512dq
#elif defined(__AVX512CD__)
#define POCKETVEC_ABI_ISA avx512cd
#elif defined(__AVX512F__)
#define POCKETVEC_ABI_ISA avx512f
#elif defined(__AVX2__) && defined(__FMA__)
#define POCKETVEC_ABI_ISA avx2fma
#elif defined(__AVX2__)
#define POCKETVEC_ABI_ISA avx2
#elif defined(__AVX__) && defined(__FMA__)
#define POCKETVEC_ABI_ISA avxfma
#elif defined(__AVX__)
#define POCKETVEC_ABI_ISA avx
#elif defined(__SSE4_2__) && defined(__FMA__)
#define POCKETVEC_ABI_ISA sse42fma
#elif defined(__SSE4_2__)
#define POCKETVEC_ABI_ISA sse42
#elif defined(__SSE4_1__)
#define POCKETVEC_ABI_ISA sse41
#elif defined(__SSSE3__)
#define POCKETVEC_ABI_ISA ssse3
#elif defined(__SSE3__)
#define POCKETVEC_ABI_ISA sse3
#elif defined(__SSE2__)
#define POCKETVEC_ABI_ISA sse2
#elif defined(__ARM_NEON) && defined(__aarch64__)
#define POCKETVEC_ABI_ISA neon64
#elif defined(__ARM_NEON)
#define POCKETVEC_ABI_ISA neon
#elif defined(__wasm_simd128__)
#define POCKETVEC_ABI_ISA simd128
#else
#define POCKETVEC_ABI_ISA base
#endif

#define POCKETVEC_ABI_CAT3(a, b, c) a##b##_##c
#define POCKETVEC_ABI_NAME(a, b, c) POCKETVEC_ABI_CAT3(a, b, c)
/// e.g. v1x_sse2 (xsimd kernels, SSE2), v1w_simd128 (WebAssembly SIMD).
#define POCKETVEC_ABI POCKETVEC_ABI_NAME(v1, POCKETVEC_ABI_KERNELS, POCKETVEC_ABI_ISA)
