// sluice::http::client: thousands of concurrent HTTP requests on one reactor thread.
//
//   sluice::runtime rt;
//   sluice::http::client http(rt, {.max_in_flight = 256});
//   auto r = co_await http.get("https://api.github.com/repos/x/y");
//   if (!r) log(r.error().to_string());
//   else if (r->status == 200) parse(r->body);
//
// Design. Each client owns one libcurl multi handle, driven entirely on the
// runtime's reactor thread through curl_multi_socket_action: libcurl's socket
// callback becomes reactor::watch/unwatch and its timer callback becomes
// reactor::add_timer/cancel_timer. send() prepares the easy handle on the
// calling thread, then posts it to the reactor; the reactor adds it to the
// multi handle (or queues it beyond max_in_flight), and when the transfer
// ends it removes the easy handle (kept, with the client-wide options set
// once, for a later request; freed after a failure) and resumes the awaiting
// coroutine on its runtime's arena, never on the reactor thread. There is no
// thread per request, and with nothing in flight the reactor sleeps.
//
// Connections are kept alive and reused per client; HTTP/2 is negotiated
// over TLS and multiplexed. DNS results and TLS sessions are shared by every
// client in the process (a libcurl share object). Proxies come from the
// environment (http_proxy, https_proxy, all_proxy, no_proxy) with libcurl's
// rules, read once when the client is made (client_options::proxy and
// no_proxy override them).
//
// Errors are values: a transfer that produces no response yields an
// http::error naming the URL (credentials stripped) and libcurl's error
// text; any HTTP status, 4xx and 5xx included, is a response. Request header
// values (tokens) never appear in errors.
//
// Thread-safety: send() and get() may be called from any thread and from
// any number of coroutines at once.
// Lifetime: the runtime must outlive the client. Destroying the client
// cancels every request in flight or queued (their awaiters get
// error::kind::cancelled) and waits until libcurl is shut down; do not call
// send() concurrently with the destructor, and do not destroy a client on
// the reactor thread.
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>

#include "sluice/core/runtime.hpp"
#include "sluice/core/task.hpp"
#include "sluice/http/message.hpp"

namespace sluice::http {

/// Tunables for a client; designated-initialiser friendly:
/// `client c(rt, {.max_in_flight = 64, .request_timeout = 30s});`
struct client_options {
  /// Open connections across all hosts (CURLMOPT_MAX_TOTAL_CONNECTIONS);
  /// transfers beyond it wait inside libcurl for a free connection. 0 = no limit.
  std::size_t max_connections = 512;
  /// Open connections to one host (CURLMOPT_MAX_HOST_CONNECTIONS). 0 = no limit.
  std::size_t max_connections_per_host = 128;
  /// Requests handed to libcurl at once; further send()s wait in a FIFO queue
  /// (which costs no connection and no timeout budget). 0 = no limit.
  std::size_t max_in_flight = 1024;

  /// TCP connect plus TLS handshake (CURLOPT_CONNECTTIMEOUT_MS). 0 = libcurl's default (300 s).
  std::chrono::milliseconds connect_timeout{10'000};
  /// Whole request, from being handed to libcurl to the last body byte
  /// (CURLOPT_TIMEOUT_MS). 0 = none; the low-speed limit still catches stalls.
  std::chrono::milliseconds request_timeout{0};
  /// A transfer slower than low_speed_limit bytes/s for low_speed_time is
  /// aborted as a timeout (CURLOPT_LOW_SPEED_LIMIT/TIME). A zero time disables it.
  std::size_t low_speed_limit = 1;
  std::chrono::seconds low_speed_time{60};
  /// No byte received for this long (while waiting for the answer or
  /// during the body) ends the attempt as kind::timeout. Whole seconds,
  /// rounded up; 0 = none (low_speed_* still applies). A request's own
  /// `inactivity_timeout` overrides it. Implemented as a low-speed limit of
  /// 1 byte/s over this time, which is libcurl's inactivity check.
  std::chrono::milliseconds inactivity_timeout{0};
  /// Largest response body accepted, counted after decompression (so a
  /// small gzip "bomb" is stopped as soon as its output passes the limit).
  /// Enforced while the transfer runs: the transfer is aborted and the
  /// result is error::kind::too_large; nothing beyond the limit is buffered.
  /// A request's own `max_body_bytes` overrides it. 0 = no limit.
  std::size_t max_body_bytes = std::size_t{1} << 30;

  /// Negotiate HTTP/2 over TLS (ALPN) and multiplex requests on one
  /// connection; plain http:// stays HTTP/1.1. false = HTTP/1.1 only.
  bool http2 = true;
  /// Value of Accept-Encoding (CURLOPT_ACCEPT_ENCODING). The empty string
  /// offers every encoding libcurl supports (gzip, deflate, br, zstd) and
  /// decompresses bodies transparently; set `send_accept_encoding = false`
  /// to send none and receive bodies as the server sends them. A request's
  /// own Accept-Encoding header replaces this one (decoding stays on).
  std::string accept_encoding{};
  bool send_accept_encoding = true;

  /// Follow 3xx redirects (at most max_redirects). Off by default. When on,
  /// credentials (Authorization, cookies set by the caller) are never sent
  /// to a different host (CURLOPT_UNRESTRICTED_AUTH stays off), and only
  /// http/https targets are followed.
  bool follow_redirects = false;
  long max_redirects = 10;

  /// Verify the server's TLS certificate and host name. DANGEROUS to turn
  /// off: anyone on the path can then read and alter the traffic, tokens
  /// included. Exists for tests against self-signed servers only.
  bool verify_tls = true;

  /// User-Agent header (GitHub, for one, rejects requests without one); ""
  /// sends none. A request's own User-Agent header replaces it.
  std::string user_agent = "sluice-http/0.1";

  /// The proxy for every request (CURLOPT_PROXY syntax: "http://host:3128",
  /// "socks5h://host:1080", credentials allowed). "" = none, whatever the
  /// environment says. Unset (the default): taken from the environment by
  /// libcurl's rules, `http_proxy` for http:// URLs (never `HTTP_PROXY`: a
  /// CGI program's environment can be set by a request's Proxy header),
  /// `https_proxy` or `HTTPS_PROXY` for https://, else `all_proxy` or
  /// `ALL_PROXY`. The environment is read once, when the client is made, not
  /// per request (a later setenv() affects clients made after it), except
  /// when the http and https proxies differ and follow_redirects is on: a
  /// redirect may change the scheme, so libcurl then reads them per transfer.
  std::optional<std::string> proxy{};
  /// Hosts reached directly (CURLOPT_NOPROXY syntax: comma-separated names,
  /// domain suffixes and addresses, "*" for all). Unset: `no_proxy` or
  /// `NO_PROXY` from the environment, read with the proxies above.
  std::optional<std::string> no_proxy{};
};

/// Counters for tests and metrics; a snapshot, read with relaxed atomics.
struct client_stats {
  std::size_t in_flight = 0;             // handed to libcurl, not finished
  std::size_t queued = 0;                // submitted, not yet handed to libcurl (max_in_flight)
  std::uint64_t completed = 0;           // finished with a response or an error
  std::uint64_t connections_opened = 0;  // new connections (CURLINFO_NUM_CONNECTS summed)
  /// libcurl easy handles made. A handle is reused by the next request once
  /// its transfer ended with a response, so this stays near the peak
  /// concurrency; a failed or cancelled transfer's handle is freed.
  std::uint64_t easy_handles_created = 0;
};

/// An asynchronous HTTP client; see the file comment for design and lifetime.
class client {
 public:
  /// Creates the multi handle and registers it with `rt`'s reactor.
  /// Throws std::runtime_error when libcurl cannot be initialised.
  explicit client(sluice::runtime& rt, client_options options = {});
  /// Cancels everything in flight or queued and waits for libcurl to let go.
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  /// Performs `req`. The result is a response (any status) or an error:
  ///  * kind::transport: DNS failure, refused or reset connection, TLS failure;
  ///  * kind::timeout:   connect, request, inactivity or low-speed timeout;
  ///  * kind::cancelled: `stop` was requested, or the client was destroyed;
  ///  * kind::invalid:   malformed URL or unsupported scheme, a URL with a
  ///    control character or space, or a header name or value (the
  ///    user-agent and accept_encoding options included) with CR, LF or
  ///    another control character: the error names the header (never its
  ///    value) and nothing is sent;
  ///  * kind::too_large: the body passed max_body_bytes (aborted mid-transfer).
  /// Per-request timeouts and limits in `req` override the client's options.
  /// Requesting `stop` removes the transfer from libcurl (on the reactor
  /// thread) and resumes the caller promptly. The awaiting coroutine is
  /// resumed on the runtime it suspended on (or on the client's runtime if
  /// it had none). A template only so that a braced list selects the
  /// request_ref overload below; `R` is always http::request.
  template <std::same_as<request> R>
  [[nodiscard]] task<result<response>> send(R req, std::stop_token stop = {}) {
    return perform(std::move(req), std::move(stop));
  }
  /// send() of `co_await c.send({.method = "POST", .url = u, .body = b})`:
  /// safe on g++ 12 (see request_ref); the fields are copied before it returns.
  [[nodiscard]] task<result<response>> send(const request_ref& req, std::stop_token stop = {}) {
    return perform(to_request(req), std::move(stop));
  }

  /// send() of a GET for `url` with `hdrs`. Overloads instead of default
  /// arguments, so `co_await c.get(url)` and `co_await c.get(url, stop)`
  /// create no temporary besides the URL string.
  [[nodiscard]] task<result<response>> get(std::string url, http::headers hdrs, std::stop_token stop = {});
  [[nodiscard]] task<result<response>> get(std::string url, std::stop_token stop);
  [[nodiscard]] task<result<response>> get(std::string url);

  /// Current counters.
  [[nodiscard]] client_stats stats() const noexcept;

  /// The runtime this client's transfers run on.
  [[nodiscard]] sluice::runtime& home_runtime() const noexcept { return *m_runtime; }

  class state;  // implementation detail (public only so the .cpp's helpers can name it)

 private:
  task<result<response>> perform(request req, std::stop_token stop);

  sluice::runtime* m_runtime;
  std::unique_ptr<state> m_state;
};

}  // namespace sluice::http
