// Faults across processes: a worker killed with SIGKILL mid-batch (after its
// sink took items but before the ack, and before the sink), and the server
// restarted mid-run. Producer and workers are the stream_worker helper.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <simdjson.h>

#include "redis_test_support.hpp"

using sluice::redis::testing::redis_server;
using sluice::redis::testing::spawn;
using sluice::redis::testing::sync_client;
using sluice::redis::testing::wait_exit;
using namespace std::chrono_literals;

namespace {

const std::string worker = SLUICE_REDIS_WORKER;

int run_helper(std::vector<std::string> args, const std::string& out_path = {}) {
  args.insert(args.begin(), worker);
  return wait_exit(spawn(args, out_path));
}

// A counter from the JSON stats a helper printed.
std::int64_t stat(const std::string& path, const char* key) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(ss.str()).get(root)) return -1;
  std::int64_t v = -1;
  if (root[key].get(v)) return -1;
  return v;
}

// Sum of the per-item delivery counters the workers' sinks keep.
long long total_deliveries(sync_client& c, const std::string& stream) {
  auto r = c.run({"HVALS", stream + ":deliveries"});
  long long sum = 0;
  for (size_t i = 0; i < r->elements; ++i) sum += std::stoll(std::string(r->element[i]->str, r->element[i]->len));
  return sum;
}

}  // namespace

// The suite's own guard: a helper that hangs is killed at wait_exit's limit
// and reported, so its test fails then, not at ctest's timeout.
TEST(Recovery, AHelperStillRunningAtTheLimitIsKilledAndReported) {
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(wait_exit(spawn({"sleep", "60"}), 1s), sluice::redis::testing::k_killed_at_deadline);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 30s);  // a bound on a hang, not a timing
  EXPECT_EQ(wait_exit(spawn({"true"}), 30s), 0);
}

TEST(Recovery, AWorkerKilledAfterItsSinkTookItemsButBeforeTheAckGetsThemAgainWhenRestarted) {
  redis_server server;
  sync_client c(server.socket());
  ASSERT_EQ(run_helper({"produce", server.url(), "s", "600", "--pack", "4", "--group", "g"}), 0);
  // SIGKILL right after the sink stored its 50th item, before that entry's ack.
  EXPECT_EQ(run_helper({"work", server.url(), "s", "g", "A", "--crash-after-sink", "50"}), 128 + SIGKILL);
  EXPECT_GE(c.integer({"HLEN", "s:sink"}), 50);
  EXPECT_LT(c.integer({"HLEN", "s:sink"}), 600);
  EXPECT_GT(c.lag_pending("s", "g").second, 0);  // the dead worker's entries are pending
  // The same consumer name, restarted: it first re-reads its own pending entries.
  const std::string out = server.dir() + "/restart.json";
  ASSERT_EQ(run_helper({"work", server.url(), "s", "g", "A"}, out), 0);
  EXPECT_EQ(c.integer({"HLEN", "s:sink"}), 600);  // every item exactly once in the idempotent sink
  EXPECT_GT(total_deliveries(c, "s"), 600);       // the taken-but-unacked items came again
  EXPECT_GT(stat(out, "redelivered"), 0);
  EXPECT_EQ(c.lag_pending("s", "g"), std::make_pair(0LL, 0LL));
}

TEST(Recovery, AWorkerKilledBeforeItsSinkTookItemsHasThemClaimedByAnotherWorker) {
  redis_server server;
  sync_client c(server.socket());
  ASSERT_EQ(run_helper({"produce", server.url(), "s", "600", "--pack", "4", "--group", "g"}), 0);
  EXPECT_EQ(run_helper({"work", server.url(), "s", "g", "A", "--crash-before-sink", "30"}), 128 + SIGKILL);
  EXPECT_GT(c.lag_pending("s", "g").second, 0);
  // Worker B never heard of A: it claims A's entries once idle for 300 ms.
  const std::string out = server.dir() + "/b.json";
  ASSERT_EQ(run_helper({"work", server.url(), "s", "g", "B", "--claim-idle", "300"}, out), 0);
  EXPECT_EQ(c.integer({"HLEN", "s:sink"}), 600);
  EXPECT_GT(stat(out, "claimed"), 0);
  EXPECT_GT(stat(out, "redelivered"), 0);
  EXPECT_EQ(stat(out, "lag"), 0);
  EXPECT_EQ(stat(out, "pending"), 0);
  EXPECT_EQ(c.lag_pending("s", "g"), std::make_pair(0LL, 0LL));
  auto ghost = c.run({"XPENDING", "s", "g", "-", "+", "100", "A"});
  EXPECT_EQ(ghost->elements, 0u);
}

TEST(Recovery, TheServerRestartedMidRunLosesNothingAndWorkersReconnect) {
  redis_server server(/*persistent=*/true);
  sync_client* c = nullptr;
  const std::string wout = server.dir() + "/w.json", pout = server.dir() + "/p.json";
  pid_t w = spawn({worker, "work", server.url(), "s", "g", "W", "--slow-ms", "1"}, wout);
  pid_t p = spawn({worker, "produce", server.url(), "s", "1500", "--capacity", "200", "--group", "g"}, pout);
  {
    sync_client probe(server.socket());
    c = &probe;
    auto deadline = std::chrono::steady_clock::now() + 60s;
    while (c->integer({"HLEN", "s:sink"}) < 300 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(5ms);
  }
  server.stop();  // clean shutdown: the append-only file has every write (appendfsync always)
  std::this_thread::sleep_for(300ms);
  server.start();
  EXPECT_EQ(wait_exit(p), 0);
  EXPECT_EQ(wait_exit(w), 0);
  sync_client after(server.socket());
  EXPECT_EQ(after.integer({"HLEN", "s:sink"}), 1500);
  EXPECT_EQ(after.lag_pending("s", "g"), std::make_pair(0LL, 0LL));
  // It did go through the outage: as a transport error on its reading
  // connection, as a failed commit (nacked, then redelivered), or, when no
  // command was in flight as the server went away, as a reconnect of its
  // sink connection (the server's restart closed every connection).
  const auto errors = stat(wout, "transport_errors"), nacked = stat(wout, "nacked");
  const auto sink_connects = stat(wout, "sink_connects");
  ASSERT_GE(sink_connects, 1) << "the worker's JSON lacks sink_connects";
  EXPECT_TRUE(errors > 0 || nacked > 0 || sink_connects > 1)
      << "transport_errors " << errors << ", nacked " << nacked << ", sink_connects " << sink_connects;
}
