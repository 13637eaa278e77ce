// sluice::files::line and sluice::files::file_block: views into shared,
// reference-counted blocks of file data.
//
//   for a line produced by files::lines(path):
//     std::string_view s = l;        // or l.text(): the bytes, without "\n" (and without "\r" by default)
//     std::string copy = l.str();    // an owned copy
//
// Lifetime: a line (or block) holds a reference on the block of bytes it
// points into, so its text stays valid for as long as the line object
// lives, on any thread, whatever happens to the source. A string_view taken
// from a line is valid only while that line (or a copy of it) is alive.
// Keeping one line keeps its whole block (`read_options::block_bytes`,
// 256 KiB by default) in memory: to keep a few lines of a large file for
// long, copy them (str()).
//
// Cost: producing a line allocates nothing; the reference count is raised
// once per block for all of its lines and lowered per line when a line is
// destroyed (one atomic decrement), except inside a sluice::release_batch,
// where the lines of one block destroyed in a row cost one decrement
// together (fold and the other aggregating sinks drop their chunks in one).
// Copying a line is one atomic increment; moving it is free. A line that spans two blocks is copied into a small
// block of its own.
//
// Thread-safety: lines are immutable values; copies may be used and
// destroyed concurrently on different threads.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "sluice/core/release_batch.hpp"

namespace sluice::files {

namespace detail {
class line_splitter;
class block_pool;
}  // namespace detail

/// A reference-counted buffer of bytes. Written by its producer before it is
/// shared, read-only afterwards.
class shared_bytes {
 public:
  shared_bytes() noexcept = default;
  /// A new buffer of `capacity` bytes (contents uninitialised), one reference.
  static shared_bytes allocate(std::size_t capacity);

  shared_bytes(const shared_bytes& other) noexcept : m_storage(other.m_storage) { add_refs(1); }
  shared_bytes(shared_bytes&& other) noexcept : m_storage(std::exchange(other.m_storage, nullptr)) {}
  shared_bytes& operator=(const shared_bytes& other) noexcept {
    shared_bytes copy(other);
    swap(copy);
    return *this;
  }
  shared_bytes& operator=(shared_bytes&& other) noexcept {
    shared_bytes moved(std::move(other));
    swap(moved);
    return *this;
  }
  ~shared_bytes() { release(); }

  void swap(shared_bytes& other) noexcept { std::swap(m_storage, other.m_storage); }
  [[nodiscard]] char* data() const noexcept { return m_storage ? m_storage->bytes() : nullptr; }
  [[nodiscard]] std::size_t capacity() const noexcept { return m_storage ? m_storage->capacity : 0; }
  [[nodiscard]] explicit operator bool() const noexcept { return m_storage != nullptr; }
  /// References held now (for tests).
  [[nodiscard]] std::size_t use_count() const noexcept {
    return m_storage ? m_storage->refs.load(std::memory_order_relaxed) : 0;
  }

 private:
  // The header of an allocation; the bytes follow it (16-byte aligned).
  struct alignas(16) storage {
    std::atomic<std::size_t> refs;
    std::size_t capacity;
    detail::block_pool* pool;  // where the storage goes back to when unused; null: freed
    [[nodiscard]] char* bytes() noexcept { return reinterpret_cast<char*>(this + 1); }
  };
  friend class detail::line_splitter;  // makes handles first, counts them once after
  friend class detail::block_pool;     // recycles storage
  explicit shared_bytes(storage* s) noexcept : m_storage(s) {}
  // A handle that does not own a reference yet: add_refs() must follow
  // before any handle can be released.
  [[nodiscard]] shared_bytes uncounted() const noexcept { return shared_bytes(m_storage); }
  void add_refs(std::size_t n) const noexcept {
    if (m_storage && n) m_storage->refs.fetch_add(n, std::memory_order_relaxed);
  }
  // Inside a sluice::release_batch (an aggregating sink drops its chunks in
  // one) the releases of one block's lines in a row become one fetch_sub.
  void release() noexcept {
    if (m_storage && !release_batch::defer(m_storage, &release_refs)) release_refs(m_storage, 1);
    m_storage = nullptr;
  }
  static void release_refs(void* object, std::size_t n) noexcept {
    auto* s = static_cast<storage*>(object);
    if (s->refs.fetch_sub(n, std::memory_order_acq_rel) == n) destroy(s);
  }
  static void destroy(storage* s) noexcept;

  storage* m_storage = nullptr;
};

/// One line of text: a view into a shared block, without its terminator.
class line {
 public:
  line() noexcept = default;
  line(std::string_view text, shared_bytes owner) noexcept : m_text(text), m_owner(std::move(owner)) {}

  [[nodiscard]] std::string_view text() const noexcept { return m_text; }
  operator std::string_view() const noexcept { return m_text; }  // NOLINT: a line is used as text
  [[nodiscard]] const char* data() const noexcept { return m_text.data(); }
  [[nodiscard]] std::size_t size() const noexcept { return m_text.size(); }
  [[nodiscard]] bool empty() const noexcept { return m_text.empty(); }
  /// An owned copy of the text.
  [[nodiscard]] std::string str() const { return std::string(m_text); }

  friend bool operator==(const line& a, std::string_view b) noexcept { return a.m_text == b; }

 private:
  friend class detail::line_splitter;  // splits a run of whole lines in a lane (lines.hpp)
  std::string_view m_text;
  shared_bytes m_owner;
};

/// A block of a file's bytes (decompressed, for .gz) starting at `offset`.
class file_block {
 public:
  file_block() noexcept = default;
  file_block(std::uint64_t offset, std::string_view bytes, shared_bytes owner) noexcept
      : m_offset(offset), m_bytes(bytes), m_owner(std::move(owner)) {}

  /// Position of the first byte in the (decompressed) file.
  [[nodiscard]] std::uint64_t offset() const noexcept { return m_offset; }
  [[nodiscard]] std::string_view bytes() const noexcept { return m_bytes; }
  [[nodiscard]] std::size_t size() const noexcept { return m_bytes.size(); }

 private:
  std::uint64_t m_offset = 0;
  std::string_view m_bytes;
  shared_bytes m_owner;
};

/// For memory bounds (sluice/stages/item_bytes.hpp): the bytes a line or
/// block views (the shared block behind it, shared out among its lines).
inline std::size_t sluice_item_bytes(const line& l) noexcept { return sizeof(line) + l.size(); }
inline std::size_t sluice_item_bytes(const file_block& b) noexcept { return sizeof(file_block) + b.size(); }

}  // namespace sluice::files
