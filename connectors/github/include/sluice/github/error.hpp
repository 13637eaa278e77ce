// sluice::github::error and result<T>: what a per-repository or per-page
// failure looks like. Errors are values: one missing repository or one
// malformed page never throws out of the connector.
#pragma once

#include <cassert>
#include <sluice/core/result.hpp>
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
using result = sluice::result<T, github::error>;

}  // namespace sluice::github
