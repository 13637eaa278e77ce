// redis::endpoint and redis::connection against a real redis-server.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include <sluice/redis/connection.hpp>
#include <sluice/sluice.hpp>

#include "../wait_support.hpp"
#include "redis_test_support.hpp"

namespace redis = sluice::redis;
using redis::testing::redis_server;
using namespace std::chrono_literals;

namespace {

// Sets an environment variable for one scope.
struct scoped_env {
  std::string name;
  scoped_env(std::string n, const char* value) : name(std::move(n)) { setenv(name.c_str(), value, 1); }
  ~scoped_env() { unsetenv(name.c_str()); }
};

redis::result<redis::reply> run_command(sluice::runtime& rt, const redis::connection& c, redis::command_args args,
                                        std::chrono::milliseconds timeout = {}) {
  auto rx = c.command(args, timeout);
  return rx.get();
  (void)rt;
}

}  // namespace

TEST(Endpoint, ParsesTcpAndUnixUrls) {
  auto tcp = redis::endpoint::parse("redis://127.0.0.1:6380/3");
  EXPECT_EQ(tcp.host, "127.0.0.1");
  EXPECT_EQ(tcp.port, 6380);
  EXPECT_EQ(tcp.db, 3u);
  EXPECT_EQ(tcp.to_string(), "redis://127.0.0.1:6380/3");
  auto dflt = redis::endpoint::parse("redis://localhost");
  EXPECT_EQ(dflt.port, 6379);
  EXPECT_EQ(dflt.db, 0u);
  auto v6 = redis::endpoint::parse("redis://[::1]:7000");
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.port, 7000);
  auto unix_ep = redis::endpoint::parse("unix:///tmp/r.sock?db=2");
  EXPECT_TRUE(unix_ep.is_unix());
  EXPECT_EQ(unix_ep.unix_path, "/tmp/r.sock");
  EXPECT_EQ(unix_ep.db, 2u);
}

TEST(Endpoint, RefusesMalformedUrlsCredentialsAndControlCharacters) {
  EXPECT_THROW(redis::endpoint::parse("http://x"), std::invalid_argument);
  EXPECT_THROW(redis::endpoint::parse("redis://host:0"), std::invalid_argument);
  EXPECT_THROW(redis::endpoint::parse("redis://host:99999"), std::invalid_argument);
  EXPECT_THROW(redis::endpoint::parse("redis://host/notanumber"), std::invalid_argument);
  EXPECT_THROW(redis::endpoint::parse("unix://relative"), std::invalid_argument);
  EXPECT_THROW(redis::endpoint::parse("redis://ho\nst"), std::invalid_argument);
  try {
    redis::endpoint::parse("redis://user:hunter2@host");
    FAIL() << "credentials in the URL must be refused";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
  }
}

TEST(Endpoint, CredentialsComeFromTheEnvironmentAndAreNeverPrinted) {
  scoped_env user("SLUICE_REDIS_USER", "alice");
  scoped_env pass("SLUICE_REDIS_PASSWORD", "s3cret-pw");
  auto ep = redis::endpoint::parse("redis://127.0.0.1:6379/0");
  EXPECT_EQ(ep.user, "alice");
  EXPECT_EQ(ep.password, "s3cret-pw");
  EXPECT_EQ(ep.to_string().find("s3cret"), std::string::npos);
  EXPECT_EQ(redis::redact("ERR bad s3cret-pw here", ep.password), "ERR bad *** here");
}

TEST(Connection, RunsCommandsAndPipelinesOnTheReactor) {
  redis_server server;
  sluice::runtime rt({.threads = 2});
  redis::connection c(rt, redis::endpoint::parse(server.url()));
  auto r = run_command(rt, c, {"SET", "k", std::string("a\0b", 3)});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->text(), "OK");
  auto rx = c.pipeline({{"GET", "k"}, {"INCR", "n"}, {"INCR", "n"}, {"LPUSH", "k", "x"}});
  auto rs = rx.get();
  ASSERT_TRUE(rs);
  ASSERT_EQ(rs->size(), 4u);
  EXPECT_EQ((*rs)[0].str, std::string("a\0b", 3));
  EXPECT_EQ((*rs)[2].integer, 2);
  EXPECT_TRUE((*rs)[3].is_error());  // WRONGTYPE is a reply, not a transport error
  EXPECT_EQ(c.connects(), 1u);
}

TEST(Connection, ManyConcurrentCommandsFromCoroutinesAllComplete) {
  redis_server server;
  sluice::runtime rt({.threads = 2});
  redis::connection c(rt, redis::endpoint::parse(server.url()));
  std::vector<int> n(2000);
  std::iota(n.begin(), n.end(), 0);
  std::atomic<long long> sum{0};
  auto p = sluice::from(n) |
           sluice::async_map(
               [&](int i) -> sluice::task<long long> {
                 auto rx = c.command({"INCRBY", "total", std::to_string(i)});
                 auto r = co_await std::move(rx);
                 if (!r) throw std::runtime_error(r.error().message);
                 co_return r->integer;
               },
               {.concurrency = 64}) |
           sluice::for_each([&](long long) { sum.fetch_add(1); });
  sluice::run(rt, std::move(p));
  EXPECT_EQ(sum.load(), 2000);
  auto r = run_command(rt, c, {"GET", "total"});
  EXPECT_EQ(r->str, std::to_string(1999LL * 2000 / 2));
}

TEST(Connection, ReconnectsAfterTheServerRestarts) {
  redis_server server;
  sluice::runtime rt({.threads = 2});
  redis::connection c(rt, redis::endpoint::parse(server.url()), {.timeout = 10s});
  ASSERT_TRUE(run_command(rt, c, {"PING"}));
  server.stop();
  auto down = run_command(rt, c, {"PING"}, 200ms);
  EXPECT_FALSE(down);  // connection lost or timed out while the server is gone
  server.start();
  // A command issued while reconnecting waits for the connection.
  auto up = run_command(rt, c, {"PING"});
  ASSERT_TRUE(up) << up.error().message;
  EXPECT_EQ(up->text(), "PONG");
  EXPECT_GE(c.connects(), 2u);
}

// The server drops the connection while a command is still being written
// (its bulk is over proto-max-bulk-len): hiredis's next write hits a closed
// socket. That is an error on the command and a reconnect, never SIGPIPE
// killing the process, whatever the program's disposition of SIGPIPE.
TEST(Connection, TheServerClosingMidWriteIsAnErrorNotSigpipe) {
  sluice::testing::scoped_signal_disposition default_pipe(SIGPIPE, SIG_DFL);
  redis_server server(false, {"--proto-max-bulk-len", "1mb"});
  sluice::runtime rt({.threads = 2});
  redis::connection c(rt, redis::endpoint::parse(server.url()));
  ASSERT_TRUE(run_command(rt, c, {"PING"}));
  auto big = run_command(rt, c, {"SET", "k", std::string(16u << 20, 'x')});
  EXPECT_FALSE(big && !big->is_error());  // refused by the server or cut off mid-write
  auto after = run_command(rt, c, {"PING"});
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_EQ(after->text(), "PONG");
}

TEST(Connection, ACommandWithoutReplyTimesOutAndTheConnectionRecovers) {
  redis_server server;
  sluice::runtime rt({.threads = 2});
  redis::connection c(rt, redis::endpoint::parse(server.url()));
  auto r = run_command(rt, c, {"BLPOP", "never", "5"}, 100ms);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().type, redis::error::kind::timeout);
  EXPECT_NE(r.error().message.find("100 ms"), std::string::npos) << r.error().message;
  auto after = run_command(rt, c, {"PING"});
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_EQ(after->text(), "PONG");
}

TEST(Connection, AnUnreachableServerIsATimeoutNamingTheEndpoint) {
  sluice::runtime rt({.threads = 2});
  redis::connection c(rt, redis::endpoint::parse("unix:///nonexistent/sluice.sock"));
  auto r = run_command(rt, c, {"PING"}, 150ms);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("/nonexistent/sluice.sock"), std::string::npos) << r.error().message;
}

TEST(Connection, AuthenticatesWithThePasswordFromTheEnvironmentAndNeverEchoesIt) {
  redis_server server(false, {"--requirepass", "pw-Xy7-secret"});
  sluice::runtime rt({.threads = 2});
  {
    scoped_env pass("SLUICE_REDIS_PASSWORD", "pw-Xy7-secret");
    redis::connection c(rt, redis::endpoint::parse(server.url()));
    auto r = run_command(rt, c, {"SET", "a", "1"});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->text(), "OK");
  }
  {
    scoped_env pass("SLUICE_REDIS_PASSWORD", "wrong-pw-zz9");
    redis::connection c(rt, redis::endpoint::parse(server.url()));
    auto r = run_command(rt, c, {"GET", "a"});
    ASSERT_TRUE(r);
    ASSERT_TRUE(r->is_error());  // NOAUTH: the AUTH failed
    EXPECT_EQ(redis::describe(*r).find("wrong-pw"), std::string::npos);
  }
}

TEST(Connection, ConnectsOverTcpToAHostNameResolvedOffTheReactor) {
  const int port = redis::testing::free_tcp_port();
  redis_server server(false, {"--port", std::to_string(port), "--bind", "127.0.0.1"});
  sluice::runtime rt({.threads = 2});
  redis::connection c(rt, redis::endpoint::parse("redis://localhost:" + std::to_string(port) + "/2"));
  auto r = run_command(rt, c, {"SET", "k", "over-tcp"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->text(), "OK");
  // SELECT 2 went first: the key is in database 2, not 0.
  redis::testing::sync_client check(server.socket());
  EXPECT_EQ(check.run({"GET", "k"})->type, REDIS_REPLY_NIL);
  check.run({"SELECT", "2"});
  auto v = check.run({"GET", "k"});
  ASSERT_EQ(v->type, REDIS_REPLY_STRING);
  EXPECT_EQ(std::string(v->str, v->len), "over-tcp");
  EXPECT_EQ(c.connects(), 1u);
}

TEST(Connection, AnUnresolvableHostNameIsAnErrorNamingTheHostAndTheReactorKeepsServing) {
  redis_server server;
  sluice::runtime rt({.threads = 2});
  // "invalid" is reserved (RFC 6761): it never resolves.
  redis::connection bad(rt, redis::endpoint::parse("redis://no-such-host.invalid:6379"));
  redis::connection good(rt, redis::endpoint::parse(server.url()));
  auto rx = bad.command({"PING"}, 1500ms);
  // The other connection on the same reactor is served meanwhile.
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(run_command(rt, good, {"PING"}));
  auto r = rx.get();
  ASSERT_FALSE(r);
  // Resolved quickly (NXDOMAIN) or a resolver that hangs: either way the host is named.
  EXPECT_NE(r.error().message.find("no-such-host.invalid"), std::string::npos) << r.error().message;
}

TEST(Connection, ReconnectAttemptsBackOffWhileTheServerIsDown) {
  sluice::runtime rt({.threads = 2});
  redis::connection c(rt, redis::endpoint::parse("unix:///nonexistent/sluice.sock"),
                      {.reconnect_initial = 10ms, .reconnect_max = 80ms});
  auto r = run_command(rt, c, {"PING"}, 1000ms);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().type, redis::error::kind::timeout);
  // Without backoff a failing connect would repeat every few microseconds;
  // with 10 ms doubling to 80 ms (jitter 0.2) one second holds at most
  // about 8 + 1000 / 64 attempts, however loaded the machine.
  EXPECT_GE(c.connect_attempts(), 2u);
  EXPECT_LE(c.connect_attempts(), 30u);
}

TEST(Connection, AuthenticatesAsAnAclUserFromTheEnvironment) {
  redis_server server;
  redis::testing::sync_client admin(server.socket());
  admin.run({"ACL", "SETUSER", "worker-7", "on", ">acl-pw-Q9", "~*", "+@all"});
  admin.run({"ACL", "SETUSER", "default", "off"});  // only the ACL user may log in now
  sluice::runtime rt({.threads = 2});
  {
    scoped_env user("SLUICE_REDIS_USER", "worker-7");
    scoped_env pass("SLUICE_REDIS_PASSWORD", "acl-pw-Q9");
    redis::connection c(rt, redis::endpoint::parse(server.url()));
    auto who = run_command(rt, c, {"ACL", "WHOAMI"});
    ASSERT_TRUE(who) << who.error().message;
    EXPECT_EQ(who->text(), "worker-7");
  }
  {
    scoped_env user("SLUICE_REDIS_USER", "worker-7");
    scoped_env pass("SLUICE_REDIS_PASSWORD", "acl-wrong-Z3");
    redis::connection c(rt, redis::endpoint::parse(server.url()));
    auto r = run_command(rt, c, {"PING"});
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_TRUE(r->is_error());  // the default user is off and the AUTH failed
    EXPECT_EQ(redis::describe(*r).find("acl-wrong"), std::string::npos) << redis::describe(*r);
  }
}

// A stall dump names what a coroutine awaiting a Redis reply waits for:
// the command (the first of a pipeline, and how many follow) and the
// server, never its password.
TEST(Connection, AnAwaitedCommandIsListedAsARedisWaitNamingTheCommandAndTheServer) {
  redis_server server(false, {"--requirepass", "pw-Qq4-secret"});
  scoped_env pass("SLUICE_REDIS_PASSWORD", "pw-Qq4-secret");
  sluice::runtime rt({.threads = 2});
  sluice::wait_watch watch;
  redis::connection c(rt, redis::endpoint::parse(server.url()));
  redis::connection pusher(rt, redis::endpoint::parse(server.url()));
  const std::string where = c.endpoint().to_string();

  // Three callers block on empty lists: one command, a pipeline, and
  // commands formatted beforehand.
  auto one = [](sluice::oneshot_receiver<redis::result<redis::reply>> rx) -> sluice::task<bool> {
    auto r = co_await rx;
    co_return r && !r->is_error();
  };
  auto many = [](sluice::oneshot_receiver<redis::result<std::vector<redis::reply>>> rx) -> sluice::task<bool> {
    auto r = co_await rx;
    co_return r && !r->empty() && !r->front().is_error();
  };
  auto formatted = std::make_shared<redis::formatted_commands>();
  formatted->begin(3);
  for (const char* a : {"BRPOP", "list-c", "30"}) formatted->arg(a);
  formatted->end();
  auto a = rt.spawn(one(c.command({"BLPOP", "list-a", "30"}, 60s)));
  auto b = rt.spawn(many(c.pipeline({{"BLPOP", "list-b", "30"}, {"PING"}, {"PING"}}, 60s)));
  auto f = rt.spawn(many(c.pipeline(formatted, 60s)));

  const std::vector<std::string> expected{"BLPOP on " + where, "BLPOP and 2 more on " + where, "BRPOP on " + where};
  const auto listed = sluice::testing::waits_matching(
      [](const sluice::wait_entry& w) { return w.kind == sluice::wait_kind::redis; }, expected.size());
  std::vector<std::string> whats;
  for (const auto& w : listed) {
    whats.push_back(w.what);
    EXPECT_EQ(w.what.find("pw-Qq4"), std::string::npos) << w.what;
    // The command's 60 s timeout is the wait's deadline ("ends in" in a dump).
    ASSERT_TRUE(w.until) << w.what;
    EXPECT_GT(*w.until - w.since, 50s) << w.what;
    EXPECT_LE(*w.until - w.since, 60s) << w.what;
  }
  std::sort(whats.begin(), whats.end());
  auto sorted = expected;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(whats, sorted);

  for (const char* list : {"list-a", "list-b", "list-c"}) ASSERT_TRUE(run_command(rt, pusher, {"LPUSH", list, "x"}));
  EXPECT_TRUE(a.get());
  EXPECT_TRUE(b.get());
  EXPECT_TRUE(f.get());
  for (const auto& w : sluice::current_waits()) EXPECT_NE(w.kind, sluice::wait_kind::redis) << w.what;
}
