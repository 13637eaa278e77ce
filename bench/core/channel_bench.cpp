// sluice::channel against the queues it competes with, on the same workload:
// P producer threads push N small items, C consumers pop them all.
//
// Anchors (run first, same binary): raw moodycamel::ConcurrentQueue (with
// producer tokens, consumers spinning on try_dequeue), BlockingConcurrentQueue,
// tbb::concurrent_bounded_queue. Each sluice row reports ns_per_item and
// vs_moodycamel = its throughput / raw moodycamel's for the same P×C
// (1.0 = as fast). The recv_batch rows compare with moodycamel's bulk
// dequeue (aim: >= 0.9), both producers enqueueing one item at a time; the
// send_batch rows have both producers enqueue runs of 256 (enqueue_bulk with
// a token against send_batch_blocking) and both consumers take batches.
// The bounded rows also compare with the same anchors held to the channel's
// bound (vs_moodycamel_bulk_bounded, vs_moodycamel_bulk_both_bounded: the
// queue's 1024 slots allocated up front, producers on try_enqueue waiting
// for room; 1x1 only), since a producer of the unbounded anchors never waits.
// Both sides are measured alike: the same threads, started and joined inside
// the timed window, and every thread body flattened so that each library's
// calls are inlined into its loop (see run_threads: without that the anchor
// ran 2-4x slower here than in a small program). The consumers wait as each
// library waits: the anchors' spin (raw ConcurrentQueue cannot block),
// sluice's back off, yield and then park.
// The main anchor of the bounded blocking row,
// crossbeam-channel, is a Rust program: bench/crossbeam/compare.sh runs it
// and this binary alternately and prints the ratio (aim: >= 1.0).
// GCC 12 reports a false -Wstringop-overflow inside <atomic> when
// moodycamel's enqueue_bulk is inlined (the raw_moodycamel_bulk_both anchor);
// the pragma must precede the headers, where the warning is located.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif
#include <benchmark/benchmark.h>
#include <oneapi/tbb/concurrent_queue.h>

#include <concurrentqueue/blockingconcurrentqueue.h>
#include <concurrentqueue/concurrentqueue.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <sluice/core/core.hpp>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

constexpr std::int64_t items = 1 << 20;
constexpr std::size_t capacity = 1024;
constexpr std::size_t bulk = 256;

using item_t = std::uint64_t;

// Throughput of the anchor, per (anchor name, producers, consumers).
std::map<std::string, double>& anchors() {
  static std::map<std::string, double> m;
  return m;
}
std::string key(const char* anchor, const benchmark::State& s) {
  return std::string(anchor) + "/" + std::to_string(s.range(0)) + "x" + std::to_string(s.range(1));
}

// Runs `produce(id, count)` on P threads and `consume()` (returns items taken)
// on C threads; returns seconds.
//
// Each thread's body is flattened: every call in it is inlined, recursively,
// whatever GCC's inliner would decide in this large file. Without it GCC kept
// moodycamel's `enqueue` out of line here (it is instantiated for several
// rows) but inlined sluice's send fast path, and that call alone moved the
// anchor from one steady state to another: with the producer a few ns per
// item slower, the anchor's consumer (which never backs off) catches up with
// it and then chases it, polling the lines it is writing, which slows the
// producer further. The same loop in a small file (enqueue inlined) ran at
// 6-20 ns/item, here at 25-56, and the anchor's "bimodal" 29-or-55 was that
// bistable chase. Flattening both sides alike measures each as a program
// that calls it from a small loop would.
//
// Flattening costs compile time: about 140 s of CPU for this file at -O3
// against 8 without. So it is done only in optimised builds without a
// sanitizer (the release preset); the debug build, which CI compiles, skips
// it.
#if defined(__OPTIMIZE__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define SLUICE_BENCH_FLATTEN __attribute__((flatten))
#else
#define SLUICE_BENCH_FLATTEN
#endif
template <typename Produce, typename Consume>
double run_threads(int producers, int consumers, Produce produce, Consume consume) {
  std::vector<std::thread> threads;
  std::atomic<std::int64_t> consumed{0};
  auto start = std::chrono::steady_clock::now();
  for (int c = 0; c < consumers; ++c) threads.emplace_back([&]() SLUICE_BENCH_FLATTEN { consumed += consume(); });
  for (int p = 0; p < producers; ++p)
    threads.emplace_back([&, p]() SLUICE_BENCH_FLATTEN { produce(p, items / producers); });
  for (auto& t : threads) t.join();
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (consumed.load() != items) throw std::logic_error("items lost");
  return secs;
}

// Adds vs_<anchor> = this row's throughput (items_per_s, set by report())
// over the anchor's for the same P x C, if the anchor ran in this process.
void report_vs(benchmark::State& state, const char* anchor) {
  const auto k = key(anchor, state);
  if (anchors().count(k))
    state.counters[std::string("vs_") + anchor] = state.counters["items_per_s"].value / anchors()[k];
}

void report(benchmark::State& state, double seconds_total, const char* anchor_for_ratio, bool is_anchor) {
  double per_sec = static_cast<double>(items) * static_cast<double>(state.iterations()) / seconds_total;
  state.counters["ns_per_item"] = 1e9 / per_sec;
  state.counters["items_per_s"] = per_sec;
  if (is_anchor) {
    anchors()[key(anchor_for_ratio, state)] = per_sec;
  } else {
    report_vs(state, anchor_for_ratio);
  }
}

// ---- anchors -------------------------------------------------------------------

using moodycamel_queue = moodycamel::ConcurrentQueue<item_t>;
using moodycamel_blocking_queue = moodycamel::BlockingConcurrentQueue<item_t>;

// The anchors' batch consumer: takes up to `bulk` items at a time with
// try_dequeue_bulk, spinning on an empty queue, until every item is taken.
constexpr auto dequeue_in_bulk = [](moodycamel_queue& q, std::atomic<std::int64_t>& remaining) {
  std::int64_t got = 0;
  item_t buf[bulk];
  while (remaining.load(std::memory_order_relaxed) > 0) {
    auto n = static_cast<std::int64_t>(q.try_dequeue_bulk(buf, bulk));
    if (n) {
      got += n;
      remaining.fetch_sub(n, std::memory_order_relaxed);
    }
  }
  return got;
};

// A batch producer's items: 0 .. n-1 handed to `send(run, k)` in runs of
// up to `bulk` (the send_batch rows and their anchors).
template <typename SendRun>
void in_runs(std::int64_t n, SendRun send) {
  item_t run[bulk];
  for (std::int64_t i = 0; i < n;) {
    const auto k = static_cast<std::size_t>(std::min<std::int64_t>(bulk, n - i));
    for (std::size_t j = 0; j < k; ++j) run[j] = static_cast<item_t>(i + static_cast<std::int64_t>(j));
    send(run, k);
    i += static_cast<std::int64_t>(k);
  }
}

// A bounded anchor's producer waiting for room: spins a little, then yields
// (two cores, up to four threads: the consumer may need this core).
template <typename TryEnqueue>
void enqueue_when_room(TryEnqueue try_enqueue) {
  for (int spins = 0; !try_enqueue(); ++spins) {
    if (spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    } else {
      std::this_thread::yield();
    }
  }
}

// The moodycamel rows: `produce(q, token, n)` enqueues 0 .. n-1 on each of
// P producer threads (with a producer token), `consume(q, remaining)` runs
// on C consumer threads and returns how many it took; the row's throughput
// is kept as anchor `name` (`is_anchor`) or compared with it.
template <typename Queue, typename Produce, typename Consume>
void moodycamel_row(benchmark::State& state, const char* name, bool is_anchor, Produce produce, Consume consume) {
  const int P = static_cast<int>(state.range(0)), C = static_cast<int>(state.range(1));
  double total = 0;
  for (auto _ : state) {
    Queue q(capacity);
    std::atomic<std::int64_t> remaining{items};
    total += run_threads(
        P, C,
        [&](int, std::int64_t n) {
          moodycamel::ProducerToken tok(q);
          produce(q, tok, n);
        },
        [&] { return consume(q, remaining); });
  }
  report(state, total, name, is_anchor);
}

// The producer of the rows that enqueue one item at a time.
constexpr auto enqueue_each = [](auto& q, moodycamel::ProducerToken& tok, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) q.enqueue(tok, static_cast<item_t>(i));
};

// A consumer taking one item at a time with `take(q, item)` (true: took one)
// until every item is taken.
template <typename Take>
auto dequeue_each(Take take) {
  return [take](auto& q, std::atomic<std::int64_t>& remaining) {
    std::int64_t got = 0;
    item_t v;
    while (remaining.load(std::memory_order_relaxed) > 0) {
      if (take(q, v)) {
        ++got;
        remaining.fetch_sub(1, std::memory_order_relaxed);
      }
    }
    return got;
  };
}

void raw_moodycamel(benchmark::State& state) {
  moodycamel_row<moodycamel_queue>(state, "moodycamel", true, enqueue_each,
                                   dequeue_each([](moodycamel_queue& q, item_t& v) { return q.try_dequeue(v); }));
}

void raw_moodycamel_bulk(benchmark::State& state) {
  moodycamel_row<moodycamel_queue>(state, "moodycamel_bulk", true, enqueue_each, dequeue_in_bulk);
}

// Both ends in bulk: the producer (with its token) enqueues runs of `bulk`
// items with enqueue_bulk, the consumer takes them with try_dequeue_bulk.
// The anchor of the sluice_send_batch rows, whose producers have the same
// runs at hand and send them with send_batch_blocking.
void raw_moodycamel_bulk_both(benchmark::State& state) {
  moodycamel_row<moodycamel_queue>(
      state, "moodycamel_bulk_both", true,
      [](moodycamel_queue& q, moodycamel::ProducerToken& tok, std::int64_t n) {
        in_runs(n, [&](item_t* run, std::size_t k) { q.enqueue_bulk(tok, run, k); });
      },
      dequeue_in_bulk);
}

// The bulk anchors held to the sluice channel's bound: the queue is made with
// `capacity` slots (32 blocks of 32, allocated up front) and the producers
// use try_enqueue / try_enqueue_bulk, which never allocate and fail while no
// block is free, so a producer that gets ahead waits for the consumer as a
// bounded channel's sender does (a run of `bulk` waits for room for all of
// it). Against these the bounded sluice rows compare like with like; the
// unbounded anchors above let a producer run ahead without limit, so their
// consumer mostly takes lines the producer finished long ago.
// One producer only: an explicit producer keeps the blocks it took from the
// pool for the queue's life and reuses only those, so with two a producer
// can hold most of the 32 and the other too few for a run of `bulk` (it then
// waits forever: the 2x2 run of the bulk_both anchor hung), or none. The
// bound holds like a ring's only with a single producer.
void raw_moodycamel_bulk_bounded(benchmark::State& state) {
  moodycamel_row<moodycamel_queue>(
      state, "moodycamel_bulk_bounded", true,
      [](moodycamel_queue& q, moodycamel::ProducerToken& tok, std::int64_t n) {
        for (std::int64_t i = 0; i < n; ++i)
          enqueue_when_room([&] { return q.try_enqueue(tok, static_cast<item_t>(i)); });
      },
      dequeue_in_bulk);
}

void raw_moodycamel_bulk_both_bounded(benchmark::State& state) {
  moodycamel_row<moodycamel_queue>(
      state, "moodycamel_bulk_both_bounded", true,
      [](moodycamel_queue& q, moodycamel::ProducerToken& tok, std::int64_t n) {
        in_runs(
            n, [&](item_t* run, std::size_t k) { enqueue_when_room([&] { return q.try_enqueue_bulk(tok, run, k); }); });
      },
      dequeue_in_bulk);
}

void moodycamel_blocking(benchmark::State& state) {
  moodycamel_row<moodycamel_blocking_queue>(
      state, "moodycamel", false, enqueue_each,
      dequeue_each([](moodycamel_blocking_queue& q, item_t& v) { return q.wait_dequeue_timed(v, 1000); }));
}

void tbb_bounded_queue(benchmark::State& state) {
  const int P = static_cast<int>(state.range(0)), C = static_cast<int>(state.range(1));
  double total = 0;
  for (auto _ : state) {
    tbb::concurrent_bounded_queue<item_t> q;
    q.set_capacity(capacity);
    total += run_threads(
        P, C,
        [&](int, std::int64_t n) {
          for (std::int64_t i = 0; i < n; ++i) q.push(static_cast<item_t>(i));
        },
        [&] {
          std::int64_t got = 0;
          item_t v;
          // Each consumer takes an equal share; the queue has no close.
          for (std::int64_t i = 0; i < items / static_cast<std::int64_t>(C); ++i) {
            q.pop(v);
            ++got;
          }
          return got;
        });
  }
  report(state, total, "moodycamel", false);
}

// ---- sluice ----------------------------------------------------------------------

void sluice_blocking(benchmark::State& state, std::size_t cap) {
  const int P = static_cast<int>(state.range(0)), C = static_cast<int>(state.range(1));
  double total = 0;
  for (auto _ : state) {
    auto [tx, rx] = sluice::channel<item_t>(cap);
    std::vector<sluice::channel_sender<item_t>> senders(static_cast<std::size_t>(P), tx);
    { auto drop = std::move(tx); }
    total += run_threads(
        P, C,
        [&](int p, std::int64_t n) {
          auto s = std::move(senders[static_cast<std::size_t>(p)]);
          for (std::int64_t i = 0; i < n; ++i) (void)s.send_blocking(static_cast<item_t>(i));
        },
        [r = rx]() mutable {
          std::int64_t got = 0;
          while (r.recv_blocking()) ++got;
          return got;
        });
  }
  report(state, total, "moodycamel", false);
}
void sluice_blocking_bounded(benchmark::State& s) { sluice_blocking(s, capacity); }
void sluice_blocking_unbounded(benchmark::State& s) { sluice_blocking(s, 0); }

// The batch consumer of the recv_batch and send_batch rows: takes up to
// `bulk` items at a time until the channel is closed and drained.
std::int64_t recv_in_batches(sluice::channel_receiver<item_t>& rx) {
  std::int64_t got = 0;
  std::vector<item_t> buf;
  buf.reserve(bulk);
  while (std::size_t n = rx.recv_batch_blocking(buf, bulk)) {
    got += static_cast<std::int64_t>(n);
    buf.clear();
  }
  return got;
}

// `order`: unbounded only; per_sender gives each producer a lane of its own
// (sluice::channel_order), the order moodycamel's token producers keep.
void sluice_recv_batch(benchmark::State& state, std::size_t cap,
                       sluice::channel_order order = sluice::channel_order::sends_take_effect) {
  const int P = static_cast<int>(state.range(0)), C = static_cast<int>(state.range(1));
  double total = 0;
  for (auto _ : state) {
    auto [tx, rx] =
        cap ? sluice::channel<item_t>(cap) : sluice::unbounded_channel<item_t>(order, static_cast<std::uint32_t>(P));
    std::vector<sluice::channel_sender<item_t>> senders(static_cast<std::size_t>(P), tx);
    { auto drop = std::move(tx); }
    total += run_threads(
        P, C,
        [&](int p, std::int64_t n) {
          auto s = std::move(senders[static_cast<std::size_t>(p)]);
          for (std::int64_t i = 0; i < n; ++i) (void)s.send_blocking(static_cast<item_t>(i));
        },
        [r = rx]() mutable { return recv_in_batches(r); });
  }
  report(state, total, "moodycamel_bulk", false);
}

void sluice_recv_batch_bounded(benchmark::State& s) {
  sluice_recv_batch(s, capacity);
  report_vs(s, "moodycamel_bulk_bounded");
}
void sluice_recv_batch_unbounded(benchmark::State& s) { sluice_recv_batch(s, 0); }
void sluice_recv_batch_per_sender(benchmark::State& s) { sluice_recv_batch(s, 0, sluice::channel_order::per_sender); }

// Both ends in batches, as raw_moodycamel_bulk_both: the producer has runs
// of `bulk` items and sends each with send_batch_blocking (one claim per run
// of free slots), the consumer takes them with recv_batch_blocking.
void sluice_send_batch(benchmark::State& state, std::size_t cap) {
  const int P = static_cast<int>(state.range(0)), C = static_cast<int>(state.range(1));
  double total = 0;
  for (auto _ : state) {
    auto [tx, rx] = sluice::channel<item_t>(cap);
    std::vector<sluice::channel_sender<item_t>> senders(static_cast<std::size_t>(P), tx);
    { auto drop = std::move(tx); }
    total += run_threads(
        P, C,
        [&](int p, std::int64_t n) {
          auto s = std::move(senders[static_cast<std::size_t>(p)]);
          in_runs(n, [&](item_t* run, std::size_t k) {
            if (s.send_batch_blocking(std::span(run, k)) != k) throw std::logic_error("batch cut short");
          });
        },
        [r = rx]() mutable { return recv_in_batches(r); });
  }
  report(state, total, "moodycamel_bulk_both", false);
}

void sluice_send_batch_bounded(benchmark::State& s) {
  sluice_send_batch(s, capacity);
  report_vs(s, "moodycamel_bulk_both_bounded");
}
void sluice_send_batch_unbounded(benchmark::State& s) { sluice_send_batch(s, 0); }

// Producers and consumers are coroutines on a runtime with P+C... capped at
// the machine: the arena has 2 threads here, so this also measures suspension
// and resumption through the arena whenever the channel is full or empty.
void sluice_coroutines(benchmark::State& state) {
  const int P = static_cast<int>(state.range(0)), C = static_cast<int>(state.range(1));
  sluice::runtime rt({.threads = static_cast<std::size_t>(std::max(2, P + C))});
  double total = 0;
  for (auto _ : state) {
    auto [tx, rx] = sluice::channel<item_t>(capacity);
    auto start = std::chrono::steady_clock::now();
    std::vector<sluice::join_handle<std::int64_t>> consumers;
    for (int c = 0; c < C; ++c)
      consumers.push_back(rt.spawn([](sluice::channel_receiver<item_t> r) -> sluice::task<std::int64_t> {
        std::int64_t got = 0;
        while (co_await r.recv()) ++got;
        co_return got;
      }(rx)));
    std::vector<sluice::join_handle<void>> producers;
    for (int p = 0; p < P; ++p)
      producers.push_back(rt.spawn([](sluice::channel_sender<item_t> s, std::int64_t n) -> sluice::task<void> {
        for (std::int64_t i = 0; i < n; ++i) {
          item_t v = static_cast<item_t>(i);
          co_await s.send(v);
        }
      }(tx, items / P)));
    { auto drop = std::move(tx); }
    { auto drop = std::move(rx); }
    for (auto& p : producers) p.get();
    std::int64_t got = 0;
    for (auto& c : consumers) got += c.get();
    if (got != items) throw std::logic_error("items lost");
    total += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  report(state, total, "moodycamel", false);
}

void shapes(benchmark::internal::Benchmark* b) {
  b->Args({1, 1})->Args({2, 2})->ArgNames({"P", "C"})->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(5);
}
// The bounded anchors, one producer only (see raw_moodycamel_bulk_bounded).
void one_producer(benchmark::internal::Benchmark* b) {
  b->Args({1, 1})->ArgNames({"P", "C"})->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(5);
}

}  // namespace

BENCHMARK(raw_moodycamel)->Apply(shapes);
BENCHMARK(raw_moodycamel_bulk)->Apply(shapes);
BENCHMARK(raw_moodycamel_bulk_both)->Apply(shapes);
BENCHMARK(raw_moodycamel_bulk_bounded)->Apply(one_producer);
BENCHMARK(raw_moodycamel_bulk_both_bounded)->Apply(one_producer);
BENCHMARK(moodycamel_blocking)->Apply(shapes);
BENCHMARK(tbb_bounded_queue)->Apply(shapes);
BENCHMARK(sluice_blocking_bounded)->Apply(shapes);
BENCHMARK(sluice_blocking_unbounded)->Apply(shapes);
BENCHMARK(sluice_recv_batch_bounded)->Apply(shapes);
BENCHMARK(sluice_recv_batch_unbounded)->Apply(shapes);
BENCHMARK(sluice_recv_batch_per_sender)->Apply(shapes);
BENCHMARK(sluice_send_batch_bounded)->Apply(shapes);
BENCHMARK(sluice_send_batch_unbounded)->Apply(shapes);
BENCHMARK(sluice_coroutines)->Apply(shapes);

BENCHMARK_MAIN();
