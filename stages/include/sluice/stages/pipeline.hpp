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
// A stage is anything implementing the stage protocol (stage_protocol.hpp).
// A stage whose compile-time check fails yields a poisoned flow, so its
// static_assert is the only error the compiler reports.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/core/channel.hpp"
#include "sluice/core/task.hpp"
#include "sluice/stages/detail/pipeline_state.hpp"
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

// Runs a stage body, turns an escaping exception into a pipeline failure,
// then ends the stage's output and drains its input: whatever happened, the
// neighbours are never left waiting.
template <typename In, typename Out, typename D>
task<void> run_stage(std::shared_ptr<D> stage, stage_io<In, Out> io) {
  try {
    co_await stage->template run<In>(io);
  } catch (...) {
    io.fail_unindexed(std::current_exception());
  }
  io.close_output();
  co_await io.drain_input();
}

std::string describe_stages(const std::vector<stage_info>& stages);
std::string stages_to_dot(const std::vector<stage_info>& stages);

}  // namespace detail

/// A source with stages attached, producing items of type T. Add stages with
/// `|`; add a sink to get a runnable pipeline.
template <typename T>
class flow {
 public:
  using value_type = T;
  using launcher = std::function<void(detail::pipeline_state&, channel_sender<detail::chunk<T>>)>;

  flow(std::vector<detail::stage_info> stages, launcher launch, std::size_t chunk, bool ordered = true)
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
  [[nodiscard]] launcher take_launcher() { return std::move(m_launch); }

 private:
  std::vector<detail::stage_info> m_stages;
  launcher m_launch;
  std::size_t m_chunk;
  bool m_ordered;
};

/// A complete pipeline (source ... sink), ready for sluice::run. Run it once.
class pipeline {
 public:
  using launcher = std::function<void(detail::pipeline_state&)>;
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

/// Wraps a source descriptor into a flow.
template <typename T, typename D>
flow<T> make_source(D source, std::size_t chunk_size) {
  std::vector<stage_info> stages{source.info()};
  auto shared = std::make_shared<D>(std::move(source));
  return flow<T>(
      std::move(stages),
      [shared](pipeline_state& state, channel_sender<chunk<T>> out) {
        state.start(run_stage<none, T>(shared, stage_io<none, T>(state, 0, {}, std::move(out))));
      },
      chunk_size);
}

}  // namespace detail

namespace detail {

/// Attaches a stage that passed its checks (see operator|).
template <typename T, typename D>
auto attach(flow<T> upstream, D stage) {
  stage.template prepare<T>();
  using out_t = typename D::template output<T>;
  constexpr bool is_sink = std::is_same_v<out_t, none>;

  auto stages = upstream.take_stages();
  const std::size_t index = stages.size();
  const std::size_t capacity = stage.capacity() ? stage.capacity() : default_capacity;
  const std::size_t chunks = channel_chunks(capacity, upstream.chunk());
  auto info = stage.info();
  info.capacity = chunks * std::max<std::size_t>(1, upstream.chunk());
  stages.push_back(std::move(info));
  const std::size_t out_chunk = stage.output_chunk(upstream.chunk());
  const bool upstream_ordered = upstream.ordered();
  bool ordered_output = true;
  if constexpr (requires { stage.template ordered_output<T>(); }) ordered_output = stage.template ordered_output<T>();

  auto shared = std::make_shared<D>(std::move(stage));
  auto connect = [previous = upstream.take_launcher(), shared, index, chunks, upstream_ordered](
                     pipeline_state& state, channel_sender<chunk<out_t>> out) {
    auto [tx, rx] = channel<chunk<T>>(chunks);
    // An init-capture: clang 14 cannot capture a structured binding by name (P1091).
    state.on_cancel([rx = rx]() { rx.close(); });
    previous(state, std::move(tx));
    state.start(
        run_stage<T, out_t>(shared, stage_io<T, out_t>(state, index, std::move(rx), std::move(out), upstream_ordered)));
  };
  if constexpr (is_sink) {
    return pipeline(std::move(stages), [connect](pipeline_state& state) { connect(state, {}); });
  } else {
    return flow<out_t>(std::move(stages), std::move(connect), out_chunk, ordered_output);
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
