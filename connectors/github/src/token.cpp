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

std::string api_token::redact(std::string text) const {
  if (m_value.empty()) return text;
  for (auto pos = text.find(m_value); pos != std::string::npos; pos = text.find(m_value, pos + 3))
    text.replace(pos, m_value.size(), "***");
  return text;
}

}  // namespace sluice::github
