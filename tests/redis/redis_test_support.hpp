// Test support for the redis suite: a real redis-server on a unix socket in
// a temporary directory (stopped by pid), a synchronous hiredis client for
// checking and injecting, and spawning the worker helper process.
#pragma once

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <hiredis/hiredis.h>

#include "../process_support.hpp"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace sluice::redis::testing {

/// Starts `argv` (looked up on PATH) with stdout to `stdout_path` if given.
/// The child is killed (SIGKILL) when the test process dies: a test that
/// crashes or aborts must not leave a redis-server or worker behind, least of
/// all one holding the test's stdout/stderr, which ctest reads until every
/// writer has closed it (an orphan turned a sanitizer abort into a stall of
/// the whole timeout).
inline pid_t spawn(const std::vector<std::string>& argv, const std::string& stdout_path = {}) {
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const char* out = stdout_path.empty() ? nullptr : stdout_path.c_str();
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("cannot fork for " + argv[0]);
  if (pid == 0) {
    // The parent has threads: only async-signal-safe calls until exec.
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(127);
    if (out) {
      int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0 || dup2(fd, 1) < 0) _exit(127);
      close(fd);
    }
    execvp(args[0], args.data());
    _exit(127);
  }
  return pid;
}

/// What wait_exit returns for a process it had to kill.
inline constexpr int k_killed_at_deadline = -2;

/// Waits for `pid`, at most `limit`; returns its exit status, or
/// 128+signal. Past `limit` it kills the process (SIGKILL), reaps it, says
/// so on stderr and returns k_killed_at_deadline: a helper that hangs fails
/// its test within the limit, with the reason, instead of at ctest's
/// timeout with none (the redis suite's is 240 s; a test waits on two
/// helpers at most, and a healthy one ends in seconds even under TSan).
inline int wait_exit(pid_t pid, std::chrono::seconds limit = std::chrono::seconds(100)) {
  if (auto status = sluice::testing::wait_child(pid, limit)) return *status;
  std::fprintf(stderr, "wait_exit: pid %d still running after %lld s: killed\n", static_cast<int>(pid),
               static_cast<long long>(limit.count()));
  kill(pid, SIGKILL);
  (void)sluice::testing::wait_child(pid, std::chrono::seconds(60));  // reaps it: SIGKILL cannot be caught
  return k_killed_at_deadline;
}

/// A TCP port free on 127.0.0.1 right now (the kernel's choice for port 0),
/// for a redis-server that must listen on TCP.
inline int free_tcp_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    throw std::runtime_error("cannot find a free TCP port");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

/// A synchronous hiredis connection for test checks (not the code under test).
class sync_client {
 public:
  explicit sync_client(const std::string& socket) : m_ctx(redisConnectUnix(socket.c_str())) {
    if (!m_ctx || m_ctx->err) throw std::runtime_error("sync_client: cannot connect to " + socket);
  }
  ~sync_client() {
    if (m_ctx) redisFree(m_ctx);
  }
  sync_client(const sync_client&) = delete;
  sync_client& operator=(const sync_client&) = delete;

  /// Runs a command; returns the reply (caller frees with freeReplyObject via reply_ptr).
  struct reply_deleter {
    void operator()(redisReply* r) const { freeReplyObject(r); }
  };
  using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;
  reply_ptr run(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* r =
        static_cast<redisReply*>(redisCommandArgv(m_ctx, static_cast<int>(argv.size()), argv.data(), lens.data()));
    if (!r) throw std::runtime_error("sync_client: connection error");
    return reply_ptr(r);
  }
  long long integer(const std::vector<std::string>& args) {
    auto r = run(args);
    if (r->type != REDIS_REPLY_INTEGER) throw std::runtime_error("sync_client: not an integer reply to " + args[0]);
    return r->integer;
  }
  /// lag and pending of a group from XINFO GROUPS (lag -1 when nil).
  std::pair<long long, long long> lag_pending(const std::string& stream, const std::string& group) {
    auto r = run({"XINFO", "GROUPS", stream});
    for (size_t g = 0; r->type == REDIS_REPLY_ARRAY && g < r->elements; ++g) {
      auto* e = r->element[g];
      std::string name;
      long long lag = -1, pending = -1;
      for (size_t i = 0; i + 1 < e->elements; i += 2) {
        std::string key(e->element[i]->str, e->element[i]->len);
        auto* v = e->element[i + 1];
        if (key == "name") name.assign(v->str, v->len);
        if (key == "lag") lag = v->type == REDIS_REPLY_INTEGER ? v->integer : -1;
        if (key == "pending") pending = v->integer;
      }
      if (name == group) return {lag, pending};
    }
    return {-2, -2};
  }

 private:
  redisContext* m_ctx;
};

/// redis-server on a unix socket in a fresh temporary directory.
class redis_server {
 public:
  explicit redis_server(bool persistent = false, std::vector<std::string> extra = {})
      : m_persistent(persistent), m_extra(std::move(extra)) {
    char tmpl[] = "/tmp/sluice-redis-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    m_dir = tmpl;
    m_socket = m_dir + "/r.sock";
    start();
  }
  ~redis_server() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(m_dir, ec);
  }
  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;

  void start() {
    std::vector<std::string> argv{"redis-server",
                                  "--port",
                                  "0",
                                  "--unixsocket",
                                  m_socket,
                                  "--unixsocketperm",
                                  "700",
                                  "--save",
                                  "",
                                  "--appendonly",
                                  m_persistent ? "yes" : "no",
                                  "--appendfsync",
                                  "always",
                                  "--dir",
                                  m_dir,
                                  "--daemonize",
                                  "no",
                                  "--loglevel",
                                  "warning",
                                  "--logfile",
                                  m_dir + "/redis.log"};
    argv.insert(argv.end(), m_extra.begin(), m_extra.end());
    m_pid = spawn(argv);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (;;) {
      redisContext* c = redisConnectUnix(m_socket.c_str());
      if (c && !c->err) {
        auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
        // NOAUTH also means the server is up.
        bool ok = r && (r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR);
        if (r) freeReplyObject(r);
        redisFree(c);
        if (ok) return;
      } else if (c) {
        redisFree(c);
      }
      if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("redis-server did not start");
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  /// SIGTERM (a clean shutdown: the append-only file is complete) and wait.
  void stop() {
    if (m_pid <= 0) return;
    kill(m_pid, SIGTERM);
    wait_exit(m_pid);
    m_pid = -1;
  }
  [[nodiscard]] const std::string& socket() const noexcept { return m_socket; }
  [[nodiscard]] std::string url() const { return "unix://" + m_socket; }
  [[nodiscard]] const std::string& dir() const noexcept { return m_dir; }

 private:
  bool m_persistent;
  std::vector<std::string> m_extra;
  std::string m_dir;
  std::string m_socket;
  pid_t m_pid = -1;
};

}  // namespace sluice::redis::testing
