// sluice::result<T, E>: a value or an error, for outcomes a caller must
// expect (an HTTP 404, a malformed page), where an exception per item would
// be wrong. std::expected is C++23; this is the part sluice needs.
#pragma once

#include <cassert>
#include <type_traits>
#include <utility>
#include <variant>

namespace sluice {

template <typename T, typename E>
class [[nodiscard]] result {
 public:
  using value_type = T;
  using error_type = E;

  // noexcept whenever moving the value in cannot throw: std::variant::emplace
  // (a task's co_return) then builds the result in place instead of through a
  // temporary, which g++ 12 -O2 falsely reports as maybe-uninitialized.
  result(T value) noexcept(std::is_nothrow_move_constructible_v<T>)  // NOLINT(google-explicit-constructor)
      : m_data(std::in_place_index<0>, std::move(value)) {}
  result(E error) noexcept(std::is_nothrow_move_constructible_v<E>)  // NOLINT(google-explicit-constructor)
      : m_data(std::in_place_index<1>, std::move(error)) {}

  [[nodiscard]] bool has_value() const noexcept { return m_data.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  /// The value; asserts has_value().
  T& value() & {
    assert(has_value());
    return std::get<0>(m_data);
  }
  T&& value() && {
    assert(has_value());
    return std::get<0>(std::move(m_data));
  }
  const T& value() const& {
    assert(has_value());
    return std::get<0>(m_data);
  }
  /// The error; asserts !has_value().
  [[nodiscard]] const E& error() const& {
    assert(!has_value());
    return std::get<1>(m_data);
  }

  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, E> m_data;
};

}  // namespace sluice
