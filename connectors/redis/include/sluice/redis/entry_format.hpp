// The layout of a sluice stream entry (format version 1), shared by
// to_stream (writes) and from_stream (reads):
//
//   v  "1"                      envelope version: a worker that does not know
//                               it dead-letters the entry ("unknown format version")
//   f  serializer format        e.g. "string/1", "json:repo/2"
//   n  item count               items packed into this entry (1..max_items_per_entry)
//   d  payload                  n x (u32 little-endian length, bytes)
//
// An end-of-stream marker is {v "1", end <producer id>}. Everything read
// from a stream is untrusted: counts and lengths are bounded and checked.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/core/result.hpp"

namespace sluice::redis {

inline constexpr std::string_view envelope_version = "1";
/// Largest item count one entry may declare.
inline constexpr std::size_t max_items_per_entry = 65536;

/// One field of a stream entry: name and value.
using entry_field = std::pair<std::string_view, std::string_view>;

/// One stream entry as read: id, fields, and how often the group delivered
/// it. Views into the entry_list that read it (valid while the list lives).
struct raw_entry {
  std::string_view id = {};
  std::span<const entry_field> fields = {};
  std::uint64_t deliveries = 1;
};

/// Entries read together and the bytes they view: a read copies a reply's
/// ids and fields into a few chunks and one field array, instead of a string
/// per id and field and a vector per entry (the consumer's hot path).
/// Moving the list keeps every view valid; copying is not allowed.
class entry_list {
 public:
  entry_list() = default;
  entry_list(entry_list&&) noexcept = default;
  entry_list& operator=(entry_list&&) noexcept = default;

  /// Room for `entries` entries, `fields` fields and `bytes` bytes of text
  /// (a hint: more is fine).
  void reserve(std::size_t entries, std::size_t fields, std::size_t bytes);
  /// Starts an entry with id `id` (copied); add its fields next.
  void add(std::string_view id);
  /// Adds a field (copied) to the entry added last.
  void add_field(std::string_view name, std::string_view value);
  /// Points every entry at its fields; call once after the last add.
  void finish();

  [[nodiscard]] std::vector<raw_entry>& entries() noexcept { return m_entries; }
  [[nodiscard]] const std::vector<raw_entry>& entries() const noexcept { return m_entries; }
  [[nodiscard]] bool empty() const noexcept { return m_entries.empty(); }
  [[nodiscard]] std::size_t size() const noexcept { return m_entries.size(); }

 private:
  std::string_view copy(std::string_view text);

  std::vector<raw_entry> m_entries;
  std::vector<entry_field> m_fields;
  std::vector<std::size_t> m_first_field;  // per entry, into m_fields, until finish()
  std::vector<std::unique_ptr<char[]>> m_chunks;
  std::size_t m_left = 0;  // free bytes at the end of the last chunk
  char* m_next = nullptr;
};

/// A checked entry: an end marker, or `items` (views into the entry's payload).
struct decoded_entry {
  bool end_marker = false;
  std::string producer = {};
  std::string format = {};
  std::vector<std::string_view> items = {};
};

/// Appends one item to `payload`: reserves the length prefix, lets `write`
/// append the bytes, then patches the length. Throws std::length_error above
/// 512 MiB (Redis's bulk limit).
template <typename Write>
void append_item(std::string& payload, Write&& write) {
  const std::size_t at = payload.size();
  payload.append(4, '\0');
  write(payload);
  const std::size_t n = payload.size() - at - 4;
  if (n > (std::size_t{512} << 20)) throw std::length_error("sluice::redis: item larger than 512 MiB");
  for (int i = 0; i < 4; ++i) payload[at + static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
}

/// Validates `e` against `expected_format`; the error is a human-readable
/// reason naming what was found (escaped, bounded) and what was expected.
sluice::result<decoded_entry, std::string> decode_entry(const raw_entry& e, std::string_view expected_format);
/// The same into `out` (its buffers reused: no allocation per entry on the
/// hot path); returns the reason, empty when `e` is valid.
std::string decode_entry(const raw_entry& e, std::string_view expected_format, decoded_entry& out);

/// `text` escaped for a message: printable ASCII kept, the rest \xNN, at most `limit` bytes.
std::string printable(std::string_view text, std::size_t limit = 80);

}  // namespace sluice::redis
