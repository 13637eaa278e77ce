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
#include <sys/resource.h>
#include "perf_control.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
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

double cpu_now() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// redis-server's own CPU seconds (INFO CPU), through `stats_client` when set.
redis::testing::sync_client* stats_client = nullptr;
double server_cpu_now() {
  if (!stats_client) return 0;
  auto r = stats_client->run({"INFO", "CPU"});
  if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS) return 0;
  std::string text(r->str, r->len);
  double total = 0;
  for (const char* key : {"used_cpu_sys:", "used_cpu_user:"}) {
    auto at = text.find(key);
    if (at != std::string::npos) total += std::atof(text.c_str() + at + std::strlen(key));
  }
  return total;
}

// Wall time of one phase.
struct phase_times {
  double produce = 0;
  double consume = 0;
  double produce_cpu = 0;  // this process's CPU seconds (all threads)
  double consume_cpu = 0;
  double server_consume_cpu = 0;  // redis-server's CPU seconds in the consume phase
  [[nodiscard]] double total() const { return produce + consume; }
};

// The anchor: blocking hiredis, pipelined XADD batches, then XREADGROUP + XACK.
std::size_t hiredis_loop(const std::vector<std::string>& items, phase_times& t) {
  auto t0 = std::chrono::steady_clock::now();
  double c0 = cpu_now();
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
  auto t1 = std::chrono::steady_clock::now();
  double c1 = cpu_now();
  double s1 = server_cpu_now();
  std::size_t consumed = 0;
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
  auto t2 = std::chrono::steady_clock::now();
  t.produce = seconds(t1 - t0).count();
  t.consume = seconds(t2 - t1).count();
  t.produce_cpu = c1 - c0;
  t.consume_cpu = cpu_now() - c1;
  t.server_consume_cpu = server_cpu_now() - s1;
  return consumed;
}

std::size_t sluice_channel(sluice::runtime& rt, const std::vector<std::string>& items, std::size_t pack,
                           phase_times& t) {
  auto ep = redis::endpoint::parse(server().url());
  auto t0 = std::chrono::steady_clock::now();
  double c0 = cpu_now();
  sluice::run(rt, sluice::from(items, {.chunk = 256}) |
                      redis::to_stream(ep, "bench", redis::string_serializer{}, {.pack = pack, .batch = batch}));
  auto t1 = std::chrono::steady_clock::now();
  double c1 = cpu_now();
  double s1 = server_cpu_now();
  std::atomic<std::size_t> consumed{0};
  sluice::run(rt, redis::from_stream(ep, "bench", "g", "c", redis::string_serializer{},
                                     {.batch = batch, .chunk = 256, .block = 5ms, .trim = false}) |
                      redis::commit([&](redis::message<std::string>& m) {
                        benchmark::DoNotOptimize(m.value().data());
                        consumed.fetch_add(1, std::memory_order_relaxed);
                      }));
  auto t2 = std::chrono::steady_clock::now();
  t.produce = seconds(t1 - t0).count();
  t.consume = seconds(t2 - t1).count();
  t.produce_cpu = c1 - c0;
  t.consume_cpu = cpu_now() - c1;
  t.server_consume_cpu = server_cpu_now() - s1;
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
  redis::testing::sync_client stats(server().socket());
  stats_client = &stats;
  auto items = payloads(total_items);
  std::vector<phase_times> loop_times, sluice_times;
  for (auto _ : state) {
    for (int round = 0; round < 3; ++round) {
      phase_times t;
      reset(c);
      if (hiredis_loop(items, t) != total_items) state.SkipWithError("hiredis loop lost items");
      loop_times.push_back(t);
      reset(c);
      if (sluice_channel(rt, items, pack, t) != total_items) state.SkipWithError("sluice lost items");
      sluice_times.push_back(t);
    }
  }
  auto med = [](const std::vector<phase_times>& v, double phase_times::*field) {
    std::vector<double> x;
    for (const auto& t : v) x.push_back(t.*field);
    return median(x);
  };
  auto med_total = [](const std::vector<phase_times>& v) {
    std::vector<double> x;
    for (const auto& t : v) x.push_back(t.total());
    return median(x);
  };
  state.counters["hiredis_loop_items_per_s"] = total_items / med_total(loop_times);
  state.counters["sluice_items_per_s"] = total_items / med_total(sluice_times);
  state.counters["x_hiredis_loop"] = med_total(loop_times) / med_total(sluice_times);
  // The two halves separately: producer (XADD) and consumer (read + ack).
  state.counters["x_produce"] = med(loop_times, &phase_times::produce) / med(sluice_times, &phase_times::produce);
  state.counters["x_consume"] = med(loop_times, &phase_times::consume) / med(sluice_times, &phase_times::consume);
  // CPU per item (all threads of this process), microseconds: loop vs sluice.
  state.counters["loop_produce_cpu_us"] = 1e6 * med(loop_times, &phase_times::produce_cpu) / total_items;
  state.counters["loop_consume_cpu_us"] = 1e6 * med(loop_times, &phase_times::consume_cpu) / total_items;
  state.counters["sluice_produce_cpu_us"] = 1e6 * med(sluice_times, &phase_times::produce_cpu) / total_items;
  state.counters["sluice_consume_cpu_us"] = 1e6 * med(sluice_times, &phase_times::consume_cpu) / total_items;
  // redis-server's CPU per item in the consume phase: sluice's entries carry
  // the envelope (v, f, n, d: 8 strings per entry in the XREADGROUP reply
  // against the loop's 2), so the server does more per entry.
  state.counters["loop_server_consume_cpu_us"] = 1e6 * med(loop_times, &phase_times::server_consume_cpu) / total_items;
  state.counters["sluice_server_consume_cpu_us"] =
      1e6 * med(sluice_times, &phase_times::server_consume_cpu) / total_items;
  stats_client = nullptr;
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

// perf_control (bench/support/perf_control.hpp) around the phase to sample.
using sluice_bench::perf_control;

// For `perf record`: the consume half of throughput/<pack> only (the stream
// filled by sluice's to_stream), `rounds` times, on a runtime of `threads`
// arena threads (0: the default). To sample the consume phases alone:
//   mkfifo ctl ack
//   SLUICE_PERF_CTL=ctl SLUICE_PERF_ACK=ack perf record -g -D -1 --control=fifo:ctl,ack sluice_redis_bench
//   --profile-consume 3 1
int profile_consume(int rounds, std::size_t pack, std::size_t threads) {
  sluice::runtime rt({.threads = threads});
  redis::testing::sync_client c(server().socket());
  auto items = payloads(total_items);
  auto ep = redis::endpoint::parse(server().url());
  for (int r = 0; r < rounds; ++r) {
    reset(c);
    sluice::run(rt, sluice::from(items, {.chunk = 256}) |
                        redis::to_stream(ep, "bench", redis::string_serializer{}, {.pack = pack, .batch = batch}));
    std::atomic<std::size_t> consumed{0};
    perf_control("enable");
    double c0 = cpu_now();
    auto t0 = std::chrono::steady_clock::now();
    sluice::run(rt, redis::from_stream(ep, "bench", "g", "c", redis::string_serializer{},
                                       {.batch = batch, .chunk = 256, .block = 5ms, .trim = false}) |
                        redis::commit([&](redis::message<std::string>& m) {
                          benchmark::DoNotOptimize(m.value().data());
                          consumed.fetch_add(1, std::memory_order_relaxed);
                        }));
    perf_control("disable");
    std::fprintf(stderr, "consumed %zu in %.0f ms, %.2f us CPU per item\n", consumed.load(),
                 1e3 * seconds(std::chrono::steady_clock::now() - t0).count(),
                 1e6 * (cpu_now() - c0) / static_cast<double>(total_items));
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--worker") return worker_main(argv[2], argv[3]);
  if ((argc == 4 || argc == 5) && std::string(argv[1]) == "--profile-consume")
    return profile_consume(std::atoi(argv[2]), static_cast<std::size_t>(std::atoi(argv[3])),
                           argc == 5 ? static_cast<std::size_t>(std::atoi(argv[4])) : 0);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
