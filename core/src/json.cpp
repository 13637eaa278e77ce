#include "sluice/core/json.hpp"

namespace sluice {
namespace {

constexpr char k_hex[] = "0123456789abcdef";

void append_u_escape(std::string& out, std::uint32_t unit) {
  out += "\\u";
  out += k_hex[(unit >> 12) & 0xF];
  out += k_hex[(unit >> 8) & 0xF];
  out += k_hex[(unit >> 4) & 0xF];
  out += k_hex[unit & 0xF];
}

// Decodes one UTF-8 sequence starting at text[i]; returns the code point and
// advances i. Malformed input yields U+FFFD and advances by one byte.
std::uint32_t decode_utf8(std::string_view text, std::size_t& i) {
  const auto byte = [&](std::size_t k) { return static_cast<std::uint8_t>(text[k]); };
  const std::uint8_t lead = byte(i);
  int extra = 0;
  std::uint32_t cp = 0;
  if (lead >= 0xF0 && lead <= 0xF4) {
    extra = 3;
    cp = lead & 0x07u;
  } else if (lead >= 0xE0 && lead <= 0xEF) {  // not F5..FF: those never start a sequence
    extra = 2;
    cp = lead & 0x0Fu;
  } else if (lead >= 0xC2 && lead <= 0xDF) {
    extra = 1;
    cp = lead & 0x1Fu;
  } else {
    ++i;
    return 0xFFFD;
  }
  if (i + static_cast<std::size_t>(extra) >= text.size()) {
    ++i;
    return 0xFFFD;
  }
  for (int k = 1; k <= extra; ++k) {
    const std::uint8_t b = byte(i + static_cast<std::size_t>(k));
    if ((b & 0xC0u) != 0x80u) {
      ++i;
      return 0xFFFD;
    }
    cp = (cp << 6) | (b & 0x3Fu);
  }
  // Reject overlong forms and surrogates.
  if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++i;
    return 0xFFFD;
  }
  i += static_cast<std::size_t>(extra) + 1;
  return cp;
}

void append_code_point_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace

std::uint32_t next_code_point(std::string_view text, std::size_t& i) noexcept {
  const auto c = static_cast<std::uint8_t>(text[i]);
  if (c < 0x80) {
    ++i;
    return c;
  }
  return decode_utf8(text, i);
}

void append_utf8(std::string& out, std::uint32_t cp) { append_code_point_utf8(out, cp); }

void append_valid_utf8(std::string& out, std::string_view text) {
  out.reserve(out.size() + text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    if (static_cast<std::uint8_t>(text[i]) < 0x80) {
      out += text[i++];
    } else {
      append_code_point_utf8(out, decode_utf8(text, i));
    }
  }
}

namespace {
// True for the ASCII bytes a JSON string holds as they are.
constexpr bool plain_ascii(std::uint8_t c) noexcept { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; }
}  // namespace

void append_json_string(std::string& out, std::string_view text, bool ascii_only) {
  out += '"';
  std::size_t i = 0;
  while (i < text.size()) {
    // A run of bytes that need no escaping is appended in one go (names,
    // URLs, keys: usually the whole string).
    std::size_t run = i;
    while (run < text.size() && plain_ascii(static_cast<std::uint8_t>(text[run]))) ++run;
    if (run != i) {
      out.append(text.data() + i, run - i);
      i = run;
      continue;
    }
    const auto c = static_cast<std::uint8_t>(text[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        default:
          if (c < 0x20) {
            append_u_escape(out, c);
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    const std::uint32_t cp = decode_utf8(text, i);
    if (!ascii_only) {
      append_code_point_utf8(out, cp);
    } else if (cp < 0x10000) {
      append_u_escape(out, cp);
    } else {
      const std::uint32_t v = cp - 0x10000;
      append_u_escape(out, 0xD800 + (v >> 10));
      append_u_escape(out, 0xDC00 + (v & 0x3FF));
    }
  }
  out += '"';
}

}  // namespace sluice
