// What the channels between stages carry: chunks of items, one type for
// every item type (chunk_record), and that channel, compiled once in the
// library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/core/channel.hpp"

namespace sluice::detail {

/// The "type" flowing out of a sink and into a source.
struct none {};

/// What the channels between stages carry: a chunk of items and its
/// position in the sending stage's output. Sequence numbers are needed
/// because a channel keeps order per sending *thread*, and a stage coroutine
/// moves between threads, so consecutive chunks may overtake each other.
///
/// One type for every item type: the items are a std::vector<T> whose type
/// is erased (kept in place, moved and destroyed through two function
/// pointers), so the channel between stages is compiled once, in the
/// library (stages/src/chunk_channels.cpp), whatever the pipeline's item
/// types, and a program neither compiles channel code per item type nor
/// declares it `extern` per type (docs/architecture.md, "Header cost").
/// Whoever takes the items out names their type (items<T>()); it must be
/// the type they were put in with, which the typed flows guarantee.
///
/// Thread-safety: none (a value moved through a channel).
class chunk_record {
 public:
  // Stage channels are always bounded (channel_chunks): no unbounded
  // channel code (core/detail/channel_state.hpp).
  using bounded_channel_only = void;

  chunk_record() noexcept = default;
  template <typename T>
  chunk_record(std::uint64_t position, std::vector<T>&& items) : seq(position) {
    emplace(std::move(items));
  }
  chunk_record(chunk_record&& other) noexcept : seq(other.seq), bytes(other.bytes) { take_items(other); }
  chunk_record& operator=(chunk_record&& other) noexcept {
    if (this != &other) {
      clear();
      seq = other.seq;
      bytes = other.bytes;
      take_items(other);
    }
    return *this;
  }
  chunk_record(const chunk_record&) = delete;
  chunk_record& operator=(const chunk_record&) = delete;
  ~chunk_record() { clear(); }

  /// The items, as the std::vector<T> they were put in as (an empty one
  /// for a chunk made without items).
  template <typename T>
  [[nodiscard]] std::vector<T>& items() {
    if (!m_ops) emplace(std::vector<T>{});
    return *vector_of<T>(m_storage);
  }
  /// How many items the chunk holds, without naming their type.
  [[nodiscard]] std::size_t item_count() const noexcept { return m_ops ? m_ops->size(m_storage) : 0; }

  std::uint64_t seq = 0;
  std::size_t bytes = 0;  // sluice::item_bytes of the items, when the run has a bound in bytes

 private:
  struct ops {
    void (*relocate)(void* to, void* from) noexcept;  // moves the vector from `from` to `to`, ends `from`
    void (*destroy)(void* storage) noexcept;
    std::size_t (*size)(const void* storage) noexcept;
  };
  // A std::vector is three pointers with std::allocator in every standard
  // library we know; a vector that is not (std::vector<bool> in libstdc++)
  // is kept on the heap behind a pointer instead.
  static constexpr std::size_t storage_size = 3 * sizeof(void*);
  template <typename T>
  static constexpr bool in_place =
      sizeof(std::vector<T>) <= storage_size &&
      alignof(std::vector<T>) <= alignof(void*) && std::is_nothrow_move_constructible_v<std::vector<T>>;

  template <typename T>
  static std::vector<T>* vector_of(void* storage) noexcept {
    if constexpr (in_place<T>) {
      return std::launder(static_cast<std::vector<T>*>(storage));
    } else {
      return *static_cast<std::vector<T>**>(storage);
    }
  }
  template <typename T>
  static const std::vector<T>* vector_of(const void* storage) noexcept {
    return vector_of<T>(const_cast<void*>(storage));  // NOLINT(cppcoreguidelines-pro-type-const-cast)
  }
  template <typename T>
  static void relocate_items(void* to, void* from) noexcept {
    if constexpr (in_place<T>) {
      auto* source = vector_of<T>(from);
      ::new (to) std::vector<T>(std::move(*source));
      source->~vector();
    } else {
      ::new (to) std::vector<T>*(*static_cast<std::vector<T>**>(from));
    }
  }
  template <typename T>
  static void destroy_items(void* storage) noexcept {
    if constexpr (in_place<T>) {
      vector_of<T>(storage)->~vector();
    } else {
      delete vector_of<T>(storage);
    }
  }
  template <typename T>
  static std::size_t size_of_items(const void* storage) noexcept {
    return vector_of<T>(storage)->size();
  }
  template <typename T>
  static constexpr ops ops_for{&relocate_items<T>, &destroy_items<T>, &size_of_items<T>};

  template <typename T>
  void emplace(std::vector<T>&& items) {
    if constexpr (in_place<T>) {
      ::new (static_cast<void*>(m_storage)) std::vector<T>(std::move(items));
    } else {
      ::new (static_cast<void*>(m_storage)) std::vector<T>*(new std::vector<T>(std::move(items)));
    }
    m_ops = &ops_for<T>;
  }
  void take_items(chunk_record& other) noexcept {
    m_ops = std::exchange(other.m_ops, nullptr);
    if (m_ops) m_ops->relocate(m_storage, other.m_storage);
  }
  void clear() noexcept {
    if (m_ops) std::exchange(m_ops, nullptr)->destroy(m_storage);
  }

  alignas(void*) unsigned char m_storage[storage_size];
  const ops* m_ops = nullptr;
};

/// The channel item between stages of item type T: the same type for every
/// T (see chunk_record); the name says which items it carries.
template <typename T>
using chunk = chunk_record;

}  // namespace sluice::detail

// The channel code between stages (of chunk_record, one type for every item
// type) is compiled once, in the library (stages/src/chunk_channels.cpp),
// instead of in every program (docs/architecture.md, "Header cost").
// Channels hold no coroutine, so the library's copy is the same code whatever
// the program's optimisation level. SLUICE_DETAIL_CHANNEL_INSTANCES(X, T)
// spells the instantiations of the channel of T; X is `extern` here and empty
// in the library.
#define SLUICE_DETAIL_CHANNEL_INSTANCES(X, T)                \
  X template class sluice::detail::channel_state<T>;         \
  X template class sluice::detail::channel_ring<T>;          \
  X template class sluice::detail::channel_handle<T, true>;  \
  X template class sluice::detail::channel_handle<T, false>; \
  X template class sluice::channel_sender<T>;                \
  X template class sluice::channel_receiver<T>;              \
  X template std::pair<sluice::channel_sender<T>, sluice::channel_receiver<T>> sluice::channel<T>(std::size_t);
SLUICE_DETAIL_CHANNEL_INSTANCES(extern, sluice::detail::chunk_record)
