// sluice::result<T, E>: a value or an error, for outcomes a caller must
// expect (an HTTP 404, a malformed page), where an exception per item would
// be wrong. std::expected is C++23; this is the part sluice needs.
#pragma once

#include <cassert>
#include <utility>
#include <variant>

namespace sluice {

template <typename T, typename E>
class [[nodiscard]] result {
 public:
  using value_type = T;
  using error_type = E;

  result(T value) : m_data(std::in_place_index<0>, std::move(value)) {}  // NOLINT(google-explicit-constructor)
  result(E error) : m_data(std::in_place_index<1>, std::move(error)) {}  // NOLINT(google-explicit-constructor)

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
