// A real HTTP/1.1 server on 127.0.0.1 for the HTTP client's tests and benchmark.
//
// cpp-httplib serves each connection on one pool thread for its whole
// keep-alive life, so the pool must be at least as large as the number of
// connections a test opens at once, or the server becomes the bottleneck.
// Handlers call `enter(req)` to be counted: requests seen, requests running
// at once (and the peak), and the distinct client ports (one per TCP
// connection). Handlers that stall call `stall()`, which returns when the
// test calls `release()` or the server is destroyed.
#pragma once

#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>

#include "sluice/testing/serve_in_background.hpp"

namespace sluice::test {

class loopback_server {
 public:
  explicit loopback_server(std::size_t threads = 32) : m_threads(threads) {
    m_server.set_keep_alive_max_count(100'000);
    m_server.set_keep_alive_timeout(30);
    // Without it a response written in two pieces waits for the delayed ACK (40 ms).
    m_server.set_tcp_nodelay(true);
  }
  ~loopback_server() { stop(); }
  loopback_server(const loopback_server&) = delete;
  loopback_server& operator=(const loopback_server&) = delete;

  /// Register handlers here before start().
  httplib::Server& routes() { return m_server; }

  /// Binds an ephemeral port on 127.0.0.1 and serves on a background thread.
  void start() {
    m_port = m_server.bind_to_any_port("127.0.0.1");
    if (m_port <= 0) throw std::runtime_error("loopback_server: bind failed");
    widen_listen_backlog();
    m_thread = sluice::testing::serve_in_background(m_server, m_threads);
  }

  void stop() {
    release();
    if (m_thread.joinable()) {
      m_server.stop();
      m_thread.join();
    }
  }

  [[nodiscard]] int port() const noexcept { return m_port; }
  [[nodiscard]] std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(m_port) + path;
  }

  /// Counts a request for the lifetime of the returned guard.
  class visit {
   public:
    explicit visit(loopback_server& s) : m_server(s) {}
    ~visit() { m_server.m_active.fetch_sub(1); }
    visit(const visit&) = delete;
    visit& operator=(const visit&) = delete;

   private:
    loopback_server& m_server;
  };
  [[nodiscard]] visit enter(const httplib::Request& req) {
    auto now = m_active.fetch_add(1) + 1;
    auto peak = m_peak.load();
    while (now > peak && !m_peak.compare_exchange_weak(peak, now)) {
    }
    {
      std::lock_guard lock(m_mutex);
      m_ports.insert(req.remote_port);
      ++m_requests;
    }
    m_arrived.notify_all();
    return visit(*this);
  }

  /// Blocks the handler until release() (or 30 s, so a broken test cannot hang forever).
  void stall() {
    std::unique_lock lock(m_mutex);
    m_release_cv.wait_for(lock, std::chrono::seconds(30), [this] { return m_released; });
  }
  void release() {
    {
      std::lock_guard lock(m_mutex);
      m_released = true;
    }
    m_release_cv.notify_all();
  }

  /// Waits until at least `n` requests have entered (false after 30 s).
  bool wait_for_requests(std::size_t n) {
    std::unique_lock lock(m_mutex);
    return m_arrived.wait_for(lock, std::chrono::seconds(30), [&] { return m_requests >= n; });
  }

  [[nodiscard]] std::size_t peak_concurrency() const { return m_peak.load(); }
  [[nodiscard]] std::size_t requests() const {
    std::lock_guard lock(m_mutex);
    return m_requests;
  }
  [[nodiscard]] std::size_t distinct_connections() const {
    std::lock_guard lock(m_mutex);
    return m_ports.size();
  }
  void reset_counters() {
    std::lock_guard lock(m_mutex);
    m_ports.clear();
    m_requests = 0;
    m_peak = 0;
  }

 private:
  // Debian's cpp-httplib is compiled with a listen backlog of 5: a burst of
  // 100 connects overflows it, SYNs are dropped and retried after 1, 3, 7 s,
  // and the test measures TCP backoff instead of the client. The listening
  // socket is private to httplib::Server, so find it by its port and call
  // listen() again, which on Linux just raises the backlog.
  void widen_listen_backlog() const {
    for (int fd = 0; fd < 4096; ++fd) {
      int listening = 0;
      socklen_t len = sizeof listening;
      if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) continue;
      sockaddr_in addr{};
      socklen_t addr_len = sizeof addr;
      if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &addr_len) != 0) continue;  // NOLINT: sockets API
      if (addr.sin_family == AF_INET && ntohs(addr.sin_port) == m_port) {
        ::listen(fd, 4096);
        return;
      }
    }
  }

  httplib::Server m_server;
  std::size_t m_threads;  // the worker pool's size
  std::thread m_thread;
  int m_port = 0;
  std::atomic<std::size_t> m_active{0};
  std::atomic<std::size_t> m_peak{0};
  mutable std::mutex m_mutex;
  std::condition_variable m_arrived;
  std::condition_variable m_release_cv;
  std::set<int> m_ports;
  std::size_t m_requests = 0;
  bool m_released = false;
};

}  // namespace sluice::test
