// sluice/core/json.hpp: the project's one JSON string escaper and writer.
//
//   std::string line;
//   sluice::json_writer w(line);
//   w.begin_object(); w.field("repo", name); w.field_num("issues", n); w.end_object();
//   std::string quoted = sluice::json_quote(untrusted);   // always valid UTF-8 JSON
//
// Every string that came from the network or the environment goes through
// append_json_string: quotes, backslashes and control characters are escaped,
// and bytes that are not valid UTF-8 (overlong forms, surrogates, truncated
// sequences) become U+FFFD, so the output is valid UTF-8 JSON whatever the
// input. Used by the DSL's jsonl sink, the GitHub report writers and the fake
// GitHub server. Thread-safety: free functions are pure; a json_writer is used
// by one thread at a time.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sluice {

/// Appends `text` to `out` as a JSON string literal (with quotes). Escapes `"`,
/// `\` and control characters; with `ascii_only`, also writes every non-ASCII
/// code point as \uXXXX (a surrogate pair above U+FFFF). Invalid UTF-8 bytes
/// become U+FFFD.
void append_json_string(std::string& out, std::string_view text, bool ascii_only = false);

/// Decodes the code point starting at text[i] (i < text.size()) and advances
/// `i` past it. Invalid UTF-8 (overlong forms, surrogates, truncated or stray
/// bytes) yields U+FFFD and advances by one byte: the decoder behind
/// append_json_string, for writers of other formats (CSV, terminal tables).
[[nodiscard]] std::uint32_t next_code_point(std::string_view text, std::size_t& i) noexcept;

/// Appends `cp` (<= U+10FFFF, not a surrogate) to `out` as UTF-8.
void append_utf8(std::string& out, std::uint32_t cp);

/// Appends `text` to `out` unchanged except that every byte that does not
/// start a well-formed UTF-8 sequence becomes U+FFFD (one per byte): the UTF-8
/// policy of append_json_string, for writers of other text formats (CSV).
void append_valid_utf8(std::string& out, std::string_view text);

/// `text` as a JSON string literal (quotes included); see append_json_string.
[[nodiscard]] inline std::string json_quote(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  append_json_string(out, text);
  return out;
}

/// Appends JSON to a string, inserting commas itself. Not a validator: callers
/// pair begin/end and put a key before every value inside an object.
class json_writer {
 public:
  explicit json_writer(std::string& out) : m_out(out) {}

  void begin_object() {
    separate();
    m_out += '{';
    m_need_comma = false;
  }
  void end_object() {
    m_out += '}';
    m_need_comma = true;
  }
  void begin_array() {
    separate();
    m_out += '[';
    m_need_comma = false;
  }
  void end_array() {
    m_out += ']';
    m_need_comma = true;
  }
  void key(std::string_view name) {
    separate();
    append_json_string(m_out, name);
    m_out += ':';
    m_after_key = true;
  }
  void str(std::string_view text) {
    separate();
    append_json_string(m_out, text, m_ascii_only);
    m_need_comma = true;
  }
  void num(std::int64_t value) {
    separate();
    m_out += std::to_string(value);
    m_need_comma = true;
  }
  void boolean(bool value) {
    separate();
    m_out += value ? "true" : "false";
    m_need_comma = true;
  }
  void null() {
    separate();
    m_out += "null";
    m_need_comma = true;
  }
  /// Inserts already-serialised JSON as one value.
  void raw(std::string_view json) {
    separate();
    m_out += json;
    m_need_comma = true;
  }

  // key + value shorthands
  void field(std::string_view name, std::string_view text) {
    key(name);
    str(text);
  }
  void field(std::string_view name, const char* text) {
    key(name);
    str(text);
  }
  void field(std::string_view name, const std::string& text) {
    key(name);
    str(text);
  }
  void field_num(std::string_view name, std::int64_t value) {
    key(name);
    num(value);
  }
  void field_bool(std::string_view name, bool value) {
    key(name);
    boolean(value);
  }
  void field_null(std::string_view name) {
    key(name);
    null();
  }

  /// Strings written by str() escape non-ASCII as \uXXXX while set.
  void set_ascii_only(bool on) { m_ascii_only = on; }

 private:
  void separate() {
    if (m_after_key) {
      m_after_key = false;
      return;
    }
    if (m_need_comma) m_out += ',';
  }

  std::string& m_out;
  bool m_need_comma = false;
  bool m_after_key = false;
  bool m_ascii_only = false;
};

}  // namespace sluice
