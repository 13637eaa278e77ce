// sluice::flat_map(fn): fn(In) returns a range; each of its elements goes
// downstream. sluice::unbatch() is flat_map over items that are ranges.
//
// Inline, in order, never concurrent (but see map.hpp: a function without
// state fused before fold and the like runs in lanes). Accounting: an input
// counts as out once all of its elements were sent; `emitted` counts elements.
#pragma once

#include <cstddef>
// The range concepts and traits (input_range, range_value_t) come with
// <iterator> in libstdc++; <ranges> adds the views and adaptors, about a
// tenth of a second per program (docs/architecture.md, "Header cost").
#include <iterator>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/core/detail/std_parts.hpp"
#include "sluice/stages/pipeline.hpp"
#include "sluice/stages/stage_options.hpp"
#include "sluice/stages/stage_protocol.hpp"

namespace sluice {
namespace detail {

template <typename F>
class flat_map_stage : public chunk_stage<flat_map_stage<F>> {
 public:
  template <typename In>
  using output = std::ranges::range_value_t<stage_call_result_t<F, In>>;

  flat_map_stage(F fn, stage_options options, const char* kind)
      : chunk_stage<flat_map_stage<F>>(std::move(options), kind), m_fn(std::move(fn)) {}

  template <typename In>
  static constexpr bool check() {
    constexpr bool callable = stage_callable<F, In>;
    static_assert(callable,
                  "sluice::flat_map: the function cannot be called with the item type flowing into this stage "
                  "(for unbatch: the items must be ranges)");
    if constexpr (callable) {
      constexpr bool range = std::ranges::input_range<stage_call_result_t<F, In>>;
      static_assert(range, "sluice::flat_map: the function must return a range (e.g. a std::vector) of output items");
      return range;
    }
    return false;
  }

  /// The function has no state: fused copies may run in lanes (pipeline.hpp, "Fusion").
  static constexpr bool stateless() noexcept { return stateless_function_v<F>; }

  /// One input chunk (see chunk_stage; also the fused form): false when downstream is gone.
  template <typename In>
  task<bool> on_chunk(stage_io<In, output<In>>& io, input_chunk<In>& in) {
    std::vector<output<In>> out;
    std::size_t handled = 0;  // inputs whose elements are all in `out`
    io.call_each(this->m_options.on_error, m_fn, in, [&](auto&& elements, In&) {
      append_elements<output<In>>(out, std::forward<decltype(elements)>(elements));
      ++handled;
    });
    if (out.empty()) {
      io.completed(handled);  // nothing to send: all of them produced no elements
      co_return true;
    }
    co_return co_await send_in_pieces(io, out, handled, max_piece(io));
  }

 private:
  // Appends the elements of the range fn returned. A container returned by
  // value (an rvalue that is not a view) is the stage's to take apart, so
  // its elements are moved (strings and vectors keep their buffers); a
  // view, or a range fn returned by reference, may show someone else's
  // storage (a filter_view over the user's vector), so its elements are
  // copied.
  template <typename Out, typename Range>
  static void append_elements(std::vector<Out>& out, Range&& elements) {
    constexpr bool owned = !std::is_lvalue_reference_v<Range> && !std::ranges::view<std::remove_cvref_t<Range>>;
    for (auto&& element : elements) {
      if constexpr (owned && !std::is_const_v<std::remove_reference_t<decltype(element)>>) {
        out.push_back(static_cast<Out>(std::move(element)));
      } else {
        out.push_back(static_cast<Out>(std::forward<decltype(element)>(element)));
      }
    }
  }

  // Pieces of at most half this stage's input capacity (a fused stage has
  // no input channel: half the default capacity).
  template <typename In>
  static std::size_t max_piece(stage_io<In, output<In>>& io) {
    const std::size_t capacity = io.state().info(io.index()).capacity;
    return std::max<std::size_t>(1, (capacity ? capacity : default_capacity) / 2);
  }

  // Splits `out` so no chunk exceeds the channel's size; the `handled`
  // inputs count as out with the last piece.
  template <typename In>
  static task<bool> send_in_pieces(stage_io<In, output<In>>& io, std::vector<output<In>>& out, std::size_t handled,
                                   std::size_t piece_size) {
    for (std::size_t first = 0; first < out.size(); first += piece_size) {
      const bool last = first + piece_size >= out.size();
      const auto end = std::min(out.size(), first + piece_size);
      std::vector<output<In>> piece(std::make_move_iterator(out.begin() + static_cast<std::ptrdiff_t>(first)),
                                    std::make_move_iterator(out.begin() + static_cast<std::ptrdiff_t>(end)));
      if (!co_await io.send(piece, last ? handled : 0)) {
        if (!last) io.drop(handled);
        co_return false;
      }
    }
    co_return true;
  }

  F m_fn;
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
