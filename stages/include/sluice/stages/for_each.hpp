// sluice::for_each(fn): the general sink. fn(T) is called for every item, in
// the order the items arrive, never concurrently.
//
// fn may return void, bool (false: "enough", stop the pipeline early and
// successfully), task<void> or task<bool> (awaited before the next item).
// fn may take the run's std::stop_token as a last parameter (for its waits).
// Stopping early closes the input; upstream stages wind down and the items
// still in flight count as dropped. Errors: `.on_error`.
#pragma once

#include <cstddef>
#include <optional>
#include <stop_token>
#include <type_traits>
#include <utility>
#include <variant>

#include "sluice/core/detail/std_parts.hpp"
#include "sluice/stages/pipeline.hpp"
#include "sluice/stages/stage_options.hpp"
#include "sluice/stages/stage_protocol.hpp"

namespace sluice {
namespace detail {

template <typename F>
class for_each_stage : public stage_base<for_each_stage<F>> {
 public:
  template <typename In>
  using output = none;

  for_each_stage(F fn, stage_options options, const char* kind)
      : stage_base<for_each_stage<F>>(std::move(options), kind), m_fn(std::move(fn)) {}

  template <typename In>
  static constexpr bool check() {
    constexpr bool callable = stage_callable<F, In>;
    static_assert(callable, "sluice::for_each: the function cannot be called with the item type reaching the sink");
    if constexpr (callable) {
      using r = stage_call_result_t<F, In>;
      constexpr bool returns_ok = std::is_void_v<r> || std::is_same_v<r, bool> || std::is_same_v<r, task<void>> ||
                                  std::is_same_v<r, task<bool>>;
      static_assert(returns_ok, "sluice::for_each: the function must return void, bool, task<void> or task<bool>");
      return returns_ok;
    }
    return false;
  }
  [[nodiscard]] std::size_t output_chunk(std::size_t) const noexcept { return 0; }

  template <typename In>
  task<void> run(stage_io<In, none>& io) {
    if constexpr (is_task<stage_call_result_t<F, In>>::value) {
      co_await run_async(io);
    } else {
      while (auto in = co_await io.recv()) {
        // Counted once per chunk, not per item (an atomic add each): the
        // chunk's items are in items_in already, so a live snapshot sees
        // them in flight until then, and the final counts are exact.
        bool go_on = true;
        io.completed(consume_chunk(io, *in, go_on));
        if (!go_on) co_return;
      }
    }
  }

 private:
  // The items of one chunk through a synchronous fn; returns how many
  // finished. A plain function, so the count is a local the compiler keeps
  // in a register (a coroutine frame variable would be a store per item).
  template <typename In>
  std::size_t consume_chunk(stage_io<In, none>& io, input_chunk<In>& in, bool& go_on) {
    std::size_t finished = 0;
    go_on = io.for_each_item(in, [&](In& item, std::size_t index) { return consume(io, item, index, finished); });
    return finished;
  }

  // One item of a synchronous fn; false when fn said "enough".
  template <typename In>
  bool consume(stage_io<In, none>& io, In& item, std::size_t index, std::size_t& finished) {
    auto done = io.call(this->m_options.on_error, m_fn, item, index);
    if (done) ++finished;
    if constexpr (std::is_same_v<stage_call_result_t<F, In>, bool>) return !done || *done;
    return true;
  }

  template <typename In>
  task<void> run_async(stage_io<In, none>& io) {
    using value_t = typename is_task<stage_call_result_t<F, In>>::value_type;
    // task<void> bodies are adapted to task<monostate> (call_async needs a value).
    auto as_value = [this](In item, std::stop_token stop) -> task<std::monostate> {
      co_await invoke_stage_fn(m_fn, std::move(item), stop);
      co_return std::monostate{};
    };
    io.stats().makes_async_calls.store(true, std::memory_order_relaxed);
    while (auto in = co_await io.recv()) {
      auto& items = in->items;
      const auto started = std::chrono::steady_clock::now();
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (io.stopped()) {
          io.drop(items.size() - i);
          break;
        }
        // See async_map: keep the stack flat in unoptimised builds.
        if ((in->first_index + i) % 32 == 31) co_await io.rt().schedule();
        bool go_on = true;
        if constexpr (std::is_void_v<value_t>) {
          auto done = co_await io.template call_async<std::monostate>(this->m_options.on_error, as_value,
                                                                      std::move(items[i]), in->first_index + i);
          if (done) io.completed(1);
        } else {
          auto done = co_await io.template call_async<bool>(this->m_options.on_error, m_fn, std::move(items[i]),
                                                            in->first_index + i);
          if (done) io.completed(1);
          go_on = !done || *done;
        }
        if (!go_on) {
          io.drop(items.size() - i - 1);
          io.stats().busy(std::chrono::steady_clock::now() - started);
          co_return;  // run_stage closes the input and drains it
        }
      }
      io.stats().busy(std::chrono::steady_clock::now() - started);
    }
  }

  F m_fn;
};

}  // namespace detail

/// Calls fn(item) for every item; fn returning false (or task<bool> false) stops the pipeline early.
template <typename F>
auto for_each(F fn, stage_options options = {}) {
  return detail::for_each_stage<F>(std::move(fn), std::move(options), "for_each");
}

}  // namespace sluice
