// Sources: where a pipeline's items come from.
//
//   sluice::from(vec)                 // a range, iterated lazily (by reference: vec must outlive run)
//   sluice::from(std::move(vec))      // an owned range: items are moved out
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
// An async generator's items go downstream one by one as they are produced
// (its next item may be a network round trip away, so nothing waits to fill a
// chunk). Cancellation is seen between items; a body that waits long should
// take the stop_token form and pass the token on (sleep_for(d, stop),
// http::client::get(url, {}, stop)). A generator runs once: a pipeline run a
// second time gets no items from it.
//
// Accounting: items_in counts items pulled. A range that throws fails the
// pipeline (not tied to an item: pipeline_error::no_item).
#pragma once

#include <cstddef>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <stop_token>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/core/async_generator.hpp"
#include "sluice/core/channel.hpp"
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
inline constexpr bool is_channel_receiver = false;
template <typename T>
inline constexpr bool is_channel_receiver<channel_receiver<T>> = true;

// An lvalue range read in place. Not std::views::all's ref_view: clang 14
// cannot instantiate libstdc++ 12's ref_view and owning_view.
template <typename R>
class range_in_place {
 public:
  explicit range_in_place(R& range) : m_range(&range) {}
  auto begin() const { return std::ranges::begin(*m_range); }
  auto end() const { return std::ranges::end(*m_range); }

 private:
  R* m_range;
};

template <typename View, bool Owned>
class range_source {
 public:
  using value_type = std::ranges::range_value_t<View>;
  range_source(View view, source_options options) : m_view(std::move(view)), m_options(std::move(options)) {
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
    try {
      for (auto it = std::ranges::begin(m_view); it != std::ranges::end(m_view) && !io.stopped(); ++it) {
        if constexpr (Owned) {
          chunk.push_back(std::ranges::iter_move(it));
        } else {
          chunk.push_back(*it);
        }
        if (chunk.size() == m_options.chunk) {
          stage_stats::bump(io.stats().items_in, chunk.size());
          if (!co_await io.send(chunk, chunk.size())) co_return;
          chunk = std::vector<value_type>();
          chunk.reserve(m_options.chunk);
        }
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
  View m_view;
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
      std::size_t n = co_await m_rx.recv_batch(chunk, m_options.chunk);
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
inline constexpr bool is_async_generator = false;
template <typename T>
inline constexpr bool is_async_generator<async_generator<T>> = true;

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
    std::stop_source stop;
    io.state().on_cancel([stop]() mutable { stop.request_stop(); });
    async_generator<T> generator = m_make(stop.get_token());
    while (!io.stopped()) {
      auto next = generator.next();  // a named awaiter: see the g++ 12 note in docs/known-issues.md
      std::optional<T> item = co_await next;
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

/// A source over any input range. An lvalue range is read in place (it must
/// outlive run()); an rvalue range is owned and its items are moved out.
template <std::ranges::input_range R>
requires std::ranges::viewable_range<R> &&
    (!detail::is_channel_receiver<std::remove_cvref_t<R>>)auto from(R&& range, source_options options = {}) {
  constexpr bool owned = !std::is_lvalue_reference_v<R>;
  std::size_t chunk = options.chunk ? options.chunk : 1;
  if constexpr (owned) {
    // The range itself, not std::views::all's owning_view (see range_in_place).
    using range_t = std::remove_cvref_t<R>;
    using value_t = std::ranges::range_value_t<range_t>;
    return detail::make_source<value_t>(
        detail::range_source<range_t, owned>(range_t(std::forward<R>(range)), std::move(options)), chunk);
  } else {
    using view_t = detail::range_in_place<std::remove_reference_t<R>>;
    using value_t = std::ranges::range_value_t<view_t>;
    return detail::make_source<value_t>(detail::range_source<view_t, owned>(view_t(range), std::move(options)), chunk);
  }
}

/// A source receiving from a channel until it is closed and drained.
/// Cancelling the run closes the channel.
template <typename T>
auto from(channel_receiver<T> rx, source_options options = {}) {
  std::size_t chunk = options.chunk ? options.chunk : 1;
  return detail::make_source<T>(detail::channel_source<T>(std::move(rx), std::move(options)), chunk);
}

}  // namespace sluice
