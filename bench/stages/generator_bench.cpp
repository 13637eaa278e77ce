// Cost per item of the generator sources, beside a hand-written coroutine generator.
//
//  * raw_coroutine: a minimal hand-written generator (promise holding the
//    value, one coroutine_handle::resume() per item): the floor for any
//    coroutine-based generator, and the anchor.
//  * generator: sluice::generator<long>, iterated with range-for.
//  * async_generator: sluice::async_generator<long>, drained with
//    co_await next() inside one task (the hand-over a pipeline source pays
//    per item when the body does not suspend).
//  * async_generator_hopping: the same body hopping onto the runtime every
//    `k_hop` items (a body awaiting something real now and then).
// Counters: ns_per_item, and for the generators x_raw = raw coroutine ns / theirs.
#include <benchmark/benchmark.h>

#include <chrono>
#include <coroutine>
#include <cstdint>
#include <exception>

#include "sluice/core/async_generator.hpp"
#include "sluice/core/generator.hpp"
#include "sluice/core/runtime.hpp"

namespace {

constexpr long k_items = 1 << 20;
constexpr long k_hop = 64;

double g_raw_ns = 0;  // per item, from raw_coroutine (runs first)

void report(benchmark::State& state, double seconds, bool is_anchor) {
  const double ns = seconds * 1e9 / (static_cast<double>(k_items) * static_cast<double>(state.iterations()));
  state.counters["ns_per_item"] = ns;
  if (is_anchor) {
    g_raw_ns = ns;
  } else if (g_raw_ns > 0) {
    state.counters["x_raw"] = g_raw_ns / ns;
  }
}

template <typename Run>
void timed(benchmark::State& state, bool is_anchor, Run run) {
  double seconds = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(run());
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  report(state, seconds, is_anchor);
}

struct raw_generator {
  struct promise_type {
    long value = 0;
    raw_generator get_return_object() { return {std::coroutine_handle<promise_type>::from_promise(*this)}; }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_always final_suspend() noexcept { return {}; }
    std::suspend_always yield_value(long v) noexcept {
      value = v;
      return {};
    }
    void return_void() noexcept {}
    void unhandled_exception() { std::terminate(); }
  };
  std::coroutine_handle<promise_type> handle;
};

raw_generator raw_numbers(long n) {
  for (long i = 0; i < n; ++i) co_yield i;
}

void raw_coroutine(benchmark::State& state) {
  timed(state, true, [] {
    long sum = 0;
    auto h = raw_numbers(k_items).handle;
    for (h.resume(); !h.done(); h.resume()) sum += h.promise().value;
    h.destroy();
    return sum;
  });
}

sluice::generator<long> numbers(long n) {
  for (long i = 0; i < n; ++i) co_yield i;
}

void generator(benchmark::State& state) {
  timed(state, false, [] {
    long sum = 0;
    for (long v : numbers(k_items)) sum += v;
    return sum;
  });
}

sluice::async_generator<long> async_numbers(sluice::runtime* rt, long n) {
  for (long i = 0; i < n; ++i) {
    if (rt && i % k_hop == 0) co_await rt->schedule();
    co_yield i;
  }
}

sluice::task<long> drain(sluice::async_generator<long> gen) {
  long sum = 0;
  for (;;) {
    auto next = gen.next();
    auto v = co_await next;
    if (!v) co_return sum;
    sum += *v;
  }
}

void async_generator(benchmark::State& state) {
  sluice::runtime rt({.threads = 2});
  timed(state, false, [&] { return rt.block_on(drain(async_numbers(nullptr, k_items))); });
}

void async_generator_hopping(benchmark::State& state) {
  sluice::runtime rt({.threads = 2});
  timed(state, false, [&] { return rt.block_on(drain(async_numbers(&rt, k_items))); });
}

BENCHMARK(raw_coroutine)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(generator)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(async_generator)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(async_generator_hopping)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
