// sluice::inspect(fn): calls fn(const T&) on each item and passes it on unchanged.
//
// For logging, metrics, assertions. Inline, in order, never concurrent.
// An exception from fn is handled by `.on_error` like any stage's.
#pragma once

#include <utility>

#include "sluice/stages/map.hpp"

namespace sluice {

/// Observes each item (fn(const T&)) without changing it.
template <typename F>
auto inspect(F fn, stage_options options = {}) {
  auto pass_through = [fn = std::move(fn)]<typename T>(T&& item) mutable -> std::remove_cvref_t<T> {
    fn(std::as_const(item));
    return std::forward<T>(item);
  };
  return detail::map_stage<decltype(pass_through)>(std::move(pass_through), std::move(options), "inspect");
}

}  // namespace sluice
