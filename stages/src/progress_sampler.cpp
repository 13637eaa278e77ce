#include "sluice/stages/detail/progress_sampler.hpp"

#include <algorithm>
#include <exception>
#include <optional>
#include <utility>

#include "sluice/core/sleep.hpp"

namespace sluice::detail {

progress_sampler::progress_sampler(pipeline_state& state, progress_options options,
                                   std::chrono::steady_clock::time_point started)
    : m_state(state), m_options(std::move(options)), m_started(started), m_last(started) {
  if (enabled()) m_previous.resize(state.size());  // a run without progress allocates nothing
  if (m_options.interval.count() > 0 && m_options.interval < std::chrono::milliseconds(1))
    m_options.interval = std::chrono::milliseconds(1);
}

void progress_sampler::start() {
  if (!enabled()) return;
  m_loop.emplace(m_state.rt().spawn(loop()));
}

task<void> progress_sampler::finish(pipeline_report& report) {
  m_stop.request_stop();
  if (m_loop) co_await *m_loop;  // the loop catches everything: this never throws
  if (enabled() && !m_failed) {
    // Named first: g++ 12 destroys temporaries inside a co_await expression twice.
    auto delivered = deliver(take(true));
    co_await std::move(delivered);
  }
  if (m_failed) report.progress_error = m_error;
}

task<void> progress_sampler::loop() {
  const auto token = m_stop.get_token();
  auto deadline = m_started + m_options.interval;
  while (!m_failed) {
    if (!co_await sleep_until(deadline, token)) co_return;
    auto delivered = deliver(take(false));
    co_await std::move(delivered);
    // Keep the cadence; after a callback that outlasted the interval, the
    // next snapshot is one interval after it (no burst of catch-up calls).
    deadline += m_options.interval;
    deadline = std::max(deadline, std::chrono::steady_clock::now());
  }
}

task<void> progress_sampler::deliver(progress_snapshot snapshot) {
  auto call = [this, &snapshot] { m_options.callback(snapshot); };
  try {
    auto done = m_state.rt().spawn_blocking(call);
    co_await std::move(done);
  } catch (const std::exception& e) {
    m_error = std::string("on_progress callback threw: ") + e.what();
    m_failed = true;
  } catch (...) {
    m_error = "on_progress callback threw a non-standard exception";
    m_failed = true;
  }
}

namespace {

// An async stage's calls running now: started (`calls`) minus finished (the
// latency histogram's count), both as at one instant. Read one after the
// other, calls that finished and were replaced between the two reads would
// count twice, more calls than the concurrency allows. So the finished count
// is read before and after the started one: when the two agree it did not
// change in between, and the difference is exact at the moment `started` was
// read. (The histogram's count is a sum of buckets, each only growing, so
// two equal sums still bracket a constant count.) After a few disagreeing
// tries, the later finished count gives a lower bound: never more calls than
// are running. nullopt for a stage that makes no async calls (its in_flight
// is the items it received and has not handled yet).
std::optional<std::uint64_t> calls_running(const stage_stats& s) {
  if (!s.makes_async_calls.load(std::memory_order_relaxed)) return std::nullopt;  // set before any call starts
  std::uint64_t finished = s.latency.count();
  std::uint64_t started = 0;
  for (int attempt = 0; attempt < 8; ++attempt) {
    started = s.calls.load(std::memory_order_acquire);
    const std::uint64_t finished_after = s.latency.count();
    const bool steady = finished_after == finished;
    finished = finished_after;
    if (steady) break;
  }
  return started > finished ? started - finished : 0;
}

}  // namespace

progress_snapshot progress_sampler::take(bool final) {
  const auto now = std::chrono::steady_clock::now();
  progress_snapshot snap;
  snap.elapsed = now - m_started;
  snap.interval = now - m_last;
  snap.sequence = m_sequence++;
  snap.final = final;
  m_last = now;
  const double seconds = std::max(1e-9, std::chrono::duration<double>(snap.interval).count());
  const auto interval_ns = static_cast<double>(std::max<std::int64_t>(1, snap.interval.count()));
  snap.stages.reserve(m_state.size());
  for (std::size_t i = 0; i < m_state.size(); ++i) {
    const auto& s = m_state.stats(i);
    const auto& info = m_state.info(i);
    stage_progress p;
    p.name = info.name;
    p.kind = info.kind;
    s.copy_counters(p);  // outcomes before inputs: see copy_counters
    const std::uint64_t outcomes = p.items_out + p.dropped + p.failed + p.cancelled;
    p.in_flight = p.items_in > outcomes ? p.items_in - outcomes : 0;
    if (const auto running = calls_running(s)) p.in_flight = *running;
    p.queue_depth = static_cast<std::size_t>(std::max<std::int64_t>(0, s.input.depth.load(std::memory_order_relaxed)));
    p.queue_capacity = info.capacity;
    // The depth counter is updated just after a send and just after a
    // receive, so a chunk in transit can briefly count twice: never report
    // more than the channel can hold.
    if (p.queue_capacity != 0) p.queue_depth = std::min(p.queue_depth, p.queue_capacity);

    auto& prev = m_previous[i];
    p.rate = static_cast<double>(p.items_out - std::min(p.items_out, prev.items_out)) / seconds;
    const auto busy = s.busy_ns.load(std::memory_order_relaxed);
    const auto share = std::max<std::uint32_t>(1, s.busy_share.load(std::memory_order_relaxed));
    p.busy_share = std::clamp(static_cast<double>(busy - prev.busy_ns) / (interval_ns * share), 0.0, 1.0);
    prev = {.items_out = p.items_out, .busy_ns = busy};
    snap.stages.push_back(std::move(p));
  }
  return snap;
}

}  // namespace sluice::detail
