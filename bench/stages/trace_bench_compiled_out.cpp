// The anchor of trace_bench: the same pipeline with the stage library's
// trace points compiled out (SLUICE_NO_TRACE) and an item type of its own.
#define SLUICE_NO_TRACE 1
#include "trace_bench_shape.hpp"

namespace trace_bench {

struct untraced_item {
  std::uint64_t value;
};

double run_compiled_out(sluice::runtime& rt, std::size_t n, std::uint64_t spins, std::uint64_t& sum) {
  static std::vector<untraced_item> in;
  if (in.size() != n) {
    in.resize(n);
    for (std::size_t i = 0; i < n; ++i) in[i].value = i + 1;
  }
  return run_shape(rt, in, spins, sum);
}

}  // namespace trace_bench
