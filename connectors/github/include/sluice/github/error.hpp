// sluice::github::error and result<T>: what a per-repository or per-page
// failure looks like. Errors are values: one missing repository or one
// malformed page never throws out of the connector.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace sluice::github {

/// A failure reported for one repository (or one page while it is fetched).
///
/// `status` is the HTTP status GitHub answered with (401, 404, 409, 410,
/// 422, 451, exhausted 5xx retries ...), or 0 when no usable response
/// arrived: transport errors, timeouts and JSON that stayed malformed after
/// retries. `message` is human-readable, names the URL where one is known,
/// and never contains credentials.
struct error {
  long status = 0;
  std::string message;

  friend bool operator==(const error&, const error&) = default;
};

/// A value or a github::error.
template <typename T>
class [[nodiscard]] result {
 public:
  result(T value) : m_data(std::in_place_index<0>, std::move(value)) {}          // NOLINT
  result(github::error err) : m_data(std::in_place_index<1>, std::move(err)) {}  // NOLINT

  [[nodiscard]] bool has_value() const noexcept { return m_data.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }
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
  [[nodiscard]] const github::error& error() const& {
    assert(!has_value());
    return std::get<1>(m_data);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, github::error> m_data;
};

}  // namespace sluice::github
