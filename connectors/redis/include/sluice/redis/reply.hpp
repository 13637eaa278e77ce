// sluice::redis::reply: one RESP2 reply, copied out of hiredis so it can
// cross threads, and redis::error for what went wrong on the way.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/core/result.hpp"

namespace sluice::redis {

struct reply {
  enum class kind : std::uint8_t { string, status, error, integer, nil, array };
  kind type = kind::nil;
  /// string, status and error text.
  std::string str = {};
  long long integer = 0;
  std::vector<reply> elements = {};

  [[nodiscard]] bool is_error() const noexcept { return type == kind::error; }
  [[nodiscard]] bool is_nil() const noexcept { return type == kind::nil; }
  [[nodiscard]] bool is_array() const noexcept { return type == kind::array; }
  /// A string-like reply's text ("" otherwise).
  [[nodiscard]] std::string_view text() const noexcept {
    return type == kind::string || type == kind::status || type == kind::error ? std::string_view(str)
                                                                               : std::string_view();
  }
};

/// Transport failures (the server's own error replies are replies of kind
/// error). Messages never contain the password.
struct error {
  enum class kind : std::uint8_t {
    connection,   // could not connect, or the connection broke with the command in flight
    timeout,      // no reply within the command's timeout (the connection is then reset)
    closed,       // the client is shutting down
    unavailable,  // the server answered that it cannot serve now (LOADING, BUSY, TRYAGAIN, MASTERDOWN)
  };
  kind type = kind::connection;
  std::string message = {};
};

template <typename T>
using result = sluice::result<T, error>;

/// True for error replies that mean "not now" rather than "never": the
/// server is loading its data after a restart, busy in a script, or a
/// replica without its primary. The connection turns them into
/// error::unavailable so callers retry them like a broken connection.
bool is_transient(const reply& r) noexcept;

/// A reply's text for error messages: type and at most 200 escaped bytes.
std::string describe(const reply& r);

}  // namespace sluice::redis
