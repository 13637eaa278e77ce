// How long one cache line takes to travel between two cores, one way: two
// threads pass a counter back and forth through one line, each waiting for
// the other's store before it writes the next value.
//
// Why benchmarks print it: every sluice-against-anchor ratio whose two sides
// hand lines between threads (channels, the trace's buffers) moves with this
// figure, and on the 2-vCPU machines sluice is measured on it changes while
// benchmarks run, by a factor of two and more (from tens of ns to over
// 200 ns), anchors included. A ratio read without it cannot tell a change in
// sluice from a change in where the hypervisor placed the vCPUs.
#pragma once

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

namespace sluice_bench {

/// Mean one-way transfer time in ns over up to `round_trips` round trips
/// (10-100 ms at the default; cut short after 500 ms, as when the two threads
/// share a CPU and each transfer waits for a preemption). The threads are
/// not pinned, like the benchmarks' own. 0 with fewer than two CPUs.
inline double one_way_line_transfer_ns(std::int64_t round_trips = 100'000) {
  cpu_set_t cpus;
  if (::sched_getaffinity(0, sizeof cpus, &cpus) != 0 || CPU_COUNT(&cpus) < 2) return 0;
  constexpr std::int64_t stop = -1;
  struct alignas(64) whole_line {  // nothing else of this frame on the line
    std::atomic<std::int64_t> turn{0};
  } line;
  std::atomic<std::int64_t>& turn = line.turn;
  const std::int64_t last = 2 * round_trips;
  std::thread echo([&turn, last] {
    for (std::int64_t i = 1; i < last; i += 2) {
      for (std::int64_t seen; (seen = turn.load(std::memory_order_acquire)) != i;)
        if (seen == stop) return;
      turn.store(i + 1, std::memory_order_release);
    }
  });
  const auto t0 = std::chrono::steady_clock::now();
  const auto give_up = t0 + std::chrono::milliseconds(500);
  std::int64_t done = 0;
  for (; done < last; done += 2) {
    while (turn.load(std::memory_order_acquire) != done) {
    }
    if (done % 8192 == 0 && done > 0 && std::chrono::steady_clock::now() > give_up) {
      turn.store(stop, std::memory_order_release);
      break;
    }
    turn.store(done + 1, std::memory_order_release);
  }
  if (done == last)  // the echo's last store
    while (turn.load(std::memory_order_acquire) != last) {
    }
  echo.join();
  const std::chrono::duration<double, std::nano> elapsed = std::chrono::steady_clock::now() - t0;
  return elapsed.count() / static_cast<double>(std::max<std::int64_t>(done, 1));
}

}  // namespace sluice_bench
