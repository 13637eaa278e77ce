#include "sluice/core/metrics_endpoint.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <future>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "sluice/core/json.hpp"
#include "sluice/core/runtime.hpp"

namespace sluice {

struct metrics_endpoint::state : std::enable_shared_from_this<metrics_endpoint::state> {
  struct connection {
    std::uint64_t id = 0;
    std::string in;
    std::string out;
    std::size_t written = 0;
    reactor::timer_id timer = 0;
  };

  reactor& io;
  metrics_endpoint_options options;
  std::function<std::string()> render;
  int listen_fd = -1;
  bool stopped = false;  // reactor thread only, like everything below
  std::uint64_t next_id = 1;
  std::unordered_map<int, connection> connections;

  state(reactor& r, metrics_endpoint_options o, std::function<std::string()> f)
      : io(r), options(std::move(o)), render(std::move(f)) {}

  void start() {
    io.watch(listen_fd, EPOLLIN, [self = shared_from_this()](std::uint32_t) { self->accept_all(); });
  }

  void accept_all() {
    for (;;) {
      const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN, or an error on this one connection: wait for the next
      if (stopped || connections.size() >= options.max_connections) {
        ::close(fd);  // over the limit: refuse at once rather than queue
        continue;
      }
      auto& c = connections[fd];
      c.id = next_id++;
      const auto id = c.id;
      auto self = shared_from_this();
      c.timer = io.add_timer(reactor::clock::now() + options.timeout, [self, fd, id] {
        auto it = self->connections.find(fd);
        if (it != self->connections.end() && it->second.id == id) self->close(fd, false);
      });
      io.watch(fd, EPOLLIN, [self, fd](std::uint32_t events) { self->on_event(fd, events); });
    }
  }

  void on_event(int fd, std::uint32_t events) {
    auto it = connections.find(fd);
    if (it == connections.end()) return;
    auto& c = it->second;
    if (events & (EPOLLERR | EPOLLHUP)) {
      if (c.out.empty()) return close(fd);
    }
    if (c.out.empty()) return read_request(fd, c);
    write_response(fd, c);
  }

  void read_request(int fd, connection& c) {
    char buffer[4096];
    bool peer_done = false;
    for (;;) {
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n == 0) {
        peer_done = true;  // a client may half-close after its request
        break;
      }
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno == EINTR) continue;
        return close(fd);
      }
      c.in.append(buffer, static_cast<std::size_t>(n));
      if (c.in.size() > options.max_request_bytes) return respond(fd, c, 431, "request header too large\n");
    }
    const auto end = c.in.find("\r\n\r\n");
    if (end == std::string::npos) {
      if (peer_done) close(fd);  // left before asking
      return;                    // else wait for the rest (bounded by size and timeout)
    }
    const std::string_view head(c.in.data(), end);
    const std::string_view line = head.substr(0, head.find("\r\n"));
    const auto sp1 = line.find(' ');
    const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || !line.substr(sp2 + 1).starts_with("HTTP/1."))
      return respond(fd, c, 400, "bad request\n");
    const auto method = line.substr(0, sp1);
    auto target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    target = target.substr(0, target.find('?'));
    if (method != "GET") return respond(fd, c, 405, "only GET\n");
    if (target != "/metrics") return respond(fd, c, 404, "not found: try /metrics\n");
    std::string body;
    try {
      body = render();
    } catch (const std::exception& e) {
      return respond(fd, c, 500, std::string("metrics unavailable: ") + e.what() + "\n");
    } catch (...) {
      return respond(fd, c, 500, "metrics unavailable\n");
    }
    respond(fd, c, 200, body);
  }

  static const char* reason(int status) {
    switch (status) {
      case 200:
        return "OK";
      case 400:
        return "Bad Request";
      case 404:
        return "Not Found";
      case 405:
        return "Method Not Allowed";
      case 431:
        return "Request Header Fields Too Large";
      default:
        return "Internal Server Error";
    }
  }

  void respond(int fd, connection& c, int status, const std::string& body) {
    c.in.clear();
    c.in.shrink_to_fit();
    c.out =
        "HTTP/1.1 " + std::to_string(status) + " " + reason(status) +
        "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\nConnection: close\r\n";
    if (status == 405) c.out += "Allow: GET\r\n";
    c.out += "\r\n";
    c.out += body;
    io.rearm(fd, EPOLLOUT);
    write_response(fd, c);
  }

  void write_response(int fd, connection& c) {
    while (c.written < c.out.size()) {
      const ssize_t n = ::send(fd, c.out.data() + c.written, c.out.size() - c.written, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;  // EPOLLOUT calls again
        if (errno == EINTR) continue;
        return close(fd);
      }
      c.written += static_cast<std::size_t>(n);
    }
    // All sent: half-close so the client reads the end, then close.
    ::shutdown(fd, SHUT_WR);
    close(fd);
  }

  void close(int fd, bool cancel_timer = true) {
    auto it = connections.find(fd);
    if (it == connections.end()) return;
    if (cancel_timer) io.cancel_timer(it->second.timer);
    connections.erase(it);
    io.unwatch(fd);
    ::close(fd);
  }

  void shut_down() {
    if (stopped) return;
    stopped = true;
    io.unwatch(listen_fd);
    ::close(listen_fd);
    while (!connections.empty()) close(connections.begin()->first);
    render = nullptr;  // drops whatever it captured, on this thread, after the last call
  }
};

namespace {

struct parsed_address {
  sockaddr_storage storage{};
  socklen_t length = 0;
  std::string where;  // "127.0.0.1:9464", "[::1]:9464": for error messages
};

// A numeric IPv4 or IPv6 address ("::1", "[::1]", "::", "0.0.0.0"); no
// name lookup (a metrics port is bound before anything else runs, and a
// resolver could block or answer with whatever the network says).
parsed_address listen_address(const std::string& host, std::uint16_t port) {
  parsed_address out;
  std::string text = host;
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
  if (text.find(':') == std::string::npos && ::inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    out.length = sizeof(sockaddr_in);
    out.where = text + ":" + std::to_string(port);
    return out;
  }
  if (::inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    out.length = sizeof(sockaddr_in6);
    out.where = "[" + text + "]:" + std::to_string(port);
    return out;
  }
  throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                          "sluice::metrics_endpoint: not a numeric IPv4 or IPv6 address: " + json_quote(host));
}

}  // namespace

metrics_endpoint::metrics_endpoint(runtime& rt, metrics_endpoint_options options, std::function<std::string()> render) {
  const auto addr = listen_address(options.host, options.port);
  const std::string where = addr.where;
  const int fd = ::socket(addr.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "sluice::metrics_endpoint: socket for " + where);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr.storage), addr.length) != 0 || ::listen(fd, 64) != 0) {
    const int error = errno;
    ::close(fd);
    throw std::system_error(error, std::generic_category(), "sluice::metrics_endpoint: cannot listen on " + where);
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  m_port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port
                                             : reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
  m_state = std::make_shared<state>(rt.io(), std::move(options), std::move(render));
  m_state->listen_fd = fd;
  std::promise<void> started;
  auto done = started.get_future();
  rt.io().post([s = m_state, &started] {
    try {
      s->start();
      started.set_value();
    } catch (...) {
      started.set_exception(std::current_exception());
    }
  });
  try {
    done.get();
  } catch (...) {
    ::close(fd);
    throw;
  }
}

metrics_endpoint::~metrics_endpoint() { stop(); }

void metrics_endpoint::stop() {
  if (!m_state) return;
  std::promise<void> stopped;
  auto done = stopped.get_future();
  m_state->io.post([s = m_state, &stopped] {
    s->shut_down();
    stopped.set_value();
  });
  done.wait();
  m_state.reset();
}

}  // namespace sluice
