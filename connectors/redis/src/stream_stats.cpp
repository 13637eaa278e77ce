#include "sluice/redis/stream_stats.hpp"

namespace sluice::redis {
namespace {
std::string n(const std::atomic<std::uint64_t>& v) { return std::to_string(v.load(std::memory_order_relaxed)); }
std::string signed_or_unknown(const std::atomic<std::int64_t>& v) {
  auto x = v.load(std::memory_order_relaxed);
  return x < 0 ? std::string("?") : std::to_string(x);
}
}  // namespace

std::string stream_stats::describe() const {
  std::string out = "stream " + stream;
  if (!group.empty()) out += ", group " + group;
  if (!consumer.empty()) out += " (consumer " + consumer + ")";
  out += ": lag " + signed_or_unknown(lag) + ", pending " + signed_or_unknown(pending);
  if (entries_added.load() || items_added.load())
    out += ", added " + n(entries_added) + " entries / " + n(items_added) + " items, backpressure waits " +
           n(backpressure_waits);
  if (entries_delivered.load() || !group.empty())
    out += ", delivered " + n(entries_delivered) + " entries / " + n(items_delivered) + " items, redelivered " +
           n(redelivered) + ", claimed " + n(claimed) + ", acked " + n(acked) + ", nacked " + n(nacked) +
           ", dead-lettered " + n(dead_lettered) + ", keepalives " + n(keepalives);
  out += ", trimmed " + n(trimmed) + ", transport errors " + n(transport_errors);
  return out;
}

void stream_stats::write_json(json_writer& w) const {
  auto u = [&](const char* key, const std::atomic<std::uint64_t>& v) {
    w.key(key);
    w.num(static_cast<std::int64_t>(v.load(std::memory_order_relaxed)));
  };
  w.begin_object();
  w.field("stream", stream);
  w.field("group", group);
  w.field("consumer", consumer);
  w.key("lag");
  w.num(lag.load());
  w.key("pending");
  w.num(pending.load());
  u("entries_delivered", entries_delivered);
  u("items_delivered", items_delivered);
  u("redelivered", redelivered);
  u("claimed", claimed);
  u("acked", acked);
  u("nacked", nacked);
  u("dead_lettered", dead_lettered);
  u("keepalives", keepalives);
  u("end_markers", end_markers);
  u("entries_added", entries_added);
  u("items_added", items_added);
  u("backpressure_waits", backpressure_waits);
  u("trimmed", trimmed);
  u("transport_errors", transport_errors);
  w.end_object();
}

}  // namespace sluice::redis
