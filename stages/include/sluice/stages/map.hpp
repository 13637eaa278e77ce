// sluice::map(fn): transforms each item inline, fn(In) -> Out.
//
// For cheap functions: runs in the stage's single coroutine, one chunk at a
// time, so output order equals input order and fn is never called
// concurrently. One exception: fn without state (a lambda without captures,
// a plain function) fused before fold / count_by / group_by / top_k, which
// take their input in any order, runs as one copy per worker of that sink,
// concurrently (pipeline.md, "Fused stages in lanes"); `.fuse = false` or a
// capture keeps it on one coroutine. For expensive CPU work use
// parallel_map, for I/O async_map.
// fn may take the run's std::stop_token as a last parameter.
// Errors: per `.on_error` (fail fast by default; retries happen at once).
#pragma once

#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/stages/pipeline.hpp"
#include "sluice/stages/stage_options.hpp"
#include "sluice/stages/stage_protocol.hpp"

namespace sluice {
namespace detail {

template <typename F>
class map_stage : public chunk_stage<map_stage<F>> {
 public:
  template <typename In>
  using output = stage_call_result_t<F, In>;

  map_stage(F fn, stage_options options, const char* kind = "map")
      : chunk_stage<map_stage<F>>(std::move(options), kind), m_fn(std::move(fn)) {}

  template <typename In>
  static constexpr bool check() {
    constexpr bool callable = stage_callable<F, In>;
    static_assert(callable, "sluice::map: the function cannot be called with the item type flowing into this stage");
    if constexpr (callable) {
      constexpr bool has_value = !std::is_void_v<output<In>>;
      static_assert(has_value, "sluice::map: the function returns void; use sluice::inspect or sluice::for_each");
      return has_value;
    }
    return false;
  }

  /// The function has no state: fused copies may run in lanes (pipeline.hpp, "Fusion").
  static constexpr bool stateless() noexcept { return stateless_function_v<F>; }

  /// One input chunk (see chunk_stage; also the fused form): false when downstream is gone.
  template <typename In>
  task<bool> on_chunk(stage_io<In, output<In>>& io, input_chunk<In>& in) {
    std::vector<output<In>> out;
    out.reserve(in.items.size());
    io.call_each(this->m_options.on_error, m_fn, in,
                 [&](auto&& r, In&) { out.push_back(std::forward<decltype(r)>(r)); });
    if (out.empty()) co_return true;
    co_return co_await io.send(out, out.size());
  }

 private:
  F m_fn;
};

}  // namespace detail

/// Transforms each item with fn(In) -> Out, inline and in order.
template <typename F>
auto map(F fn, stage_options options = {}) {
  return detail::map_stage<F>(std::move(fn), std::move(options));
}

}  // namespace sluice
