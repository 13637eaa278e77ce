// Composing a pipeline: `source | stage | ... | sink`.
//
//   auto p = sluice::from(repos)                               // flow<repo>
//          | sluice::async_map(fetch, {.concurrency = 32})     // flow<page>
//          | sluice::parallel_map(analyse)                     // flow<stats>
//          | sluice::to_vector(out);                           // pipeline
//   auto report = sluice::run(rt, std::move(p));
//
// A `flow<T>` is a source with zero or more stages attached, producing T;
// adding a sink makes a `pipeline`, which run() executes. Composition only
// records what to build: channels and coroutines are created by run(), one
// coroutine (or a few, for concurrent stages) per stage, all on the
// runtime's arena.
//
// Stages are connected by bounded sluice channels. To keep the per-item cost
// far below a channel operation, channels carry *chunks* (std::vector<T>) of
// items: a source fills chunks of `.chunk` items, 1:1 stages transform a chunk
// into a chunk, async_map sends each result as soon as it is ready. A stage's
// `.capacity` is the number of items its input channel holds (rounded to
// whole chunks, at least two), so memory stays bounded end to end: a fast
// source waits for a slow sink.
//
// Thread-safety: flows and pipelines are values; compose on one thread. The
// user's functions are called from arena threads (see each stage for whether
// concurrently). Lifetime: from() owns its range unless told to borrow
// (from_ref(v), from(std::ref(v))); a borrowed range, and anything a sink
// writes to, must outlive run().
//
// Fusion: a light stage (map, filter, inspect, flat_map) attached after a
// stage that sends from one coroutine (any source, or another light stage)
// gets no channel and no coroutine of its own: the stage before it calls it
// on each chunk it would have sent, so `lines | map | filter` costs no
// channel hop per chunk. Each fused stage keeps its own counters, error
// policy and retries, and errors name it, as if it ran alone; describe()
// marks it "fused". A stage with `.fuse = false` keeps its own coroutine and
// input channel (to overlap a slow function with the stage before it).
// Before a stage that takes its input with several workers in any order
// (fold and the aggregating sinks: unordered_input_workers), fused stages
// whose function has no state (stateless_stage) run as one copy per worker
// in lanes, in parallel, fed whole chunks through one small channel
// (detail/fused_lanes.hpp); a stage with state, and all before it, stays in
// one coroutine. Such a sink, after a stage that sends from one coroutine,
// is itself fused (lane_sink): each lane adds its chunks to its worker's
// accumulator right away, with no channel, no worker coroutines and no
// chunks held between the lanes and the sink; `.capacity` or
// `.capacity_bytes` on the sink (or a file reader's `.capacity_bytes`
// before it) keeps its input channel instead.
//
// A stage is anything implementing the stage protocol (stage_protocol.hpp).
// A stage whose compile-time check fails yields a poisoned flow, so its
// static_assert is the only error the compiler reports.
#pragma once

#include <concepts>
#include <cstddef>
#include <exception>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/core/channel.hpp"
#include "sluice/core/detail/std_parts.hpp"
#include "sluice/core/task.hpp"
#include "sluice/stages/detail/outlet.hpp"
#include "sluice/stages/detail/pipeline_state.hpp"
#include "sluice/stages/detail/shared_fn.hpp"
#include "sluice/stages/detail/stage_io.hpp"
#include "sluice/stages/stage_protocol.hpp"

namespace sluice {

/// Input channel capacity (items) of a stage that does not set `.capacity`.
inline constexpr std::size_t default_capacity = 1024;
/// Items per chunk of a source that does not set `.chunk`.
inline constexpr std::size_t default_chunk = 128;

namespace detail {

inline std::size_t channel_chunks(std::size_t capacity_items, std::size_t chunk) {
  if (chunk == 0) chunk = 1;
  return std::max<std::size_t>(2, (capacity_items + chunk - 1) / chunk);
}

/// A stage that can run fused (see the file comment): it handles one input
/// chunk at a time with on_chunk (also what its own run() loops over), and
/// says whether it may be fused (its `.fuse` option).
template <typename D, typename In>
concept fusable_stage = requires(D& d, const D& cd, stage_io<In, typename D::template output<In>>& io,
                                 input_chunk<In>& in) {
  { d.template on_chunk<In>(io, in) } -> std::same_as<task<bool>>;
  { cd.fuses() } -> std::convertible_to<bool>;
};

// Runs a stage body, turns an escaping exception into a pipeline failure,
// then ends the stage's output and drains its input: whatever happened, the
// neighbours are never left waiting.
template <typename In, typename Out, typename D>
task<void> run_stage(std::shared_ptr<D> stage, stage_io<In, Out> io) {
  try {
    if constexpr (fusable_stage<D, In>) {
      // chunk_stage::run's loop, in this frame: one coroutine fewer per stage.
      while (auto in = co_await io.recv()) {
        if (!co_await stage->template on_chunk<In>(io, *in)) break;
      }
    } else {
      co_await stage->template run<In>(io);
    }
  } catch (...) {
    io.fail_unindexed(std::current_exception());
  }
  io.close_output();
  // A source has no input: not instantiating the drain spares its
  // receive path (docs/architecture.md, "Header cost").
  if constexpr (!std::is_same_v<In, none>) co_await io.drain_input();
}

std::string describe_stages(const std::vector<stage_info>& stages);
std::string stages_to_dot(const std::vector<stage_info>& stages);

/// A fusable stage whose function has no state of its own (a lambda without
/// captures, a plain function): several copies of it may run at once, in
/// lanes (fused_lanes.hpp), when the stage after it takes its input in any order.
template <typename D>
concept stateless_stage = requires {
  { D::stateless() } -> std::convertible_to<bool>;
}
&&D::stateless();

/// How many workers take the stage's input at once, in any order (fold and
/// the other aggregating sinks); 0 for a stage that keeps its input's order.
template <typename D>
std::size_t unordered_input_workers(const D& stage, std::size_t threads) {
  if constexpr (requires { stage.unordered_input_workers(threads); }) {
    return stage.unordered_input_workers(threads);
  } else {
    return 0;
  }
}

/// A stage's input bound in bytes (0 for stages without the option).
template <typename D>
std::size_t stage_capacity_bytes(const D& stage) {
  if constexpr (requires { stage.capacity_bytes(); }) {
    return stage.capacity_bytes();
  } else {
    return 0;
  }
}

/// Flow constructor tag: the flow's last stage sends from one coroutine, so
/// a fusable stage may be attached to it fused.
struct single_sender_t {};
inline constexpr single_sender_t single_sender{};
/// Flow constructor tag: the launcher takes an outlet (as a single_sender
/// flow's), but the last stage sends from several coroutines, so nothing
/// fuses after it and the outlet is only ever a channel. Spares wrapping the
/// launcher in one that takes a channel sender (a shared_fn holder per stage).
struct many_senders_t {};
inline constexpr many_senders_t many_senders{};

}  // namespace detail

/// A source with stages attached, producing items of type T. Add stages with
/// `|`; add a sink to get a runnable pipeline.
template <typename T>
class flow {
 public:
  using value_type = T;
  /// Starts the flow's stages, sending their output into a channel.
  /// (A copyable callable like std::function, lighter to compile: shared_fn.hpp.)
  using launcher = detail::shared_fn<void(detail::pipeline_state&, channel_sender<detail::chunk<T>>)>;
  /// The same, sending into a channel or a fused stage.
  using outlet_launcher = detail::shared_fn<void(detail::pipeline_state&, detail::outlet<T>)>;

  flow(std::vector<detail::stage_info> stages, launcher launch, std::size_t chunk, bool ordered = true)
      : m_stages(std::move(stages)),
        m_launch([launch = std::move(launch)](detail::pipeline_state& state, detail::outlet<T> out) {
          launch(state, std::move(out.tx));  // never fused: the flow was not built single_sender
        }),
        m_chunk(chunk),
        m_ordered(ordered) {}
  /// A flow whose last stage sends from one coroutine (fusable after).
  flow(detail::single_sender_t, std::vector<detail::stage_info> stages, outlet_launcher launch, std::size_t chunk,
       bool ordered = true)
      : m_stages(std::move(stages)),
        m_launch(std::move(launch)),
        m_chunk(chunk),
        m_ordered(ordered),
        m_single_sender(true) {}
  /// A flow whose last stage sends from several coroutines, launched with
  /// an outlet (which is then always a channel sender).
  flow(detail::many_senders_t, std::vector<detail::stage_info> stages, outlet_launcher launch, std::size_t chunk,
       bool ordered = true)
      : m_stages(std::move(stages)), m_launch(std::move(launch)), m_chunk(chunk), m_ordered(ordered) {}

  [[nodiscard]] const std::vector<detail::stage_info>& stages() const noexcept { return m_stages; }
  /// Items per chunk on the output channel (a hint for the next stage).
  [[nodiscard]] std::size_t chunk() const noexcept { return m_chunk; }
  /// True when the last stage emits in a defined order (all but unordered
  /// async_map / parallel_map); the next stage then keeps that order.
  [[nodiscard]] bool ordered() const noexcept { return m_ordered; }
  [[nodiscard]] std::string describe() const { return detail::describe_stages(m_stages); }
  [[nodiscard]] std::string to_dot() const { return detail::stages_to_dot(m_stages); }

  // For operator| and the stage library.
  [[nodiscard]] std::vector<detail::stage_info> take_stages() { return std::move(m_stages); }
  [[nodiscard]] launcher take_launcher() {
    return [launch = std::move(m_launch)](detail::pipeline_state& state, channel_sender<detail::chunk<T>> out) {
      launch(state, detail::outlet<T>(std::move(out)));
    };
  }
  [[nodiscard]] outlet_launcher take_outlet_launcher() { return std::move(m_launch); }
  /// True when the last stage sends from one coroutine (a stage may fuse after it).
  [[nodiscard]] bool single_sender() const noexcept { return m_single_sender; }
  /// The name this flow goes by as a merge input (sluice::named); "" = its index.
  [[nodiscard]] const std::string& branch_name() const noexcept { return m_branch_name; }
  void set_branch_name(std::string name) { m_branch_name = std::move(name); }

 private:
  std::vector<detail::stage_info> m_stages;
  outlet_launcher m_launch;
  std::size_t m_chunk;
  bool m_ordered;
  bool m_single_sender = false;
  std::string m_branch_name;
};

/// A complete pipeline (source ... sink), ready for sluice::run. Run it once.
class pipeline {
 public:
  using launcher = detail::shared_fn<void(detail::pipeline_state&)>;
  pipeline(std::vector<detail::stage_info> stages, launcher launch)
      : m_stages(std::move(stages)), m_launch(std::move(launch)) {}

  [[nodiscard]] const std::vector<detail::stage_info>& stages() const noexcept { return m_stages; }
  /// One line per stage: kind, name, parameters, input capacity.
  [[nodiscard]] std::string describe() const { return detail::describe_stages(m_stages); }
  /// The same as a Graphviz digraph.
  [[nodiscard]] std::string to_dot() const { return detail::stages_to_dot(m_stages); }

  /// Creates the channels and starts every stage on `state`'s runtime.
  void launch(detail::pipeline_state& state) const { m_launch(state); }

 private:
  std::vector<detail::stage_info> m_stages;
  launcher m_launch;
};

namespace detail {

/// The owner of a shared stage descriptor, whatever its type (share_stage).
struct shared_stage_owner {
  shared_stage_owner() = default;
  shared_stage_owner(const shared_stage_owner&) = delete;
  shared_stage_owner& operator=(const shared_stage_owner&) = delete;
  virtual ~shared_stage_owner() = default;
};

template <typename D>
struct shared_stage final : shared_stage_owner {
  explicit shared_stage(D&& d) : descriptor(std::move(d)) {}
  D descriptor;
};

/// A stage descriptor shared by the launchers of a flow. Not make_shared: its
/// allocator-aware control block is some forty functions per stage type in
/// every program (docs/architecture.md, "Header cost"); nor a shared_ptr
/// made from a `D*`, whose control block is some fifteen: one control block
/// type owns every descriptor (through shared_stage_owner), and the
/// shared_ptr<D> aliases it. This runs once per stage and run, so the second
/// allocation costs nothing measurable.
template <typename D>
std::shared_ptr<D> share_stage(D stage) {
  auto* held = new shared_stage<D>(std::move(stage));
  std::shared_ptr<shared_stage_owner> owner(static_cast<shared_stage_owner*>(held));
  return std::shared_ptr<D>(std::move(owner), &held->descriptor);
}

/// Wraps a source descriptor into a flow.
template <typename T, typename D>
flow<T> make_source(D source, std::size_t chunk_size) {
  auto stages = first_stage(source.info());
  auto shared = share_stage(std::move(source));
  return flow<T>(
      single_sender, std::move(stages),
      [shared](pipeline_state& state, outlet<T> out) {
        state.start(run_stage<none, T>(shared, stage_io<none, T>(state, 0, {}, std::move(out))));
      },
      chunk_size);
}

}  // namespace detail

namespace detail {

/// A stage running fused: the stage before it calls push() with each chunk
/// it sends. An exception escaping the stage fails the run naming this stage.
template <typename In, typename Out, typename D>
class fused_stage final : public fused_inlet<In> {
 public:
  fused_stage(std::shared_ptr<D> stage, stage_io<In, Out> io) : m_stage(std::move(stage)), m_io(std::move(io)) {}

  task<bool> push(std::vector<In> items) override {
    std::exception_ptr error;
    try {
      auto in = m_io.accept_pushed(std::move(items));
      co_return co_await m_stage->template on_chunk<In>(m_io, in);
    } catch (...) {
      error = std::current_exception();
    }
    m_io.fail_unindexed(std::move(error));
    co_return false;
  }
  void finish() override { m_io.close_output(); }
  void runs_in_source() override { m_io.hold_back(); }

 private:
  std::shared_ptr<D> m_stage;
  stage_io<In, Out> m_io;
};

/// Attaches a fusable stage fused to the flow's last stage (see the file comment).
template <typename T, typename D>
auto attach_fused(flow<T> upstream, D stage) {
  using out_t = typename D::template output<T>;
  auto stages = upstream.take_stages();
  const std::size_t index = stages.size();
  auto info = stage.info();
  info.capacity = 0;
  info.fused = true;
  info.stateless = stateless_stage<D>;
  append_stage(stages, std::move(info));
  const std::size_t out_chunk = stage.output_chunk(upstream.chunk());
  auto shared = share_stage(std::move(stage));
  auto connect = [previous = upstream.take_outlet_launcher(), shared, index](pipeline_state& state, outlet<out_t> out) {
    if constexpr (stateless_stage<D>) {
      // Before a stage taking its input in parallel, in any order: one copy
      // per worker, each in a lane of its own (fused_lanes.hpp).
      if (const std::size_t n = out.parallel_lanes(); n > 1) {
        inlet_list lanes;
        lanes.reserve(n);
        for (std::size_t i = 0; i < n; ++i)
          lanes.push_back(
              adopt_inlet(new fused_stage<T, out_t, D>(shared, stage_io<T, out_t>(state, index, {}, out.lane(i)))));
        previous(state, outlet<T>(std::move(lanes), &start_lanes<>));
        return;
      }
    }
    // Not make_shared, as share_stage: once per run.
    auto inlet =
        adopt_inlet(new fused_stage<T, out_t, D>(shared, stage_io<T, out_t>(state, index, {}, std::move(out))));
    previous(state, outlet<T>(std::move(inlet)));
  };
  flow<out_t> attached(single_sender, std::move(stages), std::move(connect), out_chunk, upstream.ordered());
  attached.set_branch_name(upstream.branch_name());  // sluice::named(name, flow) | stage keeps the name
  return attached;
}

/// A sink taking its input with several workers in any order that can
/// instead run in the lanes (or the one coroutine) of the stages before it,
/// one inlet per worker (aggregate_stage::lane_inlets, fold.hpp).
template <typename D, typename T>
concept lane_sink = requires(std::shared_ptr<D> d, pipeline_state& state, std::size_t n) {
  { D::template lane_inlets<T>(d, state, n, n) } -> std::same_as<inlet_list>;
  { std::as_const(*d).fuses_in_lanes() } -> std::convertible_to<bool>;
};

/// Attaches a lane_sink fused: no input channel and no workers of its own;
/// the chain before it feeds one inlet per worker (see the file comment).
template <typename T, typename D>
pipeline attach_lane_sink(flow<T> upstream, D stage) {
  auto stages = upstream.take_stages();
  const std::size_t index = stages.size();
  auto info = stage.info();
  info.capacity = 0;
  info.fused = true;
  info.stateless = true;  // one copy per lane
  info.lanes_before = unordered_input_workers(stage, static_cast<std::size_t>(-1)) > 1;
  append_stage(stages, std::move(info));
  auto shared = share_stage(std::move(stage));
  auto connect = [previous = upstream.take_outlet_launcher(), shared, index](pipeline_state& state) {
    const std::size_t n = std::max<std::size_t>(1, unordered_input_workers(*shared, state.rt().threads()));
    auto inlets = D::template lane_inlets<T>(shared, state, index, n);
    if (n == 1) {
      previous(state, outlet<T>(std::move(inlets.front())));
    } else {
      previous(state, outlet<T>(std::move(inlets), &start_lanes<>));
    }
  };
  return pipeline(std::move(stages), std::move(connect));
}

/// True when a stage of `stages` bounds its output in bytes (a file
/// reader's `.capacity_bytes`): that bound needs a channel after the chain.
inline bool bounds_output(const std::vector<stage_info>& stages) {
  for (const auto& s : stages)
    if (s.output_bytes) return true;
  return false;
}

/// Attaches a stage that passed its checks (see operator|).
template <typename T, typename D>
auto attach(flow<T> upstream, D stage) {
  stage.template prepare<T>();
  if constexpr (fusable_stage<D, T>) {
    if (stage.fuses() && stage_capacity_bytes(stage) == 0 && upstream.single_sender())
      return attach_fused(std::move(upstream), std::move(stage));
  }
  if constexpr (lane_sink<D, T>) {
    if (stage.fuses_in_lanes() && upstream.single_sender() && !bounds_output(upstream.stages()))
      return attach_lane_sink(std::move(upstream), std::move(stage));
  }
  using out_t = typename D::template output<T>;
  constexpr bool is_sink = std::is_same_v<out_t, none>;

  auto stages = upstream.take_stages();
  const std::size_t index = stages.size();
  const std::size_t capacity = stage.capacity() ? stage.capacity() : default_capacity;
  const std::size_t chunks = channel_chunks(capacity, upstream.chunk());
  auto info = stage.info();
  info.capacity = chunks * std::max<std::size_t>(1, upstream.chunk());
  info.capacity_bytes = stage_capacity_bytes(stage);
  info.lanes_before = unordered_input_workers(stage, static_cast<std::size_t>(-1)) > 1;
  append_stage(stages, std::move(info));
  const std::size_t out_chunk = stage.output_chunk(upstream.chunk());
  const bool upstream_ordered = upstream.ordered();
  bool ordered_output = true;
  if constexpr (requires { stage.template ordered_output<T>(); }) ordered_output = stage.template ordered_output<T>();

  auto shared = share_stage(std::move(stage));
  auto connect = [previous = upstream.take_outlet_launcher(), shared, index, chunks, upstream_ordered](
                     pipeline_state& state, outlet<out_t> out) {
    auto [tx, rx] = channel<chunk<T>>(chunks);
    state.close_on_cancel(rx);
    previous(state, outlet<T>(std::move(tx), unordered_input_workers(*shared, state.rt().threads())));
    state.start(
        run_stage<T, out_t>(shared, stage_io<T, out_t>(state, index, std::move(rx), std::move(out), upstream_ordered)));
  };
  if constexpr (is_sink) {
    return pipeline(std::move(stages), [connect](pipeline_state& state) { connect(state, {}); });
  } else if constexpr (fusable_stage<D, T>) {
    // Its own coroutine (`.fuse = false`, or after a concurrent stage): still one sender.
    flow<out_t> attached(single_sender, std::move(stages), std::move(connect), out_chunk, ordered_output);
    attached.set_branch_name(upstream.branch_name());
    return attached;
  } else {
    flow<out_t> attached(many_senders, std::move(stages), std::move(connect), out_chunk, ordered_output);
    attached.set_branch_name(upstream.branch_name());
    return attached;
  }
}

}  // namespace detail

/// Attaches a stage (or a sink, which yields a pipeline) to a flow. The
/// stage's check() runs first; if it fails the result is a poisoned flow
/// (no further errors), else the stage must implement the protocol.
template <typename T, detail::stage_descriptor D>
auto operator|(flow<T> upstream, D stage) {
  if constexpr (detail::stage_accepts<D, T>()) {
    return detail::attach(std::move(upstream), std::move(stage));
  } else {
    constexpr bool check_passed = detail::stage_check_passes<D, T>();
    static_assert(!check_passed,
                  "sluice: this stage type does not implement the stage protocol for the items flowing into it "
                  "(output<In>, check, prepare, info, capacity, output_chunk, run: see "
                  "sluice/stages/stage_protocol.hpp)");
    return detail::poisoned_flow{};
  }
}

}  // namespace sluice
