// The headers a request carries on the wire: the client's User-Agent and
// Accept-Encoding (sent as ordinary header lines when no proxy is in use,
// through libcurl's options otherwise), a request's own fields replacing
// them, and nothing of one request reaching the next on a reused handle.
// A raw server answers every request with its request head as the body.
#include <sluice/core/runtime.hpp>
#include <sluice/http/client.hpp>

#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <string_view>
#include <vector>

#include "gzip_body.hpp"
#include "raw_server.hpp"

using sluice::http::error;
using sluice::test::raw_server;

namespace {

// The values of every `name:` line of a request head, in order (case-insensitive name).
std::vector<std::string> values_of(std::string_view head, std::string_view name) {
  std::vector<std::string> found;
  while (!head.empty()) {
    const auto end = head.find("\r\n");
    const auto line = head.substr(0, end);
    head.remove_prefix(end == std::string_view::npos ? head.size() : end + 2);
    if (line.size() <= name.size() || line[name.size()] != ':') continue;
    bool same = true;
    for (std::size_t i = 0; i < name.size() && same; ++i)
      same = std::tolower(static_cast<unsigned char>(line[i])) == std::tolower(static_cast<unsigned char>(name[i]));
    if (!same) continue;
    auto value = line.substr(name.size() + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    found.emplace_back(value);
  }
  return found;
}

using sluice::test::gzip;

// Answers every request with its head as the body (the proxy tests' trick).
raw_server echo_head_server() {
  return raw_server([](int fd, const std::string& head, raw_server&) {
    raw_server::write_all(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: " + std::to_string(head.size()) +
                                  "\r\n\r\n" + head);
  });
}

class HttpRequestHeaders : public ::testing::Test {
 protected:
  // What the server saw for `req`, sent by `c`.
  std::string head_of(sluice::http::client& c, sluice::http::request req) {
    auto r = rt.block_on(c.send(std::move(req)));
    EXPECT_TRUE(r) << r.error().to_string();
    return r ? r->body : std::string();
  }

  sluice::runtime rt{{.threads = 2}};
  raw_server server = echo_head_server();
};

TEST_F(HttpRequestHeaders, TheClientsUserAgentAndAcceptEncodingAreSentOnceWithEveryKindOfRequest) {
  sluice::http::client c(rt);
  const std::vector<sluice::http::request> requests = {
      {.url = server.url("/plain")},
      {.url = server.url("/fields"), .headers = {{"X-Test", "1"}}},
      {.method = "POST", .url = server.url("/post"), .body = "abc"},
      {.method = "HEAD", .url = server.url("/head")},
  };
  for (int round = 0; round < 2; ++round) {  // the second round on reused handles
    for (const auto& req : requests) {
      const std::string head = head_of(c, req);
      if (req.method == "HEAD") continue;  // no body: nothing to look at
      EXPECT_EQ(values_of(head, "User-Agent"), std::vector<std::string>{"sluice-http/0.1"}) << head;
      const auto accept = values_of(head, "Accept-Encoding");
      ASSERT_EQ(accept.size(), 1u) << head;
      EXPECT_NE(accept[0].find("gzip"), std::string::npos) << head;
    }
  }
}

TEST_F(HttpRequestHeaders, ARequestsOwnUserAgentAndAcceptEncodingReplaceTheClientsForThatRequestOnly) {
  sluice::http::client c(rt);
  for (int round = 0; round < 3; ++round) {
    const std::string own =
        head_of(c, {.url = server.url("/own"), .headers = {{"user-agent", "mine/2"}, {"Accept-Encoding", "identity"}}});
    EXPECT_EQ(values_of(own, "User-Agent"), std::vector<std::string>{"mine/2"}) << own;
    EXPECT_EQ(values_of(own, "Accept-Encoding"), std::vector<std::string>{"identity"}) << own;
    // The next request on the same handle has the client's again.
    const std::string next = head_of(c, {.url = server.url("/next")});
    EXPECT_EQ(values_of(next, "User-Agent"), std::vector<std::string>{"sluice-http/0.1"}) << next;
    EXPECT_EQ(values_of(next, "Accept-Encoding").size(), 1u) << next;
    EXPECT_EQ(values_of(next, "Accept-Encoding")[0].find("identity"), std::string::npos) << next;
  }
  EXPECT_EQ(c.stats().easy_handles_created, 1u);
}

TEST_F(HttpRequestHeaders, ARequestsEmptyUserAgentSendsItEmpty) {
  sluice::http::client c(rt);
  const std::string head = head_of(c, {.url = server.url("/x"), .headers = {{"User-Agent", ""}}});
  EXPECT_EQ(values_of(head, "User-Agent"), std::vector<std::string>{""}) << head;
}

TEST_F(HttpRequestHeaders, NoUserAgentAndNoAcceptEncodingWhenTheOptionsSaySo) {
  sluice::http::client c(rt, {.send_accept_encoding = false, .user_agent = ""});
  for (int round = 0; round < 2; ++round) {
    const std::string head = head_of(c, {.url = server.url("/none"), .headers = {{"X-Test", "1"}}});
    EXPECT_TRUE(values_of(head, "User-Agent").empty()) << head;
    EXPECT_TRUE(values_of(head, "Accept-Encoding").empty()) << head;
    const std::string plain = head_of(c, {.url = server.url("/none")});
    EXPECT_TRUE(values_of(plain, "User-Agent").empty()) << plain;
    EXPECT_TRUE(values_of(plain, "Accept-Encoding").empty()) << plain;
  }
}

TEST_F(HttpRequestHeaders, AChosenAcceptEncodingIsSentAndTheBodyStillDecoded) {
  const std::string plain(20'000, 'z');
  const std::string packed = gzip(plain);
  raw_server gz([&packed](int fd, const std::string& head, raw_server&) {
    const auto accept = values_of(head, "Accept-Encoding");
    const bool asked = accept.size() == 1 && accept[0] == "gzip";
    raw_server::write_all(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Encoding: gzip\r\nContent-Length: " +
                                  std::to_string(packed.size()) + "\r\nX-Asked: " + (asked ? "yes" : "no") +
                                  "\r\n\r\n" + packed);
  });
  sluice::http::client c(rt, {.accept_encoding = "gzip"});
  for (int round = 0; round < 2; ++round) {
    auto r = rt.block_on(c.get(gz.url("/z")));
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->headers.get("x-asked"), "yes");
    EXPECT_TRUE(r->body == plain) << r->body.size();
  }
}

TEST_F(HttpRequestHeaders, AcceptEncodingWithANewlineIsRefusedAndNothingIsSent) {
  sluice::http::client c(rt, {.accept_encoding = "gzip\r\nX-Injected: 1"});
  auto r = rt.block_on(c.get(server.url("/x")));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what, error::kind::invalid);
  EXPECT_NE(r.error().message.find("Accept-Encoding"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("client_options::accept_encoding"), std::string::npos) << r.error().message;
  EXPECT_EQ(server.connections(), 0u);
}

// Through a proxy libcurl sends the User-Agent itself (in a CONNECT too):
// the proxy, a raw server answering with the head, sees it once.
TEST_F(HttpRequestHeaders, ThroughAProxyTheUserAgentAndAcceptEncodingAreSentOnce) {
  sluice::http::client c(rt, {.proxy = server.url("")});
  for (int round = 0; round < 2; ++round) {
    const std::string head = head_of(c, {.url = "http://origin.invalid/p", .headers = {{"X-Test", "1"}}});
    EXPECT_EQ(head.rfind("GET http://origin.invalid/p HTTP/1.1\r\n", 0), 0u) << head;
    EXPECT_EQ(values_of(head, "User-Agent"), std::vector<std::string>{"sluice-http/0.1"}) << head;
    EXPECT_EQ(values_of(head, "Accept-Encoding").size(), 1u) << head;
  }
}

}  // namespace
