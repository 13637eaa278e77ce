// What a stage coroutine sees of the run: its input and output channels
// (which carry chunks of items, see pipeline.hpp), its counters, and the
// error policy helpers. Every receive and send goes through here so the
// report's accounting is kept in one place.
#pragma once

#include <any>
#include <array>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/core/channel.hpp"
#include "sluice/core/detail/std_parts.hpp"
#include "sluice/core/runtime.hpp"
#include "sluice/core/sleep.hpp"
#include "sluice/core/task.hpp"
#include "sluice/core/wait_note.hpp"
#include "sluice/stages/detail/awaiter_forms.hpp"
#include "sluice/stages/detail/bounded_send.hpp"
#include "sluice/stages/detail/fused_lanes.hpp"
#include "sluice/stages/detail/maybe.hpp"
#include "sluice/stages/detail/outlet.hpp"
#include "sluice/stages/detail/pipeline_state.hpp"
#include "sluice/stages/detail/reorder_buffer.hpp"
#include "sluice/stages/detail/stage_call.hpp"
#include "sluice/stages/error_policy.hpp"
#include "sluice/stages/item_bytes.hpp"
#include "sluice/stages/pipeline_error.hpp"

namespace sluice::detail {

/// A received chunk and the stage-local index of its first item.
template <typename T>
struct input_chunk {
  std::vector<T> items;
  std::size_t first_index = 0;
};

/// What recv() and try_recv() give: a chunk, or none (end of input, or
/// nothing ready); a maybe (maybe.hpp), flat where std::optional is some
/// fifty functions per item type at -O0.
template <typename In>
using maybe_chunk = maybe<input_chunk<In>>;

/// Untyped part: counters, failure reporting.
class stage_context {
 public:
  /// `index` counts from the start of the (sub-)flow being launched; see
  /// pipeline_state::index_base().
  stage_context(pipeline_state& state, std::size_t index) noexcept
      : m_state(&state), m_index(state.index_base() + index), m_stats(&state.stats(m_index)), m_token(state.token()) {}

  [[nodiscard]] pipeline_state& state() const noexcept { return *m_state; }
  [[nodiscard]] runtime& rt() const noexcept { return m_state->rt(); }
  [[nodiscard]] stage_stats& stats() const noexcept { return *m_stats; }
  [[nodiscard]] std::size_t index() const noexcept { return m_index; }
  [[nodiscard]] const std::string& name() const noexcept { return m_state->info(m_index).name; }
  /// True once the run is cancelled or failed (its token is stopped).
  [[nodiscard]] bool stopped() const noexcept { return m_state->stopped(); }
  /// The run's stop token: pass it to every wait a stage makes.
  [[nodiscard]] const std::stop_token& stop_token() const noexcept { return m_token; }

  /// `n` inputs discarded without a result and without an error: counted as
  /// cancelled when the run is stopped (abandoned), else as dropped (e.g.
  /// downstream stopped early).
  void drop(std::size_t n) const noexcept { stage_stats::bump(stopped() ? m_stats->cancelled : m_stats->dropped, n); }
  /// `n` inputs rejected on purpose (filter): always dropped.
  void reject(std::size_t n) const noexcept { stage_stats::bump(m_stats->dropped, n); }
  void completed(std::size_t n) const noexcept { stage_stats::bump(m_stats->items_out, n); }
  /// `n` bytes read or written by the stage (for the report's `bytes`).
  void count_bytes(std::size_t n) const noexcept { stage_stats::bump(m_stats->bytes, n); }

  /// Runs body(item, index) on each item of a received chunk, one after
  /// another, and counts the time as busy. Stops when the run stops (the
  /// rest count as cancelled) or when body returns false (the rest count as
  /// dropped; for_each_item then returns false).
  template <typename In, typename Body>
  bool for_each_item(input_chunk<In>& in, Body&& body) const {
    auto& items = in.items;
    stage_span<In> span(m_state, rt().id(), m_index, name(), timed_section);
    span.items(items.size());
    bool go_on = true;
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (stopped()) {
        drop(items.size() - i);
        break;
      }
      if constexpr (std::is_void_v<decltype(body(items[i], i))>) {
        body(items[i], in.first_index + i);
      } else if (!body(items[i], in.first_index + i)) {
        drop(items.size() - i - 1);
        go_on = false;
        break;
      }
    }
    m_stats->busy(span.stop());
    return go_on;
  }

  /// Calls fn on each item of a received chunk in order under `policy`, as
  /// for_each_item + call() would, and hands each result to
  /// take(result, item) (map's, filter's and flat_map's loop). Under the default policy
  /// (fail fast: no retry, no dead letters, nothing keeps an item) the
  /// chunk runs in one `try`, with a stop check every 64 items, as fold's
  /// chunks do: per item that drops the attempt loop, the policy tests and
  /// the `maybe` around the result, about a tenth of what a fused
  /// map + filter spends per line of a log file. The first exception fails
  /// the item it came from; the items after it count as dropped (cancelled
  /// once the run stops), as in the per-item path.
  template <typename In, typename F, typename Take>
  void call_each(const error_policy& policy, F& fn, input_chunk<In>& in, Take&& take) const {
    if (policy.keeps_items()) {
      for_each_item(in, [&](In& item, std::size_t index) {
        if (auto r = call(policy, fn, item, index)) take(std::move(*r), item);
      });
      return;
    }
    stage_span<In> span(m_state, rt().id(), m_index, name(), timed_section);
    span.items(in.items.size());
    (void)run_fail_fast(policy, in, [&](In& item) { take(invoke_stage_fn(fn, std::move(item), m_token), item); });
    m_stats->busy(span.stop());
  }

  /// The fail-fast chunk loop (call_each's, and fold's): body(item) on each
  /// item in order inside one `try`, a stop check every 64 items. The first
  /// exception fails the item it came from (item_failed under `policy`);
  /// the items after it, or after a stop, count as dropped (cancelled once
  /// the run stops). Returns how many items body finished.
  template <typename In, typename Body>
  std::size_t run_fail_fast(const error_policy& policy, input_chunk<In>& in, Body&& body) const {
    auto& items = in.items;
    std::size_t i = 0;
    try {
      for (; i < items.size(); ++i) {
        if (i % 64 == 0 && stopped()) break;
        body(items[i]);
      }
    } catch (...) {
      item_failed(policy, in.first_index + i, &items[i], std::current_exception());
      drop(items.size() - i - 1);
      return i;
    }
    drop(items.size() - i);
    return i;
  }

  /// An exception not tied to an item (a source's range threw): fail fast.
  void fail_unindexed(std::exception_ptr error) const {
    m_state->fail(m_index, pipeline_error::no_item, std::move(error));
  }

  /// Counts one failed item and applies the policy: fail fast, or a dead letter.
  template <typename In>
  void item_failed(const error_policy& policy, std::size_t item_index, In* item, std::exception_ptr error) const {
    stage_stats::bump(m_stats->failed, 1);
    if (policy.fails_fast()) {
      m_state->fail(m_index, item_index, std::move(error));
      return;
    }
    dead_letter letter{.stage = name(), .item_index = item_index, .error = std::move(error), .item = {}};
    if constexpr (std::is_copy_constructible_v<In>) {
      if (item) letter.item = *item;
    }
    try {
      policy.dead_letters(std::move(letter));
    } catch (...) {
      // A sink that cannot take the letter must not lose the error.
      m_state->fail(m_index, item_index, std::current_exception());
    }
  }

  /// Calls `fn(item)` (or `fn(item, stop_token())`) under `policy` for a
  /// synchronous stage: retries at once. Returns the result (a maybe<R>,
  /// used as a std::optional), or none when
  /// the item failed or was abandoned (already counted and reported). void
  /// results come back as std::monostate.
  template <typename F, typename In>
  auto call(const error_policy& policy, F& fn, In& item, std::size_t item_index) const {
    using result_t = stage_call_result_t<F, In>;
    using stored_t = std::conditional_t<std::is_void_v<result_t>, std::monostate, result_t>;
    return attempts<stored_t>(policy, item, item_index, [&]() -> stored_t {
      if constexpr (std::is_void_v<result_t>) {
        invoke_keeping(policy, fn, item);
        return {};
      } else {
        return invoke_keeping(policy, fn, item);
      }
    });
  }

  /// As call(), for a function that only looks at the item (a partition's
  /// key function): fn(const In&) is called on the item in place, so no
  /// attempt copies or consumes it (a dead letter still gets a copy).
  template <typename F, typename In>
  auto call_in_place(const error_policy& policy, F& fn, In& item, std::size_t item_index) const {
    using result_t = std::invoke_result_t<F&, const In&>;
    return attempts<result_t>(policy, item, item_index,
                              [&]() -> result_t { return detail::invoke(fn, std::as_const(item)); });
  }

  /// As call(), for fn(In) -> task<Out>: awaits it, sleeping with backoff
  /// between attempts on the run's token. A stop request ends the waiting;
  /// the item then counts as cancelled, as does an error raised once the run
  /// is stopped (the body was cut short by the token or the teardown).
  template <typename Out, typename F, typename In>
  task<maybe<Out>> call_async(const error_policy& policy, F& fn, In item, std::size_t item_index) const {
    async_item_scope<In> in_flight(*this, item_index);  // records the item's end-to-end latency
    // Every task the item's function awaits works for this item: the waits
    // it labels are listed under it in a stall dump.
    own_waits_awaiter own{&in_flight.owner()};
    co_await own;
    std::exception_ptr error;
    for (std::size_t attempt = 1;; ++attempt) {
      if (stopped()) break;
      auto started = std::chrono::steady_clock::now();
      stage_stats::bump(m_stats->calls, 1);
      try {
        auto work = invoke_keeping(policy, fn, item);
        Out value = co_await std::move(work);
        record_call(std::chrono::steady_clock::now() - started);
        in_flight.finish();
        co_return maybe<Out>(std::move(value));
      } catch (...) {
        error = std::current_exception();
      }
      record_call(std::chrono::steady_clock::now() - started);
      if (stopped() || !worth_retrying(policy, error)) break;
      const auto wait = policy.retry.delay_for(attempt);  // nullopt: attempts exhausted
      if (!wait) break;
      if (!co_await sleep_for(*wait, stop_token())) break;
      count_retry();
    }
    in_flight.finish();
    if (stopped()) {
      drop(1);
      co_return std::nullopt;
    }
    item_failed(policy, item_index, &item, std::move(error));
    co_return std::nullopt;
  }

 private:
  // The attempts of a synchronous call under `policy` (see call()): retries
  // at once; nullopt when the item failed (counted, reported) or was abandoned.
  template <typename R, typename In, typename Invoke>
  maybe<R> attempts(const error_policy& policy, In& item, std::size_t item_index, Invoke&& invoke) const {
    std::exception_ptr error;
    for (std::size_t attempt = 1;; ++attempt) {
      try {
        return maybe<R>(invoke());
      } catch (...) {
        error = std::current_exception();
      }
      if (attempt >= policy.retry.max_attempts || !worth_retrying(policy, error)) break;
      if (stopped()) {
        drop(1);  // a retry was due, but the run stopped: abandoned
        return std::nullopt;
      }
      count_retry();
    }
    item_failed(policy, item_index, &item, std::move(error));
    return std::nullopt;
  }

  // The policy's classifier hook, when set, decides whether this exception
  // is worth another attempt.
  static bool worth_retrying(const error_policy& policy, const std::exception_ptr& error) {
    return !policy.retry.retryable || policy.retry.retryable(error);
  }

  // Passes a copy while the item may be needed again (retry, dead letter),
  // and the run's token when fn takes one.
  template <typename F, typename In>
  decltype(auto) invoke_keeping(const error_policy& policy, F& fn, In& item) const {
    if constexpr (std::is_copy_constructible_v<In>) {
      if (policy.keeps_items()) return invoke_stage_fn(fn, In(item), m_token);
    }
    return invoke_stage_fn(fn, std::move(item), m_token);
  }

  void count_retry() const noexcept { stage_stats::bump(m_stats->retries, 1); }

  // An async item from start to end: counted in flight, the owner of the
  // waits its tasks label (stall dumps), its end-to-end latency recorded (when
  // it finishes: a frame destroyed at teardown records nothing), traced as
  // an async span.
  template <typename Tag>
  class async_item_scope {
   public:
    async_item_scope(const stage_context& ctx, std::size_t index) noexcept
        : m_ctx(ctx),
          m_index(index),
          m_trace(SLUICE_TRACE_ACTIVE()),
          m_start(trace_recorder::clock::now()),
          m_owner{ctx.m_state, ctx.m_index, ctx.name(), index, m_start} {
      m_ctx.m_stats->activity.in_flight.fetch_add(1, std::memory_order_relaxed);
    }
    ~async_item_scope() {
      m_ctx.m_stats->activity.in_flight.fetch_sub(1, std::memory_order_relaxed);
      if (!m_finished) return;
      if (m_trace) [[unlikely]]
        m_trace->async_item(m_ctx.name(), m_start, m_end, static_cast<std::int64_t>(m_index));
    }
    async_item_scope(const async_item_scope&) = delete;
    async_item_scope& operator=(const async_item_scope&) = delete;

    [[nodiscard]] const wait_owner& owner() const noexcept { return m_owner; }

    /// The item has its outcome: records its latency (before the outcome
    /// can be seen downstream, so a report never shows an item out without it).
    void finish() noexcept {
      m_end = trace_recorder::clock::now();
      m_finished = true;
      m_ctx.m_stats->item_latency.record(std::chrono::duration_cast<std::chrono::nanoseconds>(m_end - m_start));
    }

   private:
    const stage_context& m_ctx;
    std::size_t m_index;
    trace_recorder* m_trace;
    trace_recorder::clock::time_point m_start;
    trace_recorder::clock::time_point m_end{};
    bool m_finished = false;
    wait_owner m_owner;
  };

  // One call of an async stage's function: busy time and the latency histogram.
  void record_call(std::chrono::steady_clock::duration d) const noexcept {
    m_stats->busy(d);
    m_stats->latency.record(std::chrono::duration_cast<std::chrono::nanoseconds>(d));
  }

  pipeline_state* m_state;
  std::size_t m_index;
  stage_stats* m_stats;
  std::stop_token m_token;  // a copy per stage: passing it costs no atomic operation per item
};

/// The part of a stage's channels that does not depend on its item types:
/// the channels, the fused or laned next stage, the memory bounds, the
/// restoring of the input's order and the counting. Compiled once, in the
/// library (stages/src/stage_io.cpp), where it was per pair of item types
/// (docs/architecture.md, "Header cost"); stage_io<In, Out> adds the typed
/// awaiters and names the items' type where they come out of a chunk. None
/// of the out-of-line members holds or awaits a task, so the library's copy
/// does not depend on the task protocol (core/task.hpp).
class stage_channels : public stage_context {
 public:
  /// See stage_io's constructor. `holds_back`: the stage is a source (its
  /// sends wait on the limits in flight).
  stage_channels(pipeline_state& state, std::size_t index, channel_receiver<chunk_record>&& in, outlet_parts&& out,
                 bool upstream_ordered, bool holds_back);
  // Out of line, as the constructor: the members' moves and destructors
  // are then compiled once, in the library.
  stage_channels(stage_channels&& other) noexcept;
  stage_channels& operator=(stage_channels&&) = delete;
  ~stage_channels();

  /// This stage runs in the source's coroutine (fused with it): its sends
  /// wait on the limits in flight.
  void hold_back();

  /// Stages that receive from several coroutines at once (and so give no
  /// order guarantee) switch off the reordering of chunks. Call before recv().
  void receive_unordered() noexcept { m_reorder = false; }

  [[nodiscard]] channel_receiver<chunk_record>& input() noexcept { return m_in; }

  /// End of stream downstream (idempotent).
  void close_output();

  /// A chunk handed to the stage, its items still in the record, and the
  /// stage-local index of its first item.
  struct delivery {
    chunk_record chunk;
    std::size_t first_index = 0;
  };

  /// stage_io's receive, untyped: await_resume() is the typed part's (it
  /// names the item type), which calls finish(). `Mode` is trace_build (one
  /// instance per program, see trace.hpp).
  ///
  /// Plain awaiters rather than tasks, here and in send_awaiter: a task that
  /// completes without suspending resumes its awaiter by a call that g++
  /// only turns into a tail call when optimising, so a loop of such awaits
  /// would grow the stack by a frame per chunk in debug builds.
  template <typename Mode>
  struct recv_awaiter {
    using inner_t = decltype(std::declval<channel_receiver<chunk_record>&>().recv());
    stage_channels* m_io;
    delivery m_ready{};
    late<inner_t> m_inner{};
    channel_wait<Mode> m_wait{};
    bool await_ready() {
      m_io->stats().input.sample(m_io->m_in.size(), m_io->m_in.capacity());
      return m_io->poll(m_ready);
    }
    bool await_suspend(std::coroutine_handle<> h) {
      m_inner.emplace([this] { return m_io->m_in.recv(); });
      if (m_inner->await_ready()) return false;
      // Counted before suspending: once suspended, another thread may resume us.
      m_wait.begin(m_io->stats().activity.blocked_recv, h.address());
      return m_inner->await_suspend(h);
    }
    /// Sets m_ready to the chunk received; false at the end of the input.
    bool finish() {
      m_wait.end(m_io->name(), "waiting for input");
      if (!m_inner) return true;  // polled in await_ready
      return m_io->take_received(m_inner->await_resume(), m_ready);
    }
  };

  /// stage_io's send of one chunk, untyped: through the channel, or (fused)
  /// by running the next stage on the chunk right here, or (memory bounds)
  /// through the gates then the channel; same accounting every way. The
  /// chunk's bytes are counted already when the bounds need them
  /// (counts_sent_bytes). `Mode` as recv_awaiter's.
  template <typename Mode>
  struct send_awaiter {
    using inner_t = decltype(std::declval<channel_sender<chunk_record>&>().send(std::declval<chunk_record&>()));
    using push_t = decltype(std::declval<task<bool>&>().operator co_await());
    stage_channels* m_io;
    channel_sender<chunk_record>* m_tx;
    chunk_record m_chunk;
    std::size_t m_items;
    std::size_t m_inputs;
    late<inner_t> m_inner{};
    channel_wait<Mode> m_wait{};
    late<task<bool>> m_push{};
    late<push_t> m_pushing{};
    bool await_ready() {
      if (m_io->m_fused || (m_io->m_bounds && m_io->m_lanes.empty())) {
        if (m_io->m_fused) {
          m_push.emplace([this] { return m_io->m_fused->push_chunk(std::move(m_chunk)); });
        } else {
          m_push.emplace([this] {
            return send_counted_through_bounds(*m_io->m_bounds, m_io->m_out_gate, m_io->m_holds_back, *m_tx,
                                               std::move(m_chunk));
          });
        }
        m_pushing.emplace([this] { return m_push->operator co_await(); });
        return m_pushing->await_ready();
      }
      m_inner.emplace([this] { return m_tx->send(m_chunk); });
      return m_inner->await_ready();
    }
#ifdef SLUICE_DETAIL_TASK_HANDSHAKE
    bool await_suspend(std::coroutine_handle<> h) {
      if (!m_io->m_fused) m_wait.begin(m_io->stats().activity.blocked_send, h.address());
      return m_pushing ? suspend_as_bool(*m_pushing, h) : suspend_as_bool(*m_inner, h);
    }
#else
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> h) {
      // Counted before suspending: once suspended, another thread may
      // resume us. A fused stage's suspension is its own work or wait, not
      // this stage blocked on a full channel.
      if (!m_io->m_fused) m_wait.begin(m_io->stats().activity.blocked_send, h.address());
      return m_pushing ? suspend_as_handle(*m_pushing, h) : suspend_as_handle(*m_inner, h);
    }
#endif
    bool await_resume() {
      m_wait.end(m_io->name(), "waiting to send (output full)");
      if (m_pushing) {
        const bool ok = m_pushing->await_resume();
        // A fused stage took the items (and counts whatever becomes of
        // them); false only says that downstream is gone.
        m_io->sent(m_io->m_fused ? true : ok, m_items, m_inputs);
        return ok;
      }
      bool ok = m_inner->await_resume();
      m_io->sent(ok, m_items, m_inputs);
      return ok;
    }
  };

  /// Stops upstream and counts whatever it still delivers as dropped.
  /// A template only so that it is compiled where used (see
  /// send_counted_through_bounds); not for the library's .cpp files.
  template <typename Lazy = void>
  task<void> drain_input() {
    if (!m_in.valid()) co_return;
    m_in.close();
    for (;;) {
      delivery d;
      if (!poll(d)) {
        auto waiting = m_in.recv();  // named: see the g++ 12 note in docs/known-issues.md
        auto c = co_await waiting;
        if (!take_received(std::move(c), d)) co_return;
      }
      drop(d.chunk.item_count());
    }
  }

 protected:
  // Sets `out` to the next chunk in order if one can be had without waiting.
  bool poll(delivery& out);
  // What a wait on the input channel gave: a chunk (its room given back,
  // then delivered, or held while it overtakes an earlier one), or the end
  // (a held chunk if any is left). False when nothing is left to deliver.
  bool take_received(std::optional<chunk_record>&& c, delivery& out);
  // A send of `items` items, the results of `inputs` inputs, ended `ok`.
  void sent(bool ok, std::size_t items, std::size_t inputs) noexcept;
  // The sequence number of the next chunk this stage sends.
  std::uint64_t next_out_seq() noexcept { return stats().next_seq.fetch_add(1, std::memory_order_relaxed); }
  // True when a chunk sent goes through memory bounds in bytes, which need
  // its items' sizes (send_awaiter).
  [[nodiscard]] bool counts_sent_bytes() const noexcept {
    return !m_fused && m_bounds && m_lanes.empty() && (m_out_gate || m_bounds->flight_bytes);
  }

  channel_receiver<chunk_record> m_in;
  channel_sender<chunk_record> m_out;
  inlet_ptr m_fused;                  // set instead of m_out when the next stage is fused (a fused_inlet<Out>)
  inlet_list m_lanes;                 // copies of the next stage, fed through m_out
  memory_bounds* m_bounds = nullptr;  // null when the run has no memory bounds
  byte_gate* m_in_gate = nullptr;     // this stage's input bound in bytes
  byte_gate* m_out_gate = nullptr;    // the next stage's
  bool m_holds_back;                  // runs in the source's coroutine

 private:
  void pass_hold_back();
  void accept(chunk_record&& c, delivery& out);
  bool end_of_stream(delivery& out);
  void left_channel(const chunk_record& c) noexcept;
  void deliver(chunk_record&& c, delivery& out) noexcept;
  void hold(chunk_record&& c);
  void take_pending(delivery& out) noexcept;
  void received(delivery& out) noexcept;

  queue_stats* m_out_queue = nullptr;
  bool m_reorder;
  std::uint64_t m_next_in = 0;
  // Chunks that overtook an earlier one, by seq (each a heap chunk_record).
  reorder_buffer m_pending;
};

/// A stage's channels. In is detail::none for sources, Out for sinks.
template <typename In, typename Out>
class stage_io : public stage_channels {
 public:
  using in_channel_item = chunk<In>;
  using out_channel_item = chunk<Out>;

  /// `upstream_ordered`: the upstream stage sends its chunks in a meaningful
  /// order (from one coroutine), so this stage restores it on receipt.
  /// `out` is a channel or, for a fused link, the next stage itself.
  stage_io(pipeline_state& state, std::size_t index, channel_receiver<chunk<In>> in, outlet<Out> out,
           bool upstream_ordered = true)
      : stage_channels(state, index, std::move(in), std::move(out), upstream_ordered, std::is_same_v<In, none>) {}

  /// Awaitable: the next chunk (with its first item's index), or nullopt at
  /// the end. Chunks come in the order the upstream stage sent them, unless
  /// receive_unordered() was called. All but the result's type is
  /// recv_awaiter's, one for every item type.
  [[nodiscard]] auto recv() noexcept {
    struct awaiter : recv_awaiter<trace_build> {
      maybe_chunk<In> await_resume() {
        if (!this->finish()) return std::nullopt;
        return typed(this->m_ready);
      }
    };
    return awaiter{{this}};
  }

  /// A chunk if one is ready now and next in order (for topping up a batch).
  maybe_chunk<In> try_recv() {
    delivery d;
    if (!poll(d)) return std::nullopt;
    return typed(d);
  }

  /// A sender handle of its own for a coroutine that sends concurrently with
  /// others of this stage: one handle must not be used from two coroutines
  /// at once (each handle is one ordered producer of the channel).
  [[nodiscard]] channel_sender<chunk<Out>> output_handle() const { return m_out; }

  /// Awaitable bool: sends `items` (moved from), the results of `inputs`
  /// input items. Counts them out on success, dropped when downstream is gone.
  /// Through `tx` (from output_handle()) or the stage's own handle.
  [[nodiscard]] auto send(std::vector<Out>& items, std::size_t inputs) { return send(items, inputs, m_out); }
  [[nodiscard]] auto send(std::vector<Out>& items, std::size_t inputs, channel_sender<chunk<Out>>& tx) {
    const std::size_t n = items.size();
    return send_awaiter<trace_build>{this, &tx, outgoing(items), n, inputs};
  }

  /// For a fused stage: takes `items`, pushed by the stage before it, as
  /// the next input chunk (counts them in, numbers them).
  input_chunk<In> accept_pushed(std::vector<In>&& items) {
    auto first = stats().items_in.fetch_add(items.size(), std::memory_order_relaxed);
    return {std::move(items), static_cast<std::size_t>(first)};
  }

 private:
  static input_chunk<In> typed(delivery& d) { return {std::move(d.chunk.template items<In>()), d.first_index}; }

  // The next chunk to send, holding `items` (moved from).
  chunk_record outgoing(std::vector<Out>& items) {
    chunk_record c{next_out_seq(), std::move(items)};
    if (counts_sent_bytes()) count_item_bytes<Out>(c);
    return c;
  }
};

}  // namespace sluice::detail
