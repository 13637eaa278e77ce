// sluice::item_bytes(item): how much memory an item holds, for the memory
// bounds of a pipeline (a stage's `.capacity_bytes`, run_options'
// `max_bytes_in_flight`).
//
// The default is sizeof(T) plus the heap payload of std::string (its
// capacity) and std::vector (its capacity, plus the payload of its elements
// when they own some, e.g. a vector of strings). A type that owns memory
// some other way says so with a function found by argument-dependent lookup:
//
//   namespace mine { std::size_t sluice_item_bytes(const frame& f) { return sizeof f + f.pixels.size(); } }
//
// sluice::files::line and file_block count the bytes they view (the blocks
// they share are counted once per line that keeps them alive, a fair share).
// The size is computed once per item per channel hop, and only when a bound
// in bytes is set: it should be cheap (no traversal of large structures).
#pragma once

#include <cstddef>
#include <string>
#include <type_traits>
#include <vector>

namespace sluice {

template <typename T>
std::size_t item_bytes(const T& item);

namespace detail {

template <typename T>
concept has_item_bytes_hook = requires(const T& item) {
  { sluice_item_bytes(item) } -> std::convertible_to<std::size_t>;
};

template <typename T>
struct payload_bytes {
  static std::size_t of(const T&) noexcept { return 0; }
};
template <typename C, typename Tr, typename A>
struct payload_bytes<std::basic_string<C, Tr, A>> {
  static std::size_t of(const std::basic_string<C, Tr, A>& s) noexcept {
    // Short strings live inside the object (libstdc++: 16 bytes of it, so
    // a capacity of 15 chars); a longer one owns capacity + 1 on the heap.
    constexpr std::size_t in_object = (sizeof(s) - sizeof(void*) - sizeof(std::size_t)) / sizeof(C);
    return s.capacity() >= in_object ? (s.capacity() + 1) * sizeof(C) : 0;
  }
};
template <typename U, typename A>
struct payload_bytes<std::vector<U, A>> {
  static std::size_t of(const std::vector<U, A>& v) {
    std::size_t bytes = v.capacity() * sizeof(U);
    if constexpr (!std::is_trivially_copyable_v<U>) {
      for (const auto& u : v) bytes += item_bytes(u) - sizeof(U);
    }
    return bytes;
  }
};

}  // namespace detail

/// The memory `item` holds: its ADL hook sluice_item_bytes(item) if it has
/// one, else sizeof(T) plus the payload of strings and vectors.
template <typename T>
std::size_t item_bytes(const T& item) {
  if constexpr (detail::has_item_bytes_hook<T>) {
    return static_cast<std::size_t>(sluice_item_bytes(item));
  } else {
    return sizeof(T) + detail::payload_bytes<T>::of(item);
  }
}

}  // namespace sluice
