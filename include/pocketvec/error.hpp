// pocketvec/error.hpp — how pocketvec reports failure.
//
// User errors (bad arguments, unknown ids, corrupt bytes) throw pocketvec::error, which carries a
// stable numeric errc (the JS layer exposes it as `error.code`) and a message with the offending
// values. Bugs in pocketvec itself are caught by POCKETVEC_ASSERT, never by exceptions.
// Depends on nothing else in pocketvec.
#pragma once

#include "abi.hpp"

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

// The WASM build compiles this header for size (clang's minsize): it runs only when something fails.
// Measured on the module with its name section stripped: -166 B gzip.
#if defined(__EMSCRIPTEN__)
#pragma clang attribute push (__attribute__((minsize)), apply_to = function)
#endif
namespace pocketvec::inline POCKETVEC_ABI {

/// Stable error codes. Values are persisted in bindings and docs: never renumber, only append.
enum class errc : int {
  invalid_argument = 1,     ///< a parameter is out of its documented range (k = 0, M = 1, dim = 0 ...)
  dimension_mismatch = 2,   ///< a vector's length differs from the index dimension
  non_finite = 3,           ///< a vector holds NaN or +-Inf
  zero_vector = 4,          ///< an all-zero vector under the cosine metric
  unknown_id = 5,           ///< no vector was ever stored under this id (or it was compacted away)
  deleted_id = 6,           ///< the id names a vector that is deleted (tombstoned)
  empty_index = 7,          ///< search on an index that holds no live vector
  corrupt_data = 8,         ///< serialized bytes fail a check (size, checksum, graph invariant)
  unsupported_version = 9,  ///< serialized bytes come from a newer, incompatible format version
  capacity_exceeded = 10,   ///< more vectors than an index can address
  io_error = 11,            ///< a stream failed while reading or writing
  out_of_memory = 12,       ///< an allocation failed
  out_of_range = 13,        ///< a finite value too large to compute with (a vector whose distances would overflow)
};

/// The name of a code as spelled in C++ and JS (`"dimension_mismatch"`).
constexpr std::string_view errc_name(errc code) noexcept {
  switch (code) {
    case errc::invalid_argument: return "invalid_argument";
    case errc::dimension_mismatch: return "dimension_mismatch";
    case errc::non_finite: return "non_finite";
    case errc::zero_vector: return "zero_vector";
    case errc::unknown_id: return "unknown_id";
    case errc::deleted_id: return "deleted_id";
    case errc::empty_index: return "empty_index";
    case errc::corrupt_data: return "corrupt_data";
    case errc::unsupported_version: return "unsupported_version";
    case errc::capacity_exceeded: return "capacity_exceeded";
    case errc::io_error: return "io_error";
    case errc::out_of_memory: return "out_of_memory";
    case errc::out_of_range: return "out_of_range";
  }
  return "unknown_error";
}

/// The one exception type pocketvec throws for user errors (std::bad_alloc aside).
class error : public std::runtime_error {
 public:
  error(errc code, const std::string& message) : std::runtime_error(message), code_(code) {}
  errc code() const noexcept { return code_; }

 private:
  errc code_;
};

namespace detail {
// Cold, out of line: keeps the checks in hot inline functions small.
[[noreturn]] inline void fail(errc code, const std::string& message) { throw error(code, message); }

// fputs, not fprintf: printf's formatting code would add 2 KB (gzip) to the WASM build for a line
// that should never print.
[[noreturn]] inline void assert_failed(const char* expr, const char* file, int line) {
  char digits[12];
  char* p = digits + sizeof digits;
  *--p = '\0';
  unsigned n = static_cast<unsigned>(line);
  do {
    *--p = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n != 0);
  std::fputs("pocketvec: internal invariant violated: ", stderr);
  std::fputs(expr, stderr);
  std::fputs(" (", stderr);
  std::fputs(file, stderr);
  std::fputs(":", stderr);
  std::fputs(p, stderr);
  std::fputs(")\n", stderr);
  std::abort();
}
}  // namespace detail

}  // namespace pocketvec::POCKETVEC_ABI
#if defined(__EMSCRIPTEN__)
#pragma clang attribute pop
#endif

/// Internal invariants only (a pocketvec bug if it fires). Always on: the checks are off hot paths.
#define POCKETVEC_ASSERT(expr) \
  ((expr) ? static_cast<void>(0) : ::pocketvec::detail::assert_failed(#expr, __FILE__, __LINE__))
