// sluice::for_each(fn): the general sink. fn(T) is called for every item, in
// the order the items arrive, never concurrently.
//
// fn may return void, bool (false: "enough", stop the pipeline early and
// successfully), task<void> or task<bool> (awaited before the next item).
// Stopping early closes the input; upstream stages wind down and the items
// still in flight count as dropped. Errors: `.on_error`.
#pragma once

#include <chrono>
#include <concepts>
#include <optional>
#include <type_traits>
#include <utility>

#include "sluice/stages/async_map.hpp"
#include "sluice/stages/pipeline.hpp"
#include "sluice/stages/stage_options.hpp"

namespace sluice {
namespace detail {

template <typename F>
class for_each_stage {
 public:
  using sluice_stage = void;
  template <typename In>
  using output = none;

  for_each_stage(F fn, stage_options options, const char* kind)
      : m_fn(std::move(fn)), m_options(std::move(options)), m_kind(kind) {}

  template <typename In>
  static constexpr void check() {
    static_assert(std::invocable<F&, In&&>,
                  "sluice::for_each: the function cannot be called with the item type reaching the sink");
    using r = std::invoke_result_t<F&, In&&>;
    static_assert(
        std::is_void_v<r> || std::is_same_v<r, bool> || std::is_same_v<r, task<void>> || std::is_same_v<r, task<bool>>,
        "sluice::for_each: the function must return void, bool, task<void> or task<bool>");
  }
  template <typename In>
  void prepare() const {
    if (m_options.on_error.retry.attempts > 1 && !std::is_copy_constructible_v<In>)
      throw std::logic_error("sluice::for_each: retry needs a copyable item type");
  }
  [[nodiscard]] stage_info info() const {
    return {.name = name_or(m_options.name, m_kind), .kind = m_kind, .parameters = {}, .capacity = 0};
  }
  [[nodiscard]] std::size_t capacity() const noexcept { return m_options.capacity; }
  [[nodiscard]] std::size_t output_chunk(std::size_t) const noexcept { return 0; }

  template <typename In>
  task<void> run(stage_io<In, none>& io) {
    using r = std::invoke_result_t<F&, In&&>;
    while (auto in = co_await io.recv()) {
      auto& items = in->items;
      auto started = std::chrono::steady_clock::now();
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (io.stopped()) {
          io.drop(items.size() - i);
          break;
        }
        bool go_on = true;
        if constexpr (is_task<r>::value) {
          // See async_map: keep the stack flat in unoptimised builds.
          if ((in->first_index + i) % 32 == 31) co_await io.rt().schedule();
          using value_t = typename is_task<r>::value_type;
          if constexpr (std::is_void_v<value_t>) {
            auto call = [this](In item) -> task<std::monostate> {
              co_await m_fn(std::move(item));
              co_return std::monostate{};
            };
            auto done = co_await io.template call_async<std::monostate>(m_options.on_error, call, std::move(items[i]),
                                                                        in->first_index + i);
            if (done) io.completed(1);
          } else {
            auto done = co_await io.template call_async<bool>(m_options.on_error, m_fn, std::move(items[i]),
                                                              in->first_index + i);
            if (done) io.completed(1);
            go_on = !done || *done;
          }
        } else {
          auto done = io.call(m_options.on_error, m_fn, items[i], in->first_index + i);
          if (done) io.completed(1);
          if constexpr (std::is_same_v<r, bool>) go_on = !done || *done;
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

 private:
  F m_fn;
  stage_options m_options;
  const char* m_kind;
};

}  // namespace detail

/// Calls fn(item) for every item; fn returning false (or task<bool> false) stops the pipeline early.
template <typename F>
auto for_each(F fn, stage_options options = {}) {
  return detail::for_each_stage<F>(std::move(fn), std::move(options), "for_each");
}

}  // namespace sluice
