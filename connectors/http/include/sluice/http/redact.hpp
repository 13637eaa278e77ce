// URLs as they may appear in errors and logs: without user:password@.
//
//   redact_url("https://me:secret@host/x")            -> "https://host/x"
//   redact_userinfo("failed: GET https://u:p@h/a ...") -> "failed: GET https://h/a ..."
//   redact_url_secrets("https://u:p@h/a?page=2&access_token=x") -> "https://h/a?page=2&access_token=REDACTED"
//
// The HTTP client applies redact_url to every URL it puts in an error;
// programs apply redact_userinfo to any text that may quote a URL a server
// chose (a Link or Location header) before printing it. Pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sluice::http {

/// `url` without its userinfo ("user:password@"); other text unchanged.
[[nodiscard]] inline std::string redact_url(std::string_view url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::string(url);
  auto authority_begin = scheme_end + 3;
  auto authority_end = url.find_first_of("/?#", authority_begin);
  auto at = url.rfind('@', authority_end == std::string_view::npos ? url.size() : authority_end);
  if (at == std::string_view::npos || at < authority_begin) return std::string(url);
  return std::string(url.substr(0, authority_begin)) + std::string(url.substr(at + 1));
}

/// True for a query parameter name that commonly carries a secret: one
/// containing token, secret, passw, key, sig, auth, credential or session
/// (ASCII case-insensitive; deliberately broad).
[[nodiscard]] inline bool is_secret_parameter(std::string_view name) {
  std::string lower;
  lower.reserve(name.size());
  for (char c : name) lower += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  for (std::string_view word : {"token", "secret", "passw", "key", "sig", "auth", "credential", "session"})
    if (lower.find(word) != std::string::npos) return true;
  return false;
}

/// redact_url(url), and the value of every query parameter named like a
/// secret (is_secret_parameter) replaced by REDACTED: for URLs written to
/// traces and logs, where a token passed in the query must not appear.
[[nodiscard]] inline std::string redact_url_secrets(std::string_view url) {
  const std::string plain = redact_url(url);
  const auto question = plain.find('?');
  if (question == std::string::npos) return plain;
  auto fragment = plain.find('#', question);
  if (fragment == std::string::npos) fragment = plain.size();
  std::string out = plain.substr(0, question + 1);
  std::string_view query(plain.data() + question + 1, fragment - question - 1);
  while (true) {
    const auto amp = query.find('&');
    const auto field = query.substr(0, amp);
    const auto eq = field.find('=');
    if (eq != std::string_view::npos && is_secret_parameter(field.substr(0, eq))) {
      out.append(field.substr(0, eq + 1));
      out += "REDACTED";
    } else {
      out.append(field);
    }
    if (amp == std::string_view::npos) break;
    out += '&';
    query.remove_prefix(amp + 1);
  }
  out.append(plain, fragment, std::string::npos);
  return out;
}

/// `text` with the userinfo of every "scheme://user@host" in it removed. An
/// authority ends at '/', '?', '#', whitespace, a quote, '<', '>' or the end.
[[nodiscard]] inline std::string redact_userinfo(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t copied = 0;
  for (auto sep = text.find("://"); sep != std::string_view::npos; sep = text.find("://", sep + 3)) {
    const std::size_t begin = sep + 3;
    std::size_t end = begin;
    std::size_t at = std::string_view::npos;
    while (end < text.size()) {
      const char c = text[end];
      if (c == '/' || c == '?' || c == '#' || c == '"' || c == '\'' || c == '<' || c == '>' ||
          static_cast<unsigned char>(c) <= ' ')
        break;
      if (c == '@') at = end;
      ++end;
    }
    if (at == std::string_view::npos) continue;
    out.append(text.substr(copied, begin - copied));
    copied = at + 1;
  }
  out.append(text.substr(copied));
  return out;
}

}  // namespace sluice::http
