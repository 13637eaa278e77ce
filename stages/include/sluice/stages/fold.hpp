// sluice::fold(result, op, combine): aggregation without copies, in parallel.
//
//   long total = 0;
//   | sluice::fold(total,
//                  [](long& acc, int x) { acc += x; },              // op(Acc&, const In&): in place
//                  [](long& acc, long&& other) { acc += other; })   // combine(Acc&, Acc&&)
//
// The shape of tbb::combinable and rayon's fold + reduce: the sink runs one
// worker coroutine per arena thread (`.workers`), each with its own
// accumulator, a value-initialised `Acc{}` (which must be neutral for
// combine: 0 for a sum, empty for a map or a vector). A worker takes whole
// chunks from the input and applies `op(acc, item)` to each item, in place:
// no accumulator is copied per item and no lock is taken. After a source or
// light stages (anything sending from one coroutine) the sink runs fused:
// the workers are the lanes of those stages (pipeline.hpp, "Fusion"), each
// adding a chunk as soon as it is made, with no input channel; `.capacity`
// or `.capacity_bytes` asks for the channel and worker coroutines instead.
// When the input ends the accumulators are merged with
// `combine(result, std::move(acc))`;
// `result`'s value before the run is the starting point, so folding into a
// non-empty result adds to it.
//
// Which items land in which accumulator, and the order of the combines,
// depend on scheduling: op and combine must give the same result for any
// split (commutative and associative, as for tbb::combinable). For an
// order-dependent fold use the sequential form `fold(result, fn)` in
// reduce.hpp, or `.workers = 1`.
//
// Thread-safety: op is called from up to `.workers` coroutines at once, each
// with its own accumulator (op must not touch shared state without locking);
// combine is called on one thread after all workers finished. `result` must
// outlive run() and is written once, at the end. On cancellation `result`
// holds what was folded before the stop. Errors: `.on_error` applies per
// item (fail fast by default); a throwing combine fails the run.
#pragma once

#include <atomic>
#include <concepts>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/core/detail/std_parts.hpp"
#include "sluice/core/release_batch.hpp"
#include "sluice/core/runtime.hpp"
#include "sluice/core/task.hpp"
#include "sluice/core/when_all.hpp"
#include "sluice/stages/pipeline.hpp"
#include "sluice/stages/stage_options.hpp"

namespace sluice {

/// Options of the parallel aggregating sinks (fold, count_by, group_by, top_k).
struct aggregate_options {
  /// Shown in describe() and reports; defaults to the stage's kind.
  std::string name = {};
  /// Worker coroutines, each with its own accumulator; 0 = the runtime's threads.
  std::size_t workers = 0;
  /// Items the stage's input channel holds; 0 = sluice::default_capacity.
  std::size_t capacity = 0;
  /// Bytes (sluice::item_bytes) the input channel holds; 0 = no bound in bytes.
  std::size_t capacity_bytes = 0;
  /// What to do when op (or the key function) throws (default: fail fast).
  error_policy on_error = {};
};

namespace detail {

/// The part that differs between fold, count_by, group_by and top_k. An
/// aggregator A provides
///   using local = ...;                                   // one per worker
///   local make_local() const;
///   template <class In> void add(local&, In& item);      // may move from item
///   void finish(std::vector<local>&& locals);            // merges and stores the result
///   template <class In> static constexpr void check();   // readable static_asserts
///   const char* kind() const; std::string parameters() const;
template <typename A>
class aggregate_stage {
 public:
  using sluice_stage = void;
  template <typename In>
  using output = none;

  aggregate_stage(A aggregator, aggregate_options options)
      : m_aggregator(std::move(aggregator)), m_options(std::move(options)) {}

  template <typename In>
  static constexpr void check() {
    A::template check<In>();
  }
  template <typename In>
  void prepare() const {
    if (m_options.on_error.retry.max_attempts > 1 && !std::is_copy_constructible_v<In>)
      throw std::logic_error(std::string("sluice::") + m_aggregator.kind() + ": retry needs a copyable item type");
  }
  [[nodiscard]] stage_info info() const {
    std::string params = m_aggregator.parameters();
    std::string workers = m_options.workers ? std::to_string(m_options.workers) : std::string("one per thread");
    params += (params.empty() ? "" : ", ") + ("workers " + workers);
    return {.name = name_or(m_options.name, m_aggregator.kind()),
            .kind = m_aggregator.kind(),
            .parameters = std::move(params),
            .capacity = 0};
  }
  [[nodiscard]] std::size_t capacity() const noexcept { return m_options.capacity; }
  [[nodiscard]] std::size_t output_chunk(std::size_t) const noexcept { return 0; }
  /// The workers take whole chunks at once, in any order: stateless light
  /// stages fused before this one run in as many lanes (pipeline.hpp, "Fusion").
  [[nodiscard]] std::size_t unordered_input_workers(std::size_t threads) const noexcept {
    const std::size_t n = std::max<std::size_t>(1, threads);
    return m_options.workers ? std::min(m_options.workers, n) : n;  // more lanes than threads gain nothing
  }

  /// Runs fused, in lanes (see lane_inlets), unless an input channel was
  /// asked for with `.capacity` or `.capacity_bytes`.
  [[nodiscard]] bool fuses_in_lanes() const noexcept {
    return m_options.capacity == 0 && m_options.capacity_bytes == 0;
  }

  /// The fused form (pipeline.hpp, "Fusion"): `n` inlets, each the worker
  /// of one accumulator, called by the lane (or the one coroutine, n = 1)
  /// that runs the light stages before this one. The input then needs no
  /// channel, no worker coroutines and no hop: a lane adds a chunk to its
  /// accumulator right after its stages produced it, on the same thread,
  /// while the chunk is still in cache, and nothing holds chunks between
  /// the lanes and the sink. The last inlet to finish merges the accumulators.
  template <typename In>
  static inlet_list lane_inlets(std::shared_ptr<aggregate_stage> self, pipeline_state& state, std::size_t index,
                                std::size_t n);

  template <typename In>
  task<void> run(stage_io<In, none>& io) {
    io.receive_unordered();  // the workers receive at once; the result does not depend on order
    const std::size_t n = m_options.workers ? m_options.workers : std::max<std::size_t>(1, io.rt().threads());
    std::vector<typename A::local> locals;
    locals.reserve(n);
    for (std::size_t i = 0; i < n; ++i) locals.push_back(m_aggregator.make_local());
    std::vector<task<void>> workers;
    workers.reserve(n);
    for (std::size_t i = 0; i < n; ++i) workers.push_back(work(io, locals[i]));
    co_await when_all(std::move(workers));
    finish_locals(io, std::move(locals));
  }

  /// One input chunk into `local` (a worker's loop body; a lane's push).
  /// The items are destroyed here, in one release_batch: the lines of a
  /// file block release their block with one atomic decrement per chunk
  /// rather than one per line (release_batch.hpp). Synchronous, as a batch
  /// must be.
  template <typename In>
  void add_input(stage_io<In, none>& io, typename A::local& local, input_chunk<In>& in) {
    auto started = std::chrono::steady_clock::now();
    {
      release_batch batch;
      if (!m_options.on_error.keeps_items()) {
        add_chunk(io, local, in);
      } else {
        add_each(io, local, in);
      }
      in.items.clear();
    }
    io.stats().busy(std::chrono::steady_clock::now() - started);
  }

  /// Merges the accumulators into the result (after every worker finished).
  template <typename In>
  void finish_locals(stage_io<In, none>& io, std::vector<typename A::local>&& locals) {
    auto started = std::chrono::steady_clock::now();
    m_aggregator.finish(std::move(locals));
    io.stats().busy(std::chrono::steady_clock::now() - started);
  }

  /// A new accumulator for a worker or lane.
  [[nodiscard]] typename A::local make_local() const { return m_aggregator.make_local(); }

 private:
  template <typename In>
  task<void> work(stage_io<In, none>& io, typename A::local& local) {
    co_await io.rt().schedule();  // start on the arena so workers run in parallel
    while (auto in = co_await io.recv()) add_input(io, local, *in);
  }

  // Fail fast, no retry: the chunk in one loop, counters bumped once per
  // chunk (a shared atomic per item would be the most expensive part).
  template <typename In>
  void add_chunk(stage_io<In, none>& io, typename A::local& local, input_chunk<In>& in) {
    io.completed(io.run_fail_fast(m_options.on_error, in, [&](In& item) { m_aggregator.add(local, item); }));
  }

  // Retry or dead letters: item by item through the error policy.
  template <typename In>
  void add_each(stage_io<In, none>& io, typename A::local& local, input_chunk<In>& in) {
    auto add = [this, &local](In&& item) { m_aggregator.add(local, item); };
    auto& items = in.items;
    std::size_t added = 0;  // counted once per chunk (see for_each)
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (io.stopped()) {
        io.drop(items.size() - i);
        break;
      }
      if (io.call(m_options.on_error, add, items[i], in.first_index + i)) ++added;
    }
    io.completed(added);
  }

  A m_aggregator;
  aggregate_options m_options;
};

/// The accumulators of an aggregating sink fused in lanes, shared by its inlets.
template <typename A>
struct aggregate_lanes {
  std::shared_ptr<aggregate_stage<A>> stage;
  std::vector<typename A::local> locals;
  std::atomic<std::size_t> open;  // inlets not finished yet; the last merges
};

/// One lane's inlet of an aggregating sink: adds each chunk pushed into it
/// to the lane's accumulator, in the pushing coroutine.
template <typename A, typename In>
class aggregate_lane final : public fused_inlet<In> {
 public:
  aggregate_lane(std::shared_ptr<aggregate_lanes<A>> lanes, std::size_t lane, stage_io<In, none> io)
      : m_lanes(std::move(lanes)), m_lane(lane), m_io(std::move(io)) {}

  task<bool> push(std::vector<In> items) override {
    std::exception_ptr error;
    try {
      auto in = m_io.accept_pushed(std::move(items));
      m_lanes->stage->add_input(m_io, m_lanes->locals[m_lane], in);
      co_return !m_io.stopped();
    } catch (...) {
      error = std::current_exception();
    }
    m_io.fail_unindexed(std::move(error));
    co_return false;
  }
  void finish() override {
    // The lanes' work happens before (lane_group's counter, and this one).
    if (m_lanes->open.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    try {
      m_lanes->stage->finish_locals(m_io, std::move(m_lanes->locals));
    } catch (...) {
      m_io.fail_unindexed(std::current_exception());  // a throwing combine fails the run
    }
  }
  void runs_in_source() override {}  // sends nothing: no limits in flight to wait on

 private:
  std::shared_ptr<aggregate_lanes<A>> m_lanes;
  std::size_t m_lane;
  stage_io<In, none> m_io;
};

template <typename A>
template <typename In>
inlet_list aggregate_stage<A>::lane_inlets(std::shared_ptr<aggregate_stage> self, pipeline_state& state,
                                           std::size_t index, std::size_t n) {
  // Not make_shared, as share_stage (pipeline.hpp): once per run.
  auto lanes = std::shared_ptr<aggregate_lanes<A>>(new aggregate_lanes<A>{std::move(self), {}, {n}});
  lanes->locals.reserve(n);
  for (std::size_t i = 0; i < n; ++i) lanes->locals.push_back(lanes->stage->make_local());
  inlet_list inlets;  // of fused_inlet<In>
  inlets.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    inlets.push_back(
        adopt_inlet(new aggregate_lane<A, In>(lanes, i, stage_io<In, none>(state, index, {}, outlet<none>{}))));
  return inlets;
}

template <typename Acc, typename Op, typename Combine>
class fold_aggregator {
 public:
  using local = Acc;
  fold_aggregator(Acc& result, Op op, Combine combine)
      : m_result(&result), m_op(std::move(op)), m_combine(std::move(combine)) {}

  template <typename In>
  static constexpr void check() {
    static_assert(std::is_default_constructible_v<Acc> && std::is_move_constructible_v<Acc>,
                  "sluice::fold: each worker starts from Acc{}, so the accumulator must be default-constructible "
                  "(and movable)");
    static_assert(std::invocable<Op&, Acc&, const In&>,
                  "sluice::fold: op must be callable as op(Acc&, const In&), updating the accumulator in place");
    static_assert(std::invocable<Combine&, Acc&, Acc&&>,
                  "sluice::fold: combine must be callable as combine(Acc&, Acc&&), merging the second into the first");
  }
  [[nodiscard]] Acc make_local() const { return Acc{}; }
  template <typename In>
  void add(Acc& acc, const In& item) {
    m_op(acc, item);
  }
  void finish(std::vector<Acc>&& locals) {
    for (auto& acc : locals) m_combine(*m_result, std::move(acc));
  }
  [[nodiscard]] const char* kind() const noexcept { return "fold"; }
  [[nodiscard]] std::string parameters() const { return {}; }

 private:
  Acc* m_result;
  Op m_op;
  Combine m_combine;
};

}  // namespace detail

/// Parallel fold into `result` (see the file comment): every worker starts
/// from Acc{}, applies op(acc, item) in place, and the workers'
/// accumulators are merged into `result` with combine(result, std::move(acc)).
template <typename Acc, typename Op, typename Combine>
requires(!std::is_same_v<std::remove_cvref_t<Combine>, stage_options>) auto fold(Acc& result, Op op, Combine combine,
                                                                                 aggregate_options options = {}) {
  return detail::aggregate_stage<detail::fold_aggregator<Acc, Op, Combine>>(
      detail::fold_aggregator<Acc, Op, Combine>(result, std::move(op), std::move(combine)), std::move(options));
}

}  // namespace sluice
