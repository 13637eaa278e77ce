// Proxies from the environment and from client_options, against real
// loopback servers: a raw server stands in for the proxy and records the
// request lines it receives (absolute-form for a proxied http:// request,
// CONNECT for https://, origin-form when the client came directly).
#include <sluice/core/runtime.hpp>
#include <sluice/http/client.hpp>

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "free_tcp_port.hpp"
#include "raw_server.hpp"

namespace {

using sluice::test::raw_server;

// Sets the proxy variables for one test and puts the previous values back.
// Made before the runtime and the client and destroyed after them, so no
// other thread of the test reads the environment while it changes.
class proxy_environment {
 public:
  explicit proxy_environment(std::vector<std::pair<const char*, std::string>> values) {
    for (const char* name : k_names) {
      const char* old = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): see the class comment
      m_saved.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
      ::unsetenv(name);
    }
    for (auto& [name, value] : values) ::setenv(name, value.c_str(), 1);
  }
  ~proxy_environment() {
    for (auto& [name, value] : m_saved) {
      if (value)
        ::setenv(name, value->c_str(), 1);
      else
        ::unsetenv(name);
    }
  }
  proxy_environment(const proxy_environment&) = delete;
  proxy_environment& operator=(const proxy_environment&) = delete;

  static void set(const char* name, const std::string& value) { ::setenv(name, value.c_str(), 1); }

 private:
  static constexpr const char* k_names[] = {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                                            "all_proxy",  "ALL_PROXY",  "no_proxy",    "NO_PROXY"};
  std::vector<std::pair<const char*, std::optional<std::string>>> m_saved;
};

// Answers every request with its request line as the body and records it.
class recording_server {
 public:
  recording_server()
      : m_server([this](int fd, const std::string& head, raw_server&) {
          const std::string line = head.substr(0, head.find("\r\n"));
          {
            std::lock_guard lock(m_mutex);
            m_lines.push_back(line);
          }
          raw_server::write_all(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: " +
                                        std::to_string(line.size()) + "\r\n\r\n" + line);
        }) {}
  [[nodiscard]] std::string url(std::string_view path = "") const { return m_server.url(path); }
  [[nodiscard]] std::vector<std::string> lines() const {
    std::lock_guard lock(m_mutex);
    return m_lines;
  }

 private:
  mutable std::mutex m_mutex;
  std::vector<std::string> m_lines;
  raw_server m_server;  // last: stopped before the members its handler uses
};

// A URL of a port on 127.0.0.1 with nothing listening.
std::string refused_url() { return "http://127.0.0.1:" + std::to_string(sluice::test::free_tcp_port()); }

const std::string origin = "http://origin.invalid/path?q=1";

TEST(HttpProxy, HttpProxyFromTheEnvironmentCarriesHttpRequests) {
  recording_server proxy;
  proxy_environment env({{"http_proxy", proxy.url()}});
  sluice::runtime rt;
  sluice::http::client c(rt);
  for (int i = 0; i < 2; ++i) {  // the second on a reused handle
    auto r = rt.block_on(c.get(origin));
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->body, "GET " + origin + " HTTP/1.1");
  }
}

TEST(HttpProxy, AllProxyServesWhenNoSchemeProxyIsSet) {
  recording_server proxy;
  proxy_environment env({{"ALL_PROXY", proxy.url()}});
  sluice::runtime rt;
  sluice::http::client c(rt);
  auto r = rt.block_on(c.get(origin));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->body, "GET " + origin + " HTTP/1.1");
}

// libcurl never reads HTTP_PROXY (a CGI program's environment can be set by
// a request's Proxy header); neither does the client.
TEST(HttpProxy, UppercaseHttpProxyIsIgnored) {
  recording_server direct;
  proxy_environment env({{"HTTP_PROXY", refused_url()}});
  sluice::runtime rt;
  sluice::http::client c(rt);
  auto r = rt.block_on(c.get(direct.url("/x")));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->body, "GET /x HTTP/1.1");
}

TEST(HttpProxy, NoProxyFromTheEnvironmentGoesDirect) {
  recording_server direct;
  proxy_environment env({{"http_proxy", refused_url()}, {"no_proxy", "example.invalid,127.0.0.1"}});
  sluice::runtime rt;
  sluice::http::client c(rt);
  auto r = rt.block_on(c.get(direct.url("/x")));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->body, "GET /x HTTP/1.1");
}

// http and https proxies differ: each request takes its scheme's, on the
// same reused handle. The https one asks its proxy for a tunnel, which
// this proxy refuses (it answers 200 with a body, not a tunnel).
TEST(HttpProxy, EachSchemeUsesItsOwnProxy) {
  recording_server http_proxy;
  recording_server https_proxy;
  proxy_environment env({{"http_proxy", http_proxy.url()}, {"HTTPS_PROXY", https_proxy.url()}});
  sluice::runtime rt;
  sluice::http::client c(rt);
  auto plain = rt.block_on(c.get(origin));
  ASSERT_TRUE(plain) << plain.error().to_string();
  (void)rt.block_on(c.get("https://secure.invalid/x"));
  auto again = rt.block_on(c.get(origin));
  ASSERT_TRUE(again) << again.error().to_string();
  EXPECT_EQ(http_proxy.lines(),
            (std::vector<std::string>{"GET " + origin + " HTTP/1.1", "GET " + origin + " HTTP/1.1"}));
  ASSERT_EQ(https_proxy.lines().size(), 1u);
  EXPECT_EQ(https_proxy.lines()[0], "CONNECT secure.invalid:443 HTTP/1.1");
}

// The same with redirects followed: libcurl then picks the proxy per
// transfer, so a redirect to another scheme takes that scheme's proxy.
TEST(HttpProxy, EachSchemeUsesItsOwnProxyWhenFollowingRedirects) {
  recording_server http_proxy;
  recording_server https_proxy;
  proxy_environment env({{"http_proxy", http_proxy.url()}, {"https_proxy", https_proxy.url()}});
  sluice::runtime rt;
  sluice::http::client c(rt, {.follow_redirects = true});
  auto plain = rt.block_on(c.get(origin));
  ASSERT_TRUE(plain) << plain.error().to_string();
  EXPECT_EQ(plain->body, "GET " + origin + " HTTP/1.1");
  (void)rt.block_on(c.get("https://secure.invalid/x"));
  ASSERT_EQ(https_proxy.lines().size(), 1u);
  EXPECT_EQ(https_proxy.lines()[0], "CONNECT secure.invalid:443 HTTP/1.1");
}

// The environment is read when the client is made: a proxy set afterwards
// serves the next client, not this one.
TEST(HttpProxy, TheEnvironmentIsReadWhenTheClientIsMade) {
  recording_server direct;
  recording_server proxy;
  proxy_environment env({});
  sluice::runtime rt;
  sluice::http::client before(rt);
  proxy_environment::set("http_proxy", proxy.url());
  auto r = rt.block_on(before.get(direct.url("/x")));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->body, "GET /x HTTP/1.1");
  sluice::http::client after(rt);
  auto p = rt.block_on(after.get(direct.url("/x")));
  ASSERT_TRUE(p) << p.error().to_string();
  EXPECT_EQ(p->body, "GET " + direct.url("/x") + " HTTP/1.1");
}

TEST(HttpProxy, OptionsOverrideTheEnvironment) {
  recording_server direct;
  recording_server proxy;
  proxy_environment env({{"http_proxy", refused_url()}, {"no_proxy", "*"}});
  sluice::runtime rt;
  sluice::http::client none(rt, {.proxy = ""});
  auto r = rt.block_on(none.get(direct.url("/x")));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->body, "GET /x HTTP/1.1");
  sluice::http::client through(rt, {.proxy = proxy.url(), .no_proxy = ""});
  auto p = rt.block_on(through.get(origin));
  ASSERT_TRUE(p) << p.error().to_string();
  EXPECT_EQ(p->body, "GET " + origin + " HTTP/1.1");
}

}  // namespace
