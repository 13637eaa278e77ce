// How the channel's two storages (channel_ring, channel_list) hold an item:
// a type whose move may throw is boxed (moved into a unique_ptr) before a
// slot is claimed, so that nothing between claiming and publishing a slot
// can throw; any other type is stored as it is.
#pragma once

#include <memory>
#include <type_traits>

namespace sluice::detail {

/// Whether T is boxed in a slot.
template <typename T>
inline constexpr bool boxed_item = !std::is_nothrow_move_constructible_v<T>;

/// What a slot holds for an item of type T.
template <typename T>
using stored_item = std::conditional_t<boxed_item<T>, std::unique_ptr<T>, T>;

/// The item a slot's stored value holds.
template <typename T>
[[nodiscard]] T& unboxed(stored_item<T>& value) noexcept {
  if constexpr (boxed_item<T>) {
    return *value;
  } else {
    return value;
  }
}

/// Runs `push(stored_item<T>&)` on `item` as a slot stores it (boxed first
/// when T is boxed) and returns its status; `item` is given back as it was
/// unless the push returned `ok`. Throws std::bad_alloc (item untouched)
/// when the box cannot be allocated.
template <typename T, typename Push, typename Status>
Status push_boxed(T& item, Push&& push, Status ok) {
  if constexpr (boxed_item<T>) {
    auto box = std::make_unique<T>(std::move(item));
    const Status st = push(box);
    if (st != ok) item = std::move(*box);  // give it back as it was
    return st;
  } else {
    return push(item);
  }
}

}  // namespace sluice::detail
