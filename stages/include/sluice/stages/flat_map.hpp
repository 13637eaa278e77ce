// sluice::flat_map(fn): fn(In) returns a range; each of its elements goes
// downstream. sluice::unbatch() is flat_map over items that are ranges.
//
// Inline, in order, never concurrent. Accounting: an input counts as out once
// all of its elements were sent; `emitted` counts elements.
#pragma once

#include <algorithm>
#include <chrono>
#include <concepts>
#include <iterator>
#include <ranges>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/stages/pipeline.hpp"
#include "sluice/stages/stage_options.hpp"

namespace sluice {
namespace detail {

template <typename F>
class flat_map_stage {
 public:
  using sluice_stage = void;
  template <typename In>
  using output = std::ranges::range_value_t<std::invoke_result_t<F&, In&&>>;

  flat_map_stage(F fn, stage_options options, const char* kind)
      : m_fn(std::move(fn)), m_options(std::move(options)), m_kind(kind) {}

  template <typename In>
  static constexpr void check() {
    static_assert(std::invocable<F&, In&&>,
                  "sluice::flat_map: the function cannot be called with the item type flowing into this stage "
                  "(for unbatch: the items must be ranges)");
    static_assert(std::ranges::input_range<std::invoke_result_t<F&, In&&>>,
                  "sluice::flat_map: the function must return a range (e.g. a std::vector) of output items");
  }
  template <typename In>
  void prepare() const {
    if (m_options.on_error.retry.attempts > 1 && !std::is_copy_constructible_v<In>)
      throw std::logic_error("sluice::flat_map: retry needs a copyable item type");
  }
  [[nodiscard]] stage_info info() const {
    return {.name = name_or(m_options.name, m_kind), .kind = m_kind, .parameters = {}, .capacity = 0};
  }
  [[nodiscard]] std::size_t capacity() const noexcept { return m_options.capacity; }
  [[nodiscard]] std::size_t output_chunk(std::size_t in) const noexcept { return in; }

  template <typename In>
  task<void> run(stage_io<In, output<In>>& io) {
    using out_t = output<In>;
    const std::size_t chunk = std::max<std::size_t>(1, io.state().info(io.index()).capacity / 2);
    while (auto in = co_await io.recv()) {
      auto& items = in->items;
      std::vector<out_t> out;
      std::size_t handled = 0;  // inputs whose elements are all in `out`
      auto started = std::chrono::steady_clock::now();
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (io.stopped()) {
          io.drop(items.size() - i);
          break;
        }
        auto r = io.call(m_options.on_error, m_fn, items[i], in->first_index + i);
        if (!r) continue;
        for (auto&& element : *r) out.push_back(static_cast<out_t>(std::forward<decltype(element)>(element)));
        ++handled;
      }
      io.stats().busy(std::chrono::steady_clock::now() - started);
      if (out.empty()) {
        io.completed(handled);  // nothing to send: all of them produced no elements
        continue;
      }
      // Split so no chunk exceeds the channel's size; the inputs count as
      // out with the last piece.
      for (std::size_t first = 0; first < out.size(); first += chunk) {
        bool last = first + chunk >= out.size();
        std::vector<out_t> piece(
            std::make_move_iterator(out.begin() + static_cast<std::ptrdiff_t>(first)),
            std::make_move_iterator(out.begin() + static_cast<std::ptrdiff_t>(std::min(out.size(), first + chunk))));
        if (!co_await io.send(piece, last ? handled : 0)) {
          if (!last) io.drop(handled);
          co_return;
        }
      }
    }
  }

 private:
  F m_fn;
  stage_options m_options;
  const char* m_kind;
};

}  // namespace detail

/// Replaces each item by the elements of the range fn(item) returns.
template <typename F>
auto flat_map(F fn, stage_options options = {}) {
  return detail::flat_map_stage<F>(std::move(fn), std::move(options), "flat_map");
}

/// Splits items that are ranges (e.g. the vectors made by sluice::batch) into their elements.
inline auto unbatch(stage_options options = {}) {
  auto identity = []<typename R>(R&& range) -> std::remove_cvref_t<R> { return std::forward<R>(range); };
  return detail::flat_map_stage<decltype(identity)>(std::move(identity), std::move(options), "unbatch");
}

}  // namespace sluice
