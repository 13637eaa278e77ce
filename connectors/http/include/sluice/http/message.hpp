// HTTP request, response and error values shared by sluice::http::client and
// every connector built on it.
//
// Errors are values (sluice::http::result<T>), never exceptions, so a caller
// fetching thousands of URLs handles a 404 or a timeout like any other outcome.
// Every error names the URL it concerns.
#pragma once

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "sluice/core/result.hpp"

namespace sluice::http {

/// An ordered list of header fields with case-insensitive lookup.
class headers {
 public:
  struct field {
    std::string name;
    std::string value;
  };

  headers() = default;
  headers(std::initializer_list<field> fields) : m_fields(fields) {}

  /// Makes room for `n` fields in all, so that adding them allocates once.
  void reserve(std::size_t n) { m_fields.reserve(n); }
  /// Appends a field (repeated names are kept, as HTTP allows).
  void add(std::string name, std::string value) { m_fields.push_back({std::move(name), std::move(value)}); }
  /// Replaces every field named `name` with one field.
  void set(std::string name, std::string value) {
    erase(name);
    add(std::move(name), std::move(value));
  }
  void erase(std::string_view name) {
    std::erase_if(m_fields, [&](const field& f) { return iequals(f.name, name); });
  }
  /// The first value of `name`, compared case-insensitively.
  [[nodiscard]] std::optional<std::string_view> get(std::string_view name) const {
    for (const auto& f : m_fields)
      if (iequals(f.name, name)) return std::string_view(f.value);
    return std::nullopt;
  }
  [[nodiscard]] bool contains(std::string_view name) const { return get(name).has_value(); }
  [[nodiscard]] const std::vector<field>& fields() const noexcept { return m_fields; }
  [[nodiscard]] bool empty() const noexcept { return m_fields.empty(); }
  auto begin() const noexcept { return m_fields.begin(); }
  auto end() const noexcept { return m_fields.end(); }

  static bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
             return lower(x) == lower(y);
           });
  }

 private:
  std::vector<field> m_fields;
};

/// One HTTP request. Unset timeouts fall back to the client's options.
// Every member has an initialiser so `{.url = u}` leaves the rest out without
// tripping -Wmissing-field-initializers in users' -Wextra builds.
struct request {
  std::string method = "GET";
  std::string url{};
  http::headers headers{};
  std::string body{};
  std::optional<std::chrono::milliseconds> timeout{};          // whole request
  std::optional<std::chrono::milliseconds> connect_timeout{};  // TCP + TLS handshake
  /// No byte received for this long ends the attempt (kind::timeout); see
  /// client_options::inactivity_timeout.
  std::optional<std::chrono::milliseconds> inactivity_timeout{};
  /// Largest (decompressed) body accepted; see client_options::max_body_bytes.
  std::optional<std::size_t> max_body_bytes{};
};

/// The spelling `send({.url = u})` / `send_with_retry(c, {.url = u}, policy,
/// stop)` takes: a request made of views of the caller's data. It is
/// trivially destructible on purpose: g++ 12 destroys an aggregate temporary
/// created inside a co_await expression twice (at a wrong address), which is
/// harmless only for such a type. Every field is copied into an owned
/// `request` before the call returns, so the viewed strings need only live
/// for the call's full expression. `headers`, when set, is copied too.
struct request_ref {
  std::string_view method = "GET";
  std::string_view url{};
  const http::headers* headers = nullptr;
  std::string_view body{};
  std::optional<std::chrono::milliseconds> timeout{};
  std::optional<std::chrono::milliseconds> connect_timeout{};
  std::optional<std::chrono::milliseconds> inactivity_timeout{};
  std::optional<std::size_t> max_body_bytes{};
};

/// An owned copy of `ref`.
[[nodiscard]] inline request to_request(const request_ref& ref) {
  request req;
  req.method = std::string(ref.method);
  req.url = std::string(ref.url);
  if (ref.headers) req.headers = *ref.headers;
  req.body = std::string(ref.body);
  req.timeout = ref.timeout;
  req.connect_timeout = ref.connect_timeout;
  req.inactivity_timeout = ref.inactivity_timeout;
  req.max_body_bytes = ref.max_body_bytes;
  return req;
}

/// A GET request for `url` with everything else defaulted: lets callers
/// build a request outside a co_await expression in one call.
[[nodiscard]] inline request request_for(std::string_view url) {
  request req;
  req.url = std::string(url);
  return req;
}

/// A complete response: any status, including 4xx/5xx, is a response, not an error.
struct response {
  long status = 0;
  http::headers headers{};
  std::string body{};           // decompressed when the server used Content-Encoding
  std::string effective_url{};  // after redirects, if the client followed any
  int http_version = 0;         // 10, 11, 20 or 30: the protocol the response came over
};

/// Why a request produced no response.
struct error {
  enum class kind {
    transport,  // DNS, connect refused, reset, TLS failure (curl error text in message)
    timeout,    // connect, whole-request or low-speed timeout
    cancelled,  // the caller's stop_token fired or the client shut down
    invalid,    // malformed URL or request, or a header with a control character: never sent
    too_large,  // the body grew past the request's max_body_bytes: the transfer was aborted
  };
  kind what = kind::transport;
  std::string url{};
  std::string message{};  // human-readable; never contains credentials
  int curl_code = 0;      // CURLcode when libcurl reported one

  [[nodiscard]] std::string to_string() const { return url + ": " + message; }
};

static_assert(std::is_trivially_destructible_v<request_ref>, "see request_ref: it must stay trivially destructible");

/// A response (or other value) or an http::error.
template <typename T>
using result = sluice::result<T, http::error>;

}  // namespace sluice::http
