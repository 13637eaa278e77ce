// Umbrella header of sluice::redis: the hiredis client on the reactor and the
// distributed channel on Redis Streams. See docs/distributed.md.
#pragma once

#include "sluice/redis/commit.hpp"        // IWYU pragma: export
#include "sluice/redis/connection.hpp"    // IWYU pragma: export
#include "sluice/redis/endpoint.hpp"      // IWYU pragma: export
#include "sluice/redis/from_stream.hpp"   // IWYU pragma: export
#include "sluice/redis/message.hpp"       // IWYU pragma: export
#include "sluice/redis/serializer.hpp"    // IWYU pragma: export
#include "sluice/redis/stream_stats.hpp"  // IWYU pragma: export
#include "sluice/redis/to_stream.hpp"     // IWYU pragma: export
