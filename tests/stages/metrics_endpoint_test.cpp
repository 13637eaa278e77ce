// sluice::metrics_endpoint and run_options::metrics_endpoint, with a real
// client on loopback (raw sockets: the test sees exactly the bytes sent).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "test_support.hpp"

using namespace std::chrono_literals;
using sluice_test::iota;

namespace {

int connect_to(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Everything the server sends until it closes (or `limit` passes: nullopt).
std::optional<std::string> read_all(int fd, std::chrono::seconds limit = 60s) {
  std::string out;
  const auto until = std::chrono::steady_clock::now() + limit;
  char buffer[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (std::chrono::steady_clock::now() > until) return std::nullopt;
    if (::poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) return out;  // closed (or reset)
    out.append(buffer, static_cast<std::size_t>(n));
  }
}

std::string request(std::uint16_t port, const std::string& text) {
  const int fd = connect_to(port);
  EXPECT_GE(fd, 0);
  if (fd < 0) return {};
  EXPECT_EQ(::send(fd, text.data(), text.size(), MSG_NOSIGNAL), static_cast<ssize_t>(text.size()));
  auto answer = read_all(fd);
  ::close(fd);
  return answer.value_or("<no close within the limit>");
}

// A connected socket to [::1]:port, or -1.
int connect_to_v6(std::uint16_t port) {
  const int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_port = htons(port);
  addr.sin6_addr = in6addr_loopback;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// True when this machine can listen on and connect to [::1] (containers
// without IPv6 cannot).
bool has_ipv6_loopback() {
  const int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_loopback;
  const bool ok = ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

std::string get_v6(std::uint16_t port, const std::string& path) {
  const int fd = connect_to_v6(port);
  EXPECT_GE(fd, 0) << "cannot connect to [::1]:" << port;
  if (fd < 0) return {};
  const std::string text = "GET " + path + " HTTP/1.1\r\nHost: [::1]\r\n\r\n";
  EXPECT_EQ(::send(fd, text.data(), text.size(), MSG_NOSIGNAL), static_cast<ssize_t>(text.size()));
  auto answer = read_all(fd);
  ::close(fd);
  return answer.value_or("<no close within the limit>");
}

std::string get(std::uint16_t port, const std::string& path) {
  return request(port, "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
}

TEST(MetricsEndpoint, ServesTheRenderedTextAndRefusesOtherRequests) {
  sluice::runtime rt({.threads = 2});
  std::atomic<int> renders{0};
  sluice::metrics_endpoint endpoint(rt, {}, [&] {
    renders.fetch_add(1);
    return std::string("up 1\n");
  });
  ASSERT_NE(endpoint.port(), 0);
  const auto ok = get(endpoint.port(), "/metrics?x=1");
  EXPECT_EQ(ok.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << ok;
  EXPECT_NE(ok.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), std::string::npos);
  EXPECT_NE(ok.find("Content-Length: 5\r\n"), std::string::npos);
  EXPECT_EQ(ok.substr(ok.size() - 9), "\r\n\r\nup 1\n");
  EXPECT_EQ(get(endpoint.port(), "/").rfind("HTTP/1.1 404 ", 0), 0u);
  EXPECT_EQ(request(endpoint.port(), "POST /metrics HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 405 ", 0), 0u);
  EXPECT_EQ(request(endpoint.port(), "garbage\r\n\r\n").rfind("HTTP/1.1 400 ", 0), 0u);
  EXPECT_EQ(
      request(endpoint.port(), "GET /metrics HTTP/1.1\r\nX: " + std::string(20'000, 'a')).rfind("HTTP/1.1 431 ", 0),
      0u);
  EXPECT_EQ(renders.load(), 1);
}

TEST(MetricsEndpoint, ClosesSilentClientsAndRefusesConnectionsOverTheLimit) {
  sluice::runtime rt({.threads = 2});
  sluice::metrics_endpoint endpoint(rt, {.max_connections = 2, .timeout = 300ms}, [] { return std::string("x 1\n"); });
  // Two silent clients take both slots; a third is closed at once.
  const int a = connect_to(endpoint.port());
  const int b = connect_to(endpoint.port());
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  std::this_thread::sleep_for(50ms);  // let the reactor accept them (not a correctness wait)
  const int c = connect_to(endpoint.port());
  ASSERT_GE(c, 0);
  // Whichever arrives third (accept order) gets nothing; all three end closed without an answer.
  for (int fd : {a, b, c}) {
    auto answer = read_all(fd);
    ASSERT_TRUE(answer.has_value()) << "a silent connection was never closed";
    EXPECT_EQ(*answer, "");
    ::close(fd);
  }
  // The slots are free again.
  EXPECT_EQ(get(endpoint.port(), "/metrics").rfind("HTTP/1.1 200 OK", 0), 0u);
}

TEST(MetricsEndpoint, StopClosesOpenConnectionsAndTheListeningSocket) {
  sluice::runtime rt({.threads = 2});
  std::optional<sluice::metrics_endpoint> endpoint;
  endpoint.emplace(rt, sluice::metrics_endpoint_options{.timeout = 600s}, [] { return std::string(); });
  const auto port = endpoint->port();
  const int idle = connect_to(port);
  ASSERT_GE(idle, 0);
  endpoint->stop();
  auto answer = read_all(idle);
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(*answer, "");
  ::close(idle);
  EXPECT_LT(connect_to(port), 0);  // nobody listens any more
  endpoint.reset();
}

TEST(MetricsEndpoint, APortInUseIsAClearError) {
  sluice::runtime rt({.threads = 2});
  sluice::metrics_endpoint first(rt, {}, [] { return std::string(); });
  try {
    sluice::metrics_endpoint second(rt, {.port = first.port()}, [] { return std::string(); });
    FAIL() << "bound a port in use";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(first.port())), std::string::npos) << e.what();
  }
  EXPECT_THROW(sluice::metrics_endpoint(rt, {.host = "localhost\n"}, [] { return std::string(); }), std::system_error);
}

TEST(MetricsEndpoint, ServesOnIpv6Loopback) {
  if (!has_ipv6_loopback()) GTEST_SKIP() << "no IPv6 loopback on this machine";
  sluice::runtime rt({.threads = 2});
  for (const char* host : {"::1", "[::1]"}) {
    sluice::metrics_endpoint endpoint(rt, {.host = host}, [] { return std::string("up 1\n"); });
    ASSERT_NE(endpoint.port(), 0);
    const auto ok = get_v6(endpoint.port(), "/metrics");
    EXPECT_EQ(ok.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << host << ": " << ok;
    EXPECT_EQ(ok.substr(ok.size() - 9), "\r\n\r\nup 1\n") << host;
    EXPECT_EQ(get_v6(endpoint.port(), "/other").rfind("HTTP/1.1 404 ", 0), 0u) << host;
  }
}

TEST(MetricsEndpoint, TheIpv6WildcardAnswersOnIpv6Loopback) {
  if (!has_ipv6_loopback()) GTEST_SKIP() << "no IPv6 loopback on this machine";
  sluice::runtime rt({.threads = 2});
  sluice::metrics_endpoint endpoint(rt, {.host = "::"}, [] { return std::string("up 1\n"); });
  EXPECT_EQ(get_v6(endpoint.port(), "/metrics").rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
}

TEST(MetricsEndpoint, AnAddressThatIsNotNumericIsAClearError) {
  sluice::runtime rt({.threads = 2});
  for (const char* host : {"localhost", "::1::2", "[::1", "127.0.0.1:80", ""}) {
    try {
      sluice::metrics_endpoint endpoint(rt, {.host = host}, [] { return std::string(); });
      ADD_FAILURE() << "bound \"" << host << "\"";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code(), std::errc::invalid_argument) << host;
      EXPECT_NE(std::string(e.what()).find("not a numeric IPv4 or IPv6 address"), std::string::npos) << e.what();
    }
  }
}

TEST(MetricsEndpoint, ARunServesItsReportOnIpv6Loopback) {
  if (!has_ipv6_loopback()) GTEST_SKIP() << "no IPv6 loopback on this machine";
  sluice::runtime rt({.threads = 2});
  std::uint16_t port = 0;
  {
    sluice::metrics_endpoint probe(rt, {.host = "::1"}, [] { return std::string(); });
    port = probe.port();
  }
  sluice::run_options options;
  options.metrics_endpoint(port, "::1");
  std::string during;
  auto report = sluice::run(rt,
                            sluice::from(iota(3), {.chunk = 1}) | sluice::for_each(
                                                                      [&](int x) {
                                                                        if (x == 0) during = get_v6(port, "/metrics");
                                                                      },
                                                                      {.name = "scraped"}),
                            std::move(options));
  EXPECT_EQ(report.stages[1].items_out, 3u);
  EXPECT_NE(during.find("HTTP/1.1 200 OK"), std::string::npos) << during;
  EXPECT_NE(during.find("stage=\"scraped\""), std::string::npos) << during;
  EXPECT_LT(connect_to_v6(port), 0);  // closed with the run
}

TEST(MetricsEndpoint, ARunServesItsLiveReportWhileItGoesOn) {
  sluice::runtime rt({.threads = 2});
  // Find a free port, then hand it to the run (the window in between is tiny
  // and only this process binds ephemeral loopback ports in this test).
  std::uint16_t port = 0;
  {
    sluice::metrics_endpoint probe(rt, {}, [] { return std::string(); });
    port = probe.port();
  }
  sluice::run_options options;
  options.metrics_endpoint(port);
  std::atomic<bool> scraped{false};
  std::string during;
  std::thread scraper([&] {
    // Scrape until the sink's count shows the run is under way.
    for (int attempt = 0; attempt < 6000 && !scraped; ++attempt) {
      const int fd = connect_to(port);
      if (fd >= 0) {
        const std::string req = "GET /metrics HTTP/1.1\r\n\r\n";
        (void)::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
        auto text = read_all(fd).value_or("");
        ::close(fd);
        if (text.find("sluice_stage_items_in_total{stage=\"held\",index=\"1\",kind=\"for_each\"} 1\n") !=
            std::string::npos) {
          during = text;
          scraped = true;
        }
      }
      std::this_thread::sleep_for(10ms);
    }
    scraped = true;  // give up: the assertion below reports it
  });
  std::atomic<int> seen{0};
  auto report = sluice::run(rt,
                            sluice::from(iota(10), {.chunk = 1}) | sluice::for_each(
                                                                       [&](int) {
                                                                         // The first item waits for the scrape.
                                                                         if (seen.fetch_add(1) == 0)
                                                                           while (!scraped)
                                                                             std::this_thread::sleep_for(1ms);
                                                                       },
                                                                       {.name = "held"}),
                            std::move(options));
  scraper.join();
  EXPECT_EQ(report.stages[1].items_out, 10u);
  EXPECT_NE(during.find("HTTP/1.1 200 OK"), std::string::npos) << "no live scrape showed the held item";
  EXPECT_NE(during.find("sluice_stage_items_out_total{stage=\"held\",index=\"1\",kind=\"for_each\"} 0\n"),
            std::string::npos)
      << during;
  EXPECT_LT(connect_to(port), 0);  // closed with the run
}

}  // namespace
