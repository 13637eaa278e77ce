// The parts merge, broadcast, tee and partition share: placing a sub-flow
// (a merge input, a branch, a lane) into the whole pipeline's stage list,
// launching it at its place, the entry flow a branch is built on, and the
// two coroutines a topology adds (a node sending to several outputs, and
// the join forwarding several inputs into one output).
//
// A sub-flow is composed on its own, so its stages are numbered from 0: the
// indices its launcher captured are relative. Placing it appends its
// stage_info to the parent's list with absolute, explicit inputs; launching
// it under an index_scope offsets the indices its stage_io objects get
// (pipeline_state::index_base()).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/core/channel.hpp"
#include "sluice/core/detail/std_parts.hpp"
#include "sluice/core/task.hpp"
#include "sluice/stages/detail/pipeline_state.hpp"
#include "sluice/stages/detail/stage_io.hpp"
#include "sluice/stages/named.hpp"
#include "sluice/stages/pipeline.hpp"
#include "sluice/stages/stage_protocol.hpp"

namespace sluice::detail {

/// In stage_info::inputs of a sub-flow: "what feeds this sub-flow" (a
/// branch's entry), resolved when the sub-flow is placed in its parent.
inline constexpr std::size_t entry_input = static_cast<std::size_t>(-1);

/// Where a sub-flow sits in its parent's stage list.
struct placed_subflow {
  std::size_t offset = 0;    // index of its first stage in the parent
  std::size_t tail = 0;      // the stage its items come out of (`entry` when it has none)
  std::size_t consumer = 0;  // the stage receiving from `entry` (`tail` when none does)
};

/// Appends `sub` to `all` at the end, making its inputs explicit and
/// absolute: a stage fed by the sub-flow's entry receives from `entry`
/// (entry_input when the parent does not know it yet). The first stage of
/// a sub-flow is its source when it has no input channel (stage_info's
/// capacity is 0 exactly for sources), else it is fed by the entry. Stages
/// are labelled `branch` (prefixed to a nested label).
inline placed_subflow place_subflow(std::vector<stage_info>& all, std::vector<stage_info> sub, std::size_t entry,
                                    const std::string& branch) {
  placed_subflow placed{.offset = all.size(), .tail = entry, .consumer = entry_input};
  for (std::size_t r = 0; r < sub.size(); ++r) {
    auto& s = sub[r];
    std::vector<std::size_t> in;
    if (s.inputs) {
      for (auto i : *s.inputs) in.push_back(i == entry_input ? entry : placed.offset + i);
    } else if (r > 0) {
      in.push_back(placed.offset + r - 1);
    } else if (s.capacity != 0) {
      in.push_back(entry);
    }
    for (auto i : in)
      if (i == entry && placed.consumer == entry_input) placed.consumer = placed.offset + r;
    s.inputs = std::move(in);
    if (!branch.empty()) s.branch = s.branch.empty() ? branch : branch + " / " + s.branch;
    all.push_back(std::move(s));
  }
  if (!sub.empty()) placed.tail = placed.offset + sub.size() - 1;
  return placed;
}

/// While alive, stages launched get indices offset by `offset` more.
class index_scope {
 public:
  index_scope(pipeline_state& state, std::size_t offset) noexcept
      : m_state(state), m_previous(state.exchange_index_base(state.index_base() + offset)) {}
  index_scope(const index_scope&) = delete;
  index_scope& operator=(const index_scope&) = delete;
  ~index_scope() { m_state.exchange_index_base(m_previous); }

 private:
  pipeline_state& m_state;
  std::size_t m_previous;
};

/// Filled at launch with the sender of a branch's first channel.
template <typename T>
using entry_slot = std::shared_ptr<channel_sender<chunk<T>>>;

/// A flow with no stages that a branch is built on: launching the branch
/// hands this flow the branch's first input channel, which it keeps in
/// `slot` for the node that feeds the branch.
template <typename T>
flow<T> branch_entry(const entry_slot<T>& slot, std::size_t chunk_items, bool ordered) {
  return flow<T>(
      {}, [slot](pipeline_state&, channel_sender<chunk<T>> tx) { *slot = std::move(tx); }, chunk_items, ordered);
}

/// Builds a branch from `b` on `entry`: a stage descriptor or custom stage
/// struct is attached to it; a function is called with it (and with the
/// lane number when it takes one).
template <typename T, typename B>
auto make_branch(B&& b, flow<T> entry, std::size_t lane) {
  using b_t = std::remove_cvref_t<B>;
  if constexpr (is_named_branch<b_t>) {
    return make_branch(std::forward<B>(b).branch, std::move(entry), lane);
  } else if constexpr (stage_descriptor<b_t>) {
    return std::move(entry) | b_t(std::forward<B>(b));
  } else if constexpr (std::invocable<b_t&, flow<T>, std::size_t>) {
    return b(std::move(entry), lane);
  } else if constexpr (std::invocable<b_t&, flow<T>>) {
    return b(std::move(entry));
  } else {
    return std::move(entry) | b_t(std::forward<B>(b));  // a custom stage struct (stage_concepts.hpp)
  }
}

/// The user's name of a branch (sluice::named), "" when it has none.
template <typename B>
std::string branch_name_of(const B& b) {
  if constexpr (is_named_branch<B>) {
    return b.name;
  } else {
    return {};
  }
}

/// Throws when a branch does not read the flow it was given (a function
/// that built an unrelated pipeline): its node would have nowhere to send.
inline void require_fed(const placed_subflow& placed, const char* what, const std::string& label) {
  if (placed.consumer == entry_input)
    throw std::logic_error(std::string("sluice::") + what + ": " + label + " does not use the flow it was given");
}

/// One output of a fan-out node.
template <typename T>
struct node_output {
  channel_sender<chunk<T>> tx;
  queue_stats* queue = nullptr;  // the receiving stage's input counters
  std::uint64_t next_seq = 0;
  bool open = true;
  memory_bounds* bounds = nullptr;  // the run's, when it has any
  byte_gate* gate = nullptr;        // the receiving stage's bound in bytes, or null

  /// Sends through the run's memory bounds towards stage `consumer` (absolute).
  void bound_by(pipeline_state& state, std::size_t consumer) {
    if (!state.bounds().active()) return;
    bounds = &state.bounds();
    gate = bounds->inputs[consumer].get();
  }
};

/// The output towards `consumer` (relative to the launching flow).
template <typename T>
node_output<T> make_output(pipeline_state& state, const entry_slot<T>& slot, std::size_t consumer) {
  const std::size_t absolute = state.index_base() + consumer;
  node_output<T> out{.tx = std::move(*slot), .queue = &state.stats(absolute).input};
  out.bound_by(state, absolute);
  return out;
}

/// Sends `items` through `out`; counts them into the receiver's queue and
/// as emitted by `io`'s stage. A failed send (the branch stopped reading,
/// or the run stopped) closes the output for good.
template <typename T>
task<bool> send_to(stage_context& io, node_output<T>& out, std::vector<T> items) {
  const std::size_t n = items.size();
  chunk<T> c{out.next_seq++, std::move(items)};
  bool ok = false;
  if (out.bounds) {
    // The node is no source: it counts into the limits in flight without waiting on them.
    auto send = send_through_bounds<T>(*out.bounds, out.gate, false, out.tx, std::move(c));
    ok = co_await std::move(send);
  } else {
    auto send = out.tx.send(c);  // named: see the g++ 12 note in docs/known-issues.md
    ok = co_await send;
  }
  if (!ok) {
    out.open = false;
    co_return false;
  }
  if (out.queue) out.queue->add(n);
  stage_stats::bump(io.stats().emitted, n);
  co_return true;
}

/// Ends every output of a node and drains its input (the node's share of
/// run_stage's cleanup).
template <typename T, typename Out>
task<void> finish_node(stage_io<T, none>& io, std::vector<node_output<Out>>& outs) {
  for (auto& out : outs)
    if (out.tx.valid()) out.tx.close();
  co_await io.drain_input();
}

/// One input of a join (merge, partition's lanes): forwards chunks to the
/// shared output; the last input to finish ends it. Each input has its own
/// stage_io (same stage index) and its own sender handle, so the items of
/// one input keep their order.
template <typename T>
task<void> run_join_input(std::shared_ptr<std::atomic<std::size_t>> open_inputs, stage_io<T, T> io) {
  try {
    while (auto in = co_await io.recv()) {
      const std::size_t n = in->items.size();
      if (io.stopped()) {
        io.drop(n);
        continue;
      }
      if (!co_await io.send(in->items, n)) break;  // downstream gone: the drain drops the rest
    }
  } catch (...) {
    io.fail_unindexed(std::current_exception());
  }
  if (open_inputs->fetch_sub(1, std::memory_order_acq_rel) == 1) io.close_output();
  co_await io.drain_input();
}

/// The stage_info of a join at `inputs` (absolute), `capacity` items in all.
inline stage_info join_info(std::string name, const char* kind, std::vector<std::size_t> inputs, std::size_t capacity) {
  return {.name = name.empty() ? kind : std::move(name),
          .kind = kind,
          .parameters = std::to_string(inputs.size()) + " inputs",
          .capacity = capacity,
          .inputs = std::move(inputs),
          .branch = {}};
}

}  // namespace sluice::detail
