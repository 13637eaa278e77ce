// Where a stage sends its chunks: the bounded channel to the next stage, or,
// when the next stage is fused with it (see pipeline.hpp, "Fusion"), that
// stage itself, called in the sender's coroutine with no channel between.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "sluice/core/channel.hpp"
#include "sluice/core/task.hpp"

namespace sluice::detail {

template <typename T>
struct chunk;

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

  outlet() = default;
  outlet(channel_sender<chunk<T>> sender) : tx(std::move(sender)) {}  // NOLINT(google-explicit-constructor)
  explicit outlet(std::shared_ptr<fused_inlet<T>> inlet) : fused(std::move(inlet)) {}
};

}  // namespace sluice::detail
