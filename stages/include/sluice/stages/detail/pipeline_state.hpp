// The shared state of one pipeline run: per-stage counters, cancellation and
// the first error. Every stage coroutine of the run holds a reference; run()
// keeps it alive until all of them finished.
//
// One cancellation model: the run owns a std::stop_source. The user's stop
// token (run's argument) is chained into it, a fail-fast error requests it,
// and every wait of the run listens to its token: retry backoff sleeps
// (sleep_for(d, token)), async generator sources, user functions that take a
// std::stop_token, and the channels between stages, which a stop callback
// closes (a sender waiting on a full channel gets false, a receiver drains
// what is left and then sees the end). Stages then discard whatever still
// reaches them, counted as `cancelled`, so nothing waits forever.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include "sluice/core/detail/std_parts.hpp"
#include "sluice/core/latency_histogram.hpp"
#include "sluice/core/runtime.hpp"
#include "sluice/core/task.hpp"
#include "sluice/stages/detail/memory_bounds.hpp"
#include "sluice/stages/detail/shared_fn.hpp"
#include "sluice/stages/detail/stage_activity.hpp"
#include "sluice/stages/report.hpp"

namespace sluice {
template <typename T>
class channel_receiver;
}  // namespace sluice

namespace sluice::detail {

class chunk_record;

/// Static description of a stage, collected while composing (for describe()).
struct stage_info {
  std::string name = {};
  std::string kind = {};
  std::string parameters = {};     // human-readable, e.g. "concurrency 32, ordered"
  std::size_t capacity = 0;        // input channel capacity in items (0 for sources)
  bool fused = false;              // runs in the coroutine of the stage before it (no input channel)
  std::size_t capacity_bytes = 0;  // input channel bound in bytes (sluice::item_bytes), 0 = none
  /// The stages this one receives from, by index in the same list, for
  /// pipelines that are not a line (merge, broadcast, partition: see
  /// topology.hpp). nullopt: the stage before it (none for the first).
  std::optional<std::vector<std::size_t>> inputs = std::nullopt;
  /// The branch, lane or merge input the stage belongs to ("" on the main
  /// line), e.g. "broadcast branch 1"; named in errors and reports.
  std::string branch = {};
  /// For a reader whose input is not worth bounding in bytes (a file
  /// source): the bytes its output may have waiting in the channel it sends
  /// into (that of the next stage not fused with it), 0 = none. Merged into
  /// that stage's own capacity_bytes (the smaller wins).
  std::size_t output_bytes = 0;
  /// A fused stage whose function has no state (stateless_stage, pipeline.hpp).
  bool stateless = false;
  /// Takes its input with several workers in any order (fold and the
  /// aggregating sinks, unless `.workers = 1`): the stateless fused stages
  /// right before it run in lanes. describe() shows both.
  bool lanes_before = false;
};

/// A stage list holding `info` alone, and appending one to a list: compiled
/// in the library, because a vector of stage_info grown in the headers is
/// some fifty functions (and stage_info's copy, some eighty more with its
/// `inputs`) in every program (docs/architecture.md, "Header cost").
std::vector<stage_info> first_stage(stage_info&& info);
void append_stage(std::vector<stage_info>& stages, stage_info&& info);

/// Resolves stage_info::inputs of stage `i` of `stages`.
std::vector<std::size_t> stage_inputs(const std::vector<stage_info>& stages, std::size_t i);

/// Live item count and samples of one stage's input channel.
struct queue_stats {
  std::atomic<std::int64_t> depth{0};
  std::atomic<std::int64_t> peak{0};
  std::atomic<std::uint64_t> samples{0};
  std::atomic<std::uint64_t> full{0};
  std::atomic<std::uint64_t> empty{0};

  void add(std::size_t n) noexcept {
    auto now = depth.fetch_add(static_cast<std::int64_t>(n), std::memory_order_relaxed) + static_cast<std::int64_t>(n);
    auto seen = peak.load(std::memory_order_relaxed);
    while (now > seen && !peak.compare_exchange_weak(seen, now, std::memory_order_relaxed)) {
    }
  }
  void sub(std::size_t n) noexcept { depth.fetch_sub(static_cast<std::int64_t>(n), std::memory_order_relaxed); }
  void sample(std::size_t size, std::size_t capacity) noexcept {
    samples.fetch_add(1, std::memory_order_relaxed);
    if (size == 0) empty.fetch_add(1, std::memory_order_relaxed);
    if (capacity != 0 && size >= capacity) full.fetch_add(1, std::memory_order_relaxed);
  }
};

/// Counters of one stage (see report.hpp for their meaning).
struct stage_stats {
  std::atomic<std::uint64_t> items_in{0};
  std::atomic<std::uint64_t> items_out{0};
  std::atomic<std::uint64_t> emitted{0};
  std::atomic<std::uint64_t> dropped{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::uint64_t> cancelled{0};
  std::atomic<std::uint64_t> retries{0};
  std::atomic<std::int64_t> busy_ns{0};
  std::atomic<std::uint64_t> next_seq{0};  // numbers the chunks this stage sends
  // busy time is divided by this: concurrent stages (async_map) sum the
  // latencies of up to this many items in flight at once.
  std::atomic<std::uint32_t> busy_share{1};
  queue_stats input;
  stage_activity activity;  // live waits and items in flight (stall watchdog, trace)
  // Bytes the stage read or wrote, where it knows them (count_bytes).
  std::atomic<std::uint64_t> bytes{0};
  // Per call of an async stage's function (call_async): calls started, and
  // the latency of each finished one (started - finished = in flight).
  std::atomic<std::uint64_t> calls{0};
  latency_histogram latency;
  // Set when an async stage (async_map, an async for_each) starts running:
  // its progress snapshots count calls running as in flight, also before
  // its first call starts (items received and not handled would count a
  // whole chunk then, more than the concurrency).
  std::atomic<bool> makes_async_calls{false};
  // Per async item, end to end: from its first attempt to its outcome,
  // retries and backoff sleeps included (one record per finished item).
  latency_histogram item_latency;

  static void bump(std::atomic<std::uint64_t>& c, std::size_t n) noexcept { c.fetch_add(n, std::memory_order_relaxed); }
  void busy(std::chrono::steady_clock::duration d) noexcept {
    busy_ns.fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count(), std::memory_order_relaxed);
  }
  /// Copies the item counters and bytes into a stage_report or a
  /// stage_progress. Outcomes before inputs: an item is received before it
  /// has an outcome, so in - outcomes computed from a copy taken while the
  /// run goes on is not inflated by reads racing the other way.
  template <typename Counters>
  void copy_counters(Counters& to) const noexcept {
    to.items_out = items_out.load(std::memory_order_relaxed);
    to.dropped = dropped.load(std::memory_order_relaxed);
    to.failed = failed.load(std::memory_order_relaxed);
    to.cancelled = cancelled.load(std::memory_order_relaxed);
    to.emitted = emitted.load(std::memory_order_relaxed);
    to.items_in = items_in.load(std::memory_order_relaxed);
    to.retries = retries.load(std::memory_order_relaxed);
    to.bytes = bytes.load(std::memory_order_relaxed);
  }
};

class pipeline_state {
 public:
  pipeline_state(runtime& rt, std::vector<stage_info> stages);
  pipeline_state(const pipeline_state&) = delete;
  pipeline_state& operator=(const pipeline_state&) = delete;

  [[nodiscard]] runtime& rt() noexcept { return m_runtime; }
  [[nodiscard]] stage_stats& stats(std::size_t stage) noexcept { return m_stats[stage]; }
  [[nodiscard]] const stage_info& info(std::size_t stage) const noexcept { return m_stages[stage]; }
  [[nodiscard]] std::size_t size() const noexcept { return m_stages.size(); }

  /// True once cancelled or failed. Cheap (one relaxed load): stages poll it
  /// per item. Relaxed, unlike the token's stop_requested() (an acquire
  /// load), so the compiler may keep a user function's state in registers
  /// across items. Every stop goes through cancel(), which sets it before
  /// requesting stop on the token: whatever a stop wakes (a closed channel,
  /// a sleep cut short, a body given the token) sees stopped() too.
  [[nodiscard]] bool stopped() const noexcept { return m_stopped.load(std::memory_order_relaxed); }
  /// The run's token: stopped when the run is cancelled or fails.
  [[nodiscard]] std::stop_token token() const noexcept { return m_stop.get_token(); }

  /// Stops the run: requests stop on the run's source, which closes every
  /// registered channel (on_cancel). Idempotent.
  void cancel() {
    // Before the request: the token's other stop callbacks (sleeps, user
    // bodies) may resume code that checks stopped() before ours runs.
    m_stopped.store(true, std::memory_order_release);
    m_stop.request_stop();
  }
  /// Records the first error (later ones are counted by their stage only), then cancels.
  void fail(std::size_t stage, std::size_t item_index, std::exception_ptr error);
  /// Marks the run as cancelled by the user (for the report), then cancels.
  void cancel_by_user();

  /// Registers a close action run when the run's token is stopped (at once
  /// if it already is).
  void on_cancel(shared_fn<void()> close);
  /// on_cancel() closing a stage channel: its close action is compiled
  /// once, here, rather than a lambda per stage in every program.
  void close_on_cancel(const channel_receiver<chunk_record>& rx);

  /// The run's memory bounds (byte capacities, limits in flight).
  [[nodiscard]] memory_bounds& bounds() noexcept { return m_bounds; }
  /// Sets the pipeline-wide limits in flight (0: none). Call before launching.
  void limit_in_flight(std::size_t items, std::size_t bytes);
  /// Topologies compose their sub-flows (merge inputs, branches, lanes) on
  /// their own, numbering stages from 0; while one is launched its indices
  /// are offset by its position in the whole pipeline. Launching happens on
  /// one thread, before any stage runs. Returns the previous offset.
  std::size_t exchange_index_base(std::size_t base) noexcept { return std::exchange(m_index_base, base); }
  [[nodiscard]] std::size_t index_base() const noexcept { return m_index_base; }
  /// The stages receiving stage `stage`'s output (one on a line; several
  /// after a fan-out; none for a sink).
  [[nodiscard]] const std::vector<std::size_t>& consumers(std::size_t stage) const noexcept {
    return m_consumers[stage];
  }
  /// The input queue counters of the stage's only consumer, or nullptr.
  [[nodiscard]] queue_stats* consumer_queue(std::size_t stage) noexcept {
    return m_consumers[stage].size() == 1 ? &m_stats[m_consumers[stage].front()].input : nullptr;
  }

  /// Starts a stage coroutine on the runtime. (spawn is inline, as every
  /// coroutine: core/task.hpp; keeping the handle is not, so a program does
  /// not compile a vector of join handles.)
  void start(task<void> stage) { keep(m_runtime.spawn(std::move(stage))); }
  /// Awaits every started stage.
  task<void> join();

  /// Builds the report from the counters: final after join(), a live view
  /// (relaxed reads) while the run goes on.
  [[nodiscard]] pipeline_report make_report(std::chrono::nanoseconds elapsed) const;
  /// Throws pipeline_error for the first recorded error, if any.
  void rethrow_if_failed(const pipeline_report& report) const;

 private:
  runtime& m_runtime;
  std::vector<stage_info> m_stages;
  std::unique_ptr<stage_stats[]> m_stats;
  memory_bounds m_bounds;
  std::vector<std::vector<std::size_t>> m_consumers;
  std::size_t m_index_base = 0;
  void run_closers();
  void keep(join_handle<void> stage);
  // Applies stage_info::output_bytes of `stage` to the channels it sends into.
  void bound_output(std::size_t stage, std::size_t bytes, std::vector<std::size_t>& limits) const;

  std::stop_source m_stop;
  std::atomic<bool> m_stopped{false};  // mirrors m_stop for stopped(), set first thing on stop
  std::atomic<bool> m_user_cancelled{false};
  std::mutex m_mutex;  // guards everything below
  bool m_cancelled = false;
  std::vector<shared_fn<void()>> m_closers;
  std::exception_ptr m_error;
  std::size_t m_error_stage = 0;
  std::size_t m_error_item = 0;
  std::vector<join_handle<void>> m_stage_tasks;
  // Last member: destroyed first, so no closer runs on a half-destroyed state.
  struct closers_on_stop {
    pipeline_state* state;
    void operator()() const { state->run_closers(); }
  };
  std::stop_callback<closers_on_stop> m_on_stop;
};

}  // namespace sluice::detail
