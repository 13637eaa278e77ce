// HTTP/2 multiplexing against a real HTTP/2 server: nghttpd (Debian's
// nghttp2-server, installed by scripts/setup.sh) serving a directory over TLS
// with a throw-away certificate; the client negotiates h2 by ALPN.
#include <sluice/core/runtime.hpp>
#include <sluice/core/when_all.hpp>
#include <sluice/http/client.hpp>

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "free_tcp_port.hpp"
#include "self_signed.hpp"

extern char** environ;

namespace {

bool accepts_connections(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;  // NOLINT: the sockets API
  ::close(fd);
  return ok;
}

// nghttpd in a child process for the lifetime of the object.
class nghttpd_server {
 public:
  nghttpd_server(const std::filesystem::path& docroot, const std::string& key, const std::string& cert)
      : m_port(sluice::test::free_tcp_port()) {
    std::string port = std::to_string(m_port), dir = "--htdocs=" + docroot.string();
    std::vector<std::string> args{"nghttpd", "--address=127.0.0.1", dir, port, key, cert};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (::posix_spawnp(&m_pid, "nghttpd", nullptr, nullptr, argv.data(), environ) != 0) m_pid = -1;
    for (int i = 0; i < 200 && m_pid > 0 && !accepts_connections(m_port); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ~nghttpd_server() {
    if (m_pid > 0) {
      ::kill(m_pid, SIGTERM);
      ::waitpid(m_pid, nullptr, 0);
    }
  }
  nghttpd_server(const nghttpd_server&) = delete;
  nghttpd_server& operator=(const nghttpd_server&) = delete;

  [[nodiscard]] bool running() const { return m_pid > 0 && accepts_connections(m_port); }
  [[nodiscard]] std::string url(const std::string& path) const {
    return "https://127.0.0.1:" + std::to_string(m_port) + path;
  }

 private:
  int m_port;
  pid_t m_pid = -1;
};

TEST(HttpClientHttp2, ConcurrentRequestsMultiplexOverOneConnection) {
  auto docroot = std::filesystem::temp_directory_path() / ("sluice-h2-" + std::to_string(::getpid()));
  std::filesystem::create_directories(docroot);
  const std::string payload(64 * 1024, 'x');
  std::ofstream(docroot / "blob.txt") << payload;

  self_signed identity;
  const auto key = (docroot / "key.pem").string(), cert = (docroot / "cert.pem").string();
  ASSERT_TRUE(write_pem_files(identity, key, cert));
  nghttpd_server server(docroot, key, cert);
  ASSERT_TRUE(server.running()) << "nghttpd did not start (scripts/setup.sh installs nghttp2-server)";

  sluice::runtime rt({.threads = 2});
  // The certificate is self-signed: verification off for this loopback test only.
  sluice::http::client client(rt, {.verify_tls = false});
  auto run = [](sluice::http::client& c,
                std::string url) -> sluice::task<std::vector<sluice::http::result<sluice::http::response>>> {
    std::vector<sluice::task<sluice::http::result<sluice::http::response>>> requests;
    for (int i = 0; i < 50; ++i) requests.push_back(c.get(url));
    co_return co_await sluice::when_all(std::move(requests));
  };
  auto responses = rt.block_on(run(client, server.url("/blob.txt")));

  ASSERT_EQ(responses.size(), 50u);
  for (const auto& r : responses) {
    ASSERT_TRUE(r.has_value()) << r.error().to_string();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->http_version, 20);
    EXPECT_EQ(r->body.size(), payload.size());
  }
  // 50 requests in flight at once, one TCP connection: they were multiplexed.
  EXPECT_EQ(client.stats().connections_opened, 1u);
  std::filesystem::remove_all(docroot);
}

}  // namespace
