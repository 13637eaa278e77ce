// The API token, kept out of every output.
//
// api_token has no stream operator and no implicit conversion to a string:
// the only way to read it is reveal(), which the fetcher calls when it
// builds an Authorization header for the API host (never for another host).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sluice::github {

class api_token {
 public:
  explicit api_token(std::string value) : m_value(std::move(value)) {}

  /// GITHUB_TOKEN, else GH_TOKEN; nullopt when neither is set or both are empty.
  [[nodiscard]] static std::optional<api_token> from_environment();

  /// The secret itself: only for building the Authorization header.
  [[nodiscard]] std::string_view reveal() const noexcept { return m_value; }

  /// Replaces every occurrence of the token in `text` with "***" (defence in
  /// depth for messages that quote server output).
  [[nodiscard]] std::string redact(std::string text) const;

 private:
  std::string m_value;
};

}  // namespace sluice::github
