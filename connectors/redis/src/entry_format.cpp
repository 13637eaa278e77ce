#include "sluice/redis/entry_format.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace sluice::redis {

std::string printable(std::string_view text, std::size_t limit) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i == limit) {
      out += "...";
      break;
    }
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c >= 0x7f || c == '\\') {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

void entry_list::reserve(std::size_t entries, std::size_t fields, std::size_t bytes) {
  m_entries.reserve(m_entries.size() + entries);
  m_first_field.reserve(m_first_field.size() + entries);
  m_fields.reserve(m_fields.size() + fields);
  if (bytes > m_left) {
    m_chunks.push_back(std::make_unique_for_overwrite<char[]>(bytes));
    m_next = m_chunks.back().get();
    m_left = bytes;
  }
}

std::string_view entry_list::copy(std::string_view text) {
  if (text.empty()) return {};
  if (text.size() > m_left) {
    const std::size_t size = std::max<std::size_t>(text.size(), 4096);
    m_chunks.push_back(std::make_unique_for_overwrite<char[]>(size));
    m_next = m_chunks.back().get();
    m_left = size;
  }
  std::memcpy(m_next, text.data(), text.size());
  std::string_view out(m_next, text.size());
  m_next += text.size();
  m_left -= text.size();
  return out;
}

void entry_list::add(std::string_view id) {
  m_first_field.push_back(m_fields.size());
  m_entries.push_back(raw_entry{.id = copy(id)});
}

void entry_list::add_field(std::string_view name, std::string_view value) {
  m_fields.emplace_back(copy(name), copy(value));
}

void entry_list::finish() {
  const std::size_t n = std::min(m_entries.size(), m_first_field.size());
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t end = i + 1 < m_first_field.size() ? m_first_field[i + 1] : m_fields.size();
    m_entries[i].fields = std::span<const entry_field>(m_fields.data() + m_first_field[i], end - m_first_field[i]);
  }
}

std::string decode_entry(const raw_entry& e, std::string_view expected_format, decoded_entry& out) {
  out.end_marker = false;
  out.producer.clear();
  out.format.clear();
  out.items.clear();
  const std::string_view* v = nullptr;
  const std::string_view* f = nullptr;
  const std::string_view* n = nullptr;
  const std::string_view* d = nullptr;
  const std::string_view* end = nullptr;
  for (const auto& [key, value] : e.fields) {
    if (key == "v")
      v = &value;
    else if (key == "f")
      f = &value;
    else if (key == "n")
      n = &value;
    else if (key == "d")
      d = &value;
    else if (key == "end")
      end = &value;
  }
  if (!v) return "not a sluice entry (no format version field \"v\")";
  if (*v != envelope_version)
    return "unknown format version \"" + printable(*v) + "\" (this worker reads version " +
           std::string(envelope_version) + "): written by a newer producer?";
  if (end) {
    out.end_marker = true;
    out.producer = *end;
    return {};
  }
  if (!f || !n || !d) return "entry lacks a field (f, n and d are required)";
  if (*f != expected_format)
    return "payload format \"" + printable(*f) + "\" but this worker reads \"" + printable(expected_format) + "\"";
  std::size_t count = 0;
  auto [ptr, ec] = std::from_chars(n->data(), n->data() + n->size(), count);
  if (ec != std::errc() || ptr != n->data() + n->size() || count == 0 || count > max_items_per_entry)
    return "bad item count \"" + printable(*n) + "\"";
  out.format = *f;
  out.items.reserve(count);
  std::string_view rest(*d);
  for (std::size_t i = 0; i < count; ++i) {
    if (rest.size() < 4) return "payload truncated at item " + std::to_string(i) + " of " + std::to_string(count);
    std::size_t len = 0;
    for (int b = 0; b < 4; ++b)
      len |= std::size_t{static_cast<unsigned char>(rest[static_cast<std::size_t>(b)])} << (8 * b);
    rest.remove_prefix(4);
    if (len > rest.size())
      return "payload truncated: item " + std::to_string(i) + " declares " + std::to_string(len) + " bytes, " +
             std::to_string(rest.size()) + " left";
    out.items.push_back(rest.substr(0, len));
    rest.remove_prefix(len);
  }
  if (!rest.empty())
    return "payload has " + std::to_string(rest.size()) + " trailing bytes after " + std::to_string(count) + " items";
  return {};
}

sluice::result<decoded_entry, std::string> decode_entry(const raw_entry& e, std::string_view expected_format) {
  decoded_entry out;
  auto reason = decode_entry(e, expected_format, out);
  if (!reason.empty()) return reason;
  return out;
}

}  // namespace sluice::redis
