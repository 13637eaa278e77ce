// sluice::run_options: how sluice::run executes a pipeline.
//
//   sluice::run(rt, std::move(p), {.max_bytes_in_flight = 64 << 20, .stop = stop.get_token()});
//
// The limits in flight bound what waits in the pipeline's channels, summed
// over all of them, like parallel_pipeline's token count: while the sum is
// at the limit, the source (and the stages fused with it) wait; the stages
// after it never wait on the limit, so they always drain (no deadlock). A
// chunk larger than the whole limit still goes, alone, when nothing else
// is in flight. What stages hold while working on it (a chunk each, a batch
// per parallel_map worker) comes on top: keep chunks small for big items
// (`.chunk = 1` on the source) and see docs/pipeline.md, "Choosing the
// item granularity". Bytes are measured with sluice::item_bytes (item_bytes.hpp).
#pragma once

#include <cstddef>
#include <stop_token>

namespace sluice {

/// Designated-initialiser friendly; every member defaults to "no limit".
struct run_options {
  /// Items waiting in the pipeline's channels at most (0: no limit).
  std::size_t max_items_in_flight = 0;
  /// Bytes (sluice::item_bytes) waiting in the pipeline's channels at most (0: no limit).
  std::size_t max_bytes_in_flight = 0;
  /// Cancels the run when stopped (see run.hpp).
  std::stop_token stop = {};
};

}  // namespace sluice
