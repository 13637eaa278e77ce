// Round-trip costs of sluice's task machinery, beside the floor they stand on.
//
//  * raw_resume: resuming a suspended coroutine_handle in a loop (the floor).
//  * task_co_await: creating and co_awaiting a trivial task<int> (frame
//    allocation + symmetric transfer there and back).
//  * tbb_enqueue_roundtrip: task_arena::enqueue of an empty functor and a
//    blocking wait for it (the anchor for spawn: what a hand-written TBB hop costs).
//  * spawn_await: rt.spawn(task) + awaiting the join handle from a coroutine.
//  * offload_oneshot: rt.offload(fn) + co_await of the oneshot (the seed's
//    rayon::spawn + oneshot round trip).
#include <benchmark/benchmark.h>

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>
#include <atomic>
#include <coroutine>
#include <sluice/core/core.hpp>

namespace {

struct suspend_loop {
  struct promise_type {
    suspend_loop get_return_object() { return {std::coroutine_handle<promise_type>::from_promise(*this)}; }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_always final_suspend() noexcept { return {}; }
    void return_void() {}
    void unhandled_exception() { std::terminate(); }
  };
  std::coroutine_handle<promise_type> handle;
};

suspend_loop forever() {
  for (;;) co_await std::suspend_always{};
}

void raw_resume(benchmark::State& state) {
  auto c = forever();
  for (auto _ : state) c.handle.resume();
  c.handle.destroy();
  state.counters["ns_per_op"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                   benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

sluice::task<int> trivial(int v) { co_return v; }

void task_co_await(benchmark::State& state) {
  constexpr int batch = 1000;
  for (auto _ : state) {
    int sum = sluice::sync_wait([]() -> sluice::task<int> {
      int s = 0;
      for (int i = 0; i < batch; ++i) s += co_await trivial(i);
      co_return s;
    }());
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * batch);
}

void tbb_enqueue_roundtrip(benchmark::State& state) {
  tbb::global_control gc(tbb::global_control::max_allowed_parallelism, 3);
  tbb::task_arena arena(2, 0);
  std::atomic<int> done{0};
  for (auto _ : state) {
    done.store(0, std::memory_order_relaxed);
    arena.enqueue([&] {
      done.store(1, std::memory_order_release);
      done.notify_one();
    });
    while (done.load(std::memory_order_acquire) == 0) done.wait(0, std::memory_order_acquire);
  }
  state.SetItemsProcessed(state.iterations());
}

void spawn_await(benchmark::State& state) {
  sluice::runtime rt({.threads = 2});
  constexpr int batch = 1000;
  for (auto _ : state) {
    int sum = rt.block_on([](sluice::runtime& r) -> sluice::task<int> {
      int s = 0;
      for (int i = 0; i < batch; ++i) {
        auto h = r.spawn(trivial(i));
        s += co_await h;
      }
      co_return s;
    }(rt));
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * batch);
}

void offload_oneshot(benchmark::State& state) {
  sluice::runtime rt({.threads = 2});
  constexpr int batch = 1000;
  for (auto _ : state) {
    int sum = rt.block_on([](sluice::runtime& r) -> sluice::task<int> {
      int s = 0;
      for (int i = 0; i < batch; ++i) {
        auto rx = r.offload([i] { return i; });
        s += co_await rx;
      }
      co_return s;
    }(rt));
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * batch);
}

}  // namespace

BENCHMARK(raw_resume);
BENCHMARK(task_co_await);
BENCHMARK(tbb_enqueue_roundtrip)->UseRealTime();
BENCHMARK(spawn_await)->UseRealTime();
BENCHMARK(offload_oneshot)->UseRealTime();

BENCHMARK_MAIN();
