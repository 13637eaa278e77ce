// sluice::redis::endpoint: where a Redis server is and how to log in.
//
//   auto ep = sluice::redis::endpoint::parse("redis://127.0.0.1:6379/2");
//   auto ep = sluice::redis::endpoint::parse("unix:///run/redis/redis.sock");
//   auto ep = sluice::redis::endpoint::parse("unix:///tmp/r.sock?db=1");
//
// Credentials never come from the URL (a URL ends up in logs, shell history
// and `ps`): the password is read from the environment variable
// SLUICE_REDIS_PASSWORD and the ACL user from SLUICE_REDIS_USER when the
// endpoint is parsed. A URL with a `user:password@` part is refused.
// to_string() never prints the password; error messages use to_string().
//
// A host name is resolved by the connection on the runtime's blocking pool
// (getaddrinfo blocks), afresh at every connect attempt, and hiredis is given
// the IP literal: the reactor thread never waits for DNS.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::redis {

struct endpoint {
  /// TCP host (empty for a unix socket).
  std::string host = {};
  std::uint16_t port = 6379;
  /// Unix socket path (empty for TCP).
  std::string unix_path = {};
  /// Logical database (SELECT); 0 by default.
  unsigned db = 0;
  /// ACL user and password, from the environment; never printed.
  std::string user = {};
  std::string password = {};

  /// Parses `redis://host[:port][/db]` or `unix:///path[?db=N]`, then reads
  /// SLUICE_REDIS_USER / SLUICE_REDIS_PASSWORD. Throws std::invalid_argument
  /// with the (redacted) URL on a malformed URL, an out-of-range port or db,
  /// control characters, or credentials embedded in the URL.
  static endpoint parse(std::string_view url);

  /// `redis://host:port/db` or `unix:///path?db=N`; never the password.
  [[nodiscard]] std::string to_string() const;
  [[nodiscard]] bool is_unix() const noexcept { return !unix_path.empty(); }
};

/// `text` with every occurrence of `secret` replaced by "***" (no-op for an
/// empty secret). Every error that could echo server or URL text goes
/// through this.
std::string redact(std::string text, std::string_view secret);

}  // namespace sluice::redis
