#include "sluice/github/token.hpp"

#include <cstdlib>

namespace sluice::github {

std::optional<api_token> api_token::from_environment() {
  for (const char* name : {"GITHUB_TOKEN", "GH_TOKEN"}) {
    const char* value = std::getenv(name);
    if (value && *value) return api_token(value);
  }
  return std::nullopt;
}

sluice::result<std::optional<api_token>, std::string> api_token::from_environment_checked() {
  for (const char* name : {"GITHUB_TOKEN", "GH_TOKEN"}) {
    const char* value = std::getenv(name);
    if (!value || !*value) continue;
    if (auto problem = token_problem(value)) return std::string("the token in ") + name + " " + *problem;
    return std::optional<api_token>(api_token(value));
  }
  return std::optional<api_token>();
}

std::optional<std::string> token_problem(std::string_view value) {
  if (value.empty()) return "is empty";
  if (value.back() == '\r' || (value.size() >= 2 && value.back() == '\n' && value[value.size() - 2] == '\r'))
    return "ends with a carriage return (CR): was it read from a file with Windows (CRLF) line endings? "
           "Remove the CR, e.g. with: tr -d '\\r'";
  if (value.back() == '\n') return "ends with a newline: remove it";
  for (std::size_t i = 0; i < value.size(); ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (c == ' ' || c == '\t')
      return "contains whitespace at character " + std::to_string(i + 1) + " (tokens have none)";
    if (c < 0x20 || c == 0x7f)
      return "contains a control character at character " + std::to_string(i + 1) + " (tokens have none)";
    if (c > 0x7f) return "contains a non-ASCII byte at character " + std::to_string(i + 1) + " (tokens are ASCII)";
  }
  return std::nullopt;
}

std::string api_token::redact(std::string text) const {
  if (m_value.empty()) return text;
  for (auto pos = text.find(m_value); pos != std::string::npos; pos = text.find(m_value, pos + 3))
    text.replace(pos, m_value.size(), "***");
  return text;
}

}  // namespace sluice::github
