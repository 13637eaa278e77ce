// sluice::map(fn): transforms each item inline, fn(In) -> Out.
//
// For cheap functions: runs in the stage's single coroutine, one chunk at a
// time, so output order equals input order and fn is never called
// concurrently. For expensive CPU work use parallel_map, for I/O async_map.
// Errors: per `.on_error` (fail fast by default; retries happen at once).
#pragma once

#include <chrono>
#include <concepts>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/stages/pipeline.hpp"
#include "sluice/stages/stage_options.hpp"

namespace sluice {
namespace detail {

template <typename F>
class map_stage {
 public:
  using sluice_stage = void;
  template <typename In>
  using output = std::invoke_result_t<F&, In&&>;

  map_stage(F fn, stage_options options, const char* kind = "map")
      : m_fn(std::move(fn)), m_options(std::move(options)), m_kind(kind) {}

  template <typename In>
  static constexpr void check() {
    static_assert(std::invocable<F&, In&&>,
                  "sluice::map: the function cannot be called with the item type flowing into this stage");
    static_assert(!std::is_void_v<std::invoke_result_t<F&, In&&>>,
                  "sluice::map: the function returns void; use sluice::inspect or sluice::for_each");
  }
  template <typename In>
  void prepare() const {
    if (m_options.on_error.retry.attempts > 1 && !std::is_copy_constructible_v<In>)
      throw std::logic_error("sluice::" + std::string(m_kind) + ": retry needs a copyable item type");
  }
  [[nodiscard]] stage_info info() const {
    return {.name = name_or(m_options.name, m_kind), .kind = m_kind, .parameters = {}, .capacity = 0};
  }
  [[nodiscard]] std::size_t capacity() const noexcept { return m_options.capacity; }
  [[nodiscard]] std::size_t output_chunk(std::size_t in) const noexcept { return in; }

  template <typename In>
  task<void> run(stage_io<In, output<In>>& io) {
    while (auto in = co_await io.recv()) {
      auto& items = in->items;
      std::vector<output<In>> out;
      out.reserve(items.size());
      auto started = std::chrono::steady_clock::now();
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (io.stopped()) {
          io.drop(items.size() - i);
          break;
        }
        if (auto r = io.call(m_options.on_error, m_fn, items[i], in->first_index + i)) out.push_back(std::move(*r));
      }
      io.stats().busy(std::chrono::steady_clock::now() - started);
      if (!out.empty() && !co_await io.send(out, out.size())) co_return;
    }
  }

 private:
  F m_fn;
  stage_options m_options;
  const char* m_kind;
};

}  // namespace detail

/// Transforms each item with fn(In) -> Out, inline and in order.
template <typename F>
auto map(F fn, stage_options options = {}) {
  return detail::map_stage<F>(std::move(fn), std::move(options));
}

}  // namespace sluice
