// The API token, kept out of every output.
//
// api_token has no stream operator and no implicit conversion to a string:
// the only way to read it is reveal(), which the fetcher calls when it
// builds an Authorization header for the API host (never for another host).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "sluice/core/result.hpp"

namespace sluice::github {

class api_token {
 public:
  explicit api_token(std::string value) : m_value(std::move(value)) {}

  /// GITHUB_TOKEN, else GH_TOKEN; nullopt when neither is set or both are empty.
  [[nodiscard]] static std::optional<api_token> from_environment();

  /// As from_environment(), but a value that cannot be a token (see
  /// token_problem) is an error naming the variable, never quoting the value.
  [[nodiscard]] static sluice::result<std::optional<api_token>, std::string> from_environment_checked();

  /// The secret itself: only for building the Authorization header.
  [[nodiscard]] std::string_view reveal() const noexcept { return m_value; }

  /// Replaces every occurrence of the token in `text` with "***" (defence in
  /// depth for messages that quote server output).
  [[nodiscard]] std::string redact(std::string text) const;

 private:
  std::string m_value;
};

/// Why `value` cannot be sent as a token, or nullopt when it can: tokens are
/// visible ASCII (0x21-0x7E), so whitespace, control characters (a CR or LF
/// would inject a header) and non-ASCII bytes are refused. A trailing CR gets
/// its own message (a token file saved with Windows line endings). The
/// message never contains the value.
[[nodiscard]] std::optional<std::string> token_problem(std::string_view value);

}  // namespace sluice::github
