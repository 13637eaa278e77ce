// A producer or worker process for the redis tests (kill -9, restarts,
// several processes on one stream). Not shipped.
//
//   stream_worker produce URL STREAM COUNT [--pack P] [--capacity C] [--group G] [--no-end]
//   stream_worker work URL STREAM GROUP CONSUMER [--crash-after-sink K] [--crash-before-sink K]
//                 [--claim-idle MS] [--slow-ms MS] [--poison ITEM] [--max-deliveries N]
//
// Items are "item-000000".. . The worker's sink is idempotent: HSETNX sink
// <item> <entry id/index>, plus HINCRBY deliveries <item> 1 to count how
// often the sink saw each item. --crash-after-sink K raises SIGKILL right
// after the sink took its K-th item (before its ack); --crash-before-sink K
// raises it in the stage before the sink at its K-th item. SIGTERM drains.
// At exit the worker prints its stream counters as JSON on stdout.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include <sluice/core/signals.hpp>
#include <sluice/redis/redis.hpp>
#include <sluice/sluice.hpp>

namespace redis = sluice::redis;
using namespace std::chrono_literals;

namespace {

std::string arg_after(int argc, char** argv, const char* name, std::string fallback = {}) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == name) return argv[i + 1];
  return fallback;
}
bool has_flag(int argc, char** argv, const char* name) {
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == name) return true;
  return false;
}
std::size_t num(const std::string& s, std::size_t fallback) { return s.empty() ? fallback : std::stoul(s); }

std::string item_name(std::size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "item-%06zu", i);
  return buf;
}

int produce(int argc, char** argv) {
  sluice::runtime rt({.threads = 2});
  auto ep = redis::endpoint::parse(argv[2]);
  std::vector<std::string> items;
  for (std::size_t i = 0, n = num(argv[4], 0); i < n; ++i) items.push_back(item_name(i));
  auto stats = std::make_shared<redis::stream_stats>();
  redis::to_stream_options options{.pack = num(arg_after(argc, argv, "--pack"), 1),
                                   .capacity = num(arg_after(argc, argv, "--capacity"), 0),
                                   .mark_end = !has_flag(argc, argv, "--no-end"),
                                   .stats = stats};
  if (auto g = arg_after(argc, argv, "--group"); !g.empty()) options.groups.push_back(g);
  sluice::run(rt, sluice::from(std::move(items), {.chunk = 64}) |
                      redis::to_stream(ep, argv[3], redis::string_serializer{}, options));
  std::string json;
  sluice::json_writer w(json);
  stats->write_json(w);
  std::cout << json << std::endl;
  return 0;
}

int work(int argc, char** argv) {
  sluice::runtime rt({.threads = 2});
  // SIGTERM becomes a drain request (the library's signal handling, as a
  // real worker would use it).
  auto drain = sluice::stop_on_signals(rt, {SIGTERM});
  auto ep = redis::endpoint::parse(argv[2]);
  const std::string stream = argv[3], group = argv[4], consumer = argv[5];
  const std::size_t crash_after = num(arg_after(argc, argv, "--crash-after-sink"), 0);
  const std::size_t crash_before = num(arg_after(argc, argv, "--crash-before-sink"), 0);
  const auto slow = std::chrono::milliseconds(num(arg_after(argc, argv, "--slow-ms"), 0));
  const std::string poison = arg_after(argc, argv, "--poison");
  auto stats = std::make_shared<redis::stream_stats>();
  redis::from_stream_options options{
      .batch = 16,
      .claim_idle = std::chrono::milliseconds(num(arg_after(argc, argv, "--claim-idle"), 1000)),
      .claim_interval = 100ms,
      .redeliver_after = 50ms,
      .max_deliveries = static_cast<std::uint32_t>(num(arg_after(argc, argv, "--max-deliveries"), 3)),
      .drain = drain.token(),
      .stats = stats};
  redis::connection sink(rt, ep);
  std::atomic<std::size_t> before{0}, taken{0};

  auto slow_stage = [&](redis::message<std::string> m) -> sluice::task<redis::message<std::string>> {
    if (crash_before && before.fetch_add(1) + 1 == crash_before) raise(SIGKILL);
    if (slow.count() > 0) co_await sluice::sleep_for(slow);
    co_return m;
  };
  auto store = [&](redis::message<std::string>& m) -> sluice::task<void> {
    if (!poison.empty() && m.value() == poison) throw std::runtime_error("cannot store " + m.value() + ": poison");
    std::vector<redis::command_args> cmds{{"HSETNX", stream + ":sink", m.value(), m.id()},
                                          {"HINCRBY", stream + ":deliveries", m.value(), "1"}};
    auto rx = sink.pipeline(cmds);
    auto r = co_await std::move(rx);
    if (!r) throw std::runtime_error(r.error().message);
    if (crash_after && taken.fetch_add(1) + 1 == crash_after) raise(SIGKILL);  // taken, not acked
  };
  auto p = redis::from_stream(ep, stream, group, consumer, redis::string_serializer{}, options) |
           sluice::async_map(slow_stage, {.concurrency = slow.count() > 0 ? 1u : 8u}) | redis::commit(store);
  auto report = sluice::run(rt, std::move(p));
  std::cerr << report.describe() << stats->describe() << "\n";
  std::string json;
  sluice::json_writer w(json);
  stats->write_json(w);
  // Plus the sink connection's connects (1, plus one per reconnect): a test
  // that restarts the server checks the worker went through the outage even
  // when no command happened to be in flight when the server went away.
  if (json.empty() || json.back() != '}') throw std::logic_error("stream_stats JSON is not an object");
  json.pop_back();
  json += ",\"sink_connects\":" + std::to_string(sink.connects()) + "}";
  std::cout << json << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "produce" && argc >= 5) return produce(argc, argv);
    if (mode == "work" && argc >= 6) return work(argc, argv);
    std::cerr << "usage: stream_worker produce URL STREAM COUNT [...] | work URL STREAM GROUP CONSUMER [...]\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "stream_worker: " << e.what() << "\n";
    return 1;
  }
}
