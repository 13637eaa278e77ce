#include "sluice/redis/endpoint.hpp"

#include <charconv>
#include <cstdlib>
#include <stdexcept>

namespace sluice::redis {
namespace {

bool has_control(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}

[[noreturn]] void refuse(std::string_view url, const char* why) {
  // Whatever sits before an '@' may be a secret: shown as ***.
  std::string shown(url.substr(0, 200));
  if (auto at = shown.rfind('@'); at != std::string::npos) {
    auto scheme = shown.find("://");
    std::size_t from = scheme == std::string::npos ? 0 : scheme + 3;
    if (from <= at) shown.replace(from, at - from, "***");
  }
  for (auto& c : shown)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  throw std::invalid_argument(std::string("sluice::redis::endpoint: ") + why + ": \"" + shown + "\"");
}

template <typename N>
bool parse_number(std::string_view s, N& out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

}  // namespace

endpoint endpoint::parse(std::string_view url) {
  if (url.size() > 4096) refuse(url, "URL too long");
  if (has_control(url)) refuse(url, "control character in URL");
  if (url.find('@') != std::string_view::npos)
    refuse(url, "credentials in the URL are refused (set SLUICE_REDIS_USER / SLUICE_REDIS_PASSWORD)");
  endpoint ep;
  constexpr std::string_view tcp = "redis://", unix_scheme = "unix://";
  if (url.starts_with(unix_scheme)) {
    std::string_view rest = url.substr(unix_scheme.size());
    if (auto q = rest.find('?'); q != std::string_view::npos) {
      std::string_view query = rest.substr(q + 1);
      rest = rest.substr(0, q);
      if (!query.starts_with("db=") || !parse_number(query.substr(3), ep.db) || ep.db > 1'000'000)
        refuse(url, "expected ?db=N after the socket path");
    }
    if (rest.empty() || rest.front() != '/') refuse(url, "expected unix:///absolute/path");
    if (rest.size() > 107) refuse(url, "unix socket path longer than 107 bytes");
    ep.unix_path = std::string(rest);
  } else if (url.starts_with(tcp)) {
    std::string_view rest = url.substr(tcp.size());
    std::string_view hostport = rest.substr(0, rest.find('/'));
    if (rest.size() > hostport.size()) {
      std::string_view db = rest.substr(hostport.size() + 1);
      if (!db.empty() && (!parse_number(db, ep.db) || ep.db > 1'000'000)) refuse(url, "bad database number");
    }
    std::string_view host = hostport;
    if (hostport.starts_with('[')) {  // [::1]:6379
      auto close = hostport.find(']');
      if (close == std::string_view::npos) refuse(url, "unclosed IPv6 bracket");
      host = hostport.substr(1, close - 1);
      std::string_view after = hostport.substr(close + 1);
      if (!after.empty()) {
        if (after.front() != ':' || !parse_number(after.substr(1), ep.port) || ep.port == 0) refuse(url, "bad port");
      }
    } else if (auto colon = hostport.rfind(':'); colon != std::string_view::npos) {
      host = hostport.substr(0, colon);
      if (!parse_number(hostport.substr(colon + 1), ep.port) || ep.port == 0) refuse(url, "bad port");
    }
    if (host.empty()) refuse(url, "missing host");
    ep.host = std::string(host);
  } else {
    refuse(url, "expected redis://host:port/db or unix:///path");
  }
  ep.user = env_or_empty("SLUICE_REDIS_USER");
  ep.password = env_or_empty("SLUICE_REDIS_PASSWORD");
  if (has_control(ep.user) || has_control(ep.password))
    throw std::invalid_argument("sluice::redis::endpoint: control character in SLUICE_REDIS_USER/PASSWORD");
  return ep;
}

std::string endpoint::to_string() const {
  if (is_unix()) return "unix://" + unix_path + (db ? "?db=" + std::to_string(db) : std::string());
  bool v6 = host.find(':') != std::string::npos;
  return "redis://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + "/" + std::to_string(db);
}

std::string redact(std::string text, std::string_view secret) {
  if (secret.empty()) return text;
  for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at + 3))
    text.replace(at, secret.size(), "***");
  return text;
}

}  // namespace sluice::redis
