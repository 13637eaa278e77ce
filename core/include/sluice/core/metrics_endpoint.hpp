// sluice::metrics_endpoint: a small HTTP/1.1 responder on the runtime's
// reactor that answers GET /metrics with text a function renders (the
// Prometheus exposition of a pipeline report, see run_options::
// metrics_endpoint), for long-running workers scraped by Prometheus.
//
//   sluice::metrics_endpoint endpoint(rt, {.port = 9464}, [&] { return report_text(); });
//   // curl http://127.0.0.1:9464/metrics
//
// Deliberately minimal and bounded, because every byte from the network is
// hostile: one request per connection (Connection: close), a request head
// of at most `max_request_bytes` (else 431), at most `max_connections` open
// connections (more are closed at once), and every connection is closed
// after `timeout` whatever it is doing (a slow or silent client cannot hold
// a slot). Only GET /metrics (query ignored) is served; other paths get 404,
// other methods 405. Listens on loopback unless told otherwise.
//
// Thread-safety: construct and stop from any thread except the reactor's.
// render() runs on the reactor thread, so it must be quick and must not
// block (formatting a report is microseconds). Lifetime: the runtime must
// outlive the endpoint; stop() (or the destructor) closes the listening
// socket and every connection and returns once no render() is running.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "sluice/core/detail/std_parts.hpp"

namespace sluice {

class runtime;

struct metrics_endpoint_options {
  /// TCP port; 0 picks a free one (see port()).
  std::uint16_t port = 0;
  /// Numeric address to bind, IPv4 or IPv6 ("::1" or "[::1]"); names are
  /// not resolved. Loopback by default: exposing metrics to the network is
  /// a decision, e.g. "0.0.0.0" (every IPv4 address) or "::" (every IPv6
  /// address, and IPv4 too where the system's bindv6only is 0, Linux's
  /// default).
  std::string host = "127.0.0.1";
  std::size_t max_connections = 16;
  std::size_t max_request_bytes = 8192;
  /// A connection is closed this long after it was accepted.
  std::chrono::milliseconds timeout{5000};
};

class metrics_endpoint {
 public:
  /// Binds and listens now. Throws std::system_error when the socket cannot
  /// be bound (port in use, no such address on this machine, an address
  /// that is not numeric: the message names host and port).
  metrics_endpoint(runtime& rt, metrics_endpoint_options options, std::function<std::string()> render);
  ~metrics_endpoint();
  metrics_endpoint(const metrics_endpoint&) = delete;
  metrics_endpoint& operator=(const metrics_endpoint&) = delete;

  /// The port it listens on (the chosen one when options.port was 0).
  [[nodiscard]] std::uint16_t port() const noexcept { return m_port; }
  /// Closes everything; idempotent. Not from the reactor thread.
  void stop();

  struct state;

 private:
  std::shared_ptr<state> m_state;
  std::uint16_t m_port = 0;
};

}  // namespace sluice
