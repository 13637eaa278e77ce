// The item types of async_map's internal channels, and the channels of
// these compiled in the library for the common item types (see
// SLUICE_DETAIL_COMMON_ITEM_TYPES in bounded_send.hpp).
#pragma once

#include <cstddef>
#include <optional>
#include <utility>

#include "sluice/core/channel.hpp"
#include "sluice/core/runtime.hpp"
#include "sluice/stages/detail/bounded_send.hpp"

namespace sluice::detail {

// What an unordered async_map's feeder hands its workers. Outside
// async_map_stage<F>, so async_maps over one item type share its channel
// (compiled in the library for the common item types: see the end of this
// file). Its `concurrency` (>= 1) slots spare the unbounded channel code.
template <typename In>
struct async_map_item {
  using bounded_channel_only = void;
  async_map_item(std::size_t index, In item) : first(index), second(std::move(item)) {}
  std::size_t first;
  In second;
};

// A running item's result in an ordered async_map (by output type, as above).
template <typename Out>
struct async_map_slot : join_handle<std::optional<Out>> {
  using bounded_channel_only = void;
  explicit async_map_slot(join_handle<std::optional<Out>>&& handle)
      : join_handle<std::optional<Out>>(std::move(handle)) {}
};

}  // namespace sluice::detail

// See SLUICE_DETAIL_COMMON_ITEM_TYPES (detail/bounded_send.hpp).
#define SLUICE_DETAIL_ASYNC_MAP_CHANNEL_INSTANCES(X, T)                 \
  SLUICE_DETAIL_CHANNEL_INSTANCES(X, sluice::detail::async_map_item<T>) \
  SLUICE_DETAIL_CHANNEL_INSTANCES(X, sluice::detail::async_map_slot<T>)
SLUICE_DETAIL_COMMON_ITEM_TYPES(SLUICE_DETAIL_ASYNC_MAP_CHANNEL_INSTANCES, extern)
