// The pipeline of BM_SerialParallelSerial (pipeline_bench.cpp), shared by
// the two translation units of trace_bench: serial source -> parallel_map
// -> serial sink, over items of type Item. trace_bench_compiled_out.cpp
// includes it with SLUICE_NO_TRACE and its own Item type, so every template
// instance it makes is its own (no ODR clash with the traced instances).
#pragma once

#include <sluice/sluice.hpp>

#include <chrono>
#include <cstdint>
#include <vector>

namespace trace_bench {

inline std::uint64_t spin(std::uint64_t x, std::uint64_t spins) {
  for (std::uint64_t i = 0; i < spins; ++i) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  return x;
}

/// Seconds for one run over `in`; `spins` of busy work per item; the stall
/// watchdog off unless `watchdog` (then run()'s default, 30 s).
template <typename Item>
double run_shape(sluice::runtime& rt, const std::vector<Item>& in, std::uint64_t spins, std::uint64_t& sum,
                 bool watchdog = false) {
  constexpr std::size_t live_tokens = 2048;
  auto t0 = std::chrono::steady_clock::now();
  sluice::run(rt,
              sluice::from_ref(in, {.name = "numbers", .chunk = 128}) |
                  sluice::parallel_map([spins](Item x) { return Item{spin(x.value, spins)}; },
                                       {.name = "work", .batch = 256, .capacity = live_tokens / 2}) |
                  sluice::for_each([&](Item x) { sum += x.value; }, {.name = "sum", .capacity = live_tokens / 2}),
              {.stall_timeout = watchdog ? sluice::run_options{}.stall_timeout : std::chrono::milliseconds(0)});
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace trace_bench
