// A raw TCP server on 127.0.0.1 that answers with exactly the bytes a test
// writes: lying Content-Length, gzip bombs, silence, trickles. cpp-httplib
// sanitises what it sends, so hostile responses need their own server.
//
// Each accepted connection reads the request head (up to the blank line)
// and hands the socket to the test's handler on the connection's thread.
// stop() (or the destructor) closes the listener and every open socket, so
// a handler blocked in a sleep loop should poll stopping().
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace sluice::test {

class raw_server {
 public:
  using handler = std::function<void(int fd, const std::string& request_head, raw_server& self)>;

  explicit raw_server(handler h) : m_handler(std::move(h)) {
    m_listen = ::socket(AF_INET, SOCK_STREAM, 0);
    if (m_listen < 0) throw std::runtime_error("raw_server: socket");
    int one = 1;
    ::setsockopt(m_listen, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(m_listen, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||  // NOLINT: sockets API
        ::listen(m_listen, 64) != 0)
      throw std::runtime_error("raw_server: bind/listen");
    socklen_t len = sizeof addr;
    ::getsockname(m_listen, reinterpret_cast<sockaddr*>(&addr), &len);  // NOLINT: sockets API
    m_port = ntohs(addr.sin_port);
    m_accept = std::thread([this] { accept_loop(); });
  }
  ~raw_server() { stop(); }
  raw_server(const raw_server&) = delete;
  raw_server& operator=(const raw_server&) = delete;

  void stop() {
    if (m_stopping.exchange(true)) return;
    ::shutdown(m_listen, SHUT_RDWR);
    m_accept.join();
    {
      std::lock_guard lock(m_mutex);
      for (int fd : m_open) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : m_workers) t.join();
    ::close(m_listen);
  }

  [[nodiscard]] std::string url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(m_port) + std::string(path);
  }
  [[nodiscard]] bool stopping() const noexcept { return m_stopping.load(); }
  [[nodiscard]] std::size_t connections() const noexcept { return m_connections.load(); }
  [[nodiscard]] std::size_t requests() const noexcept { return m_requests.load(); }

  /// Writes all of `bytes`; false when the peer went away.
  static bool write_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

 private:
  void accept_loop() {
    for (;;) {
      const int fd = ::accept(m_listen, nullptr, nullptr);
      if (fd < 0) return;  // shut down
      if (m_stopping) {
        ::close(fd);
        return;
      }
      ++m_connections;
      {
        std::lock_guard lock(m_mutex);
        m_open.push_back(fd);
      }
      m_workers.emplace_back([this, fd] { serve(fd); });
    }
  }

  void serve(int fd) {
    std::string head;
    char buf[4096];
    while (head.find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      head.append(buf, static_cast<std::size_t>(n));
    }
    if (head.find("\r\n\r\n") != std::string::npos) {
      ++m_requests;
      m_handler(fd, head, *this);
    }
    {
      std::lock_guard lock(m_mutex);
      std::erase(m_open, fd);
    }
    ::close(fd);
  }

  handler m_handler;
  int m_listen = -1;
  int m_port = 0;
  std::atomic<bool> m_stopping{false};
  std::atomic<std::size_t> m_connections{0}, m_requests{0};
  std::mutex m_mutex;
  std::vector<int> m_open;
  std::thread m_accept;
  std::vector<std::thread> m_workers;  // accept thread only, joined in stop()
};

}  // namespace sluice::test
