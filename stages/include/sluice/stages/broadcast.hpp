// sluice::broadcast and sluice::tee: fan-out. Every item goes to every branch.
//
//   from(events)
//     | sluice::broadcast(sluice::to_vector(archive),                          // a sink
//                         [&](auto f) { return std::move(f) | sluice::filter(is_error)
//                                                            | sluice::for_each(alert); });   // a chain
//   from(events) | sluice::tee(sluice::for_each(audit)) | sluice::map(parse) | ...;   // a side branch
//
// A branch is a sink (to_vector, for_each, ...), a custom stage struct that
// consumes items, or a function taking the branch's flow<T> (built on the
// node, so `std::move(f) | stage | ... | sink`) and returning the pipeline.
// broadcast(...) ends the pipeline; tee(...) sends every item to its
// branches and on down the main flow, which continues after it.
//
// Pace and memory: the node sends each chunk to the branches one after the
// other, waiting while a branch's input channel is full, so the slowest
// branch sets the pace and nothing piles up (each branch holds at most its
// stage's `.capacity`; the producer blocks). Copies: the items are copied
// for every branch but the last, which takes them by move (for tee, the
// main flow is the last); with one branch nothing is copied. The item type
// must be copyable when there is more than one output.
//
// Accounting: the node ("broadcast"/"tee" in the report) counts an input as
// items_out once it reached every branch still reading; `emitted` sums what
// each branch received, so the branches' items_in add up to it. A branch
// that stops reading early (a for_each returning false) no longer gets
// items; the others go on. When none is left the node drops the rest.
//
// Errors and cancellation: the run's. A failing branch stage fails the
// whole run; the error names the branch ("broadcast branch 1", or
// "broadcast branch 'store'" for sluice::named("store", b): named.hpp), as
// do describe(), the dot graph and the report (stage_report::branch).
// Order: each branch sees the items in the upstream order.
//
// Thread-safety, lifetime: as for flows (pipeline.hpp). Branch functions
// are called once, when the pipeline is composed.
#pragma once

#include <concepts>
#include <cstddef>
#include <exception>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/core/channel.hpp"
#include "sluice/core/detail/std_parts.hpp"
#include "sluice/core/task.hpp"
#include "sluice/stages/detail/topology.hpp"
#include "sluice/stages/pipeline.hpp"

namespace sluice {

/// Options of broadcast() and tee(); designated-initialiser friendly.
struct broadcast_options {
  /// Shown in describe() and reports, and in branch labels; defaults to the kind.
  std::string name = {};
  /// Items the node's input channel holds; 0 = default_capacity.
  std::size_t capacity = 0;
  /// Bytes (sluice::item_bytes) the node's input channel holds; 0 = no bound
  /// in bytes. Each branch's first stage has its own `.capacity_bytes`.
  std::size_t capacity_bytes = 0;
};

namespace detail {

/// The fan-out node: each received chunk to every open output, copied for
/// all but the last.
template <typename T>
task<void> run_broadcast(stage_io<T, none> io, std::vector<node_output<T>> outs) {
  try {
    while (auto in = co_await io.recv()) {
      auto& items = in->items;
      const std::size_t n = items.size();
      std::size_t last = outs.size();
      for (std::size_t i = 0; i < outs.size(); ++i)
        if (outs[i].open) last = i;
      if (last == outs.size() || io.stopped()) {
        io.drop(n);
        if (last == outs.size()) break;  // no branch reads any more: the drain drops the rest
        continue;
      }
      bool delivered = false;
      for (std::size_t i = 0; i <= last && !io.stopped(); ++i) {
        if (!outs[i].open) continue;
        std::vector<T> copy;
        if (i == last) {
          copy = std::move(items);
        } else {
          const auto started = std::chrono::steady_clock::now();
          copy = items;
          io.stats().busy(std::chrono::steady_clock::now() - started);
        }
        auto sending = send_to(io, outs[i], std::move(copy));
        if (co_await std::move(sending)) delivered = true;
      }
      if (delivered && !io.stopped()) {
        io.completed(n);
      } else {
        io.drop(n);
      }
    }
  } catch (...) {
    io.fail_unindexed(std::current_exception());
  }
  co_await finish_node(io, outs);
}

/// What broadcast() and tee() return; attached with operator|.
template <bool Tee, typename... Bs>
class fan_out {
 public:
  explicit fan_out(broadcast_options opts, Bs... outputs)
      : m_options(std::move(opts)), m_branches(std::move(outputs)...) {}

  // For operator|.
  [[nodiscard]] const broadcast_options& options() const noexcept { return m_options; }
  [[nodiscard]] std::tuple<Bs...>& branches() noexcept { return m_branches; }

 private:
  broadcast_options m_options;
  std::tuple<Bs...> m_branches;
};

/// The branches of a fan-out, composed on the node.
template <typename T>
struct composed_branches {
  std::vector<std::string> names;  // sluice::named, "" for none
  std::vector<entry_slot<T>> slots;
  std::vector<std::vector<stage_info>> stages;
  std::vector<std::function<void(pipeline_state&)>> launch;
};

template <typename T, typename B>
void compose_branch(composed_branches<T>& out, B&& branch, std::size_t chunk_items, bool ordered) {
  const std::size_t i = out.slots.size();
  out.names.push_back(branch_name_of(branch));
  out.slots.push_back(std::make_shared<channel_sender<chunk<T>>>());
  pipeline p = make_branch(std::forward<B>(branch), branch_entry<T>(out.slots.back(), chunk_items, ordered), i);
  out.stages.push_back(p.stages());
  out.launch.push_back(
      [shared = std::make_shared<pipeline>(std::move(p))](pipeline_state& state) { shared->launch(state); });
}

/// The checks of `flow<T> | broadcast/tee(Bs...)`, as readable static_asserts.
template <typename T, bool Tee, typename... Bs>
constexpr bool check_fan_out() {
  constexpr bool copyable = sizeof...(Bs) + (Tee ? 1 : 0) == 1 || std::is_copy_constructible_v<T>;
  static_assert(copyable,
                "sluice::broadcast/tee: the items are copied to every branch but the last; this item type cannot be "
                "copied");
  constexpr bool sinks =
      (std::is_same_v<decltype(make_branch(std::declval<Bs>(), std::declval<flow<T>>(), 0)), pipeline> && ...);
  static_assert(sinks,
                "sluice::broadcast/tee: a branch must end in a sink (e.g. sluice::to_vector(v), sluice::for_each(f), "
                "or a function `[](auto f) { return std::move(f) | ... | sink; }`)");
  return copyable && sinks;
}

/// The stage receiving the main output of a tee: the consumer of `node`
/// that is not one of its branches (state.size() when there is none).
inline std::size_t main_output_consumer(pipeline_state& state, std::size_t node,
                                        const std::vector<std::size_t>& branch_consumers) {
  for (auto c : state.consumers(node)) {
    bool is_branch = false;
    for (auto b : branch_consumers) is_branch = is_branch || b == c;
    if (!is_branch) return c;
  }
  return state.size();
}

}  // namespace detail

/// Sends every item to every branch; ends the pipeline. See the file comment.
template <typename... Bs>
auto broadcast(broadcast_options options, Bs&&... branches) {
  static_assert(sizeof...(Bs) >= 1, "sluice::broadcast: needs at least one branch");
  return detail::fan_out<false, std::decay_t<Bs>...>(std::move(options), std::forward<Bs>(branches)...);
}
template <typename... Bs>
auto broadcast(Bs&&... branches) {
  return broadcast(broadcast_options{}, std::forward<Bs>(branches)...);
}

/// Sends every item to the branches and on down the main flow.
template <typename... Bs>
auto tee(broadcast_options options, Bs&&... branches) {
  static_assert(sizeof...(Bs) >= 1, "sluice::tee: needs at least one branch");
  return detail::fan_out<true, std::decay_t<Bs>...>(std::move(options), std::forward<Bs>(branches)...);
}
template <typename... Bs>
auto tee(Bs&&... branches) {
  return tee(broadcast_options{}, std::forward<Bs>(branches)...);
}

namespace detail {

/// Composes the node and its branches (checks passed).
template <typename T, bool Tee, typename... Bs>
auto attach_fan_out(flow<T> upstream, fan_out<Tee, Bs...> node) {
  const char* kind = Tee ? "tee" : "broadcast";
  const std::string name = node.options().name.empty() ? kind : node.options().name;
  const std::size_t chunk_items = std::max<std::size_t>(1, upstream.chunk());
  const bool ordered = upstream.ordered();
  const std::string branch_name = upstream.branch_name();
  const std::size_t chunks =
      channel_chunks(node.options().capacity ? node.options().capacity : default_capacity, chunk_items);
  auto stages = upstream.take_stages();
  const std::size_t feed = stages.empty() ? entry_input : stages.size() - 1;

  composed_branches<T> branches;
  std::apply([&](auto&... b) { (compose_branch(branches, std::move(b), chunk_items, ordered), ...); }, node.branches());
  std::size_t branch_stages = 0;
  for (const auto& s : branches.stages) branch_stages += s.size();

  // broadcast: the node, then its branches. tee: the branches, then the
  // node, so the stage attached next receives from it (the one before).
  const std::size_t at = Tee ? stages.size() + branch_stages : stages.size();
  stage_info info{.name = name,
                  .kind = kind,
                  .parameters = std::to_string(sizeof...(Bs)) + (sizeof...(Bs) == 1 ? " branch" : " branches"),
                  .capacity = chunks * chunk_items,
                  .inputs = std::vector<std::size_t>{feed},
                  .branch = {}};
  info.capacity_bytes = node.options().capacity_bytes;
  if constexpr (!Tee) stages.push_back(info);
  std::vector<std::size_t> offsets, consumers;
  for (std::size_t i = 0; i < branches.stages.size(); ++i) {
    const std::string label = branch_label(name, "branch", i, branches.names[i]);
    auto placed = place_subflow(stages, std::move(branches.stages[i]), at, label);
    require_fed(placed, kind, label);
    offsets.push_back(placed.offset);
    consumers.push_back(placed.consumer);
  }
  if constexpr (Tee) stages.push_back(info);

  auto launch = [previous = upstream.take_launcher(), slots = std::move(branches.slots),
                 launchers = std::move(branches.launch), offsets, consumers, at, chunks,
                 ordered](pipeline_state& state, channel_sender<chunk<T>> main) {
    auto [tx, rx] = channel<chunk<T>>(chunks);
    state.close_on_cancel(rx);
    previous(state, std::move(tx));
    std::vector<node_output<T>> outs;
    std::vector<std::size_t> absolute;
    for (std::size_t i = 0; i < launchers.size(); ++i) {
      {
        index_scope scope(state, offsets[i]);
        launchers[i](state);
      }
      outs.push_back(make_output<T>(state, slots[i], consumers[i]));
      absolute.push_back(state.index_base() + consumers[i]);
    }
    if (main.valid()) {
      node_output<T> out{.tx = std::move(main)};
      const std::size_t main_consumer = main_output_consumer(state, state.index_base() + at, absolute);
      if (main_consumer < state.size()) {
        out.queue = &state.stats(main_consumer).input;
        out.bound_by(state, main_consumer);
      }
      outs.push_back(std::move(out));
    }
    state.start(run_broadcast<T>(stage_io<T, none>(state, at, std::move(rx), {}, ordered), std::move(outs)));
  };
  if constexpr (Tee) {
    flow<T> main(std::move(stages), std::move(launch), chunk_items, true);
    main.set_branch_name(branch_name);  // sluice::named(name, flow) | tee(...) keeps the name
    return main;
  } else {
    return pipeline(std::move(stages), [launch](pipeline_state& state) { launch(state, {}); });
  }
}

}  // namespace detail

/// Attaches a broadcast (yields a pipeline) or a tee (yields a flow<T>).
template <typename T, bool Tee, typename... Bs>
auto operator|(flow<T> upstream, detail::fan_out<Tee, Bs...> node) {
  using namespace detail;
  if constexpr (!check_fan_out<T, Tee, Bs...>()) {
    return poisoned_flow{};  // its static_assert is the only error
  } else {
    return attach_fan_out(std::move(upstream), std::move(node));
  }
}

}  // namespace sluice
