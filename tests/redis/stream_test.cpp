// redis::to_stream / from_stream / commit in one process against a real
// redis-server: delivery, packing, bad input, poison, backpressure, keepalive,
// drain and trimming. Multi-process crash tests are in recovery_test.cpp.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sluice/redis/redis.hpp>
#include <sluice/sluice.hpp>

#include "redis_test_support.hpp"

namespace redis = sluice::redis;
using redis::testing::redis_server;
using redis::testing::sync_client;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> items(std::size_t n, const std::string& prefix = "item-") {
  std::vector<std::string> v;
  for (std::size_t i = 0; i < n; ++i) v.push_back(prefix + std::to_string(i));
  return v;
}

// An idempotent sink: item -> how many times the sink saw it.
struct collected {
  std::mutex mutex;
  std::map<std::string, int> seen;
  void take(const std::string& item) {
    std::lock_guard lock(mutex);
    ++seen[item];
  }
  std::size_t distinct() {
    std::lock_guard lock(mutex);
    return seen.size();
  }
};

void produce(sluice::runtime& rt, const redis_server& server, const std::string& stream,
             std::vector<std::string> values, redis::to_stream_options options = {}) {
  sluice::run(rt, sluice::from(std::move(values)) | redis::to_stream(redis::endpoint::parse(server.url()), stream,
                                                                     redis::string_serializer{}, std::move(options)));
}

sluice::pipeline_report consume(sluice::runtime& rt, const redis_server& server, const std::string& stream,
                                const std::string& consumer, collected& out, redis::from_stream_options options,
                                const std::string& poison = {}) {
  auto p = redis::from_stream(redis::endpoint::parse(server.url()), stream, "g", consumer, redis::string_serializer{},
                              std::move(options)) |
           redis::commit([&out, poison](redis::message<std::string>& m) {
             if (!poison.empty() && m.value() == poison) throw std::runtime_error("refusing " + m.value());
             out.take(m.value());
           });
  return sluice::run(rt, std::move(p));
}

std::string field(const redisReply* entry, const std::string& name) {
  const redisReply* fields = entry->element[1];
  for (size_t i = 0; i + 1 < fields->elements; i += 2)
    if (std::string(fields->element[i]->str, fields->element[i]->len) == name)
      return std::string(fields->element[i + 1]->str, fields->element[i + 1]->len);
  return {};
}

// An entry in the sluice layout written by hand (for bad-input tests).
std::string packed(const std::vector<std::string>& values) {
  std::string d;
  for (auto& v : values) redis::append_item(d, [&](std::string& out) { out += v; });
  return d;
}

}  // namespace

TEST(Streams, EveryItemArrivesExactlyOnceWithPackingAndTheGroupEndsDrained) {
  redis_server server;
  sluice::runtime rt({.threads = 2});
  auto pstats = std::make_shared<redis::stream_stats>();
  produce(rt, server, "s", items(1000), {.pack = 8, .batch = 16, .groups = {"g"}, .stats = pstats});
  EXPECT_EQ(pstats->items_added.load(), 1000u);
  EXPECT_EQ(pstats->entries_added.load(), 125u);  // chunks of 128 items pack into 16 entries of 8
  collected out;
  auto stats = std::make_shared<redis::stream_stats>();
  auto report = consume(rt, server, "s", "w1", out, {.block = 20ms, .stats = stats});
  EXPECT_EQ(out.distinct(), 1000u);
  for (auto& [item, n] : out.seen) EXPECT_EQ(n, 1) << item;
  EXPECT_TRUE(report.balanced());
  // acked counts delivered entries only; the end marker is acked but counted apart.
  EXPECT_EQ(stats->acked.load(), 125u);
  EXPECT_EQ(stats->entries_delivered.load(), 125u);
  EXPECT_EQ(stats->end_markers.load(), 1u);
  EXPECT_EQ(stats->lag.load(), 0);
  EXPECT_EQ(stats->pending.load(), 0);
  sync_client check(server.socket());
  EXPECT_EQ(check.lag_pending("s", "g"), std::make_pair(0LL, 0LL));
  EXPECT_NE(stats->describe().find("pending 0"), std::string::npos) << stats->describe();
}

TEST(Streams, ABadEntryIsDeadLetteredWithAClearReasonAndTheRestComplete) {
  redis_server server;
  sluice::runtime rt({.threads = 2});
  sync_client c(server.socket());
  c.run({"XGROUP", "CREATE", "s", "g", "0", "MKSTREAM"});
  c.run({"XADD", "s", "*", "v", "1", "f", "string/1", "n", "1", "d", packed({"good-1"})});
  c.run({"XADD", "s", "*", "v", "2", "f", "string/2", "n", "1", "d", packed({"from-the-future"})});
  c.run({"XADD", "s", "*", "v", "1", "f", "json:thing/1", "n", "1", "d", packed({"{}"})});
  c.run({"XADD", "s", "*", "v", "1", "f", "string/1", "n", "2", "d", packed({"only-one"})});
  c.run({"XADD", "s", "*", "v", "1", "f", "string/1", "n", "1", "d",
         std::string("\xff\xff\xff\x7f"
                     "x",
                     5)});
  c.run({"XADD", "s", "*", "some", "other", "writer", "x"});
  c.run({"XADD", "s", "*", "v", "1", "f", "string/1", "n", "1", "d", packed({"good-2"})});
  c.run({"XADD", "s", "*", "v", "1", "end", "hand"});
  c.run({"SADD", "s:ended", "hand"});
  collected out;
  auto stats = std::make_shared<redis::stream_stats>();
  consume(rt, server, "s", "w1", out, {.block = 20ms, .stats = stats});
  EXPECT_EQ(out.distinct(), 2u);
  EXPECT_EQ(out.seen.count("good-1"), 1u);
  EXPECT_EQ(out.seen.count("good-2"), 1u);
  EXPECT_EQ(stats->dead_lettered.load(), 5u);
  auto dlq = c.run({"XRANGE", "s:dead", "-", "+"});
  ASSERT_EQ(dlq->elements, 5u);
  std::vector<std::string> reasons;
  for (size_t i = 0; i < dlq->elements; ++i) reasons.push_back(field(dlq->element[i], "reason"));
  EXPECT_NE(reasons[0].find("unknown format version \"2\""), std::string::npos) << reasons[0];
  EXPECT_NE(reasons[1].find("payload format \"json:thing/1\" but this worker reads \"string/1\""), std::string::npos)
      << reasons[1];
  EXPECT_NE(reasons[2].find("truncated"), std::string::npos) << reasons[2];
  EXPECT_NE(reasons[3].find("declares"), std::string::npos) << reasons[3];
  EXPECT_NE(reasons[4].find("not a sluice entry"), std::string::npos) << reasons[4];
  // The dead letter keeps the original fields and where it came from.
  EXPECT_EQ(field(dlq->element[0], "source_stream"), "s");
  EXPECT_EQ(field(dlq->element[0], "v"), "2");
  EXPECT_EQ(c.lag_pending("s", "g"), std::make_pair(0LL, 0LL));
}

namespace {
struct point {
  int x;
  int y;
};
redis::json_serializer<point> point_json() {
  return {"point", 1,
          [](const point& p, sluice::json_writer& w) {
            w.begin_object();
            w.key("x");
            w.num(p.x);
            w.key("y");
            w.num(p.y);
            w.end_object();
          },
          [](simdjson::dom::element e) {
            return point{static_cast<int>(int64_t(e["x"])), static_cast<int>(int64_t(e["y"]))};
          }};
}
}  // namespace

TEST(Streams, JsonAndTrivialSerializersRoundTripAndUndecodableJsonIsDeadLettered) {
  redis_server server;
  sluice::runtime rt({.threads = 2});
  auto ep = redis::endpoint::parse(server.url());
  std::vector<point> pts{{1, 2}, {3, 4}, {-5, 6}};
  sluice::run(rt, sluice::from(pts) | redis::to_stream(ep, "p", point_json(), {.pack = 2, .groups = {"g"}}));
  sync_client c(server.socket());
  // Valid JSON, wrong shape; and not JSON at all.
  c.run({"XADD", "p", "*", "v", "1", "f", "json:point/1", "n", "1", "d", packed({"{\"x\": \"one\"}"})});
  c.run({"XADD", "p", "*", "v", "1", "f", "json:point/1", "n", "1", "d", packed({"{not json"})});
  c.run({"XADD", "p", "*", "v", "1", "end", "again"});  // the set already counts this stream as ended
  std::vector<point> got;
  std::mutex m;
  auto stats = std::make_shared<redis::stream_stats>();
  sluice::run(rt, redis::from_stream(ep, "p", "g", "w", point_json(), {.block = 20ms, .stats = stats}) |
                      redis::commit([&](redis::message<point>& msg) {
                        std::lock_guard lock(m);
                        got.push_back(msg.value());
                      }));
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2].x, -5);
  EXPECT_EQ(stats->dead_lettered.load(), 2u);
  auto dlq = c.run({"XRANGE", "p:dead", "-", "+"});
  ASSERT_EQ(dlq->elements, 2u);
  EXPECT_NE(field(dlq->element[0], "reason").find("JSON does not match point"), std::string::npos)
      << field(dlq->element[0], "reason");
  EXPECT_NE(field(dlq->element[1], "reason").find("invalid JSON"), std::string::npos)
      << field(dlq->element[1], "reason");

  struct pair_t {
    double a;
    std::int32_t b;
  };
  std::vector<pair_t> raw{{1.5, 7}, {2.5, 8}};
  redis::trivial_serializer<pair_t> ts("pair_t");
  sluice::run(rt, sluice::from(raw) | redis::to_stream(ep, "t", ts, {.groups = {"g"}}));
  std::vector<pair_t> back;
  sluice::run(rt, redis::from_stream(ep, "t", "g", "w", ts, {.block = 20ms}) |
                      redis::commit([&](redis::message<pair_t>& msg) { back.push_back(msg.value()); }));
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1].b, 8);
}

TEST(Streams, APoisonItemIsDeadLetteredAfterMaxDeliveriesWithItsErrorAndTheRestComplete) {
  redis_server server;
  sluice::runtime rt({.threads = 2});
  produce(rt, server, "s", items(200), {.pack = 1, .groups = {"g"}});
  collected out;
  auto stats = std::make_shared<redis::stream_stats>();
  consume(rt, server, "s", "w1", out, {.block = 20ms, .redeliver_after = 10ms, .max_deliveries = 3, .stats = stats},
          "item-42");
  EXPECT_EQ(out.distinct(), 199u);
  EXPECT_EQ(out.seen.count("item-42"), 0u);
  EXPECT_EQ(stats->dead_lettered.load(), 1u);
  EXPECT_EQ(stats->nacked.load(), 3u);       // three deliveries, each refused
  EXPECT_EQ(stats->redelivered.load(), 3u);  // deliveries 2, 3 and the 4th that dead-letters it
  sync_client c(server.socket());
  auto dlq = c.run({"XRANGE", "s:dead", "-", "+"});
  ASSERT_EQ(dlq->elements, 1u);
  auto reason = field(dlq->element[0], "reason");
  EXPECT_NE(reason.find("delivered 4 times (max_deliveries 3)"), std::string::npos) << reason;
  EXPECT_NE(reason.find("refusing item-42"), std::string::npos) << reason;
  EXPECT_EQ(field(dlq->element[0], "deliveries"), "4");
  EXPECT_EQ(c.lag_pending("s", "g"), std::make_pair(0LL, 0LL));
}

TEST(Streams, TheProducerWaitsWhileLagPlusPendingWouldExceedTheCapacity) {
  redis_server server;
  sluice::runtime rt({.threads = 2});
  constexpr long long capacity = 50;
  auto pstats = std::make_shared<redis::stream_stats>();
  std::atomic<bool> done{false};
  std::atomic<long long> worst{0};
  std::thread monitor([&] {
    sync_client c(server.socket());
    while (!done.load()) {
      auto [lag, pending] = c.lag_pending("s", "g");
      if (lag >= 0) worst.store(std::max(worst.load(), lag + pending));
      std::this_thread::sleep_for(2ms);
    }
  });
  std::thread producer([&] {
    produce(rt, server, "s", items(400),
            {.pack = 1, .batch = 10, .capacity = capacity, .groups = {"g"}, .stats = pstats});
  });
  collected out;
  // A slow worker: 1 ms per item in a stage that holds one item at a time.
  auto p = redis::from_stream(redis::endpoint::parse(server.url()), "s", "g", "slow", redis::string_serializer{},
                              {.batch = 5, .block = 20ms}) |
           sluice::async_map(
               [](redis::message<std::string> m) -> sluice::task<redis::message<std::string>> {
                 co_await sluice::sleep_for(1ms);
                 co_return m;
               },
               {.concurrency = 1, .capacity = 2}) |
           redis::commit([&](redis::message<std::string>& m) { out.take(m.value()); });
  sluice::run(rt, std::move(p));
  producer.join();
  done = true;
  monitor.join();
  EXPECT_EQ(out.distinct(), 400u);
  EXPECT_GT(pstats->backpressure_waits.load(), 0u);
  EXPECT_LE(worst.load(), capacity);
  EXPECT_GT(worst.load(), 0);
}

TEST(Streams, ASlowStageKeepsItsEntriesAliveSoAnotherWorkerDoesNotClaimThem) {
  redis_server server;
  sluice::runtime rt({.threads = 2});
  produce(rt, server, "s", items(3), {.groups = {"g"}});
  collected out;
  auto slow_stats = std::make_shared<redis::stream_stats>();
  auto other_stats = std::make_shared<redis::stream_stats>();
  auto ep = redis::endpoint::parse(server.url());
  // The slow worker takes all three entries and holds each for 3 s, twice
  // claim_idle. Keepalives every 100 ms leave a margin of over a second for
  // a stalled (loaded, sanitised) process before a claim could win.
  std::thread slow([&] {
    auto p = redis::from_stream(ep, "s", "g", "slow", redis::string_serializer{},
                                {.batch = 10,
                                 .block = 20ms,
                                 .claim_idle = 1500ms,
                                 .claim_interval = 20ms,
                                 .keepalive = 100ms,
                                 .stats = slow_stats}) |
             sluice::async_map(
                 [](redis::message<std::string> m) -> sluice::task<redis::message<std::string>> {
                   co_await sluice::sleep_for(3000ms);
                   co_return m;
                 },
                 {.concurrency = 3}) |
             redis::commit([&](redis::message<std::string>& m) { out.take(m.value()); });
    sluice::run(rt, std::move(p));
  });
  while (slow_stats->entries_delivered.load() < 3) std::this_thread::sleep_for(1ms);
  consume(rt, server, "s", "other", out,
          {.block = 20ms, .claim_idle = 1500ms, .claim_interval = 20ms, .stats = other_stats});
  slow.join();
  EXPECT_EQ(out.distinct(), 3u);
  for (auto& [item, n] : out.seen) EXPECT_EQ(n, 1) << item;
  EXPECT_EQ(other_stats->claimed.load(), 0u);
  EXPECT_GT(slow_stats->keepalives.load(), 0u);
}

// The read loop itself blocked: a stage downstream holds the first item for
// 4 s (over twice claim_idle) with room for one more, so the source waits in
// its send with the rest of its first batch and a second batch prefetched,
// never looping back. The keepalive runs off the reactor, not the loop, and
// covers prefetched entries too: the other worker, claiming every 20 ms,
// claims none of them, and no item is processed twice.
TEST(Streams, PrefetchedEntriesOfABlockedSourceAreKeptAliveSoAnotherWorkerDoesNotClaimThem) {
  redis_server server;
  sluice::runtime rt({.threads = 2});
  produce(rt, server, "s", items(16), {.groups = {"g"}});
  collected out;
  auto slow_stats = std::make_shared<redis::stream_stats>();
  auto other_stats = std::make_shared<redis::stream_stats>();
  auto ep = redis::endpoint::parse(server.url());
  std::atomic<bool> first{true};
  std::thread slow([&] {
    auto p = redis::from_stream(ep, "s", "g", "slow", redis::string_serializer{},
                                {.batch = 4,
                                 .prefetch = true,
                                 .chunk = 1,
                                 .block = 20ms,
                                 .claim_idle = 1500ms,
                                 .claim_interval = 20ms,
                                 .keepalive = 100ms,
                                 .stats = slow_stats}) |
             sluice::async_map(
                 [&](redis::message<std::string> m) -> sluice::task<redis::message<std::string>> {
                   if (first.exchange(false)) co_await sluice::sleep_for(4000ms);
                   co_return m;
                 },
                 {.concurrency = 1, .capacity = 1}) |
             redis::commit([&](redis::message<std::string>& m) { out.take(m.value()); });
    sluice::run(rt, std::move(p));
  });
  // The slow worker holds its first batch and the prefetched second one (8
  // entries pending) before the other worker starts.
  sync_client c(server.socket());
  while (c.lag_pending("s", "g").second < 8) std::this_thread::sleep_for(1ms);
  consume(rt, server, "s", "other", out,
          {.block = 20ms, .claim_idle = 1500ms, .claim_interval = 20ms, .stats = other_stats});
  slow.join();
  EXPECT_EQ(out.distinct(), 16u);
  for (auto& [item, n] : out.seen) EXPECT_EQ(n, 1) << item;
  EXPECT_EQ(other_stats->claimed.load(), 0u);
  EXPECT_GE(slow_stats->entries_delivered.load(), 8u);
  EXPECT_GT(slow_stats->keepalives.load(), 0u);
  EXPECT_EQ(c.lag_pending("s", "g"), std::make_pair(0LL, 0LL));
}

TEST(Streams, DrainFinishesAndAcksInFlightItemsThenAnotherWorkerTakesTheRest) {
  redis_server server;
  sluice::runtime rt({.threads = 2});
  produce(rt, server, "s", items(300), {.groups = {"g"}});
  collected out;
  std::stop_source drain;
  auto stats = std::make_shared<redis::stream_stats>();
  std::atomic<int> taken{0};
  auto p = redis::from_stream(redis::endpoint::parse(server.url()), "s", "g", "first", redis::string_serializer{},
                              {.batch = 10, .block = 20ms, .drain = drain.get_token(), .stats = stats}) |
           redis::commit([&](redis::message<std::string>& m) {
             out.take(m.value());
             if (++taken == 50) drain.request_stop();  // SIGTERM in a real worker
           });
  auto report = sluice::run(rt, std::move(p));
  EXPECT_FALSE(report.cancelled);
  EXPECT_LT(out.distinct(), 300u);
  EXPECT_GE(out.distinct(), 50u);
  sync_client c(server.socket());
  // Everything the drained worker took is acknowledged: its pending list is empty.
  auto pending = c.run({"XPENDING", "s", "g", "-", "+", "1000", "first"});
  EXPECT_EQ(pending->elements, 0u);
  auto second = std::make_shared<redis::stream_stats>();
  consume(rt, server, "s", "second", out, {.block = 20ms, .stats = second});
  EXPECT_EQ(out.distinct(), 300u);
  for (auto& [item, n] : out.seen) EXPECT_EQ(n, 1) << item;
}

TEST(Streams, AHardStopHandsUnfinishedEntriesBackAtOnce) {
  redis_server server;
  sluice::runtime rt({.threads = 2});
  produce(rt, server, "s", items(100), {.groups = {"g"}});
  std::stop_source stop;
  collected out;
  auto p = redis::from_stream(redis::endpoint::parse(server.url()), "s", "g", "first", redis::string_serializer{},
                              {.batch = 20, .block = 20ms, .claim_idle = 60s}) |
           sluice::async_map(
               [&](redis::message<std::string> m) -> sluice::task<redis::message<std::string>> {
                 stop.request_stop();
                 co_await sluice::sleep_for(50ms);
                 co_return m;
               },
               {.concurrency = 4}) |
           redis::commit([&](redis::message<std::string>& m) { out.take(m.value()); });
  auto report = sluice::run(rt, std::move(p), stop.get_token());
  EXPECT_TRUE(report.cancelled);
  // claim_idle is 60 s, yet another worker claims the handed-back entries now.
  auto stats = std::make_shared<redis::stream_stats>();
  consume(rt, server, "s", "second", out, {.block = 20ms, .claim_idle = 60s, .claim_interval = 10ms, .stats = stats});
  EXPECT_EQ(out.distinct(), 100u);
  EXPECT_GT(stats->claimed.load(), 0u);
}

TEST(Streams, AcknowledgedHistoryIsTrimmedAndUnacknowledgedEntriesStay) {
  redis_server server;
  sluice::runtime rt({.threads = 2});
  produce(rt, server, "s", items(500), {.groups = {"g"}});
  sync_client c(server.socket());
  // Another group that never reads pins the history: nothing may be trimmed.
  c.run({"XGROUP", "CREATE", "s", "idle-group", "0"});
  collected out;
  consume(rt, server, "s", "w", out, {.block = 20ms, .trim_interval = 1ms});
  EXPECT_EQ(out.distinct(), 500u);
  EXPECT_EQ(c.integer({"XLEN", "s"}), 501);
  c.run({"XGROUP", "DESTROY", "s", "idle-group"});
  // With only the finished group left, the next worker's trim removes the history.
  collected again;
  auto stats = std::make_shared<redis::stream_stats>();
  c.run({"SREM", "s:ended", "x"});
  consume(rt, server, "s", "w", again, {.block = 20ms, .trim_interval = 1ms, .stats = stats});
  EXPECT_EQ(again.distinct(), 0u);
  EXPECT_LE(c.integer({"XLEN", "s"}), 1);
  EXPECT_GE(stats->trimmed.load(), 500u);
}

// A worker that forwards to a second stream (the demo's shape): its
// from_stream ends only once every entry it delivered is acknowledged, and
// to_stream acknowledges a message only when its XADD batch is answered. A
// sink that kept its last batches in flight while waiting for more input
// would hold those acks forever (the distributed demo hung so with `.depth`
// and `.prefetch` on; `.depth` 1 held the last batch the same way). Every
// combination must end by itself; the watchdog only turns a hang into a
// failure instead of a stuck test.
TEST(Streams, AWorkerForwardingToAnotherStreamEndsOnceItsInputIsDrainedWithAndWithoutPipelining) {
  struct config {
    std::size_t depth;
    bool prefetch;
  };
  for (auto cfg : {config{1, false}, config{4, false}, config{1, true}, config{4, true}}) {
    SCOPED_TRACE("depth " + std::to_string(cfg.depth) + ", prefetch " + (cfg.prefetch ? "on" : "off"));
    redis_server server;
    sluice::runtime rt({.threads = 2});
    const auto ep = redis::endpoint::parse(server.url());
    produce(rt, server, "in", items(2000), {.batch = 16, .groups = {"g"}});

    auto in = std::make_shared<redis::stream_stats>();
    auto out = std::make_shared<redis::stream_stats>();
    auto worker = redis::from_stream(ep, "in", "g", "w", redis::string_serializer{},
                                     {.batch = 16, .prefetch = cfg.prefetch, .chunk = 8, .block = 20ms, .stats = in}) |
                  sluice::parallel_map([](redis::message<std::string> m) {
                    return std::move(m).map([](std::string s) { return "fwd-" + s; });
                  }) |
                  redis::to_stream(ep, "out", redis::string_serializer{},
                                   {.pack = 2, .batch = 4, .depth = cfg.depth, .groups = {"c"}, .stats = out});
    std::stop_source watchdog_stop;
    std::atomic<bool> finished{false};
    std::thread watchdog([&] {
      for (int i = 0; i < 1200 && !finished; ++i) std::this_thread::sleep_for(100ms);
      if (!finished) watchdog_stop.request_stop();
    });
    auto report = sluice::run(rt, std::move(worker), watchdog_stop.get_token());
    finished = true;
    watchdog.join();
    EXPECT_FALSE(report.cancelled) << "the worker did not end by itself: " << in->describe() << "; " << out->describe()
                                   << "\n"
                                   << report.describe();
    EXPECT_EQ(out->items_added.load(), 2000u);
    // Counters: every delivered entry acked once, the end marker apart.
    EXPECT_EQ(in->end_markers.load(), 1u);
    EXPECT_EQ(in->acked.load(), in->entries_delivered.load()) << in->describe();
    EXPECT_EQ(in->entries_delivered.load(), 2000u) << in->describe();

    collected got;
    auto cstats = std::make_shared<redis::stream_stats>();
    auto collector =
        redis::from_stream(ep, "out", "c", "collector", redis::string_serializer{}, {.block = 20ms, .stats = cstats}) |
        redis::commit([&](redis::message<std::string>& m) { got.take(m.value()); });
    auto creport = sluice::run(rt, std::move(collector));
    EXPECT_FALSE(creport.cancelled);
    EXPECT_EQ(got.distinct(), 2000u);
    for (auto& [item, n] : got.seen) EXPECT_EQ(n, 1) << item;
    EXPECT_LE(cstats->acked.load(), cstats->entries_delivered.load()) << cstats->describe();
    EXPECT_EQ(cstats->acked.load(), 1000u) << cstats->describe();  // 2000 items, 2 per entry
    sync_client check(server.socket());
    EXPECT_EQ(check.lag_pending("in", "g"), std::make_pair(0LL, 0LL));
    EXPECT_EQ(check.lag_pending("out", "c"), std::make_pair(0LL, 0LL));
  }
}
