#include "sluice/core/display_text.hpp"

#include <cstdint>

#include "sluice/core/json.hpp"

namespace sluice {

std::string escape_for_display(std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const std::uint32_t cp = next_code_point(text, i);
    if (cp == '\\') {
      out += "\\\\";
    } else if (cp < 0x20 || cp == 0x7f) {
      out += "\\x";
      out += hex[cp >> 4];
      out += hex[cp & 0xF];
    } else if (cp >= 0x80 && cp <= 0x9f) {
      // C1 controls (U+009B is a CSI on some terminals).
      out += "\\u00";
      out += hex[cp >> 4];
      out += hex[cp & 0xF];
    } else {
      append_utf8(out, cp);
    }
  }
  return out;
}

}  // namespace sluice
