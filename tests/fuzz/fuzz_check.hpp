// Shared by the libFuzzer harnesses: property checks and an independent
// reference for the project's UTF-8 policy.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

// A macro for __FILE__/__LINE__: clang 14 with libstdc++ 12 has no
// std::source_location.
#define SLUICE_FUZZ_CHECK(ok, property) \
  ((ok) ? void() : ::sluice::fuzz::property_violated(property, __FILE__, __LINE__))

namespace sluice::fuzz {

/// A violated property: says which and aborts, so libFuzzer saves the input
/// as a crash (scripts/fuzz.sh then fails). Use through SLUICE_FUZZ_CHECK.
[[noreturn]] inline void property_violated(const char* property, const char* file, int line) {
  std::fprintf(stderr, "fuzz property violated: %s (%s:%d)\n", property, file, line);
  std::abort();
}

/// Length of the well-formed UTF-8 sequence at text[i] (Unicode table 3-7),
/// or 0 when none starts there. Written from the table, independently of
/// core/src/json.cpp, so the harnesses compare two implementations.
inline std::size_t utf8_sequence_length(std::string_view text, std::size_t i) {
  const auto at = [&](std::size_t k) { return k < text.size() ? static_cast<std::uint8_t>(text[k]) : 0u; };
  const auto in = [](unsigned b, unsigned lo, unsigned hi) { return b >= lo && b <= hi; };
  const unsigned b0 = at(i), b1 = at(i + 1), b2 = at(i + 2), b3 = at(i + 3);
  if (i >= text.size()) return 0;
  if (b0 < 0x80) return 1;
  if (in(b0, 0xC2, 0xDF)) return in(b1, 0x80, 0xBF) ? 2 : 0;
  if (b0 == 0xE0) return in(b1, 0xA0, 0xBF) && in(b2, 0x80, 0xBF) ? 3 : 0;
  if (in(b0, 0xE1, 0xEC) || in(b0, 0xEE, 0xEF)) return in(b1, 0x80, 0xBF) && in(b2, 0x80, 0xBF) ? 3 : 0;
  if (b0 == 0xED) return in(b1, 0x80, 0x9F) && in(b2, 0x80, 0xBF) ? 3 : 0;
  if (b0 == 0xF0) return in(b1, 0x90, 0xBF) && in(b2, 0x80, 0xBF) && in(b3, 0x80, 0xBF) ? 4 : 0;
  if (in(b0, 0xF1, 0xF3)) return in(b1, 0x80, 0xBF) && in(b2, 0x80, 0xBF) && in(b3, 0x80, 0xBF) ? 4 : 0;
  if (b0 == 0xF4) return in(b1, 0x80, 0x8F) && in(b2, 0x80, 0xBF) && in(b3, 0x80, 0xBF) ? 4 : 0;
  return 0;
}

inline constexpr std::string_view replacement_character = "\xEF\xBF\xBD";  // U+FFFD

/// `text` with every byte that does not start a well-formed sequence replaced
/// by U+FFFD (one per byte): the policy json.hpp documents.
inline std::string with_invalid_utf8_replaced(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    if (const std::size_t n = utf8_sequence_length(text, i)) {
      out.append(text.substr(i, n));
      i += n;
    } else {
      out.append(replacement_character);
      ++i;
    }
  }
  return out;
}

}  // namespace sluice::fuzz
