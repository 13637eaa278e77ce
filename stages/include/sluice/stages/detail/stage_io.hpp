// What a stage coroutine sees of the run: its input and output channels
// (which carry chunks of items, see pipeline.hpp), its counters, and the
// error policy helpers. Every receive and send goes through here so the
// report's accounting is kept in one place.
#pragma once

#include <algorithm>
#include <any>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/core/channel.hpp"
#include "sluice/core/runtime.hpp"
#include "sluice/core/task.hpp"
#include "sluice/stages/detail/pipeline_state.hpp"
#include "sluice/stages/error_policy.hpp"
#include "sluice/stages/pipeline_error.hpp"

namespace sluice::detail {

/// The "type" flowing out of a sink and into a source.
struct none {};

/// A received chunk and the stage-local index of its first item.
template <typename T>
struct input_chunk {
  std::vector<T> items;
  std::size_t first_index = 0;
};

/// Untyped part: counters, failure reporting.
class stage_context {
 public:
  stage_context(pipeline_state& state, std::size_t index) noexcept
      : m_state(&state), m_index(index), m_stats(&state.stats(index)) {}

  [[nodiscard]] pipeline_state& state() const noexcept { return *m_state; }
  [[nodiscard]] runtime& rt() const noexcept { return m_state->rt(); }
  [[nodiscard]] stage_stats& stats() const noexcept { return *m_stats; }
  [[nodiscard]] std::size_t index() const noexcept { return m_index; }
  [[nodiscard]] const std::string& name() const noexcept { return m_state->info(m_index).name; }
  [[nodiscard]] bool stopped() const noexcept { return m_state->stopped(); }

  void drop(std::size_t n) const noexcept { stage_stats::bump(m_stats->dropped, n); }
  void completed(std::size_t n) const noexcept { stage_stats::bump(m_stats->items_out, n); }

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

  /// Calls `fn(item)` under `policy` for a synchronous stage: retries at once.
  /// Returns the result, or nullopt when the item failed (already counted and
  /// reported). void results come back as std::monostate.
  template <typename F, typename In>
  auto call(const error_policy& policy, F& fn, In& item, std::size_t item_index) const {
    using result_t = std::invoke_result_t<F&, In&&>;
    using stored_t = std::conditional_t<std::is_void_v<result_t>, std::monostate, result_t>;
    std::exception_ptr error;
    for (std::size_t attempt = 1;; ++attempt) {
      try {
        if constexpr (std::is_void_v<result_t>) {
          invoke_keeping(policy, fn, item);
          return std::optional<stored_t>(std::in_place);
        } else {
          return std::optional<stored_t>(invoke_keeping(policy, fn, item));
        }
      } catch (...) {
        error = std::current_exception();
      }
      if (attempt >= policy.retry.attempts || stopped()) break;
    }
    item_failed(policy, item_index, &item, std::move(error));
    return std::optional<stored_t>();
  }

  /// As call(), for fn(In) -> task<Out>: awaits it, sleeping with backoff
  /// between attempts. A stop request ends the waiting and drops the item.
  template <typename Out, typename F, typename In>
  task<std::optional<Out>> call_async(const error_policy& policy, F& fn, In item, std::size_t item_index) const {
    std::exception_ptr error;
    auto backoff = std::chrono::duration_cast<std::chrono::nanoseconds>(policy.retry.backoff);
    for (std::size_t attempt = 1;; ++attempt) {
      if (stopped()) {
        drop(1);
        co_return std::nullopt;
      }
      auto started = std::chrono::steady_clock::now();
      try {
        auto work = invoke_keeping(policy, fn, item);
        Out value = co_await std::move(work);
        m_stats->busy(std::chrono::steady_clock::now() - started);
        co_return std::optional<Out>(std::move(value));
      } catch (...) {
        error = std::current_exception();
      }
      m_stats->busy(std::chrono::steady_clock::now() - started);
      if (attempt >= policy.retry.attempts) break;
      if (!co_await sleep_unless_stopped(backoff)) break;
      backoff = std::min<std::chrono::nanoseconds>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(backoff * policy.retry.multiplier),
          policy.retry.max_backoff);
    }
    if (stopped() && policy.fails_fast()) {
      // The run is already being torn down; this item simply did not finish.
      drop(1);
      co_return std::nullopt;
    }
    item_failed(policy, item_index, &item, std::move(error));
    co_return std::nullopt;
  }

 private:
  // Passes a copy while the item may be needed again (retry, dead letter).
  template <typename F, typename In>
  static decltype(auto) invoke_keeping(const error_policy& policy, F& fn, In& item) {
    if constexpr (std::is_copy_constructible_v<In>) {
      if (policy.keeps_items()) return std::invoke(fn, In(item));
    }
    return std::invoke(fn, std::move(item));
  }

  // Sleeps in short slices so cancellation is noticed within a few ms.
  task<bool> sleep_unless_stopped(std::chrono::nanoseconds d) const {
    auto deadline = std::chrono::steady_clock::now() + d;
    while (!stopped()) {
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline) co_return true;
      co_await sleep_for(std::min<std::chrono::nanoseconds>(deadline - now, std::chrono::milliseconds(5)));
    }
    co_return false;
  }

  pipeline_state* m_state;
  std::size_t m_index;
  stage_stats* m_stats;
};

/// A stage's channels. In is detail::none for sources, Out for sinks.
template <typename In, typename Out>
class stage_io : public stage_context {
 public:
  using in_chunk = std::vector<In>;
  using out_chunk = std::vector<Out>;

  stage_io(pipeline_state& state, std::size_t index, channel_receiver<in_chunk> in, channel_sender<out_chunk> out)
      : stage_context(state, index), m_in(std::move(in)), m_out(std::move(out)) {
    if (index + 1 < state.size()) m_out_queue = &state.stats(index + 1).input;
  }

  /// Awaitable: the next chunk (with its first item's index), or nullopt at the end.
  [[nodiscard]] auto recv() noexcept {
    using inner_t = decltype(std::declval<channel_receiver<in_chunk>&>().recv());
    struct awaiter {
      inner_t m_inner;
      stage_io* m_io;
      bool await_ready() {
        m_io->stats().input.sample(m_io->m_in.size(), m_io->m_in.capacity());
        return m_inner.await_ready();
      }
      auto await_suspend(std::coroutine_handle<> h) { return m_inner.await_suspend(h); }
      std::optional<input_chunk<In>> await_resume() {
        auto chunk = m_inner.await_resume();
        if (!chunk) return std::nullopt;
        return m_io->received(std::move(*chunk));
      }
    };
    return awaiter{m_in.recv(), this};
  }

  /// A chunk if one is ready now.
  std::optional<input_chunk<In>> try_recv() {
    auto chunk = m_in.try_recv();
    if (!chunk) return std::nullopt;
    return received(std::move(*chunk));
  }

  /// Awaitable bool: sends `chunk`, which carries the results of `inputs`
  /// input items. Counts them out on success, dropped when downstream is gone.
  [[nodiscard]] auto send(out_chunk& chunk, std::size_t inputs) noexcept {
    using inner_t = decltype(std::declval<channel_sender<out_chunk>&>().send(chunk));
    struct awaiter {
      inner_t m_inner;
      stage_io* m_io;
      std::size_t m_items;
      std::size_t m_inputs;
      bool await_ready() { return m_inner.await_ready(); }
      auto await_suspend(std::coroutine_handle<> h) { return m_inner.await_suspend(h); }
      bool await_resume() {
        bool sent = m_inner.await_resume();
        m_io->sent(sent, m_items, m_inputs);
        return sent;
      }
    };
    return awaiter{m_out.send(chunk), this, chunk.size(), inputs};
  }

  [[nodiscard]] channel_receiver<in_chunk>& input() noexcept { return m_in; }
  [[nodiscard]] channel_sender<out_chunk>& output() noexcept { return m_out; }

  /// End of stream downstream (idempotent).
  void close_output() {
    if (m_out.valid()) m_out.close();
  }

  /// Stops upstream and counts whatever it still delivers as dropped.
  task<void> drain_input() {
    if (!m_in.valid()) co_return;
    m_in.close();
    while (auto chunk = co_await recv()) drop(chunk->items.size());
  }

 private:
  input_chunk<In> received(in_chunk&& chunk) {
    auto n = chunk.size();
    stats().input.sub(n);
    auto first = stats().items_in.fetch_add(n, std::memory_order_relaxed);
    return {std::move(chunk), static_cast<std::size_t>(first)};
  }

  void sent(bool ok, std::size_t items, std::size_t inputs) {
    if (!ok) {
      drop(inputs);
      return;
    }
    if (m_out_queue) m_out_queue->add(items);
    stage_stats::bump(stats().emitted, items);
    completed(inputs);
  }

  channel_receiver<in_chunk> m_in;
  channel_sender<out_chunk> m_out;
  queue_stats* m_out_queue = nullptr;
};

}  // namespace sluice::detail
