#include <algorithm>
#include <deque>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include <hiredis/hiredis.h>

#include "sluice/core/sleep.hpp"
#include "sluice/redis/detail/consumer_core.hpp"
#include "sluice/redis/stream_scripts.hpp"

namespace sluice::redis::detail {
namespace {

using namespace std::chrono_literals;

// Entries of an XREADGROUP/XCLAIM/XAUTOCLAIM reply: [[id, [f, v, ...] or nil], ...].
// A nil field list is an entry deleted (XDEL) while pending: `vanished`.
void parse_entries(const reply& list, entry_list& out, std::vector<std::string>* vanished) {
  if (!list.is_array()) return;
  std::size_t fields = 0, bytes = 0;
  for (const auto& e : list.elements) {
    if (!e.is_array() || e.elements.size() < 2) continue;
    bytes += e.elements[0].str.size();
    for (const auto& f : e.elements[1].elements) bytes += f.str.size();
    fields += e.elements[1].elements.size() / 2;
  }
  out.reserve(list.elements.size(), fields, bytes);
  for (const auto& e : list.elements) {
    if (!e.is_array() || e.elements.size() < 2 || e.elements[0].text().empty()) continue;
    const auto& f = e.elements[1];
    if (!f.is_array()) {
      if (vanished) vanished->push_back(e.elements[0].str);
      continue;
    }
    out.add(e.elements[0].str);
    for (std::size_t i = 0; i + 1 < f.elements.size(); i += 2) out.add_field(f.elements[i].str, f.elements[i + 1].str);
  }
  out.finish();
}

// The same straight from hiredis's XREADGROUP reply ([[stream, entries]],
// or nil when the BLOCK time passed), on the reactor thread: no reply tree,
// every id and field copied into one chunk of the list (sized beforehand).
// Deleted entries cannot appear for ">" reads.
void parse_read_reply(const redisReply& r, entry_list& out) {
  if (r.type != REDIS_REPLY_ARRAY || r.elements == 0) return;
  const redisReply* s = r.element[0];
  if (s->type != REDIS_REPLY_ARRAY || s->elements != 2) return;
  const redisReply* list = s->element[1];
  if (list->type != REDIS_REPLY_ARRAY) return;
  auto usable = [](const redisReply* e) {
    return e->type == REDIS_REPLY_ARRAY && e->elements >= 2 && e->element[0]->type == REDIS_REPLY_STRING &&
           e->element[0]->len > 0 && e->element[1]->type == REDIS_REPLY_ARRAY;
  };
  std::size_t fields = 0, bytes = 0;
  for (std::size_t k = 0; k < list->elements; ++k) {
    const redisReply* e = list->element[k];
    if (!usable(e)) continue;
    bytes += e->element[0]->len;
    const redisReply* f = e->element[1];
    for (std::size_t i = 0; i < f->elements; ++i)
      if (f->element[i]->type == REDIS_REPLY_STRING) bytes += f->element[i]->len;
    fields += f->elements / 2;
  }
  out.reserve(list->elements, fields, bytes);
  for (std::size_t k = 0; k < list->elements; ++k) {
    const redisReply* e = list->element[k];
    if (!usable(e)) continue;
    out.add(std::string_view(e->element[0]->str, e->element[0]->len));
    const redisReply* f = e->element[1];
    for (std::size_t i = 0; i + 1 < f->elements; i += 2) {
      const redisReply* key = f->element[i];
      const redisReply* value = f->element[i + 1];
      if (key->type != REDIS_REPLY_STRING || value->type != REDIS_REPLY_STRING) continue;
      out.add_field(std::string_view(key->str, key->len), std::string_view(value->str, value->len));
    }
  }
  out.finish();
}

[[noreturn]] void server_error(const std::string& what, const reply& r) {
  throw std::runtime_error("sluice::redis: " + what + ": " + describe(r));
}

// "ms-seq" ordering for ids (both parts fit in 64 bits).
std::pair<std::uint64_t, std::uint64_t> split_id(std::string_view id) {
  auto dash = id.find('-');
  std::uint64_t ms = 0, seq = 0;
  for (char c : id.substr(0, dash)) ms = ms * 10 + static_cast<std::uint64_t>(c - '0');
  if (dash != std::string_view::npos)
    for (char c : id.substr(dash + 1)) seq = seq * 10 + static_cast<std::uint64_t>(c - '0');
  return {ms, seq};
}

// One XINFO GROUPS entry (a flat key/value array in RESP2).
struct group_info {
  std::int64_t pending = 0;
  std::int64_t lag = -1;  // -1: the server could not compute it (nil)
  std::string last_delivered;
};

std::optional<group_info> find_group(const reply& groups, const std::string& name) {
  if (!groups.is_array()) return std::nullopt;
  for (const auto& g : groups.elements) {
    group_info info;
    bool match = false;
    for (std::size_t i = 0; i + 1 < g.elements.size(); i += 2) {
      auto key = g.elements[i].text();
      const auto& v = g.elements[i + 1];
      if (key == "name")
        match = v.text() == name;
      else if (key == "pending")
        info.pending = v.integer;
      else if (key == "lag")
        info.lag = v.is_nil() ? -1 : v.integer;
      else if (key == "last-delivered-id")
        info.last_delivered = v.str;
    }
    if (match) return info;
  }
  return std::nullopt;
}

connection_options blocking_options(const from_stream_options& o) {
  auto c = o.connection;
  c.timeout = o.block + c.timeout;
  return c;
}

std::string ms(std::chrono::milliseconds d) { return std::to_string(d.count()); }

}  // namespace

read_batch::read_batch(std::shared_ptr<consumer_core> core, entry_list entries)
    : refreshed(std::chrono::steady_clock::now()),
      m_core(std::move(core)),
      m_list(std::move(entries)),
      m_slots(std::make_unique<entry_slot[]>(m_list.size())),
      m_open(m_list.size() + 1) {}

void read_batch::deliver(std::size_t i, std::uint32_t items) {
  m_slots[i].remaining.store(items, std::memory_order_relaxed);
  m_slots[i].st.store(state::delivered, std::memory_order_release);
}

void read_batch::settle(std::size_t i) { finish(i, state::settled); }

void read_batch::release() {
  for (std::size_t i = 0; i < m_list.size(); ++i) {
    if (state_of(i) != state::held) continue;
    // Read for us but never handed downstream: redelivered (or handed back by settle()).
    try {
      m_core->give_back(m_list.entries()[i].id, false);
    } catch (...) {
      // Out of memory: the entry stays pending here and is claimed once idle.
    }
    finish(i, state::settled);
  }
  if (m_open.fetch_sub(1, std::memory_order_acq_rel) == 1) done();
}

// The last entry is settled. The batch may be destroyed in batch_done (its
// acks formatted, nothing else owns it), and with it possibly the last owner
// of the core: a local owner keeps the core alive until batch_done returns.
void read_batch::done() {
  auto core = m_core;
  core->batch_done(shared_from_this());
}

void read_batch::resolve(std::uint32_t i, bool ok, std::string_view reason) noexcept {
  auto& s = m_slots[i];
  try {
    if (!ok && !s.failed.exchange(true, std::memory_order_acq_rel))
      m_core->note_failure(m_list.entries()[i].id, reason.empty() ? std::string_view("item not taken") : reason);
    if (s.remaining.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    if (s.failed.load(std::memory_order_acquire)) {
      m_core->give_back(m_list.entries()[i].id, true);
      finish(i, state::given_back);
    } else {
      finish(i, state::taken);
    }
  } catch (...) {
    // Out of memory while queueing: the entry stays pending and is claimed later.
  }
}

void read_batch::finish(std::size_t i, state st) {
  m_slots[i].st.store(st, std::memory_order_release);
  if (m_open.fetch_sub(1, std::memory_order_acq_rel) == 1) done();
}

consumer_core::consumer_core(runtime& rt, endpoint ep, std::string stream, std::string group, std::string consumer,
                             from_stream_options options)
    : m_rt(&rt),
      m_stream(std::move(stream)),
      m_group(std::move(group)),
      m_consumer(std::move(consumer)),
      m_options(std::move(options)),
      m_stats(m_options.stats ? m_options.stats : std::make_shared<stream_stats>()),
      m_conn(rt, ep, m_options.connection),
      m_block_conn(rt, ep, blocking_options(m_options)) {
  if (m_options.batch == 0) m_options.batch = 1;
  if (m_options.keepalive.count() <= 0) m_options.keepalive = std::max(m_options.claim_idle / 3, 1ms);
  if (m_options.dead_letter_stream.empty()) m_options.dead_letter_stream = m_stream + ":dead";
  if (m_options.max_deliveries == 0) m_options.max_deliveries = 1;
  m_stats->stream = m_stream;
  m_stats->group = m_group;
  m_stats->consumer = m_consumer;
}

consumer_core::~consumer_core() { stop_keepalive(); }

task<void> consumer_core::transport_failed(const error& e) {
  m_stats->transport_errors.fetch_add(1, std::memory_order_relaxed);
  auto now = clock::now();
  if (!m_failing_since) m_failing_since = now;
  if (now - *m_failing_since > m_options.give_up_after)
    throw std::runtime_error("sluice::redis::from_stream(" + m_stream + "): giving up after " +
                             ms(m_options.give_up_after) + " ms without the server: " + e.message);
  co_await sleep_for(std::min<std::chrono::milliseconds>(m_options.block, 100ms));
}

task<void> consumer_core::start() {
  start_keepalive();
  // XGROUP CREATE ... MKSTREAM never answers NOGROUP, so this does not recurse.
  command_args args{"XGROUP", "CREATE", m_stream, m_group, "0", "MKSTREAM"};
  while (!co_await group_command(m_conn, args, "XGROUP CREATE", "BUSYGROUP")) {
  }
}

// The one place a group command's outcome is classified:
//  * transport error (connection lost, timeout, server loading): counted,
//    paused on, and reported as nullopt (throws after give_up_after);
//  * NOGROUP (the group or the stream vanished: a server restarted without
//    persistence, or someone deleted it): the group is created again and
//    nullopt reported, so the caller's next round starts afresh;
//  * any other error reply, unless it starts with `tolerated`: the stage fails
//    with the command and the server's text;
//  * otherwise the reply.
// A caller that must not move on without an answer loops while nullopt.
task<std::optional<reply>> consumer_core::group_command(const connection& conn, const command_args& args,
                                                        std::string_view verb, std::string_view tolerated) {
  auto rx = conn.command(args);
  co_return co_await group_reply(std::move(rx), verb, tolerated);
}

task<std::optional<reply>> consumer_core::group_reply(oneshot_receiver<result<reply>> rx, std::string_view verb,
                                                      std::string_view tolerated) {
  auto r = co_await std::move(rx);
  if (!r) {
    co_await transport_failed(r.error());
    co_return std::nullopt;
  }
  transport_ok();
  if (r->is_error() && (tolerated.empty() || !r->text().starts_with(tolerated))) {
    if (r->text().starts_with("NOGROUP")) {
      co_await start();
      co_return std::nullopt;
    }
    server_error(std::string(verb) + " on " + m_stream, *r);
  }
  co_return std::move(*r);
}

void consumer_core::requeue(std::vector<std::string>& ids) {
  std::lock_guard lock(m_mutex);
  for (auto& id : ids) m_retries.push_back({std::move(id), clock::now() + m_options.redeliver_after});
}

bool consumer_core::is_in_flight(std::string_view id) const {
  std::lock_guard lock(m_mutex);
  for (const auto& b : m_held)
    for (std::size_t i = 0; i < b->size(); ++i)
      if (b->holds(i) && b->entry_id(static_cast<std::uint32_t>(i)) == id) return true;
  return false;
}

std::shared_ptr<read_batch> consumer_core::hold(entry_list entries) {
  if (entries.empty()) return nullptr;
  // From the reactor too (a read's parse callback): never throws bad_weak_ptr.
  auto self = weak_from_this().lock();
  if (!self) return nullptr;
  auto b = std::make_shared<read_batch>(std::move(self), std::move(entries));
  std::lock_guard lock(m_mutex);
  m_held.push_back(b);
  return b;
}

task<std::shared_ptr<read_batch>> consumer_core::next() {
  co_await maintenance();
  entry_list out;
  if (m_recovering) {
    out = co_await read_own_pending();
    if (!out.empty()) co_return hold(std::move(out));
  }
  out = co_await redeliver_due();
  if (!out.empty()) co_return hold(std::move(out));
  if (clock::now() >= m_next_claim) {
    out = co_await autoclaim();
    if (!out.empty()) co_return hold(std::move(out));
  }
  co_return co_await read_new();
}

// A restarted worker (same consumer name) first re-reads what it had.
task<entry_list> consumer_core::read_own_pending() {
  command_args args{"XREADGROUP", "GROUP",  m_group,     m_consumer, "COUNT", std::to_string(m_options.batch),
                    "STREAMS",    m_stream, m_own_cursor};
  auto r = co_await group_command(m_conn, args, "XREADGROUP (own pending)");
  entry_list out;
  if (!r) co_return out;
  std::vector<std::string> vanished;
  std::size_t seen = 0;
  if (r->is_array() && !r->elements.empty() && r->elements[0].elements.size() == 2)
    seen = r->elements[0].elements[1].elements.size();
  if (seen == 0) {
    m_recovering = false;
    co_return out;
  }
  m_own_cursor = r->elements[0].elements[1].elements.back().elements[0].str;
  parse_entries(r->elements[0].elements[1], out, &vanished);
  if (!vanished.empty()) {
    // Deleted while pending: nothing to process, and XACK clears the pending slot.
    command_args ack{"XACK", m_stream, m_group};
    ack.insert(ack.end(), vanished.begin(), vanished.end());
    auto arx = m_conn.command(std::move(ack));
    (void)co_await std::move(arx);
  }
  co_await fill_delivery_counts(out.entries());
  for (auto& e : out.entries())
    if (e.deliveries > 1) m_stats->redelivered.fetch_add(1, std::memory_order_relaxed);
  co_return out;
}

task<entry_list> consumer_core::redeliver_due() {
  std::vector<std::string> ids;
  {
    std::lock_guard lock(m_mutex);
    auto now = clock::now();
    while (!m_retries.empty() && m_retries.front().due <= now && ids.size() < m_options.batch) {
      ids.push_back(std::move(m_retries.front().id));
      m_retries.pop_front();
    }
  }
  entry_list out;
  if (ids.empty()) co_return out;
  // XCLAIM to ourselves with min-idle 0 re-delivers and counts a delivery.
  command_args args{"XCLAIM", m_stream, m_group, m_consumer, "0"};
  args.insert(args.end(), ids.begin(), ids.end());
  std::optional<reply> r;
  try {
    r = co_await group_command(m_conn, args, "XCLAIM");
  } catch (...) {
    requeue(ids);
    throw;
  }
  if (!r) {
    requeue(ids);
    co_return out;
  }
  parse_entries(*r, out, nullptr);
  co_await fill_delivery_counts(out.entries());
  m_stats->redelivered.fetch_add(out.size(), std::memory_order_relaxed);
  co_return out;
}

task<entry_list> consumer_core::autoclaim() {
  m_next_claim = clock::now() + m_options.claim_interval;
  command_args args{"XAUTOCLAIM",
                    m_stream,
                    m_group,
                    m_consumer,
                    ms(m_options.claim_idle),
                    m_claim_cursor,
                    "COUNT",
                    std::to_string(m_options.batch)};
  auto r = co_await group_command(m_conn, args, "XAUTOCLAIM");
  entry_list out;
  if (!r) co_return out;
  if (!r->is_array() || r->elements.size() < 2) co_return out;
  m_claim_cursor = r->elements[0].str.empty() ? "0-0" : r->elements[0].str;
  // More to claim: come back at once rather than after claim_interval.
  if (m_claim_cursor != "0-0") m_next_claim = clock::now();
  parse_entries(r->elements[1], out, nullptr);
  // Our own slow entries can be idle too (a keepalive was late): we still
  // hold them, so do not deliver them twice.
  std::erase_if(out.entries(), [this](const raw_entry& e) { return is_in_flight(e.id); });
  co_await fill_delivery_counts(out.entries());
  m_stats->claimed.fetch_add(out.size(), std::memory_order_relaxed);
  m_stats->redelivered.fetch_add(out.size(), std::memory_order_relaxed);
  co_return out;
}

// A full batch means more is probably waiting: the next XREADGROUP is sent
// at once (a prefetch, on the blocking connection) so its round trip and the
// reactor/arena hand-offs overlap with the processing of this batch (up to
// reads_ahead reads queued at the server; see the header).
// Prefetched entries are delivered to this consumer on the server: they are
// held (kept alive) from the moment their reply is parsed, and settle()
// hands them back if the source ends before taking them.
task<std::shared_ptr<read_batch>> consumer_core::read_new() {
  auto read = m_prefetch.empty() ? send_read() : take_front(m_prefetch);
  auto r = co_await group_reply(std::move(read.outcome), "XREADGROUP");
  auto batch = std::move(*read.batch);
  if (!r) {
    if (batch) batch->release();  // cannot happen (parsed replies are not errors); never strand a batch
    co_return nullptr;
  }
  if (batch && batch->size() >= m_options.batch && m_options.prefetch)
    while (m_prefetch.size() < reads_ahead) m_prefetch.push_back(send_read());
  co_return batch;
}

task<std::shared_ptr<read_batch>> consumer_core::take_prefetched() {
  while (!m_prefetch.empty()) {
    auto read = take_front(m_prefetch);
    (void)co_await std::move(read.outcome);
    if (auto batch = std::move(*read.batch)) co_return batch;
  }
  co_return nullptr;
}

consumer_core::pending_read consumer_core::take_front(std::deque<pending_read>& reads) {
  auto read = std::move(reads.front());
  reads.pop_front();
  return read;
}

consumer_core::pending_read consumer_core::send_read() {
  command_args args{
      "XREADGROUP",        "GROUP",   m_group,  m_consumer, "COUNT", std::to_string(m_options.batch), "BLOCK",
      ms(m_options.block), "STREAMS", m_stream, ">"};
  auto slot = std::make_shared<std::shared_ptr<read_batch>>();
  // Parsed and held on the reactor thread, before the reply is handed over:
  // the keepalive covers the entries from then on, even while prefetched.
  // The source awaits every read it sends, so the core outlives the callback.
  auto rx = m_block_conn.command_parsed(args, [this, slot](const redisReply& r) {
    try {
      entry_list entries;
      parse_read_reply(r, entries);
      *slot = hold(std::move(entries));
    } catch (...) {
      // Out of memory: the entries stay pending here and are claimed once idle.
    }
  });
  return pending_read{std::move(rx), std::move(slot)};
}

// Delivery counts of re-read or claimed entries come from the pending list.
task<void> consumer_core::fill_delivery_counts(std::vector<raw_entry>& entries) {
  if (entries.empty()) co_return;
  std::string_view lo = entries.front().id, hi = entries.front().id;
  for (auto& e : entries) {
    if (split_id(e.id) < split_id(lo)) lo = e.id;
    if (split_id(e.id) > split_id(hi)) hi = e.id;
  }
  command_args args{"XPENDING",      m_stream,        m_group,
                    std::string(lo), std::string(hi), std::to_string(entries.size() * 4 + 64),
                    m_consumer};
  auto rx = m_conn.command(std::move(args));
  auto r = co_await std::move(rx);
  if (!r || !r->is_array()) co_return;  // counts unknown: deliveries stay 1 (a later delivery counts again)
  std::unordered_map<std::string_view, std::uint64_t> counts;
  for (const auto& p : r->elements)
    if (p.is_array() && p.elements.size() >= 4)
      counts[p.elements[0].str] = static_cast<std::uint64_t>(p.elements[3].integer);
  for (auto& e : entries)
    if (auto it = counts.find(e.id); it != counts.end()) e.deliveries = it->second;
}

void consumer_core::count_delivered(std::size_t entries, std::size_t items) {
  m_stats->entries_delivered.fetch_add(entries, std::memory_order_relaxed);
  m_stats->items_delivered.fetch_add(items, std::memory_order_relaxed);
}

void consumer_core::note_failure(std::string_view id, std::string_view reason) {
  std::lock_guard lock(m_mutex);
  auto it = m_failures.find(id);
  if (it != m_failures.end())
    it->second = std::string(reason.substr(0, 1000));
  else if (m_failures.size() < 10'000)
    m_failures.emplace(std::string(id), std::string(reason.substr(0, 1000)));
}

void consumer_core::give_back(std::string_view id, bool count_nack) {
  {
    std::lock_guard lock(m_mutex);
    m_retries.push_back(
        {std::string(id), clock::now() + (count_nack ? m_options.redeliver_after : clock::duration::zero())});
  }
  if (count_nack) m_stats->nacked.fetch_add(1, std::memory_order_relaxed);
}

// Every entry of `batch` is settled: it is no longer held, and its taken
// entries are acknowledged together.
void consumer_core::batch_done(std::shared_ptr<read_batch> batch) {
  bool taken = false;
  for (std::size_t i = 0; i < batch->size() && !taken; ++i) taken = batch->state_of(i) == read_batch::state::taken;
  {
    std::lock_guard lock(m_mutex);
    auto it = std::find(m_held.begin(), m_held.end(), batch);
    if (it != m_held.end()) {
      *it = std::move(m_held.back());
      m_held.pop_back();
    }
    if (taken && !m_failures.empty())
      for (std::size_t i = 0; i < batch->size(); ++i)
        if (batch->state_of(i) == read_batch::state::taken)
          if (auto f = m_failures.find(batch->entry_id(static_cast<std::uint32_t>(i))); f != m_failures.end())
            m_failures.erase(f);
    if (taken) m_ack_queue.push_back(std::move(batch));
  }
  if (taken) flush_acks();
}

std::string consumer_core::failure_of(std::string_view id) const {
  std::lock_guard lock(m_mutex);
  auto it = m_failures.find(id);
  return it == m_failures.end() ? std::string() : it->second;
}

// Taken entries of settled batches pile up while one XACK is in flight and
// go out together in the next (one XACK per read batch at least; under load
// one carries several batches), formatted straight from the batches. End
// markers are acknowledged by an XACK of their own in the same round trip,
// so `acked` counts only entries that were delivered downstream (acked <=
// entries_delivered always holds; the markers are counted in end_markers).
void consumer_core::flush_acks() {
  std::vector<std::shared_ptr<read_batch>> batches;
  std::vector<std::string> markers;
  std::shared_ptr<const formatted_commands> wire;
  bool counts = false;
  {
    std::lock_guard lock(m_mutex);
    if (m_ack_in_flight || (m_ack_queue.empty() && m_marker_queue.empty() && !m_ack_resend)) return;
    m_ack_in_flight = true;
    if (m_ack_resend) {
      // XACK is idempotent: a resend after a broken connection is safe.
      wire = std::exchange(m_ack_resend, nullptr);
      counts = m_ack_resend_counts;
    } else {
      batches.swap(m_ack_queue);
      markers.swap(m_marker_queue);
    }
  }
  if (!wire) {
    auto cmds = std::make_shared<formatted_commands>();
    std::size_t ids = 0;
    for (const auto& b : batches)
      for (std::size_t i = 0; i < b->size(); ++i) ids += b->state_of(i) == read_batch::state::taken;
    if (ids > 0) {
      cmds->wire.reserve(64 + 32 * ids);
      cmds->begin(3 + ids);
      cmds->arg("XACK");
      cmds->arg(m_stream);
      cmds->arg(m_group);
      for (const auto& b : batches)
        for (std::size_t i = 0; i < b->size(); ++i)
          if (b->state_of(i) == read_batch::state::taken) cmds->arg(b->entry_id(static_cast<std::uint32_t>(i)));
      cmds->end();
      counts = true;
    }
    if (!markers.empty()) {
      cmds->begin(3 + markers.size());
      cmds->arg("XACK");
      cmds->arg(m_stream);
      cmds->arg(m_group);
      for (const auto& id : markers) cmds->arg(id);
      cmds->end();
    }
    wire = std::move(cmds);
  }
  batches.clear();  // here, not on the reactor: the last batch may own the core
  std::weak_ptr<consumer_core> weak = weak_from_this();
  m_conn.send(wire, {}, [weak, wire, counts](result<std::vector<reply>> r) mutable {
    auto self = weak.lock();
    if (!self) return;
    const bool failed = !r || std::any_of(r->begin(), r->end(), [](const reply& x) { return x.is_error(); });
    bool again = false;
    {
      std::lock_guard lock(self->m_mutex);
      self->m_ack_in_flight = false;
      if (failed) {
        // Kept for the next flush (the source loop retries); if we die
        // first the entries are redelivered: at-least-once.
        self->m_ack_resend = std::move(wire);
        self->m_ack_resend_counts = counts;
      } else {
        again = !self->m_ack_queue.empty() || !self->m_marker_queue.empty();
      }
    }
    if (failed) {
      self->m_stats->transport_errors.fetch_add(1, std::memory_order_relaxed);
    } else if (counts) {
      // The server's count: an entry another worker acked first (after a
      // claim) is not counted twice.
      self->m_stats->acked.fetch_add(static_cast<std::uint64_t>(r->front().integer), std::memory_order_relaxed);
    }
    if (again) self->flush_acks();
  });
}

void consumer_core::end_marker(std::string_view id) {
  m_stats->end_markers.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard lock(m_mutex);
    m_marker_queue.emplace_back(id);
  }
  flush_acks();
}

task<void> consumer_core::dead_letter(const raw_entry& e, const std::string& reason) {
  command_args args{"EVAL",
                    std::string(scripts::dead_letter),
                    "2",
                    m_stream,
                    m_options.dead_letter_stream,
                    m_group,
                    std::string(e.id),
                    reason,
                    std::to_string(e.deliveries),
                    m_consumer};
  for (const auto& [k, v] : e.fields) {
    args.emplace_back(k);
    args.emplace_back(v);
  }
  std::optional<reply> r;
  const std::string verb = "dead-lettering " + std::string(e.id);
  while (!(r = co_await group_command(m_conn, args, verb))) {
  }
  if (r->integer == 1) m_stats->dead_lettered.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(m_mutex);
  if (auto it = m_failures.find(e.id); it != m_failures.end()) m_failures.erase(it);
}

task<void> consumer_core::maintenance() {
  flush_acks();  // retries acks a broken connection sent back
  auto now = clock::now();
  if (m_options.trim && now >= m_next_trim) {
    m_next_trim = now + m_options.trim_interval;
    co_await trim();
  }
  if (now >= m_next_info) {
    m_next_info = now + 500ms;
    co_await refresh_group_info();
  }
}

// Entries held here (prefetched, waiting in the read loop, downstream, or
// taken and waiting for their batch's XACK): their idle time is reset without
// counting a delivery, so no other worker claims them. A reactor timer, not
// the read loop, drives it: the loop may be blocked for long in a send to a
// slow stage, which is exactly when the refresh matters.
void consumer_core::start_keepalive() {
  if (m_keepalive) return;
  m_keepalive = std::make_shared<keepalive_link>();
  m_keepalive->core = this;
  auto link = m_keepalive;
  m_rt->io().add_timer(clock::now() + std::max<clock::duration>(m_options.keepalive / 2, 1ms),
                       [link] { keepalive_tick(link); });
}

void consumer_core::stop_keepalive() {
  if (!m_keepalive) return;
  std::lock_guard lock(m_keepalive->mutex);
  m_keepalive->core = nullptr;
}

void consumer_core::keepalive_tick(const std::shared_ptr<keepalive_link>& link) {
  std::lock_guard link_lock(link->mutex);
  consumer_core* self = link->core;
  if (!self) return;  // stopped: the timer is not re-armed
  try {
    std::vector<std::string> ids;
    {
      std::lock_guard lock(self->m_mutex);
      auto now = clock::now();
      for (auto& b : self->m_held) {
        if (now - b->refreshed < self->m_options.keepalive) continue;
        b->refreshed = now;
        for (std::size_t i = 0; i < b->size(); ++i)
          if (b->holds(i)) ids.emplace_back(b->entry_id(static_cast<std::uint32_t>(i)));
        if (ids.size() >= 1000) break;
      }
    }
    if (!ids.empty()) {
      std::vector<command_args> cmds(1);
      auto& args = cmds.front();
      args.reserve(ids.size() + 6);
      args.insert(args.end(), {"XCLAIM", self->m_stream, self->m_group, self->m_consumer, "0"});
      args.insert(args.end(), std::make_move_iterator(ids.begin()), std::make_move_iterator(ids.end()));
      args.emplace_back("JUSTID");
      self->m_conn.send(cmds, {}, [stats = self->m_stats, n = ids.size()](result<std::vector<reply>> r) {
        if (r && !r->empty() && !r->front().is_error()) stats->keepalives.fetch_add(n, std::memory_order_relaxed);
      });
    }
  } catch (...) {
    // Out of memory: try again at the next tick.
  }
  self->m_rt->io().add_timer(clock::now() + std::max<clock::duration>(self->m_options.keepalive / 2, 1ms),
                             [link] { keepalive_tick(link); });
}

task<void> consumer_core::trim() {
  command_args args{"EVAL", std::string(scripts::trim_acknowledged), "1", m_stream};
  auto rx = m_conn.command(std::move(args));
  auto r = co_await std::move(rx);
  if (r && r->type == reply::kind::integer && r->integer > 0)
    m_stats->trimmed.fetch_add(static_cast<std::uint64_t>(r->integer), std::memory_order_relaxed);
}

task<void> consumer_core::refresh_group_info() {
  command_args args{"XINFO", "GROUPS", m_stream};
  auto rx = m_conn.command(std::move(args));
  auto r = co_await std::move(rx);
  if (!r || r->is_error()) co_return;
  if (auto g = find_group(*r, m_group)) {
    m_stats->lag.store(g->lag, std::memory_order_relaxed);
    m_stats->pending.store(g->pending, std::memory_order_relaxed);
  }
}

task<bool> consumer_core::drained() {
  {
    std::lock_guard lock(m_mutex);
    if (!m_held.empty() || !m_retries.empty() || !m_ack_queue.empty() || !m_marker_queue.empty() || m_ack_in_flight ||
        m_ack_resend)
      co_return false;
  }
  std::vector<command_args> cmds;
  cmds.push_back({"SCARD", m_stream + ":ended"});
  cmds.push_back({"XINFO", "GROUPS", m_stream});
  cmds.push_back({"XINFO", "STREAM", m_stream});
  auto rx = m_conn.pipeline(std::move(cmds));
  auto r = co_await std::move(rx);
  if (!r) {
    co_await transport_failed(r.error());
    co_return false;
  }
  transport_ok();
  const auto& replies = *r;
  auto g = find_group(replies[1], m_group);
  if (!g) co_return false;
  // 7.0 reports lag as nil when it cannot compute it (entries deleted with
  // XDEL after the group's position): then compare the group's position
  // with the stream's last id.
  std::int64_t lag = g->lag;
  if (lag < 0 && replies[2].is_array()) {
    const auto& s = replies[2].elements;
    for (std::size_t i = 0; i + 1 < s.size(); i += 2)
      if (s[i].text() == "last-generated-id") lag = s[i + 1].str == g->last_delivered ? 0 : 1;
  }
  m_stats->lag.store(g->lag, std::memory_order_relaxed);
  m_stats->pending.store(g->pending, std::memory_order_relaxed);
  if (!m_options.wait_for_end) co_return false;
  if (!m_all_ended) m_all_ended = replies[0].integer >= static_cast<long long>(m_options.producers);
  co_return m_all_ended&& lag == 0 && g->pending == 0;
}

task<void> consumer_core::settle() {
  // Read for us but never delivered downstream (a hard stop): returned, so
  // handed back below with the rest.
  while (auto prefetched = co_await take_prefetched()) prefetched->release();
  auto deadline = clock::now() + m_options.settle_timeout;
  for (;;) {
    bool idle = false;
    {
      std::lock_guard lock(m_mutex);
      idle = m_held.empty() && m_ack_queue.empty() && m_marker_queue.empty() && !m_ack_in_flight && !m_ack_resend;
    }
    if (idle || clock::now() >= deadline) break;
    flush_acks();
    co_await sleep_for(2ms);
  }
  // No more refreshes: they would undo the hand-back below.
  stop_keepalive();
  // Whatever is left (given back, or still held by a stage that did not
  // finish) becomes claimable at once: idle time set beyond claim_idle,
  // without counting a delivery. Taken entries of a batch that did not
  // finish are acknowledged now.
  std::vector<std::string> ids, taken;
  {
    std::lock_guard lock(m_mutex);
    for (auto& r : m_retries) ids.push_back(r.id);
    m_retries.clear();
    for (const auto& b : m_held)
      for (std::size_t i = 0; i < b->size(); ++i) {
        auto st = b->state_of(i);
        if (st == read_batch::state::taken)
          taken.emplace_back(b->entry_id(static_cast<std::uint32_t>(i)));
        else if (st == read_batch::state::held || st == read_batch::state::delivered)
          ids.emplace_back(b->entry_id(static_cast<std::uint32_t>(i)));
      }
  }
  if (!taken.empty()) {
    command_args args{"XACK", m_stream, m_group};
    args.insert(args.end(), taken.begin(), taken.end());
    auto rx = m_conn.command(std::move(args));
    auto r = co_await std::move(rx);
    if (r && r->type == reply::kind::integer)
      m_stats->acked.fetch_add(static_cast<std::uint64_t>(r->integer), std::memory_order_relaxed);
  }
  if (!ids.empty()) {
    command_args args{"XCLAIM", m_stream, m_group, m_consumer, "0"};
    args.insert(args.end(), ids.begin(), ids.end());
    args.insert(args.end(), {"IDLE", std::to_string(m_options.claim_idle.count() + 1000), "JUSTID"});
    auto rx = m_conn.command(std::move(args));
    (void)co_await std::move(rx);
  }
  co_await refresh_group_info();
}

}  // namespace sluice::redis::detail
