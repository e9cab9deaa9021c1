// tests/alloc/failing_new.cpp — replacement global allocation functions with a failure countdown
// (see failing_new.hpp). All of them go to malloc / aligned_alloc / free, so the replaced delete
// matches every replaced new, and sanitizers still see every block.
#include "failing_new.hpp"

#include <cstdlib>
#include <new>

namespace {

bool g_armed = false;
bool g_fired = false;
std::size_t g_countdown = 0;
std::size_t g_counted = 0;

/// True when this allocation is the one that must fail.
bool should_fail() noexcept {
  if (!g_armed) return false;
  ++g_counted;
  if (g_countdown-- != 0) return false;
  g_armed = false;
  g_fired = true;
  return true;
}

void* allocate(std::size_t n) noexcept {
  if (should_fail()) return nullptr;
  return std::malloc(n == 0 ? 1 : n);
}

void* allocate_aligned(std::size_t n, std::align_val_t al) noexcept {
  if (should_fail()) return nullptr;
  const auto a = static_cast<std::size_t>(al);
  const std::size_t size = n == 0 ? a : (n + a - 1) / a * a;  // aligned_alloc: a multiple of a
  return std::aligned_alloc(a, size);
}

}  // namespace

namespace pvalloc {
void arm(std::size_t k) noexcept {
  g_countdown = k;
  g_counted = 0;
  g_fired = false;
  g_armed = true;
}
void disarm() noexcept { g_armed = false; }
bool fired() noexcept { return g_fired; }
std::size_t counted() noexcept { return g_counted; }
}  // namespace pvalloc

void* operator new(std::size_t n) {
  if (void* p = allocate(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (void* p = allocate(n)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, std::align_val_t a) {
  if (void* p = allocate_aligned(n, a)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) {
  if (void* p = allocate_aligned(n, a)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return allocate(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return allocate(n); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return allocate_aligned(n, a);
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return allocate_aligned(n, a);
}

void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
