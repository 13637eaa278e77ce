// sluice's distributed channel against a minimal hand-written hiredis loop,
// same server (redis-server on a unix socket, started here), same payload
// (100 bytes), same batch (64).
//
//  * throughput: N = 100k items through a stream: produce all (pipelined
//    XADD batches), then consume all (XREADGROUP COUNT 64 + one XACK per
//    batch). The anchor is a blocking hiredis loop doing exactly that;
//    sluice runs from(items) | to_stream(...) then from_stream(...) |
//    commit(noop). Counters: items/s of both and `x_hiredis_loop` = sluice's
//    rate over the loop's (aim >= 0.8), for pack 1 (an entry per item, the
//    same work as the loop) and pack 16 (16 items per entry).
//  * workers: N items consumed by 1, 2 and 4 worker processes (this binary
//    re-run with --worker), each item costing ~20 us of CPU: items/s.
//  * latency: items sent one by one at 10k items/s for 2 s, end-to-end
//    latency (XADD to the sink) p50 / p99 in microseconds.
//
// Run in Release on a quiet machine; rounds alternate sluice and the loop.
#include <benchmark/benchmark.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sluice/redis/redis.hpp>
#include <sluice/sluice.hpp>

#include "redis_test_support.hpp"

namespace redis = sluice::redis;
using namespace std::chrono_literals;
using seconds = std::chrono::duration<double>;

namespace {

constexpr std::size_t total_items = 100'000;
constexpr std::size_t batch = 64;
constexpr std::size_t payload_size = 100;

redis::testing::redis_server& server() {
  static redis::testing::redis_server s;
  return s;
}

std::vector<std::string> payloads(std::size_t n) {
  std::vector<std::string> v(n, std::string(payload_size, 'x'));
  for (std::size_t i = 0; i < n; ++i) std::memcpy(v[i].data(), &i, sizeof i);
  return v;
}

void reset(redis::testing::sync_client& c) {
  c.run({"DEL", "bench", "bench:ended", "bench:dead"});
  c.run({"XGROUP", "CREATE", "bench", "g", "0", "MKSTREAM"});
}

// The anchor: blocking hiredis, pipelined XADD batches, then XREADGROUP + XACK.
std::size_t hiredis_loop(const std::vector<std::string>& items) {
  redisContext* c = redisConnectUnix(server().socket().c_str());
  for (std::size_t i = 0; i < items.size(); i += batch) {
    std::size_t n = std::min(batch, items.size() - i);
    for (std::size_t j = 0; j < n; ++j) {
      const char* argv[] = {"XADD", "bench", "*", "d", items[i + j].data()};
      std::size_t lens[] = {4, 5, 1, 1, items[i + j].size()};
      redisAppendCommandArgv(c, 5, argv, lens);
    }
    for (std::size_t j = 0; j < n; ++j) {
      void* r = nullptr;
      redisGetReply(c, &r);
      freeReplyObject(r);
    }
  }
  std::size_t consumed = 0;
  std::vector<std::string> ids;
  while (consumed < items.size()) {
    auto* r = static_cast<redisReply*>(
        redisCommand(c, "XREADGROUP GROUP g c COUNT %d STREAMS bench >", static_cast<int>(batch)));
    if (!r || r->type != REDIS_REPLY_ARRAY) break;
    auto* entries = r->element[0]->element[1];
    std::vector<const char*> argv{"XACK", "bench", "g"};
    std::vector<std::size_t> lens{4, 5, 1};
    for (std::size_t j = 0; j < entries->elements; ++j) {
      auto* e = entries->element[j];
      argv.push_back(e->element[0]->str);
      lens.push_back(e->element[0]->len);
      benchmark::DoNotOptimize(e->element[1]->element[1]->str);
    }
    consumed += entries->elements;
    auto* ack = static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
    freeReplyObject(ack);
    freeReplyObject(r);
  }
  redisFree(c);
  return consumed;
}

std::size_t sluice_channel(sluice::runtime& rt, const std::vector<std::string>& items, std::size_t pack) {
  auto ep = redis::endpoint::parse(server().url());
  sluice::run(rt, sluice::from(items, {.chunk = 256}) |
                      redis::to_stream(ep, "bench", redis::string_serializer{}, {.pack = pack, .batch = batch}));
  std::atomic<std::size_t> consumed{0};
  sluice::run(rt, redis::from_stream(ep, "bench", "g", "c", redis::string_serializer{},
                                     {.batch = batch, .chunk = 256, .block = 5ms, .trim = false}) |
                      redis::commit([&](redis::message<std::string>& m) {
                        benchmark::DoNotOptimize(m.value().data());
                        consumed.fetch_add(1, std::memory_order_relaxed);
                      }));
  return consumed.load();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void throughput(benchmark::State& state) {
  const auto pack = static_cast<std::size_t>(state.range(0));
  sluice::runtime rt;
  redis::testing::sync_client c(server().socket());
  auto items = payloads(total_items);
  std::vector<double> loop_times, sluice_times;
  for (auto _ : state) {
    for (int round = 0; round < 3; ++round) {
      reset(c);
      auto t0 = std::chrono::steady_clock::now();
      if (hiredis_loop(items) != total_items) state.SkipWithError("hiredis loop lost items");
      loop_times.push_back(seconds(std::chrono::steady_clock::now() - t0).count());
      reset(c);
      t0 = std::chrono::steady_clock::now();
      if (sluice_channel(rt, items, pack) != total_items) state.SkipWithError("sluice lost items");
      sluice_times.push_back(seconds(std::chrono::steady_clock::now() - t0).count());
    }
  }
  state.counters["hiredis_loop_items_per_s"] = total_items / median(loop_times);
  state.counters["sluice_items_per_s"] = total_items / median(sluice_times);
  state.counters["x_hiredis_loop"] = median(loop_times) / median(sluice_times);
}

// ~20 us of CPU per item, the same in every worker process.
std::uint64_t burn(const std::string& s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (int r = 0; r < 200; ++r)
    for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ULL;
  return h;
}

std::string self_path() {
  char buf[4096];
  auto n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
}

void workers(benchmark::State& state) {
  const auto processes = static_cast<int>(state.range(0));
  constexpr std::size_t n = 40'000;
  sluice::runtime rt({.threads = 2});
  redis::testing::sync_client c(server().socket());
  auto items = payloads(n);
  double elapsed = 0;
  for (auto _ : state) {
    reset(c);
    sluice::run(rt, sluice::from(items) | redis::to_stream(redis::endpoint::parse(server().url()), "bench",
                                                           redis::string_serializer{}, {.pack = 16, .batch = batch}));
    auto t0 = std::chrono::steady_clock::now();
    std::vector<pid_t> pids;
    for (int i = 0; i < processes; ++i)
      pids.push_back(redis::testing::spawn({self_path(), "--worker", server().url(), "w" + std::to_string(i)}));
    for (auto pid : pids)
      if (redis::testing::wait_exit(pid) != 0) state.SkipWithError("a worker failed");
    elapsed = seconds(std::chrono::steady_clock::now() - t0).count();
  }
  if (c.lag_pending("bench", "g") != std::make_pair(0LL, 0LL)) state.SkipWithError("stream not drained");
  state.counters["items_per_s"] = static_cast<double>(n) / elapsed;
}

int worker_main(const char* url, const char* consumer) {
  sluice::runtime rt({.threads = 1});
  std::atomic<std::uint64_t> sink{0};
  sluice::run(rt, redis::from_stream(redis::endpoint::parse(url), "bench", "g", consumer, redis::string_serializer{},
                                     {.batch = 16, .block = 5ms, .trim = false}) |
                      sluice::parallel_map([](redis::message<std::string> m) {
                        return std::move(m).map([](std::string s) { return burn(s); });
                      }) |
                      redis::commit([&](redis::message<std::uint64_t>& m) { sink.fetch_add(m.value()); }));
  return 0;
}

void latency(benchmark::State& state) {
  sluice::runtime rt({.threads = 2});
  redis::testing::sync_client c(server().socket());
  auto ep = redis::endpoint::parse(server().url());
  constexpr std::size_t n = 20'000;  // 2 s at 10k items/s
  std::vector<double> micros;
  for (auto _ : state) {
    reset(c);
    micros.clear();
    std::mutex m;
    std::thread consumer([&] {
      sluice::run(rt, redis::from_stream(ep, "bench", "g", "c", redis::trivial_serializer<std::int64_t>{"ns"},
                                         {.batch = batch, .block = 100ms, .trim = false}) |
                          redis::commit([&](redis::message<std::int64_t>& msg) {
                            auto now = std::chrono::steady_clock::now().time_since_epoch().count();
                            std::lock_guard lock(m);
                            micros.push_back(static_cast<double>(now - msg.value()) / 1000.0);
                          }));
    });
    auto start = std::chrono::steady_clock::now();
    auto paced = [start](std::stop_token) -> sluice::async_generator<std::int64_t> {
      for (std::size_t i = 0; i < n; ++i) {
        co_await sluice::sleep_until(start + std::chrono::microseconds(100 * i));
        co_yield std::chrono::steady_clock::now().time_since_epoch().count();
      }
    };
    sluice::run(rt, sluice::from(paced) |
                        redis::to_stream(ep, "bench", redis::trivial_serializer<std::int64_t>{"ns"}, {.batch = batch}));
    consumer.join();
  }
  std::sort(micros.begin(), micros.end());
  if (micros.size() != n) state.SkipWithError("lost items");
  state.counters["p50_us"] = micros[micros.size() / 2];
  state.counters["p99_us"] = micros[micros.size() * 99 / 100];
  state.counters["max_us"] = micros.back();
}

BENCHMARK(throughput)->Arg(1)->Arg(16)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK(workers)->Arg(1)->Arg(2)->Arg(4)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK(latency)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--worker") return worker_main(argv[2], argv[3]);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
