// sluice::parallel_map(fn, {.batch = 256}): fn(In) -> Out on oneTBB.
//
// For CPU work. The stage pulls chunks until it holds `.batch` items (never
// waiting for more than one chunk), runs tbb::parallel_for over them inside
// the runtime's arena (the same threads the coroutines use, so nothing is
// oversubscribed), and sends the results as one chunk. Per-item cost beyond
// fn is a move in and a move out.
//
// Order: with `.ordered = true` one driver coroutine handles batches one
// after another, so output order equals input order. Unordered (default),
// `.drivers` coroutines (default 2) each run their own batch, which keeps the
// cores busy while a batch is being received or sent.
//
// fn is called concurrently from TBB threads: it must be thread-safe and
// should not block. Errors: `.on_error` (retries happen at once); items that
// start after a cancellation are skipped.
#pragma once

#include <atomic>
#include <concepts>
#include <cstddef>
#include <exception>
#include <iterator>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/core/detail/std_parts.hpp"
#include "sluice/core/detail/tsan.hpp"
#include "sluice/core/runtime.hpp"
#include "sluice/core/task.hpp"
#include "sluice/core/when_all.hpp"
#include "sluice/stages/detail/batch_positions.hpp"
#include "sluice/stages/detail/maybe.hpp"
#include "sluice/stages/detail/parallel_for.hpp"
#include "sluice/stages/pipeline.hpp"
#include "sluice/stages/stage_options.hpp"
#include "sluice/stages/stage_protocol.hpp"

namespace sluice {

struct parallel_map_options {
  std::string name = {};
  /// Target items per parallel_for call.
  std::size_t batch = 256;
  /// Emit in input order (one driver).
  bool ordered = false;
  /// Batches processed at once when unordered.
  std::size_t drivers = 2;
  /// Items the input channel holds; 0 = max(default_capacity, 4 * batch).
  std::size_t capacity = 0;
  /// Bytes (sluice::item_bytes) the input channel holds; 0 = no bound in bytes.
  std::size_t capacity_bytes = 0;
  /// tbb::parallel_for grain size; 0 lets TBB's auto partitioner choose.
  std::size_t grain = 0;
  error_policy on_error = {};
};

namespace detail {

template <typename F>
class parallel_map_stage : public stage_base<parallel_map_stage<F>, parallel_map_options> {
 public:
  template <typename In>
  using output = std::invoke_result_t<F&, In&&>;

  parallel_map_stage(F fn, parallel_map_options options, const char* kind = "parallel_map")
      : stage_base<parallel_map_stage<F>, parallel_map_options>(std::move(options), kind), m_fn(std::move(fn)) {
    if (m_options.batch == 0) m_options.batch = 1;
    if (m_options.drivers == 0 || m_options.ordered) m_options.drivers = 1;
  }

  template <typename In>
  static constexpr bool check() {
    constexpr bool callable = std::invocable<F&, In&&>;
    static_assert(callable,
                  "sluice::parallel_map: the function cannot be called with the item type flowing into this stage");
    if constexpr (callable) {
      constexpr bool has_value = !std::is_void_v<output<In>>;
      static_assert(has_value, "sluice::parallel_map: the function returns void; nothing could be sent downstream");
      return has_value;
    }
    return false;
  }
  [[nodiscard]] std::string parameters() const {
    std::string params = "batch " + std::to_string(m_options.batch);
    params += m_options.ordered ? ", ordered" : ", drivers " + std::to_string(m_options.drivers);
    return params;
  }
  [[nodiscard]] std::size_t capacity() const noexcept {
    return m_options.capacity ? m_options.capacity : std::max(default_capacity, 4 * m_options.batch);
  }
  [[nodiscard]] std::size_t output_chunk(std::size_t) const noexcept { return m_options.batch; }
  template <typename In>
  [[nodiscard]] bool ordered_output() const noexcept {
    return m_options.drivers == 1;
  }

  template <typename In>
  task<void> run(stage_io<In, output<In>>& io) {
    if (m_options.drivers == 1) {
      co_await drive(io, false);
    } else {
      io.receive_unordered();  // several drivers receive at once
      std::vector<task<void>> drivers;
      for (std::size_t i = 0; i < m_options.drivers; ++i) drivers.push_back(drive(io, true));
      co_await when_all(std::move(drivers));
    }
  }

 private:
  // `on_arena`: start on the arena rather than inline, so drivers run in
  // parallel. (A flag, not a wrapper coroutine: every coroutine is code
  // generated per item type, docs/architecture.md "Header cost".)
  template <typename In>
  task<void> drive(stage_io<In, output<In>>& io, bool on_arena) {
    if (on_arena) co_await io.rt().schedule();
    auto tx = io.output_handle();  // drivers send concurrently: one handle each
    batch_positions positions;
    while (auto in = co_await io.recv()) {
      auto& items = in->items;
      positions.start(in->first_index);
      // Top up to a full batch with what is already waiting (never wait).
      while (items.size() < m_options.batch) {
        auto more = io.try_recv();
        if (!more) break;
        if (more->items.empty()) continue;
        positions.append(items.size(), more->first_index);
        items.insert(items.end(), std::make_move_iterator(more->items.begin()),
                     std::make_move_iterator(more->items.end()));
      }
      if (items.empty()) continue;
      if (io.stopped()) {
        io.drop(items.size());
        continue;
      }
      std::size_t failed = 0;
      auto out = compute(io, items, positions, failed);
      if (io.stopped()) {
        // Cancelled during the batch: whatever did not fail is discarded.
        io.drop(items.size() - failed);
        continue;
      }
      if (!out.empty() && !co_await io.send(out, out.size(), tx)) {
        io.input().close();  // downstream gone: the drain drops the rest
      }
    }
  }

  // Runs fn over `items` with tbb::parallel_for; returns the successful
  // results in input order. Failed items are counted and reported.
  template <typename In>
  std::vector<output<In>> compute(stage_io<In, output<In>>& io, std::vector<In>& items,
                                  const batch_positions& positions, std::size_t& failed) {
    using out_t = output<In>;
    const std::size_t n = items.size();
    std::mutex failures_mutex;
    std::vector<std::size_t> failures;
    // TBB's hand-offs are invisible to TSan: release the batch to the
    // workers, and their results back to this coroutine.
    int handoff = 0;
    tsan_release(&handoff);
    stage_span<In> span(&io.state(), io.rt().id(), io.index(), io.name(), timed_section);
    span.items(n);
    auto for_each_index = [&](auto&& body) {
      auto range_body = [&](std::size_t begin, std::size_t end) {
        tsan_acquire(&handoff);
        // This thread is in the stage (for a stall dump); the batch's span covers the trace.
        stage_span<In> part(&io.state(), io.rt().id(), io.index(), io.name(), false);
        for (std::size_t i = begin; i != end; ++i) body(i);
        tsan_release(&handoff);
      };
      parallel_for_ranges(n, m_options.grain, index_range_body(range_body));
      tsan_acquire(&handoff);
    };
    auto note_failure = [&](std::size_t i) {
      std::lock_guard lock(failures_mutex);
      failures.push_back(i);
    };
    auto apply = [&](std::size_t i) -> maybe<out_t> {
      if (io.stopped()) return std::nullopt;  // counted as cancelled by the caller
      auto r = io.call(m_options.on_error, m_fn, items[i], positions[i]);
      if (!r) note_failure(i);
      return r;
    };

    std::vector<out_t> out;
    if constexpr (std::is_default_constructible_v<out_t> && std::is_move_assignable_v<out_t>) {
      out.resize(n);
      for_each_index([&](std::size_t i) {
        if (auto r = apply(i)) out[i] = std::move(*r);
      });
    } else {
      std::vector<maybe<out_t>> slots(n);
      for_each_index([&](std::size_t i) { slots[i] = apply(i); });
      out.reserve(n);
      for (auto& s : slots)
        if (s) out.push_back(std::move(*s));
      io.stats().busy(span.stop());
      failed = failures.size();
      return out;
    }
    io.stats().busy(span.stop());
    failed = failures.size();
    if (!failures.empty()) {
      // Rare path: squeeze the failed items out, keeping the order.
      sort_indices(failures);
      std::vector<out_t> kept;
      kept.reserve(n - failures.size());
      std::size_t f = 0;
      for (std::size_t i = 0; i < n; ++i) {
        if (f < failures.size() && failures[f] == i) {
          ++f;
          continue;
        }
        kept.push_back(std::move(out[i]));
      }
      out.swap(kept);
    }
    return out;
  }

  using stage_base<parallel_map_stage<F>, parallel_map_options>::m_options;
  F m_fn;
};

}  // namespace detail

/// Runs fn(item) -> Out over batches with tbb::parallel_for on the runtime's arena.
template <typename F>
auto parallel_map(F fn, parallel_map_options options = {}) {
  return detail::parallel_map_stage<F>(std::move(fn), std::move(options));
}

}  // namespace sluice
