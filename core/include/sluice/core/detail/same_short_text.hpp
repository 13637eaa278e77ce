// Equality of two short byte strings (names of a dozen or two bytes),
// inline: for the trace's per-thread name checks, where a call to memcmp
// was a fifth of a lookup.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace sluice::detail {

/// a[0, n) == b[0, n), compared in 8-byte words (4-byte words under 8
/// bytes), the last word overlapping the one before.
[[nodiscard]] inline bool same_short_text(const char* a, const char* b, std::size_t n) noexcept {
  auto word = [](const char* p) {
    std::uint64_t w;
    std::memcpy(&w, p, sizeof w);
    return w;
  };
  if (n < 8) {
    if (n < 4) {
      for (std::size_t i = 0; i < n; ++i)
        if (a[i] != b[i]) return false;
      return true;
    }
    auto half = [](const char* p) {
      std::uint32_t w;
      std::memcpy(&w, p, sizeof w);
      return w;
    };
    return half(a) == half(b) && half(a + n - 4) == half(b + n - 4);  // overlapping
  }
  for (std::size_t i = 0; i + 8 < n; i += 8)
    if (word(a + i) != word(b + i)) return false;
  return word(a + n - 8) == word(b + n - 8);  // the last word, overlapping the one before
}

}  // namespace sluice::detail
