// The channels between stages (and async_map's item and result-slot channels)
// for the common item types, compiled once here; the headers declare them
// extern (detail/bounded_send.hpp, "SLUICE_DETAIL_COMMON_ITEM_TYPES").
#include "sluice/stages/detail/async_map_channels.hpp"
#include "sluice/stages/detail/bounded_send.hpp"

SLUICE_DETAIL_CHUNK_CHANNEL_INSTANCES(, sluice::detail::none)
SLUICE_DETAIL_COMMON_ITEM_TYPES(SLUICE_DETAIL_CHUNK_CHANNEL_INSTANCES, )
SLUICE_DETAIL_COMMON_ITEM_TYPES(SLUICE_DETAIL_ASYNC_MAP_CHANNEL_INSTANCES, )
