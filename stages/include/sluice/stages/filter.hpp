// sluice::filter(pred): keeps the items for which pred(const T&) is true.
//
// Inline, in order, never concurrent. Rejected items count as `dropped` in
// the report (they were handled, and nothing went downstream).
#pragma once

#include <chrono>
#include <concepts>
#include <string>
#include <utility>
#include <vector>

#include "sluice/stages/pipeline.hpp"
#include "sluice/stages/stage_options.hpp"

namespace sluice {
namespace detail {

template <typename P>
class filter_stage {
 public:
  using sluice_stage = void;
  template <typename In>
  using output = In;

  filter_stage(P pred, stage_options options) : m_pred(std::move(pred)), m_options(std::move(options)) {}

  template <typename In>
  static constexpr void check() {
    static_assert(std::predicate<P&, const In&>,
                  "sluice::filter: the predicate must be callable as bool(const T&) with the item type T");
  }
  template <typename In>
  void prepare() const {}
  [[nodiscard]] stage_info info() const {
    return {.name = name_or(m_options.name, "filter"), .kind = "filter", .parameters = {}, .capacity = 0};
  }
  [[nodiscard]] std::size_t capacity() const noexcept { return m_options.capacity; }
  [[nodiscard]] std::size_t output_chunk(std::size_t in) const noexcept { return in; }

  template <typename In>
  task<void> run(stage_io<In, In>& io) {
    auto test = [this](const In& item) -> bool { return m_pred(item); };
    while (auto in = co_await io.recv()) {
      auto& items = in->items;
      std::vector<In> out;
      out.reserve(items.size());
      auto started = std::chrono::steady_clock::now();
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (io.stopped()) {
          io.drop(items.size() - i);
          break;
        }
        const In& item = items[i];
        auto keep = io.call(m_options.on_error, test, item, in->first_index + i);
        if (!keep) continue;  // failed: counted
        if (*keep) {
          out.push_back(std::move(items[i]));
        } else {
          io.drop(1);
        }
      }
      io.stats().busy(std::chrono::steady_clock::now() - started);
      if (!out.empty() && !co_await io.send(out, out.size())) co_return;
    }
  }

 private:
  P m_pred;
  stage_options m_options;
};

}  // namespace detail

/// Keeps items for which pred(item) is true; the others are counted as dropped.
template <typename P>
auto filter(P pred, stage_options options = {}) {
  return detail::filter_stage<P>(std::move(pred), std::move(options));
}

}  // namespace sluice
