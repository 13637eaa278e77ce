// Faults across processes: a worker killed with SIGKILL mid-batch (after its
// sink took items but before the ack, and before the sink), a worker stopped
// with SIGTERM (a drain), and the server restarted mid-run. Producer and
// workers are the stream_worker helper.
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

// Waits (at most 60 s, a bound on a hang, not a timing) until the workers'
// idempotent sink holds `n` items; returns how many it holds.
long long wait_until_sunk(sync_client& c, long long n) {
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  long long sunk = c.integer({"HLEN", "s:sink"});
  while (sunk < n && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(2ms);
    sunk = c.integer({"HLEN", "s:sink"});
  }
  return sunk;
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

// SIGTERM drains a worker (sluice::stop_on_signals into from_stream's
// `drain`): it stops reading, finishes and acknowledges what its stages
// took, hands the rest back and exits 0. A second worker takes the rest.
// Every item lands in the idempotent sink once, and none reaches a sink
// twice: the drained worker left nothing it had sunk unacknowledged.
TEST(Recovery, SigtermDrainsAWorkerAndAnotherTakesTheRestWithNoItemSunkTwice) {
  redis_server server;
  sync_client c(server.socket());
  ASSERT_EQ(run_helper({"produce", server.url(), "s", "6000", "--pack", "4", "--group", "g"}), 0);
  const std::string aout = server.dir() + "/a.json", bout = server.dir() + "/b.json";
  pid_t a = spawn({worker, "work", server.url(), "s", "g", "A", "--slow-ms", "1"}, aout);
  ASSERT_GE(wait_until_sunk(c, 100), 100);
  ASSERT_EQ(kill(a, SIGTERM), 0);
  EXPECT_EQ(wait_exit(a), 0);  // drained, not killed: 128 + SIGTERM would be 143
  const long long sunk_by_a = c.integer({"HLEN", "s:sink"});
  // It stopped early: at 1 ms an item all of them take 6 s, and what its
  // stages held when the signal came (a few chunks) is far fewer.
  EXPECT_LT(sunk_by_a, 6000);
  EXPECT_GT(stat(aout, "acked"), 0);               // it printed its counters: it ran to the end of main
  EXPECT_EQ(total_deliveries(c, "s"), sunk_by_a);  // each item A's sink took, once
  ASSERT_EQ(run_helper({"work", server.url(), "s", "g", "B", "--claim-idle", "300"}, bout), 0);
  EXPECT_EQ(c.integer({"HLEN", "s:sink"}), 6000);
  EXPECT_EQ(total_deliveries(c, "s"), 6000);  // no item sunk twice
  EXPECT_EQ(stat(bout, "lag"), 0);
  EXPECT_EQ(c.lag_pending("s", "g"), std::make_pair(0LL, 0LL));
  auto left_with_a = c.run({"XPENDING", "s", "g", "-", "+", "100", "A"});
  EXPECT_EQ(left_with_a->elements, 0u);
}

TEST(Recovery, TheServerRestartedMidRunLosesNothingAndWorkersReconnect) {
  redis_server server(/*persistent=*/true);
  const std::string wout = server.dir() + "/w.json", pout = server.dir() + "/p.json";
  pid_t w = spawn({worker, "work", server.url(), "s", "g", "W", "--slow-ms", "1"}, wout);
  pid_t p = spawn({worker, "produce", server.url(), "s", "1500", "--capacity", "200", "--group", "g"}, pout);
  {
    sync_client probe(server.socket());
    wait_until_sunk(probe, 300);
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
