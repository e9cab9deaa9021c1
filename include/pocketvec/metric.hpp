// pocketvec/metric.hpp — the three distance metrics and their names.
//
// Every metric is reported as a distance: smaller is closer, results sort ascending.
//   l2      squared Euclidean distance  sum (a_i - b_i)^2
//   cosine  1 - cos(a, b)               vectors are normalised on the way in, so this is 1 - dot
//   ip      -dot(a, b)                  inner product, negated so that smaller is closer
// The numeric values are persisted in the binary format: never renumber.
#pragma once

#include "abi.hpp"

#include <cstdint>
#include <string>
#include <string_view>

#include "error.hpp"

namespace pocketvec::inline POCKETVEC_ABI {

enum class metric : std::uint8_t { l2 = 0, cosine = 1, ip = 2 };

constexpr std::string_view metric_name(metric m) noexcept {
  switch (m) {
    case metric::l2: return "l2";
    case metric::cosine: return "cosine";
    case metric::ip: return "ip";
  }
  return "?";
}

/// Parses "l2" | "cosine" | "ip"; throws errc::invalid_argument otherwise.
inline metric parse_metric(std::string_view name) {
  if (name == "l2") return metric::l2;
  if (name == "cosine") return metric::cosine;
  if (name == "ip") return metric::ip;
  detail::fail(errc::invalid_argument,
               "unknown metric '" + std::string(name) + "' (expected 'l2', 'cosine' or 'ip')");
}

}  // namespace pocketvec::POCKETVEC_ABI
