// Folding sinks: combine all items into one value.
//
//   long total = 0;
//   | sluice::fold(total, [](long acc, int x) { return acc + x; })         // sequential, any fn, in order
//   | sluice::reduce(total, 0L, std::plus<>{})                             // parallel, small values
//   | sluice::fold(total, [](long& a, int x) { a += x; },                  // parallel, any accumulator,
//                  [](long& a, long&& b) { a += b; })                      //   updated in place (fold.hpp)
//
// The sequential fold applies acc = fn(std::move(acc), item) in arrival
// order, on one coroutine (the accumulator is moved, never copied).
//
// reduce needs an associative, commutative `op` with `identity` as its
// neutral element; it runs as the parallel fold (one accumulator per worker,
// merged at the end). Because `op` returns a new accumulator per item, reduce
// only accepts small trivially copyable accumulators (numbers, small
// structs), for which that costs nothing: anything bigger (a map, a vector,
// a string) would be copied per item, so it is a compile error pointing to
// the in-place fold. The result variable must outlive run() and is written
// only by the sink. Errors fail fast by default.
#pragma once

#include <concepts>
#include <exception>
#include <utility>

#include <string>
#include <type_traits>
#include <vector>

#include "sluice/core/detail/std_parts.hpp"
#include "sluice/stages/fold.hpp"
#include "sluice/stages/pipeline.hpp"
#include "sluice/stages/stage_options.hpp"

namespace sluice {
namespace detail {

template <typename Acc, typename F>
class sequential_fold_stage {
 public:
  using sluice_stage = void;
  template <typename In>
  using output = none;

  sequential_fold_stage(Acc& result, F fn, stage_options options)
      : m_result(&result), m_fn(std::move(fn)), m_options(std::move(options)) {}

  template <typename In>
  static constexpr void check() {
    static_assert(std::is_invocable_r_v<Acc, F&, Acc&&, In&&>,
                  "sluice::fold: fn must be callable as acc = fn(std::move(acc), item); for an in-place, parallel "
                  "fold give op(Acc&, const In&) and combine(Acc&, Acc&&)");
  }
  template <typename In>
  void prepare() const {}
  [[nodiscard]] stage_info info() const {
    return {.name = name_or(m_options.name, "fold"), .kind = "fold", .parameters = "sequential", .capacity = 0};
  }
  [[nodiscard]] std::size_t capacity() const noexcept { return m_options.capacity; }
  [[nodiscard]] std::size_t output_chunk(std::size_t) const noexcept { return 0; }

  template <typename In>
  task<void> run(stage_io<In, none>& io) {
    while (auto in = co_await io.recv()) {
      auto& items = in->items;
      auto started = std::chrono::steady_clock::now();
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
      io.stats().busy(std::chrono::steady_clock::now() - started);
    }
  }

 private:
  Acc* m_result;
  F m_fn;
  stage_options m_options;
};

template <typename Acc, typename F>
class reduce_aggregator {
 public:
  using local = Acc;
  reduce_aggregator(Acc& result, Acc identity, F op) : m_result(&result), m_identity(identity), m_op(std::move(op)) {}

  template <typename In>
  static constexpr void check() {
    static_assert(std::is_trivially_copyable_v<Acc> && sizeof(Acc) <= 64,
                  "sluice::reduce copies the accumulator per item, so it takes only small trivially copyable "
                  "accumulators; use sluice::fold(result, op(Acc&, const In&), combine(Acc&, Acc&&)), which "
                  "updates it in place");
    static_assert(
        std::is_invocable_r_v<Acc, F&, const Acc&, const In&> && std::is_invocable_r_v<Acc, F&, const Acc&, const Acc&>,
        "sluice::reduce: op must combine (acc, item) and (acc, acc) into an acc");
  }
  [[nodiscard]] Acc make_local() const { return m_identity; }
  template <typename In>
  void add(Acc& acc, const In& item) {
    acc = m_op(acc, item);
  }
  void finish(std::vector<Acc>&& locals) {
    for (const Acc& acc : locals) *m_result = m_op(*m_result, acc);
  }
  [[nodiscard]] const char* kind() const noexcept { return "reduce"; }
  [[nodiscard]] std::string parameters() const { return {}; }

 private:
  Acc* m_result;
  Acc m_identity;
  F m_op;
};

}  // namespace detail

/// Sequential fold into `result`: result = fn(std::move(result), item) for every item, in order.
template <typename Acc, typename F>
auto fold(Acc& result, F fn, stage_options options = {}) {
  return detail::sequential_fold_stage<Acc, F>(result, std::move(fn), std::move(options));
}

/// Parallel reduction into `result` with an associative, commutative op and
/// its identity element; small trivially copyable accumulators only.
template <typename Acc, typename F>
auto reduce(Acc& result, Acc identity, F op, aggregate_options options = {}) {
  using a = detail::reduce_aggregator<Acc, F>;
  return detail::aggregate_stage<a>(a(result, identity, std::move(op)), std::move(options));
}

}  // namespace sluice
