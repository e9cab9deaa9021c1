// tests/alloc/failing_new.hpp — a countdown on the global allocation functions.
//
// failing_new.cpp replaces every global operator new / new[] (plain, aligned, nothrow) and delete.
// Once armed with k, the allocations are counted and the k-th one (from 0) fails: std::bad_alloc,
// or nullptr from the nothrow forms. Only that one fails; the countdown then disarms itself, so
// the code that handles the failure can allocate again. Single-threaded, like the tests.
#pragma once

#include <cstddef>

namespace pvalloc {

/// Fails the k-th allocation from now (k = 0: the next one) and counts allocations until disarm().
void arm(std::size_t k) noexcept;
/// Stops counting; nothing fails until the next arm().
void disarm() noexcept;
/// Whether the armed allocation has failed since the last arm().
bool fired() noexcept;
/// Allocations counted since the last arm() (the failing one included).
std::size_t counted() noexcept;

/// Arms in its constructor, disarms in its destructor (exceptions leave the scope disarmed).
struct armed {
  explicit armed(std::size_t k) noexcept { arm(k); }
  ~armed() { disarm(); }
  armed(const armed&) = delete;
  armed& operator=(const armed&) = delete;
};

}  // namespace pvalloc
