// The HTTP client against hostile input: headers that would inject, bodies
// that never end or expand without bound, numbers of any size, silence.
// Each test names the class of issue 9 it covers (1, 3, 4, 8) or the API
// safety of issue 14.6.
#include <sluice/core/runtime.hpp>
#include <sluice/http/client.hpp>
#include <sluice/http/retry.hpp>

#include <gtest/gtest.h>
#include <zlib.h>

#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "loopback_server.hpp"
#include "raw_server.hpp"

using namespace std::chrono_literals;
using sluice::http::error;
using sluice::test::raw_server;

namespace {

// A gzip stream of `mib` MiB of zeros, compressed without holding them.
std::string gzip_zeros(std::size_t mib) {
  z_stream z{};
  deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY);
  const std::string zeros(std::size_t{1} << 20, '\0');
  std::string out;
  char buf[1 << 16];
  for (std::size_t i = 0; i < mib; ++i) {
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(zeros.data()));  // NOLINT: zlib's C API
    z.avail_in = static_cast<uInt>(zeros.size());
    const int flush = i + 1 == mib ? Z_FINISH : Z_NO_FLUSH;
    do {
      z.next_out = reinterpret_cast<Bytef*>(buf);  // NOLINT: zlib's C API
      z.avail_out = sizeof buf;
      deflate(&z, flush);
      out.append(buf, sizeof buf - z.avail_out);
    } while (z.avail_out == 0);
  }
  deflateEnd(&z);
  return out;
}

std::string ok_head(std::string_view extra = {}) {
  return "HTTP/1.1 200 OK\r\nConnection: close\r\n" + std::string(extra);
}

class HttpHostile : public ::testing::Test {
 protected:
  sluice::runtime rt{{.threads = 2}};
};

// Class 1: whatever a header's source, CR/LF and other control characters never reach the wire.
TEST_F(HttpHostile, HeaderValueWithCrLfIsRefusedNamingTheHeaderAndNothingIsSent) {
  raw_server server([](int fd, const std::string&, raw_server&) {
    raw_server::write_all(fd, ok_head("Content-Length: 2\r\n\r\nok"));
  });
  sluice::http::client c(rt);
  sluice::http::request req = sluice::http::request_for(server.url("/x"));
  req.headers.add("Authorization", "Bearer secret\r\nX-Injected: 1");
  auto r = rt.block_on(c.send(std::move(req)));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what, error::kind::invalid);
  EXPECT_NE(r.error().message.find("\"Authorization\""), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find("secret"), std::string::npos) << "the value must never be printed";
  EXPECT_EQ(server.connections(), 0u);
}

TEST_F(HttpHostile, EveryControlCharacterInANameOrValueIsRefused) {
  raw_server server([](int fd, const std::string&, raw_server&) {
    raw_server::write_all(fd, ok_head("Content-Length: 2\r\n\r\nok"));
  });
  sluice::http::client c(rt);
  for (int ch = 0; ch < 0x20; ++ch) {
    if (ch == '\t') continue;  // a tab is allowed inside a value
    sluice::http::request req = sluice::http::request_for(server.url("/x"));
    req.headers.add("X-Test", std::string("a") + static_cast<char>(ch) + "b");
    auto r = rt.block_on(c.send(std::move(req)));
    ASSERT_FALSE(r) << "control character " << ch;
    EXPECT_EQ(r.error().what, error::kind::invalid);
  }
  sluice::http::request del = sluice::http::request_for(server.url("/x"));
  del.headers.add("X-Test", "a\x7f");
  EXPECT_FALSE(rt.block_on(c.send(std::move(del))));
  sluice::http::request bad_name = sluice::http::request_for(server.url("/x"));
  bad_name.headers.add("X-Evil\r\nHost", "x");
  auto r = rt.block_on(c.send(std::move(bad_name)));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what, error::kind::invalid);
  EXPECT_EQ(server.connections(), 0u);
}

TEST_F(HttpHostile, UserAgentWithNewlineIsRefused) {
  raw_server server([](int fd, const std::string&, raw_server&) {
    raw_server::write_all(fd, ok_head("Content-Length: 2\r\n\r\nok"));
  });
  sluice::http::client c(rt, {.user_agent = "agent\nX-Injected: 1"});
  auto r = rt.block_on(c.get(server.url("/x")));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what, error::kind::invalid);
  EXPECT_NE(r.error().message.find("User-Agent"), std::string::npos);
  EXPECT_EQ(server.connections(), 0u);
}

TEST_F(HttpHostile, UrlWithControlCharacterOrSpaceIsRefused) {
  raw_server server([](int fd, const std::string&, raw_server&) {
    raw_server::write_all(fd, ok_head("Content-Length: 2\r\n\r\nok"));
  });
  sluice::http::client c(rt);
  for (std::string tail : {"/a b", "/a\r\nX-Injected: 1", "/a\x01", "/a\x7f"}) {
    auto r = rt.block_on(c.get(server.url(tail)));
    ASSERT_FALSE(r) << tail;
    EXPECT_EQ(r.error().what, error::kind::invalid);
  }
  EXPECT_EQ(server.connections(), 0u);
}

// Class 4: the body limit counts decompressed bytes and stops a bomb mid-transfer.
TEST_F(HttpHostile, GzipBombIsStoppedAtTheDecompressedLimit) {
  const std::string bomb = gzip_zeros(256);  // 256 MiB of zeros in a few hundred KiB
  ASSERT_LT(bomb.size(), std::size_t{2} << 20);
  raw_server server([&](int fd, const std::string&, raw_server&) {
    raw_server::write_all(
        fd, ok_head("Content-Encoding: gzip\r\nContent-Length: " + std::to_string(bomb.size()) + "\r\n\r\n") + bomb);
  });
  sluice::http::client c(rt, {.max_body_bytes = std::size_t{1} << 20});
  auto r = rt.block_on(c.get(server.url("/bomb")));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what, error::kind::too_large) << r.error().to_string();
  EXPECT_NE(r.error().message.find("1048576"), std::string::npos) << r.error().message;

  // The same body within a larger per-request limit decompresses in full.
  sluice::http::request req = sluice::http::request_for(server.url("/bomb"));
  req.max_body_bytes = std::size_t{300} << 20;
  auto whole = rt.block_on(c.send(std::move(req)));
  ASSERT_TRUE(whole) << whole.error().to_string();
  EXPECT_EQ(whole->body.size(), std::size_t{256} << 20);
}

TEST_F(HttpHostile, HugeDeclaredContentLengthFailsBeforeTheBodyWithoutOverflow) {
  for (std::string length : {"99999999999999999999999999999", "18446744073709551616", "2097152"}) {
    raw_server server([&](int fd, const std::string&, raw_server&) {
      raw_server::write_all(fd, ok_head("Content-Length: " + length + "\r\n\r\nshort"));
    });
    sluice::http::client c(rt, {.max_body_bytes = std::size_t{1} << 20});
    auto r = rt.block_on(c.get(server.url("/x")));
    ASSERT_FALSE(r) << length;
    EXPECT_EQ(r.error().what, error::kind::too_large) << length << ": " << r.error().to_string();
  }
}

// libcurl reads a Content-Length field in any case; so does the early check.
TEST_F(HttpHostile, DeclaredContentLengthIsCheckedInAnyCaseAndWithAnyBlanks) {
  for (std::string field : {"content-length: 2097152", "CONTENT-LENGTH:2097152", "Content-Length:\t 2097152 "}) {
    raw_server server(
        [&](int fd, const std::string&, raw_server&) { raw_server::write_all(fd, ok_head(field + "\r\n\r\nshort")); });
    sluice::http::client c(rt, {.max_body_bytes = std::size_t{1} << 20});
    auto r = rt.block_on(c.get(server.url("/x")));
    ASSERT_FALSE(r) << field;
    EXPECT_EQ(r.error().what, error::kind::too_large) << field << ": " << r.error().to_string();
  }
}

// Bodies around the size a std::string holds without allocating, with and
// without a declared length, arrive whole; response fields keep their order,
// lose the blanks around them, and a line without a colon is not a field.
TEST_F(HttpHostile, SmallBodiesAndOddHeaderLinesArriveIntact) {
  for (std::size_t size : {0u, 1u, 2u, 15u, 16u, 17u, 100u}) {
    for (bool declared : {true, false}) {
      const std::string body(size, 'b');
      raw_server server([&](int fd, const std::string&, raw_server&) {
        std::string head = "HTTP/1.1 200 OK\r\nConnection: close\r\nX-A:  one \r\nX-B:two\r\nx-a:\tthree\r\n";
        if (declared) head += "Content-Length: " + std::to_string(size) + "\r\n";
        raw_server::write_all(fd, head + "\r\n" + body);
      });
      sluice::http::client c(rt);
      for (int round = 0; round < 2; ++round) {  // the second on a reused handle
        auto r = rt.block_on(c.get(server.url("/small")));
        ASSERT_TRUE(r) << size << ": " << r.error().to_string();
        EXPECT_EQ(r->body, body) << size;
        std::vector<std::pair<std::string, std::string>> seen;
        for (const auto& f : r->headers)
          if (f.name.starts_with("X-") || f.name.starts_with("x-")) seen.emplace_back(f.name, f.value);
        const std::vector<std::pair<std::string, std::string>> expected = {
            {"X-A", "one"}, {"X-B", "two"}, {"x-a", "three"}};
        EXPECT_EQ(seen, expected) << size;
        EXPECT_EQ(r->headers.get("x-a"), "one");
        EXPECT_EQ(r->headers.contains("content-length"), declared);
      }
    }
  }
}

TEST_F(HttpHostile, EndlessChunkedBodyIsCutAtTheLimit) {
  raw_server server([](int fd, const std::string&, raw_server& self) {
    if (!raw_server::write_all(fd, ok_head("Transfer-Encoding: chunked\r\n\r\n"))) return;
    const std::string chunk = "10000\r\n" + std::string(0x10000, 'x') + "\r\n";
    while (!self.stopping() && raw_server::write_all(fd, chunk)) {
    }
  });
  sluice::http::client c(rt, {.max_body_bytes = std::size_t{4} << 20});
  auto r = rt.block_on(c.get(server.url("/endless")));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what, error::kind::too_large);
}

// Class 8: a server that accepts and then says nothing ends the attempt.
TEST_F(HttpHostile, SilentServerEndsTheAttemptAfterTheInactivityTimeout) {
  raw_server server([](int, const std::string&, raw_server& self) {
    while (!self.stopping()) std::this_thread::sleep_for(10ms);
  });
  sluice::http::client c(rt, {.inactivity_timeout = 1s});
  auto r = rt.block_on(c.get(server.url("/silent")));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what, error::kind::timeout) << r.error().to_string();
  EXPECT_EQ(server.requests(), 1u);

  sluice::http::client lenient(rt);  // the request's own value overrides the client's none
  sluice::http::request req = sluice::http::request_for(server.url("/silent"));
  req.inactivity_timeout = 1s;
  auto again = rt.block_on(lenient.send(std::move(req)));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().what, error::kind::timeout);
}

TEST_F(HttpHostile, StopTokenEndsARequestToASilentServer) {
  raw_server server([](int, const std::string&, raw_server& self) {
    while (!self.stopping()) std::this_thread::sleep_for(10ms);
  });
  sluice::http::client c(rt);
  std::stop_source stop;
  auto handle = rt.spawn(c.get(server.url("/silent"), stop.get_token()));
  while (server.requests() == 0) std::this_thread::sleep_for(5ms);
  stop.request_stop();
  auto r = handle.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what, error::kind::cancelled);
}

// Class 3: Retry-After of any magnitude never overflows or wraps.
TEST(HttpRetryAfter, AnyMagnitudeSaturatesInsteadOfWrapping) {
  using std::chrono::milliseconds;
  const auto year = std::chrono::duration_cast<milliseconds>(std::chrono::hours(24 * 365));
  for (std::string v :
       {"9223372036854775", "9223372036854775807", "18446744073709551616", "99999999999999999999999999999999999999"}) {
    auto d = sluice::http::parse_retry_after(v);
    ASSERT_TRUE(d) << v;
    EXPECT_GT(*d, year) << v;  // huge, never negative
  }
  auto far = sluice::http::parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT");
  ASSERT_TRUE(far);
  EXPECT_GT(*far, year);
  EXPECT_EQ(sluice::http::parse_retry_after("Thu, 01 Jan 1970 00:00:01 GMT"), milliseconds(0));
  EXPECT_EQ(sluice::http::parse_retry_after("-5"), std::nullopt);
  EXPECT_EQ(sluice::http::parse_retry_after("12"), milliseconds(12'000));
}

TEST(HttpRetryAfter, AZeroRetryAfterNeverBecomesABurst) {
  sluice::http::retry_policy policy{.max_attempts = 5, .base_delay = 100ms, .jitter = 0.5};
  for (std::size_t attempt = 1; attempt < 5; ++attempt) {
    auto d = policy.delay_for(attempt, std::chrono::milliseconds(0));
    ASSERT_TRUE(d);
    EXPECT_GE(*d, policy.backoff(attempt, 0.0));
    EXPECT_GE(*d, 50ms);
  }
}

// Issue 14.6: the natural spellings are safe under g++ 12 (this file runs under ASan).
TEST_F(HttpHostile, NaturalSpellingsOfGetAndSendWithRetryAreSafe) {
  sluice::test::loopback_server server;
  server.routes().Get("/ok",
                      [](const httplib::Request&, httplib::Response& res) { res.set_content("fine", "text/plain"); });
  server.start();
  sluice::http::client client(rt);
  const std::string u = server.url("/ok");
  std::stop_source source;
  const std::stop_token stop = source.get_token();
  sluice::http::retry_policy policy{.max_attempts = 2, .base_delay = 1ms};
  auto body = [&]() -> sluice::task<int> {
    int ok = 0;
    auto a = co_await client.get(u);
    ok += a && a->body == "fine";
    auto b = co_await client.get(u, stop);
    ok += b && b->body == "fine";
    auto c = co_await sluice::http::send_with_retry(client, u, policy, stop);
    ok += c && c->body == "fine";
    auto d = co_await sluice::http::send_with_retry(client, server.url("/ok"), policy);
    ok += d && d->body == "fine";
    sluice::http::request named = sluice::http::request_for(u);  // a request: named first, then awaited
    auto e = co_await sluice::http::send_with_retry(client, std::move(named), policy, stop);
    ok += e && e->body == "fine";
    // The spelling issue 14 found aborting with free(): invalid pointer under g++ 12.
    auto f = co_await sluice::http::send_with_retry(client, {.url = u}, policy, stop);
    ok += f && f->body == "fine";
    const sluice::http::headers accept{{"Accept", "text/plain"}};
    auto g = co_await sluice::http::send_with_retry(client, {.url = u, .headers = &accept}, policy);
    ok += g && g->body == "fine";
    auto h = co_await client.send({.url = u}, stop);
    ok += h && h->body == "fine";
    auto i = co_await client.send({.method = "GET", .url = server.url("/ok")});
    ok += i && i->body == "fine";
    co_return ok;
  };
  EXPECT_EQ(rt.block_on(body()), 9);
}

}  // namespace
