// sluice::async_map(fn, {.concurrency = N}): fn(In) -> sluice::task<Out>,
// with at most N items in flight. For I/O: fetches, queries, sleeps.
//
// Every item's task runs on the runtime's arena; while it waits on I/O it
// holds no thread. Unordered (the default), results leave as they complete:
// N worker coroutines pull items and send each result at once. Ordered
// (`.ordered = true`), results leave in input order: one coroutine starts a
// task per item and queues its result slot in a FIFO of N entries (the
// bounded reorder buffer), another awaits the slots in order and sends. A
// slow item then holds back at most N-1 finished ones.
//
// fn is called concurrently from up to N coroutines: it must be thread-safe.
// fn may take the run's std::stop_token as a last parameter,
// fn(In, std::stop_token) -> task<Out>: pass it to its waits
// (sleep_for(d, stop), HTTP requests) so a cancelled run does not wait for
// bodies in flight; items cut short count as `cancelled`.
// Errors: `.on_error` (retry sleeps `backoff` between attempts without
// holding a thread; cancellation cuts the sleep short).
#pragma once

#include <atomic>
#include <concepts>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/core/channel.hpp"
#include "sluice/core/detail/std_parts.hpp"
#include "sluice/core/runtime.hpp"
#include "sluice/core/task.hpp"
#include "sluice/core/when_all.hpp"
#include "sluice/stages/detail/async_map_channels.hpp"
#include "sluice/stages/pipeline.hpp"
#include "sluice/stages/stage_options.hpp"
#include "sluice/stages/stage_protocol.hpp"

namespace sluice {

struct async_map_options {
  std::string name = {};
  /// Items in flight at once (at least 1).
  std::size_t concurrency = 16;
  /// Emit results in input order (bounded reorder buffer of `concurrency` items).
  bool ordered = false;
  /// Items the input channel holds; 0 = sluice::default_capacity.
  std::size_t capacity = 0;
  /// Bytes (sluice::item_bytes) the input channel holds; 0 = no bound in bytes.
  std::size_t capacity_bytes = 0;
  error_policy on_error = {};
};

namespace detail {

template <typename F>
class async_map_stage : public stage_base<async_map_stage<F>, async_map_options> {
 public:
  template <typename In>
  using output = typename is_task<stage_call_result_t<F, In>>::value_type;

  async_map_stage(F fn, async_map_options options, const char* kind = "async_map")
      : stage_base<async_map_stage<F>, async_map_options>(std::move(options), kind), m_fn(std::move(fn)) {
    if (m_options.concurrency == 0) m_options.concurrency = 1;
  }

  template <typename In>
  static constexpr bool check() {
    constexpr bool callable = stage_callable<F, In>;
    static_assert(callable,
                  "sluice::async_map: the function cannot be called with the item type flowing into this stage");
    if constexpr (callable) {
      constexpr bool returns_task = is_task<stage_call_result_t<F, In>>::value;
      static_assert(returns_task,
                    "sluice::async_map: the function must return sluice::task<Out> (for plain functions use "
                    "sluice::map or sluice::parallel_map)");
      if constexpr (returns_task) {
        constexpr bool has_value = !std::is_void_v<output<In>>;
        static_assert(has_value,
                      "sluice::async_map: the task must produce a value (task<void> cannot be sent downstream)");
        return has_value;
      }
    }
    return false;
  }
  [[nodiscard]] std::string parameters() const {
    std::string params = "concurrency " + std::to_string(m_options.concurrency);
    if (m_options.ordered) params += ", ordered";
    return params;
  }
  [[nodiscard]] std::size_t output_chunk(std::size_t) const noexcept { return 1; }
  template <typename In>
  [[nodiscard]] bool ordered_output() const noexcept {
    return m_options.ordered;
  }

  // One coroutine for both modes (each coroutine is code generated per item
  // type: docs/architecture.md, "Header cost").
  template <typename In>
  task<void> run(stage_io<In, output<In>>& io) {
    io.stats().busy_share.store(static_cast<std::uint32_t>(m_options.concurrency), std::memory_order_relaxed);
    io.stats().makes_async_calls.store(true, std::memory_order_relaxed);
    if (m_options.ordered) {
      // A dispatcher and an emitter around a FIFO of result slots.
      auto [slots_tx, slots_rx] = channel<async_map_slot>(m_options.concurrency);
      // The vector form of when_all, as the unordered mode's: the two-task
      // form would be a second when_all and its tuple result per program.
      std::vector<task<void>> pair;
      pair.push_back(dispatch(io, std::move(slots_tx)));
      pair.push_back(emit_in_order(io, std::move(slots_rx)));
      co_await when_all(std::move(pair));
      co_return;
    }
    // A feeder splitting chunks, N workers sharing its items (see feed()).
    io.receive_unordered();  // output order is free, so no reorder buffer
    auto [items_tx, items_rx] = channel<chunk<In>>(m_options.concurrency);
    std::atomic<bool> downstream_gone{false};
    std::vector<task<void>> tasks;
    tasks.push_back(feed(io, std::move(items_tx), downstream_gone));
    for (std::size_t i = 0; i < m_options.concurrency; ++i) tasks.push_back(work(io, items_rx, downstream_gone));
    items_rx = {};  // the workers' copies keep the channel open
    co_await when_all(std::move(tasks));
  }

 private:
  // ---- unordered: a feeder splitting chunks, N workers sharing its items ----
  //
  // Workers that received chunks themselves would leave the others waiting
  // on an empty input while one of them works through a whole chunk (a
  // source sends many items at once): a chunk of 8 items ran one at a time.
  // The feeder hands items one by one through a channel of `concurrency`
  // slots, so every worker has one as long as items are there.
  // Its channel carries single-item chunks whose `seq` is the item's index:
  // the family of the stage's own input channel, so no channel code of its
  // own (detail/async_map_channels.hpp).
  template <typename In>
  task<void> feed(stage_io<In, output<In>>& io, channel_sender<chunk<In>> items,
                  const std::atomic<bool>& downstream_gone) {
    while (auto in = co_await io.recv()) {
      for (std::size_t i = 0; i < in->items.size(); ++i) {
        if (io.stopped() || downstream_gone.load(std::memory_order_relaxed)) {
          io.drop(in->items.size() - i);
          break;
        }
        chunk<In> next;
        next.seq = in->first_index + i;
        next.template items<In>().push_back(std::move(in->items[i]));
        auto sending = items.send(std::move(next));  // named: g++ 12
        if (!co_await sending) {
          io.drop(in->items.size() - i);
          break;
        }
      }
    }
    items.close();
  }

  template <typename In>
  task<void> work(stage_io<In, output<In>>& io, channel_receiver<chunk<In>> items, std::atomic<bool>& downstream_gone) {
    // Start on the arena rather than inline, so workers run in parallel.
    co_await io.rt().schedule();
    auto tx = io.output_handle();
    for (std::size_t handled = 1;; ++handled) {
      // An item whose task finishes without suspending resumes this loop
      // from inside its frame; unoptimised builds do not tail-call that, so
      // hop through the arena now and then to keep the stack flat.
      if (handled % 32 == 0) co_await io.rt().schedule();
      auto next = co_await items.recv();
      if (!next) co_return;
      if (io.stopped() || downstream_gone.load(std::memory_order_relaxed)) {
        io.drop(1);
        continue;
      }
      auto result = co_await io.template call_async<output<In>>(m_options.on_error, m_fn,
                                                                std::move(next->template items<In>()[0]), next->seq);
      if (!result) continue;
      std::vector<output<In>> out;
      out.push_back(std::move(*result));
      if (!co_await io.send(out, 1, tx)) {
        // Downstream is gone: stop pulling; what is left is dropped.
        downstream_gone.store(true, std::memory_order_relaxed);
        io.input().close();
      }
    }
  }

  // ---- ordered: a dispatcher and an emitter around a FIFO of result slots ----
  // The slots' output type is erased, so their channel is compiled once, in
  // the library (detail/async_map_channels.hpp).
  template <typename In>
  task<void> dispatch(stage_io<In, output<In>>& io, channel_sender<async_map_slot> slots) {
    while (auto in = co_await io.recv()) {
      for (std::size_t i = 0; i < in->items.size(); ++i) {
        if (io.stopped()) {
          io.drop(in->items.size() - i);
          break;
        }
        // Starts at once; the slot channel's capacity bounds how many run.
        // call_async is the item's coroutine: no wrapper around it.
        async_map_slot slot(io.rt().spawn(io.template call_async<output<In>>(
            m_options.on_error, m_fn, std::move(in->items[i]), in->first_index + i)));
        if (!co_await slots.send(slot)) {
          // The emitter stopped: this item still runs, wait for it here.
          auto handle = std::move(slot).template take<output<In>>();
          if (co_await handle) io.drop(1);
          io.drop(in->items.size() - i - 1);
          slots.close();
          io.input().close();
          break;
        }
      }
    }
    slots.close();
  }

  template <typename In>
  task<void> emit_in_order(stage_io<In, output<In>>& io, channel_receiver<async_map_slot> slots) {
    bool downstream_open = true;
    std::vector<output<In>> out;
    // Every slot is awaited, even after downstream went away: each one is a
    // running task that refers to this stage.
    while (auto next = co_await slots.recv()) {
      bool flush_now = !next->done() && !out.empty();
      if (flush_now) {
        std::size_t n = out.size();
        if (downstream_open && !co_await io.send(out, n)) {
          downstream_open = false;
          slots.close();  // stops the dispatcher
        } else if (!downstream_open) {
          io.drop(n);
        }
        out.clear();
      }
      auto handle = std::move(*next).template take<output<In>>();
      auto result = co_await handle;
      if (!result) continue;
      out.push_back(std::move(*result));
      if (out.size() >= 64 || slots.size() == 0) {
        std::size_t n = out.size();
        if (downstream_open && !co_await io.send(out, n)) {
          downstream_open = false;
          slots.close();
        } else if (!downstream_open) {
          io.drop(n);
        }
        out.clear();
      }
    }
    if (!out.empty()) {
      std::size_t n = out.size();
      if (!downstream_open || !co_await io.send(out, n)) {
        if (!downstream_open) io.drop(n);
      }
    }
  }

  using stage_base<async_map_stage<F>, async_map_options>::m_options;
  F m_fn;
};

}  // namespace detail

/// Runs fn(item) -> task<Out> for up to `concurrency` items at once.
template <typename F>
auto async_map(F fn, async_map_options options = {}) {
  return detail::async_map_stage<F>(std::move(fn), std::move(options));
}

}  // namespace sluice
