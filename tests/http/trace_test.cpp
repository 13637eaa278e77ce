// HTTP requests in a trace: one async span per request with method, the URL
// without its userinfo or secret-looking query values, status, bytes and
// time to first byte; libcurl's work on the reactor as complete spans on
// the reactor's track. A secret in the URL never reaches the file.
#include <gtest/gtest.h>
#include <unistd.h>
#include <sluice/core/trace.hpp>
#include <sluice/http/client.hpp>

#include <filesystem>
#include <string>

#include "../stages/trace_check.hpp"
#include "loopback_server.hpp"

namespace {

namespace fs = std::filesystem;

TEST(HttpTrace, RequestsAreAsyncSpansWithRedactedUrlsStatusBytesAndFirstByteTime) {
  sluice::test::loopback_server server;
  server.routes().Get("/data", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(1000, 'x'), "text/plain");
  });
  server.start();
  const auto file =
      (fs::temp_directory_path() / ("sluice-http-trace-" + std::to_string(::getpid()) + ".json")).string();
  const std::string port = std::to_string(server.port());
  {
    sluice::runtime rt({.threads = 2});
    sluice::trace_session session(file);
    sluice::http::client c(rt);
    auto ok =
        rt.block_on(c.get("http://alice:SECRET-PASSWORD@127.0.0.1:" + port + "/data?page=2&access_token=SECRET-TOKEN"));
    ASSERT_TRUE(ok) << ok.error().to_string();
    EXPECT_EQ(ok->status, 200);
    auto missing = rt.block_on(c.get(server.url("/missing?API_KEY=SECRET-KEY#frag")));
    ASSERT_TRUE(missing) << missing.error().to_string();
    EXPECT_EQ(missing->status, 404);
    auto refused = rt.block_on(c.get("http://127.0.0.1:1/nothing?sig=SECRET-SIG"));
    EXPECT_FALSE(refused);
    auto summary = session.finish();
    EXPECT_EQ(summary.dropped_events, 0u);
  }
  auto t = sluice_test::load_trace(file);
  fs::remove(file);
  EXPECT_EQ(t.text.find("SECRET"), std::string::npos) << "a secret from a URL reached the trace";
  sluice_test::expect_spans_nest(t);

  const std::string host = "127.0.0.1:" + port;
  int seen = 0;
  for (const auto& s : t.async) {
    if (s.category != "http") continue;
    ++seen;
    EXPECT_EQ(s.args.at("method"), "GET");
    const auto& url = s.args.at("url");
    if (url.find("/data") != std::string::npos) {
      EXPECT_EQ(s.name, "GET " + host);
      EXPECT_EQ(url, "http://" + host + "/data?page=2&access_token=REDACTED");
      EXPECT_EQ(s.args.at("status"), "200");
      EXPECT_EQ(s.args.at("bytes"), "1000");
      EXPECT_GT(std::stoll(s.args.at("time_to_first_byte_us")), 0);
      EXPECT_EQ(s.args.at("outcome"), "response");
    } else if (url.find("/missing") != std::string::npos) {
      EXPECT_EQ(url, "http://" + host + "/missing?API_KEY=REDACTED#frag");
      EXPECT_EQ(s.args.at("status"), "404");
    } else {
      EXPECT_EQ(url, "http://127.0.0.1:1/nothing?sig=REDACTED");
      EXPECT_EQ(s.args.at("status"), "0");
      EXPECT_EQ(s.args.at("outcome"), "transport error");
    }
  }
  EXPECT_EQ(seen, 3);
  bool reactor_work = false;
  for (const auto& s : t.complete) {
    if (s.category != "http") continue;
    reactor_work = true;
    EXPECT_EQ(t.thread_names.at(s.tid), "reactor");
  }
  EXPECT_TRUE(reactor_work);
}

}  // namespace
