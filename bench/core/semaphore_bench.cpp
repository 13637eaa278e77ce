// sluice::semaphore beside the semaphores a C++ programmer would otherwise reach for.
//
// Uncontended (one thread, a permit always free): acquire + release per op.
//  * std_counting_semaphore: std::counting_semaphore<> (the anchor).
//  * tbb_bounded_queue: a tbb::concurrent_bounded_queue<char> of tokens used
//    as a semaphore (pop = acquire, push = release).
//  * sluice_try_acquire: try_acquire() + release().
//  * sluice_co_await: co_await acquire() + release() inside one coroutine.
//
// Contended: `workers` holders share `limit` permits and each does `k_ops`
// acquire / tiny critical section / release. The std and TBB rows use one
// thread per worker (blocking); the sluice row uses one coroutine per worker
// on a runtime with 2 threads (suspending). Same total operations.
//
// Counters: ns_per_op, and x_std = std::counting_semaphore ns / this row's ns
// (above 1: faster than the anchor). The anchor rows run first.
//
// Reading the contended rows: sluice::semaphore is FIFO, so while anyone
// waits every release hands the permit to the oldest waiter, which resumes
// on the arena (one hop per operation). std::counting_semaphore lets the
// releasing thread take its permit straight back (barging), so most of its
// operations never hand over. The gap is the price of fairness, not of the
// fast path (the uncontended rows).
#include <benchmark/benchmark.h>
#include <oneapi/tbb/concurrent_queue.h>

#include <atomic>
#include <chrono>
#include <semaphore>
#include <thread>
#include <vector>

#include "sluice/core/runtime.hpp"
#include "sluice/core/semaphore.hpp"
#include "sluice/core/task_scope.hpp"

namespace {

constexpr int k_ops = 1 << 16;
constexpr int k_workers = 8;
constexpr std::ptrdiff_t k_limit = 2;

double g_std_uncontended_ns = 0;
double g_std_contended_ns = 0;

void report(benchmark::State& state, double seconds, double ops_per_iteration, double& anchor, bool is_anchor) {
  const double ns = seconds * 1e9 / (ops_per_iteration * static_cast<double>(state.iterations()));
  state.counters["ns_per_op"] = ns;
  if (is_anchor) {
    anchor = ns;
  } else if (anchor > 0) {
    state.counters["x_std"] = anchor / ns;
  }
}

template <typename Run>
void timed(benchmark::State& state, double ops, double& anchor, bool is_anchor, Run run) {
  double seconds = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  report(state, seconds, ops, anchor, is_anchor);
}

// ---- uncontended ------------------------------------------------------------

void std_counting_semaphore(benchmark::State& state) {
  std::counting_semaphore<> sem(k_limit);
  timed(state, k_ops, g_std_uncontended_ns, true, [&] {
    for (int i = 0; i < k_ops; ++i) {
      sem.acquire();
      sem.release();
    }
  });
}

void tbb_bounded_queue(benchmark::State& state) {
  tbb::concurrent_bounded_queue<char> tokens;
  for (std::ptrdiff_t i = 0; i < k_limit; ++i) tokens.push(1);
  timed(state, k_ops, g_std_uncontended_ns, false, [&] {
    char token = 0;
    for (int i = 0; i < k_ops; ++i) {
      tokens.pop(token);
      tokens.push(token);
    }
  });
}

void sluice_try_acquire(benchmark::State& state) {
  sluice::semaphore sem(k_limit);
  timed(state, k_ops, g_std_uncontended_ns, false, [&] {
    for (int i = 0; i < k_ops; ++i) {
      benchmark::DoNotOptimize(sem.try_acquire());
      sem.release();
    }
  });
}

sluice::task<void> acquire_release_loop(sluice::semaphore& sem, int n) {
  for (int i = 0; i < n; ++i) {
    co_await sem.acquire();
    sem.release();
  }
}

void sluice_co_await(benchmark::State& state) {
  sluice::semaphore sem(k_limit);
  timed(state, k_ops, g_std_uncontended_ns, false, [&] { sluice::sync_wait(acquire_release_loop(sem, k_ops)); });
}

// ---- contended ----------------------------------------------------------------

std::atomic<long> g_sink{0};

void critical_section() { g_sink.fetch_add(1, std::memory_order_relaxed); }

template <typename Body>
void run_threads(Body body) {
  std::vector<std::thread> threads;
  threads.reserve(k_workers);
  for (int w = 0; w < k_workers; ++w) threads.emplace_back(body);
  for (auto& t : threads) t.join();
}

constexpr int k_ops_each = k_ops / k_workers;

void std_counting_semaphore_contended(benchmark::State& state) {
  std::counting_semaphore<> sem(k_limit);
  timed(state, k_ops, g_std_contended_ns, true, [&] {
    run_threads([&] {
      for (int i = 0; i < k_ops_each; ++i) {
        sem.acquire();
        critical_section();
        sem.release();
      }
    });
  });
}

void tbb_bounded_queue_contended(benchmark::State& state) {
  tbb::concurrent_bounded_queue<char> tokens;
  for (std::ptrdiff_t i = 0; i < k_limit; ++i) tokens.push(1);
  timed(state, k_ops, g_std_contended_ns, false, [&] {
    run_threads([&] {
      char token = 0;
      for (int i = 0; i < k_ops_each; ++i) {
        tokens.pop(token);
        critical_section();
        tokens.push(token);
      }
    });
  });
}

sluice::task<void> contended_worker(sluice::semaphore& sem) {
  for (int i = 0; i < k_ops_each; ++i) {
    co_await sem.acquire();
    critical_section();
    sem.release();
  }
}

sluice::task<void> contended_all(sluice::runtime& rt, sluice::semaphore& sem) {
  sluice::task_scope scope(rt);
  for (int w = 0; w < k_workers; ++w) scope.spawn(contended_worker(sem));
  co_await scope.join();
}

void sluice_co_await_contended(benchmark::State& state) {
  sluice::runtime rt({.threads = 2});
  sluice::semaphore sem(k_limit);
  timed(state, k_ops, g_std_contended_ns, false, [&] { rt.block_on(contended_all(rt, sem)); });
}

}  // namespace

BENCHMARK(std_counting_semaphore)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(tbb_bounded_queue)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(sluice_try_acquire)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(sluice_co_await)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(std_counting_semaphore_contended)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(tbb_bounded_queue_contended)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(sluice_co_await_contended)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
