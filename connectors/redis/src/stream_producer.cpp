#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <functional>
#include <optional>
#include <stdexcept>

#include "sluice/core/sleep.hpp"
#include "sluice/redis/detail/producer_core.hpp"
#include "sluice/redis/entry_format.hpp"
#include "sluice/redis/stream_scripts.hpp"

namespace sluice::redis::detail {
namespace {

using namespace std::chrono_literals;

std::string default_producer_id() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return std::string(host) + ":" + std::to_string(getpid());
}

}  // namespace

producer_core::producer_core(runtime& rt, endpoint ep, std::string stream, std::string format,
                             to_stream_options options)
    : m_stream(std::move(stream)),
      m_format(std::move(format)),
      m_options(std::move(options)),
      m_stats(m_options.stats ? m_options.stats : std::make_shared<stream_stats>()),
      m_conn(rt, std::move(ep), m_options.connection) {
  if (m_options.pack == 0) m_options.pack = 1;
  if (m_options.pack > max_items_per_entry) m_options.pack = max_items_per_entry;
  if (m_options.batch == 0) m_options.batch = 1;
  if (m_options.depth == 0) m_options.depth = 1;
  if (m_options.capacity) m_options.batch = std::min(m_options.batch, m_options.capacity);
  if (m_options.producer.empty()) m_options.producer = default_producer_id();
  if (m_options.max_length) m_max_length = std::to_string(m_options.max_length);
  m_stats->stream = m_stream;
}

task<void> producer_core::transport_failed(const error& e) {
  m_stats->transport_errors.fetch_add(1, std::memory_order_relaxed);
  auto now = std::chrono::steady_clock::now();
  if (!m_failing_since) m_failing_since = now;
  if (now - *m_failing_since > m_options.give_up_after)
    throw std::runtime_error("sluice::redis::to_stream(" + m_stream + "): giving up after " +
                             std::to_string(m_options.give_up_after.count()) + " ms without the server: " + e.message);
  co_await sleep_for(50ms);
}

task<void> producer_core::start() {
  if (m_options.max_length)
    std::fprintf(stderr,
                 "sluice::redis::to_stream(%s): max_length %zu trims entries whether or not they were acknowledged; "
                 "unprocessed items can be lost. Prefer .capacity for flow control.\n",
                 m_stream.c_str(), m_options.max_length);
  for (const auto& group : m_options.groups) {
    for (;;) {
      command_args args{"XGROUP", "CREATE", m_stream, group, "0", "MKSTREAM"};
      auto rx = m_conn.command(std::move(args));
      auto r = co_await std::move(rx);
      if (!r) {
        co_await transport_failed(r.error());
        continue;
      }
      m_failing_since.reset();
      if (r->is_error() && !r->text().starts_with("BUSYGROUP"))
        throw std::runtime_error("sluice::redis::to_stream: XGROUP CREATE " + m_stream + " " + group + ": " +
                                 describe(*r));
      break;
    }
  }
}

// The largest lag + pending over the stream's groups; the stream's length
// when it has no group yet, or when 7.0 cannot compute a group's lag.
task<std::int64_t> producer_core::unacknowledged() {
  for (;;) {
    std::vector<command_args> cmds;
    cmds.push_back({"XINFO", "GROUPS", m_stream});
    cmds.push_back({"XLEN", m_stream});
    auto rx = m_conn.pipeline(std::move(cmds));
    auto r = co_await std::move(rx);
    if (!r) {
      co_await transport_failed(r.error());
      continue;
    }
    m_failing_since.reset();
    const auto& groups = (*r)[0];
    const std::int64_t length = (*r)[1].integer;
    if (!groups.is_array() || groups.elements.empty()) co_return length;  // ERR no such key, or no group
    std::int64_t worst = 0;
    for (const auto& g : groups.elements) {
      std::int64_t lag = -1, pending = 0;
      for (std::size_t i = 0; i + 1 < g.elements.size(); i += 2) {
        auto key = g.elements[i].text();
        if (key == "lag") lag = g.elements[i + 1].is_nil() ? -1 : g.elements[i + 1].integer;
        if (key == "pending") pending = g.elements[i + 1].integer;
      }
      worst = std::max(worst, lag < 0 ? length : lag + pending);
    }
    co_return worst;
  }
}

task<bool> producer_core::wait_for_room(std::size_t entries, const std::function<bool()>& stopped) {
  if (m_options.capacity == 0) co_return true;
  const auto capacity = static_cast<std::int64_t>(m_options.capacity);
  const auto want = static_cast<std::int64_t>(entries);
  // Acks only lower the count: while the last reading plus what we added
  // since leaves room, no need to ask the server.
  if (m_known_unacked + m_added_since_check + want <= capacity) co_return true;
  auto pause = 1ms;
  bool counted = false;
  for (;;) {
    m_known_unacked = co_await unacknowledged();
    m_added_since_check = 0;
    if (m_known_unacked + want <= capacity) co_return true;
    if (stopped()) co_return false;
    if (!counted) m_stats->backpressure_waits.fetch_add(1, std::memory_order_relaxed);
    counted = true;
    co_await sleep_for(pause);
    pause = std::min(pause * 2, 20ms);
  }
}

task<std::optional<batch_in_flight>> producer_core::send(std::vector<packed_entry>& entries,
                                                         const std::function<bool()>& stopped) {
  if (!co_await wait_for_room(entries.size(), stopped)) co_return std::nullopt;
  batch_in_flight batch;
  batch.entries = entries.size();
  // Straight into one RESP buffer: no argument vectors per entry.
  auto wire = std::make_shared<formatted_commands>();
  std::size_t bytes = 0;
  for (const auto& e : entries) bytes += e.payload.size() + m_stream.size() + m_format.size() + 96;
  wire->wire.reserve(bytes);
  wire->ends.reserve(entries.size());
  char count[24];
  for (const auto& e : entries) {
    const auto [last, ec] = std::to_chars(count, count + sizeof count, e.items);
    wire->begin(m_max_length.empty() ? 11 : 14);
    wire->arg("XADD");
    wire->arg(m_stream);
    if (!m_max_length.empty()) {
      wire->arg("MAXLEN");
      wire->arg("~");
      wire->arg(m_max_length);
    }
    wire->arg("*");
    wire->arg("v");
    wire->arg(envelope_version);
    wire->arg("f");
    wire->arg(m_format);
    wire->arg("n");
    wire->arg(std::string_view(count, static_cast<std::size_t>(last - count)));
    wire->arg("d");
    wire->arg(e.payload);
    wire->end();
    batch.items += e.items;
  }
  batch.commands = std::move(wire);
  entries.clear();
  // Counted when sent: the capacity check stays an upper bound.
  m_added_since_check += static_cast<std::int64_t>(batch.entries);
  batch.replies = m_conn.pipeline(batch.commands);
  co_return std::move(batch);
}

task<void> producer_core::complete(batch_in_flight& batch) {
  for (;;) {
    auto r = co_await std::move(batch.replies);
    if (!r) {
      co_await transport_failed(r.error());
      batch.replies = m_conn.pipeline(batch.commands);
      continue;
    }
    m_failing_since.reset();
    for (const auto& one : *r)
      if (one.is_error()) throw std::runtime_error("sluice::redis::to_stream: XADD " + m_stream + ": " + describe(one));
    break;
  }
  m_stats->entries_added.fetch_add(batch.entries, std::memory_order_relaxed);
  m_stats->items_added.fetch_add(batch.items, std::memory_order_relaxed);
}

task<void> producer_core::mark_end() {
  // The marker is an entry too: it waits for room like any other.
  std::function<bool()> never = [] { return false; };
  co_await wait_for_room(1, never);
  for (;;) {
    command_args args{"EVAL", std::string(scripts::mark_end), "2", m_stream, m_stream + ":ended", m_options.producer};
    auto rx = m_conn.command(std::move(args));
    auto r = co_await std::move(rx);
    if (!r) {
      co_await transport_failed(r.error());
      continue;
    }
    if (r->is_error())
      throw std::runtime_error("sluice::redis::to_stream: end marker on " + m_stream + ": " + describe(*r));
    co_return;
  }
}

}  // namespace sluice::redis::detail
