// The channel between stages (of chunk_record, whatever the item type), and
// the ordered async_map's result-slot channel, compiled once here; the
// headers declare them extern (detail/bounded_send.hpp,
// detail/async_map_channels.hpp).
#include "sluice/stages/detail/async_map_channels.hpp"
#include "sluice/stages/detail/bounded_send.hpp"

SLUICE_DETAIL_CHANNEL_INSTANCES(, sluice::detail::chunk_record)
SLUICE_DETAIL_CHANNEL_INSTANCES(, sluice::detail::async_map_slot)
