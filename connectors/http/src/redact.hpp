// URLs as they may appear in errors and logs: without user:password@.
#pragma once

#include <string>
#include <string_view>

namespace sluice::http::detail {

inline std::string redact_url(std::string_view url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::string(url);
  auto authority_begin = scheme_end + 3;
  auto authority_end = url.find_first_of("/?#", authority_begin);
  auto at = url.rfind('@', authority_end == std::string_view::npos ? url.size() : authority_end);
  if (at == std::string_view::npos || at < authority_begin) return std::string(url);
  return std::string(url.substr(0, authority_begin)) + std::string(url.substr(at + 1));
}

}  // namespace sluice::http::detail
