// Lua scripts run with EVAL: each is atomic on the server.
#pragma once

#include <string_view>

namespace sluice::redis::scripts {

/// KEYS: stream, dead-letter stream. ARGV: group, id, reason, deliveries,
/// consumer, then the entry's field/value pairs. Acks the entry and, only if
/// it was still pending (so two workers never both dead-letter it), appends
/// it to the dead-letter stream with the reason. Returns 1 or 0.
inline constexpr std::string_view dead_letter = R"lua(
local acked = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if acked == 0 then return 0 end
local args = {KEYS[2], '*', 'source_stream', KEYS[1], 'source_id', ARGV[2], 'group', ARGV[1],
              'consumer', ARGV[5], 'deliveries', ARGV[4], 'reason', ARGV[3]}
for i = 6, #ARGV do args[#args + 1] = ARGV[i] end
redis.call('XADD', unpack(args))
return 1
)lua";

/// KEYS: stream. Trims entries below every group's oldest pending entry (or
/// its last delivered entry when nothing is pending): only acknowledged
/// history goes. A stream without groups is left alone. Returns the count.
inline constexpr std::string_view trim_acknowledged = R"lua(
local function less(a, b)
  local am, as = string.match(a, '(%d+)-(%d+)')
  local bm, bs = string.match(b, '(%d+)-(%d+)')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as < bs)
end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
local minid = nil
for _, g in ipairs(groups) do
  local name, last
  for i = 1, #g, 2 do
    if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'last-delivered-id' then last = g[i + 1] end
  end
  local p = redis.call('XPENDING', KEYS[1], name)
  local keep = last
  if p[1] > 0 then keep = p[2] end
  if minid == nil or less(keep, minid) then minid = keep end
end
if minid == nil or minid == '0-0' then return 0 end
return redis.call('XTRIM', KEYS[1], 'MINID', minid)
)lua";

/// KEYS: stream, ended-set. ARGV: producer. Appends the end marker and
/// records the producer as finished.
inline constexpr std::string_view mark_end = R"lua(
redis.call('XADD', KEYS[1], '*', 'v', '1', 'end', ARGV[1])
return redis.call('SADD', KEYS[2], ARGV[1])
)lua";

}  // namespace sluice::redis::scripts
