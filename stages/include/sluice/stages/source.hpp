// Sources: where a pipeline's items come from.
//
//   sluice::from(vec)                 // owns a copy of the range (vec may go away before run)
//   sluice::from(std::move(vec))      // owns the range: no copy, items are moved out
//   sluice::from_ref(vec)             // borrows: iterated in place, vec must outlive run()
//   sluice::from(std::ref(vec))       // the same as from_ref(vec); std::cref(vec) too
//   sluice::from(numbers(1000))       // a sluice::generator coroutine
//   sluice::from(pages(http, url))    // a sluice::async_generator (may co_await between items)
//   sluice::from([&](std::stop_token stop) { return pages(http, url, stop); })
//                                     // the same, given a token that is stopped on cancellation
//   sluice::from(rx)                  // a channel receiver: until the channel is closed and drained
//
// A source pulls items only as fast as the pipeline accepts them (the first
// channel is bounded), so an infinite generator is fine. It stops pulling
// when the run is cancelled or downstream has stopped. Items are sent in
// chunks of `.chunk`; a channel source sends whatever is ready, up to that.
//
// from(range) always owns what it iterates, so a helper may return a flow
// built over its local vector; borrowing is spelled out (from_ref). A range
// that cannot be copied (a generator, a move-only view) must be moved in.
//
// An async generator's items go downstream one by one as they are produced
// (its next item may be a network round trip away, so nothing waits to fill a
// chunk). Cancellation is seen between items; a body that waits long should
// take the stop_token form and pass the token on (sleep_for(d, stop),
// http::client::get(url, {}, stop)): the token is the run's own. A generator runs once: a pipeline run a
// second time gets no items from it.
//
// Accounting: items_in counts items pulled. A range that throws fails the
// pipeline (not tied to an item: pipeline_error::no_item).
#pragma once

#include <cstddef>
// The range concepts (input_range, view, view_base) come with <iterator> in
// libstdc++; <ranges> (views, adaptors) is not needed (see flat_map.hpp).
#include <iterator>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/core/async_generator.hpp"
#include "sluice/core/channel.hpp"
#include "sluice/core/detail/std_parts.hpp"
#include "sluice/stages/pipeline.hpp"

namespace sluice {

struct source_options {
  /// Shown in describe() and reports; defaults to "from(range)" / "from(channel)".
  std::string name = {};
  /// Items per chunk sent downstream.
  std::size_t chunk = default_chunk;
};

namespace detail {

template <typename T>
inline constexpr bool is_channel_receiver = is_specialization_of<T, channel_receiver>;

// A borrowed range read in place; a view, so range_source copies its items
// instead of moving them out of the caller's container. Not std::ranges::
// ref_view: clang 14 cannot instantiate libstdc++ 12's ref_view.
template <typename R>
class range_in_place : public std::ranges::view_base {
 public:
  explicit range_in_place(R& range) : m_range(&range) {}
  auto begin() const { return std::ranges::begin(*m_range); }
  auto end() const { return std::ranges::end(*m_range); }

 private:
  R* m_range;
};

// Iterates a range it holds: an owned container (its items are moved out)
// or a view (range_in_place when borrowing; its items are copied).
template <typename Range>
class range_source {
 public:
  using value_type = std::ranges::range_value_t<Range>;
  range_source(Range range, source_options options) : m_range(std::move(range)), m_options(std::move(options)) {
    if (m_options.chunk == 0) m_options.chunk = 1;
  }

  [[nodiscard]] stage_info info() const {
    return {.name = m_options.name.empty() ? "from(range)" : m_options.name,
            .kind = "source",
            .parameters = "chunk " + std::to_string(m_options.chunk),
            .capacity = 0};
  }

  template <typename>
  task<void> run(stage_io<none, value_type>& io) {
    std::vector<value_type> chunk;
    chunk.reserve(m_options.chunk);
    // Busy time: pulling items from the range, counted by fill() (the
    // waits in send() are the consumer's pace, not this stage's work).
    try {
      auto it = std::ranges::begin(m_range);
      bool advance = false;  // past the last item sent, before pulling the next
      for (;;) {
        // One chunk filled synchronously (a traced span), then sent.
        if (!fill(io, it, advance, chunk)) break;
        stage_stats::bump(io.stats().items_in, chunk.size());
        if (!co_await io.send(chunk, chunk.size())) co_return;
        chunk = std::vector<value_type>();
        chunk.reserve(m_options.chunk);
      }
    } catch (...) {
      // Items pulled but not sent are counted, so the stage stays balanced.
      stage_stats::bump(io.stats().items_in, chunk.size());
      io.drop(chunk.size());
      throw;
    }
    if (!chunk.empty()) {
      stage_stats::bump(io.stats().items_in, chunk.size());
      co_await io.send(chunk, chunk.size());
    }
  }

 private:
  // Pulls items into `chunk` until it is full (true) or the range ends or
  // the run stops (false; `chunk` keeps what was pulled). The iterator moves
  // past a chunk's last item only when the next chunk is pulled: advancing a
  // generator produces its next item, which would otherwise sit in the
  // source while the chunk waits to be sent. Counts its time as busy.
  template <typename It>
  bool fill(stage_io<none, value_type>& io, It& it, bool& advance, std::vector<value_type>& chunk) {
    stage_span<value_type> span(&io.state(), io.rt().id(), io.index(), io.name(), timed_section);
    bool full = false;
    if (std::exchange(advance, false)) ++it;
    for (; it != std::ranges::end(m_range) && !io.stopped(); ++it) {
      if constexpr (!std::ranges::view<Range>) {
        chunk.push_back(std::ranges::iter_move(it));
      } else {
        chunk.push_back(*it);
      }
      if (chunk.size() == m_options.chunk) {
        advance = true;
        full = true;
        break;
      }
    }
    span.items(chunk.size());
    io.stats().busy(span.stop());
    return full;
  }

  Range m_range;
  source_options m_options;
};

template <typename T>
class channel_source {
 public:
  channel_source(channel_receiver<T> rx, source_options options) : m_rx(std::move(rx)), m_options(std::move(options)) {
    if (m_options.chunk == 0) m_options.chunk = 1;
  }

  [[nodiscard]] stage_info info() const {
    return {.name = m_options.name.empty() ? "from(channel)" : m_options.name,
            .kind = "source",
            .parameters = "chunk " + std::to_string(m_options.chunk),
            .capacity = 0};
  }

  template <typename>
  task<void> run(stage_io<none, T>& io) {
    // A cancelled run must not wait for a producer that may never close the
    // channel: cancellation closes it (the producer's sends then fail).
    io.state().on_cancel([rx = m_rx]() { rx.close(); });
    while (!io.stopped()) {
      std::vector<T> chunk;
      std::size_t n = m_rx.try_recv_batch(chunk, m_options.chunk);
      if (n == 0 && !m_rx.drained()) {
        // Nothing ready: a wait for input, counted and traced as a stage's
        // wait on its input edge is, so a stall dump shows the source
        // waiting on the caller's channel. One source coroutine per stage:
        // the stage object names its track of waits.
        channel_wait<T> wait;
        wait.begin(io.stats().activity.blocked_recv, this);
        n = co_await m_rx.recv_batch(chunk, m_options.chunk);
        wait.end(io.name(), "waiting for input");
      }
      if (n == 0) break;
      stage_stats::bump(io.stats().items_in, n);
      if (!co_await io.send(chunk, n)) break;
    }
  }

 private:
  channel_receiver<T> m_rx;
  source_options m_options;
};

template <typename T>
inline constexpr bool is_async_generator = is_specialization_of<T, async_generator>;

template <typename T>
class async_generator_source {
 public:
  /// Makes the generator when the run starts, handing it the run's stop token.
  using factory = std::function<async_generator<T>(std::stop_token)>;

  async_generator_source(factory make, source_options options)
      : m_make(std::move(make)), m_options(std::move(options)) {}

  [[nodiscard]] stage_info info() const {
    return {.name = m_options.name.empty() ? "from(async generator)" : m_options.name,
            .kind = "source",
            .parameters = "item by item",
            .capacity = 0};
  }

  template <typename>
  task<void> run(stage_io<none, T>& io) {
    async_generator<T> generator = m_make(io.stop_token());
    while (!io.stopped()) {
      auto next = generator.next();  // a named awaiter: see the g++ 12 note in docs/known-issues.md
      const auto started = std::chrono::steady_clock::now();
      // Counted for a stall dump: the source waits on its generator, not on a channel.
      counted_wait waiting(io.stats().activity.in_generator);
      std::optional<T> item = co_await next;
      waiting.end();
      io.stats().busy(std::chrono::steady_clock::now() - started);  // the generator's own work and waits
      if (!item) break;
      stage_stats::bump(io.stats().items_in, 1);
      std::vector<T> one;
      one.push_back(std::move(*item));
      if (!co_await io.send(one, 1)) break;
    }
  }

 private:
  factory m_make;
  source_options m_options;
};

}  // namespace detail

/// A source over the async generator `make(stop)` returns; `stop` is
/// requested when the run is cancelled or fails, so the body can end its
/// waits early. `make` is called when the run starts.
template <typename F>
requires std::invocable<F&, std::stop_token> && detail::is_async_generator<std::invoke_result_t<F&, std::stop_token>>
auto from(F&& make, source_options options = {}) {
  using value_t = typename std::invoke_result_t<F&, std::stop_token>::value_type;
  return detail::make_source<value_t>(
      detail::async_generator_source<value_t>(
          typename detail::async_generator_source<value_t>::factory(std::forward<F>(make)), std::move(options)),
      1);
}

/// A source over an async generator's items, sent on as each is produced.
template <typename T>
auto from(async_generator<T> generator, source_options options = {}) {
  // std::function needs a copyable callable: share the (move-only) generator.
  // Made once, it is handed out once: a second run gets a finished generator.
  auto shared = std::make_shared<async_generator<T>>(std::move(generator));
  return from([shared](std::stop_token) { return std::move(*shared); }, std::move(options));
}

/// A source over any input range, which it owns: an lvalue is copied, an
/// rvalue moved in (its items are then moved out). To iterate a range in
/// place instead, borrow it with from_ref(r) or from(std::ref(r)).
template <std::ranges::input_range R>
requires(!detail::is_channel_receiver<std::remove_cvref_t<R>>) auto from(R&& range, source_options options = {}) {
  using owned_t = std::remove_cvref_t<R>;
  constexpr bool can_own = std::is_constructible_v<owned_t, R&&>;
  static_assert(can_own,
                "sluice::from: this range cannot be copied; move it in (from(std::move(r))) or borrow it "
                "(from_ref(r), which must then outlive run())");
  if constexpr (can_own) {
    using value_t = std::ranges::range_value_t<owned_t>;
    std::size_t chunk = options.chunk ? options.chunk : 1;
    return detail::make_source<value_t>(
        detail::range_source<owned_t>(owned_t(std::forward<R>(range)), std::move(options)), chunk);
  } else {
    return detail::poisoned_flow{};  // the static_assert above is the only error
  }
}

/// A source borrowing `range.get()`: iterated in place, items copied. The
/// range must outlive run() and must not change while the pipeline runs.
template <std::ranges::input_range R>
auto from(std::reference_wrapper<R> range, source_options options = {}) {
  using view_t = detail::range_in_place<R>;  // not std::ranges::ref_view: see range_in_place
  using value_t = std::ranges::range_value_t<view_t>;
  std::size_t chunk = options.chunk ? options.chunk : 1;
  return detail::make_source<value_t>(detail::range_source<view_t>(view_t(range.get()), std::move(options)), chunk);
}

/// Borrows `range` (same as from(std::ref(range))): it must outlive run().
template <std::ranges::input_range R>
auto from_ref(R& range, source_options options = {}) {
  return from(std::ref(range), std::move(options));
}

/// A source receiving from a channel until it is closed and drained.
/// Cancelling the run closes the channel.
template <typename T>
auto from(channel_receiver<T> rx, source_options options = {}) {
  std::size_t chunk = options.chunk ? options.chunk : 1;
  return detail::make_source<T>(detail::channel_source<T>(std::move(rx), std::move(options)), chunk);
}

}  // namespace sluice
