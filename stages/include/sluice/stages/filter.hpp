// sluice::filter(pred): keeps the items for which pred(const T&) is true.
//
// Inline, in order, never concurrent (but see map.hpp: a predicate without
// state fused before fold and the like runs in lanes). Rejected items count
// as `dropped` in the report (they were handled, and nothing went downstream).
#pragma once

#include <concepts>
#include <cstddef>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/stages/pipeline.hpp"
#include "sluice/stages/stage_options.hpp"
#include "sluice/stages/stage_protocol.hpp"

namespace sluice {
namespace detail {

template <typename P>
class filter_stage : public chunk_stage<filter_stage<P>> {
 public:
  template <typename In>
  using output = In;

  filter_stage(P pred, stage_options options)
      : chunk_stage<filter_stage<P>>(std::move(options), "filter"), m_pred(std::move(pred)) {}

  template <typename In>
  static constexpr bool check() {
    constexpr bool ok = std::predicate<P&, const In&>;
    static_assert(ok, "sluice::filter: the predicate must be callable as bool(const T&) with the item type T");
    return ok;
  }

  /// The function has no state: fused copies may run in lanes (pipeline.hpp, "Fusion").
  static constexpr bool stateless() noexcept { return stateless_function_v<P>; }

  /// One input chunk (see chunk_stage; also the fused form): false when downstream is gone.
  template <typename In>
  task<bool> on_chunk(stage_io<In, In>& io, input_chunk<In>& in) {
    auto test = [this](const In& item) -> bool { return m_pred(item); };
    if constexpr (std::is_move_assignable_v<In>) {
      // The kept items move forward in the chunk itself: no new vector per chunk.
      auto& items = in.items;
      std::size_t kept = 0;
      io.call_each(this->m_options.on_error, test, in, [&](bool keep, In& item) {
        if (!keep) {
          io.reject(1);
          return;
        }
        In& slot = items[kept++];
        if (&slot != &item) slot = std::move(item);
      });
      items.erase(items.begin() + static_cast<std::ptrdiff_t>(kept), items.end());
      if (items.empty()) co_return true;
      co_return co_await io.send(items, kept);
    } else {
      std::vector<In> out;
      out.reserve(in.items.size());
      io.call_each(this->m_options.on_error, test, in, [&](bool keep, In& item) {
        if (keep) {
          out.push_back(std::move(item));
        } else {
          io.reject(1);
        }
      });
      if (out.empty()) co_return true;
      co_return co_await io.send(out, out.size());
    }
  }

 private:
  P m_pred;
};

}  // namespace detail

/// Keeps items for which pred(item) is true; the others are counted as dropped.
template <typename P>
auto filter(P pred, stage_options options = {}) {
  return detail::filter_stage<P>(std::move(pred), std::move(options));
}

}  // namespace sluice
