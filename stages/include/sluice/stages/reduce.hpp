// Folding sinks: combine all items into one value.
//
//   long total = 0;
//   | sluice::fold(total, [](long acc, int x) { return acc + x; })         // sequential, any fn
//   | sluice::reduce(total, 0L, std::plus<>{})                             // parallel on TBB
//
// fold applies acc = fn(std::move(acc), item) in arrival order. reduce needs
// an associative `op` with `identity` as its neutral element: each received
// chunk is reduced with tbb::parallel_reduce, then folded into the result.
// The result variable must outlive run() and is written only by the sink.
// Errors fail fast; for reduce a throwing op fails its whole chunk (counted
// as failed) since TBB does not say which item it was on.
#pragma once

#include <chrono>
#include <concepts>
#include <exception>
#include <utility>

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_reduce.h>

#include "sluice/core/detail/tsan.hpp"
#include "sluice/stages/pipeline.hpp"
#include "sluice/stages/stage_options.hpp"

namespace sluice {
namespace detail {

template <typename Acc, typename F, bool Parallel>
class fold_stage {
 public:
  using sluice_stage = void;
  template <typename In>
  using output = none;

  fold_stage(Acc& result, Acc identity, F fn, stage_options options)
      : m_result(&result), m_identity(std::move(identity)), m_fn(std::move(fn)), m_options(std::move(options)) {}

  template <typename In>
  static constexpr void check() {
    if constexpr (Parallel) {
      static_assert(std::is_invocable_r_v<Acc, F&, const Acc&, const In&> &&
                        std::is_invocable_r_v<Acc, F&, const Acc&, const Acc&>,
                    "sluice::reduce: op must combine (acc, item) and (acc, acc) into an acc");
    } else {
      static_assert(std::is_invocable_r_v<Acc, F&, Acc&&, In&&>,
                    "sluice::fold: fn must be callable as acc = fn(std::move(acc), item)");
    }
  }
  template <typename In>
  void prepare() const {}
  [[nodiscard]] stage_info info() const {
    const char* kind = Parallel ? "reduce" : "fold";
    return {.name = name_or(m_options.name, kind), .kind = kind, .parameters = {}, .capacity = 0};
  }
  [[nodiscard]] std::size_t capacity() const noexcept { return m_options.capacity; }
  [[nodiscard]] std::size_t output_chunk(std::size_t) const noexcept { return 0; }

  template <typename In>
  task<void> run(stage_io<In, none>& io) {
    while (auto in = co_await io.recv()) {
      auto& items = in->items;
      if (io.stopped()) {
        io.drop(items.size());
        continue;
      }
      auto started = std::chrono::steady_clock::now();
      if constexpr (Parallel) {
        try {
          *m_result = m_fn(*m_result, reduce_chunk(items));
          io.completed(items.size());
        } catch (...) {
          stage_stats::bump(io.stats().failed, items.size());
          io.state().fail(io.index(), in->first_index, std::current_exception());
        }
      } else {
        for (std::size_t i = 0; i < items.size(); ++i) {
          if (io.stopped()) {
            io.drop(items.size() - i);
            break;
          }
          try {
            *m_result = m_fn(std::move(*m_result), std::move(items[i]));
            io.completed(1);
          } catch (...) {
            io.template item_failed<In>(fail_fast(), in->first_index + i, nullptr, std::current_exception());
          }
        }
      }
      io.stats().busy(std::chrono::steady_clock::now() - started);
    }
  }

 private:
  template <typename In>
  Acc reduce_chunk(const std::vector<In>& items) {
    int handoff = 0;
    tsan_release(&handoff);
    Acc value = tbb::parallel_reduce(
        tbb::blocked_range<std::size_t>(0, items.size()), m_identity,
        [&](const tbb::blocked_range<std::size_t>& r, Acc acc) {
          tsan_acquire(&handoff);
          for (std::size_t i = r.begin(); i != r.end(); ++i) acc = m_fn(acc, items[i]);
          tsan_release(&handoff);
          return acc;
        },
        [&](const Acc& a, const Acc& b) {
          tsan_acquire(&handoff);
          Acc c = m_fn(a, b);
          tsan_release(&handoff);
          return c;
        });
    tsan_acquire(&handoff);
    return value;
  }

  Acc* m_result;
  Acc m_identity;
  F m_fn;
  stage_options m_options;
};

}  // namespace detail

/// Sequential fold into `result`: result = fn(std::move(result), item) for every item.
template <typename Acc, typename F>
auto fold(Acc& result, F fn, stage_options options = {}) {
  return detail::fold_stage<Acc, F, false>(result, Acc(result), std::move(fn), std::move(options));
}

/// Parallel reduction into `result` with an associative op and its identity element.
template <typename Acc, typename F>
auto reduce(Acc& result, Acc identity, F op, stage_options options = {}) {
  return detail::fold_stage<Acc, F, true>(result, std::move(identity), std::move(op), std::move(options));
}

}  // namespace sluice
