// The channels between stages for the common item types, and the ordered
// async_map's result-slot channel, compiled once here; the headers declare
// them extern (detail/bounded_send.hpp, "SLUICE_DETAIL_COMMON_ITEM_TYPES";
// detail/async_map_channels.hpp).
#include "sluice/stages/detail/async_map_channels.hpp"
#include "sluice/stages/detail/bounded_send.hpp"

SLUICE_DETAIL_CHUNK_CHANNEL_INSTANCES(, sluice::detail::none)
SLUICE_DETAIL_COMMON_ITEM_TYPES(SLUICE_DETAIL_CHUNK_CHANNEL_INSTANCES, )
SLUICE_DETAIL_CHANNEL_INSTANCES(, sluice::detail::async_map_slot)
