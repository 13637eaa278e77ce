// TLS: verification is on unless explicitly (and dangerously) turned off.
// The server is cpp-httplib's SSLServer with a throw-away self-signed
// certificate made here with OpenSSL, so no file or CA is involved.
#include <sluice/core/runtime.hpp>
#include <sluice/http/client.hpp>

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "self_signed.hpp"
#include "sluice/testing/serve_in_background.hpp"

namespace {

class HttpTls : public ::testing::Test {
 protected:
  HttpTls() : server(identity.cert.get(), identity.key.get()) {
    server.Get("/secret",
               [](const httplib::Request&, httplib::Response& res) { res.set_content("s3cret", "text/plain"); });
    port = server.bind_to_any_port("127.0.0.1");
    thread = sluice::testing::serve_in_background(server);
  }
  ~HttpTls() override {
    server.stop();
    thread.join();
  }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port) + "/secret"; }

  self_signed identity;
  httplib::SSLServer server;
  int port = 0;
  std::thread thread;
  sluice::runtime rt;
};

TEST_F(HttpTls, UntrustedCertificateIsRejectedByDefault) {
  sluice::http::client c(rt);
  auto r = rt.block_on(c.get(url()));
  ASSERT_FALSE(r) << "a self-signed certificate was accepted";
  EXPECT_EQ(r.error().what, sluice::http::error::kind::transport);
  EXPECT_EQ(r.error().url, url());
  EXPECT_NE(r.error().curl_code, 0);
}

TEST_F(HttpTls, VerificationCanBeTurnedOffForTests) {
  sluice::http::client c(rt, {.verify_tls = false});
  auto r = rt.block_on(c.get(url()));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "s3cret");  // and HTTP/2 was offered over ALPN, HTTP/1.1 accepted
}

}  // namespace
