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
#include "sluice/stages/detail/chunk.hpp"

namespace sluice::detail {

class pipeline_state;

/// The receiving side of a fused link: a stage that runs inside the
/// coroutine of the stage before it. Only one coroutine ever calls it (the
/// upstream stage sends from one coroutine), so it needs no locking. The
/// untyped part; fused_inlet<T> adds the push of its item type.
class fused_inlet_base {
 public:
  fused_inlet_base() = default;
  fused_inlet_base(const fused_inlet_base&) = delete;
  fused_inlet_base& operator=(const fused_inlet_base&) = delete;
  virtual ~fused_inlet_base() = default;

  /// End of input: the stage ends its own output.
  virtual void finish() = 0;
  /// Says that push() is called from the source's coroutine: this stage's
  /// sends then wait on the run's limits in flight, as the source's would.
  virtual void runs_in_source() = 0;
  /// fused_inlet<T>::push() of the items in `c` (of the inlet's item type):
  /// how the untyped senders (stage_io's send, the lanes) push, so that
  /// their code does not depend on the item type.
  virtual task<bool> push_chunk(chunk_record&& c) = 0;
};

template <typename T>
class fused_inlet : public fused_inlet_base {
 public:
  /// Handles `items` (just produced upstream) as the stage's next input chunk
  /// and sends its results on. False when downstream is gone (the items are
  /// then counted as dropped or cancelled, as a failed channel send would).
  virtual task<bool> push(std::vector<T> items) = 0;
  task<bool> push_chunk(chunk_record&& c) final { return push(std::move(c.template items<T>())); }
};

/// Fused stages are held through their untyped base, so that one
/// shared_ptr and one vector type serve every item type instead of a
/// dozen and some fifty functions per type at -O0 (docs/architecture.md,
/// "Header cost"). Where an outlet<T> holds one, it is a fused_inlet<T>.
using inlet_ptr = std::shared_ptr<fused_inlet_base>;
using inlet_list = std::vector<inlet_ptr>;

/// Shares a fused stage just made with `new`. Through its base pointer: a
/// shared_ptr made from the derived pointer would instantiate a control
/// block of its own (some fifteen functions at -O0) per fused stage type.
inline inlet_ptr adopt_inlet(fused_inlet_base* inlet) { return inlet_ptr(inlet); }

/// The fused_inlet<T> behind `p` (which an outlet<T> or lane_group of T holds).
template <typename T>
fused_inlet<T>& inlet_of(const inlet_ptr& p) noexcept {
  return static_cast<fused_inlet<T>&>(*p);
}

/// What an outlet holds: the same for every item type (chunk channels and
/// fused stages are untyped), so stage_io's untyped half (stage_channels)
/// takes it as it is, compiled once in the library (docs/architecture.md,
/// "Header cost"). See outlet<T> for the members.
struct outlet_parts {
  channel_sender<chunk_record> tx = {};
  inlet_ptr fused = {};  // a fused_inlet<T>
  /// With `tx`: the receiving stage takes its input with this many workers
  /// and in any order, so up to this many coroutines may send into `tx` at
  /// once, each through its own copy (fused_lanes.hpp). 0 or 1: one sender.
  std::size_t spread = 0;
  /// Instead of `tx` or `fused`: copies of the next (fused) stage, each to be
  /// pushed from a coroutine of its own, in any order (fused_lanes.hpp).
  inlet_list lanes = {};  // of fused_inlet<T>
  /// With `lanes`: starts their coroutines and returns the sender feeding
  /// them (start_lanes, fused_lanes.hpp). Set by whoever makes the lanes:
  /// the lanes' coroutines are header code (core/task.hpp's protocol), which
  /// the library's stage_channels must not call directly.
  using lanes_starter = channel_sender<chunk_record> (*)(pipeline_state&, inlet_list);
  lanes_starter start_lanes = nullptr;

  // Out of line (stages/src/stage_io.cpp): the same in every program, and
  // each pulls in the members' own (docs/architecture.md, "Header cost").
  outlet_parts();
  outlet_parts(channel_sender<chunk_record> sender, std::size_t workers);
  explicit outlet_parts(inlet_ptr inlet);
  outlet_parts(inlet_list copies, lanes_starter start);
  outlet_parts(const outlet_parts& other);
  outlet_parts(outlet_parts&& other) noexcept;
  outlet_parts& operator=(const outlet_parts& other);
  outlet_parts& operator=(outlet_parts&& other) noexcept;
  ~outlet_parts();

  /// How many copies of a stateless fused stage this outlet can feed in
  /// parallel (1: run it once, in the sender's coroutine).
  [[nodiscard]] std::size_t parallel_lanes() const noexcept {
    if (lanes.size() > 1) return lanes.size();
    if (tx.valid() && spread > 1) return spread;
    return 1;
  }
};

/// A channel sender or a fused stage, for items of type T. Converts from a
/// channel sender, so code that connects stages through channels needs no
/// change.
template <typename T>
struct outlet : outlet_parts {
  outlet() = default;
  // NOLINTNEXTLINE(google-explicit-constructor)
  outlet(channel_sender<chunk<T>> sender, std::size_t workers = 0) : outlet_parts(std::move(sender), workers) {}
  /// `inlet` is a fused_inlet<T>.
  explicit outlet(inlet_ptr inlet) : outlet_parts(std::move(inlet)) {}
  /// `copies` are fused_inlet<T>s.
  outlet(inlet_list copies, lanes_starter start) : outlet_parts(std::move(copies), start) {}

  /// Where copy `i` of `parallel_lanes()` copies sends.
  [[nodiscard]] outlet lane(std::size_t i) const {
    if (lanes.size() > 1) return outlet(lanes[i]);
    return outlet(tx);
  }
};

}  // namespace sluice::detail
