// Where a stage sends its chunks: the bounded channel to the next stage, or,
// when the next stage is fused with it (see pipeline.hpp, "Fusion"), that
// stage itself, called in the sender's coroutine with no channel between.
#pragma once

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

#include "sluice/core/channel.hpp"
#include "sluice/core/task.hpp"

namespace sluice::detail {

template <typename T>
struct chunk;
class pipeline_state;

/// The receiving side of a fused link: a stage that runs inside the
/// coroutine of the stage before it. Only one coroutine ever calls it (the
/// upstream stage sends from one coroutine), so it needs no locking.
template <typename T>
class fused_inlet {
 public:
  fused_inlet() = default;
  fused_inlet(const fused_inlet&) = delete;
  fused_inlet& operator=(const fused_inlet&) = delete;
  virtual ~fused_inlet() = default;

  /// Handles `items` (just produced upstream) as the stage's next input chunk
  /// and sends its results on. False when downstream is gone (the items are
  /// then counted as dropped or cancelled, as a failed channel send would).
  virtual task<bool> push(std::vector<T> items) = 0;
  /// End of input: the stage ends its own output.
  virtual void finish() = 0;
  /// Says that push() is called from the source's coroutine: this stage's
  /// sends then wait on the run's limits in flight, as the source's would.
  virtual void runs_in_source() = 0;
};

/// A channel sender or a fused stage. Converts from a channel sender, so
/// code that connects stages through channels needs no change.
template <typename T>
struct outlet {
  channel_sender<chunk<T>> tx = {};
  std::shared_ptr<fused_inlet<T>> fused = {};
  /// With `tx`: the receiving stage takes its input with this many workers
  /// and in any order, so up to this many coroutines may send into `tx` at
  /// once, each through its own copy (fused_lanes.hpp). 0 or 1: one sender.
  std::size_t spread = 0;
  /// Instead of `tx` or `fused`: copies of the next (fused) stage, each to be
  /// pushed from a coroutine of its own, in any order (fused_lanes.hpp).
  std::vector<std::shared_ptr<fused_inlet<T>>> lanes = {};
  /// With `lanes`: starts their coroutines and returns the sender feeding
  /// them (start_lanes<T>, fused_lanes.hpp). Set by whoever makes the lanes,
  /// so only item types that have lanes instantiate them, not every stage's
  /// output type (docs/architecture.md, "Header cost").
  using lanes_starter = channel_sender<chunk<T>> (*)(pipeline_state&, std::vector<std::shared_ptr<fused_inlet<T>>>);
  lanes_starter start_lanes = nullptr;

  outlet() = default;
  outlet(channel_sender<chunk<T>> sender) : tx(std::move(sender)) {}  // NOLINT(google-explicit-constructor)
  outlet(channel_sender<chunk<T>> sender, std::size_t workers) : tx(std::move(sender)), spread(workers) {}
  explicit outlet(std::shared_ptr<fused_inlet<T>> inlet) : fused(std::move(inlet)) {}
  outlet(std::vector<std::shared_ptr<fused_inlet<T>>> copies, lanes_starter start)
      : lanes(std::move(copies)), start_lanes(start) {}

  /// How many copies of a stateless fused stage this outlet can feed in
  /// parallel (1: run it once, in the sender's coroutine).
  [[nodiscard]] std::size_t parallel_lanes() const noexcept {
    if (lanes.size() > 1) return lanes.size();
    if (tx.valid() && spread > 1) return spread;
    return 1;
  }
  /// Where copy `i` of `parallel_lanes()` copies sends.
  [[nodiscard]] outlet lane(std::size_t i) const {
    if (lanes.size() > 1) return outlet(lanes[i]);
    return outlet(tx);
  }
};

}  // namespace sluice::detail
