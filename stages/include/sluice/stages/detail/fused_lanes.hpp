// Fused stages in lanes (pipeline.hpp, "Fusion"): when the stage after a
// fused chain takes its input with several workers in any order (fold,
// count_by, group_by, top_k), the chain's stateless stages run as one copy
// per worker ("lane"), each copy in a coroutine of its own, instead of in the
// coroutine of the stage before them. The last stage that cannot be copied
// (the source, or a stage with state) then sends into a small bounded
// channel that the lanes take whole chunks from: the light per-item work is
// spread over the arena's threads like tbb::parallel_pipeline's parallel
// filter, at one channel hop per chunk.
//
// Accounting stays exact: the sender counts a chunk out when the lane
// channel took it, a lane counts it in when it takes it (accept_pushed), and
// chunks still in the channel when the run stops are pushed anyway, so the
// lane counts them as cancelled. Memory stays bounded: the lane channel
// holds one chunk per lane, and the lanes' sends wait on the run's limits in
// flight as the source's would (fused_inlet::runs_in_source). One chunk per
// lane rather than two: on the 200 MB access-log bench (2 threads) the
// second one only kept more blocks in flight (peak heap 5.2 -> 4.5 MB) and
// colder in cache (process CPU 3-4% lower with one; loaded machine).
//
// Thread-safety: each lane is pushed from one coroutine only; the group's
// counter is atomic, and the last lane to finish ends every lane's output, so
// no lane closes the shared channel after it while another still sends.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

#include "sluice/core/channel.hpp"
#include "sluice/core/task.hpp"
#include "sluice/stages/detail/bounded_send.hpp"
#include "sluice/stages/detail/outlet.hpp"
#include "sluice/stages/detail/pipeline_state.hpp"

namespace sluice::detail {

/// The lanes fed by one lane channel; the last to finish ends them all.
struct lane_group {
  explicit lane_group(inlet_list l) : lanes(std::move(l)), running(lanes.size()) {}
  inlet_list lanes;  // fused_inlet<T>s, T the lane channel's item type
  std::atomic<std::size_t> running;

  void lane_done() {
    if (running.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    for (auto& lane : lanes) lane->finish();
  }
};

/// One lane: pushes whole chunks from the lane channel into its copy of the
/// chain until the channel is closed and drained. Untyped (push_chunk), so
/// one coroutine serves every item type; a template only so that it is
/// compiled where used (see send_counted_through_bounds), and in the
/// headers, as every coroutine (core/task.hpp's protocol).
template <typename Lazy = void>
task<void> run_lane(channel_receiver<chunk_record> rx, std::size_t lane, std::shared_ptr<lane_group> group) {
  fused_inlet_base& inlet = *group->lanes[lane];
  while (auto c = co_await rx.recv()) {
    auto pushing = inlet.push_chunk(std::move(*c));
    // Downstream is gone: stop the sender; what is queued still goes
    // through the lane, which counts it as dropped or cancelled.
    if (!co_await std::move(pushing)) rx.close();
  }
  group->lane_done();
}

/// Starts one coroutine per lane and returns the sender of their channel
/// (an outlet's lanes_starter: `&start_lanes<>`).
template <typename Lazy = void>
channel_sender<chunk_record> start_lanes(pipeline_state& state, inlet_list lanes) {
  const std::size_t n = lanes.size();
  auto [tx, rx] = channel<chunk_record>(n);
  state.close_on_cancel(rx);
  // Not make_shared: once per run, and its control block is a dozen functions
  // per item type (docs/architecture.md, "Header cost").
  auto group = std::shared_ptr<lane_group>(new lane_group(std::move(lanes)));
  for (std::size_t i = 0; i < n; ++i) state.start(run_lane<Lazy>(rx, i, group));
  return std::move(tx);
}

}  // namespace sluice::detail
