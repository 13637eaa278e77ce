#include "sluice/stages/watchdog.hpp"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "run_join.hpp"
#include "sluice/core/detail/os_thread_name.hpp"
#include "sluice/core/detail/thread_activity.hpp"
#include "sluice/core/json.hpp"
#include "sluice/core/trace.hpp"
#include "sluice/core/wait_note.hpp"
#include "sluice/stages/detail/pipeline_state.hpp"

namespace sluice {
namespace detail {

// How long each thread of a runtime has been inside its current job, as
// far as periodic samples tell (see core's detail/thread_activity.hpp): a
// thread seen in the same job at two samples has been in it at least
// since the first. The stall watchdog samples on every check; a
// run_monitor keeps the run's instance (declared in watchdog.hpp).
class job_clock {
 public:
  explicit job_clock(std::uint64_t runtime_id) noexcept : m_runtime(runtime_id) {}
  /// Records which job each of the runtime's threads is in now.
  void sample(std::chrono::steady_clock::time_point now);
  /// When thread `thread_id` was first seen in job `job`, if it was.
  [[nodiscard]] std::optional<std::chrono::steady_clock::time_point> in_job_since(std::int64_t thread_id,
                                                                                  std::uint64_t job) const;

 private:
  struct seen {
    std::int64_t thread_id;
    std::uint64_t job;
    std::chrono::steady_clock::time_point since;
  };
  const std::uint64_t m_runtime;
  mutable std::mutex m_mutex;
  std::vector<seen> m_seen;  // threads in a job at the last sample
};

void job_clock::sample(std::chrono::steady_clock::time_point now) {
  std::vector<seen> next;
  for (const auto& w : thread_activity_views()) {
    if (w.runtime != m_runtime || !w.in_job()) continue;
    next.push_back({w.thread_id, w.job, now});
  }
  std::lock_guard lock(m_mutex);
  for (auto& n : next) {
    for (const auto& s : m_seen)
      if (s.thread_id == n.thread_id && s.job == n.job) n.since = s.since;
  }
  m_seen = std::move(next);
}

std::optional<std::chrono::steady_clock::time_point> job_clock::in_job_since(std::int64_t thread_id,
                                                                             std::uint64_t job) const {
  std::lock_guard lock(m_mutex);
  for (const auto& s : m_seen)
    if (s.thread_id == thread_id && s.job == job) return s.since;
  return std::nullopt;
}

namespace {

using clock = std::chrono::steady_clock;

std::string seconds_text(std::chrono::nanoseconds d) {
  char buf[48];
  const double s = std::chrono::duration<double>(d).count();
  std::snprintf(buf, sizeof buf, "%.1f s", s < 0 ? 0.0 : s);
  return buf;
}

std::string stage_label(pipeline_state& state, std::size_t i) {
  return "#" + std::to_string(i) + " " + json_quote(state.info(i).name);
}

std::string count_text(std::int64_t n, const char* what) { return std::to_string(n) + " " + what; }

void describe_stages(std::string& out, pipeline_state& state,
                     const std::map<std::uint32_t, std::vector<std::string>>& running) {
  out += "stages:\n";
  for (std::size_t i = 0; i < state.size(); ++i) {
    auto& s = state.stats(i);
    out += "  " + stage_label(state, i) + " (" + json_quote(state.info(i).kind) + "): in " +
           std::to_string(s.items_in.load(std::memory_order_relaxed)) + " out " +
           std::to_string(s.items_out.load(std::memory_order_relaxed));
    const auto send = s.activity.blocked_send.load(std::memory_order_relaxed);
    const auto recv = s.activity.blocked_recv.load(std::memory_order_relaxed);
    const auto flying = s.activity.in_flight.load(std::memory_order_relaxed);
    const auto generating = s.activity.in_generator.load(std::memory_order_relaxed);
    if (send > 0) out += "; " + count_text(send, "blocked sending (output full)");
    if (recv > 0) out += "; " + count_text(recv, "waiting for input (input empty)");
    if (flying > 0) out += "; " + count_text(flying, "async items in flight");
    if (generating > 0) out += "; awaiting its generator's next item (its labelled waits are listed below)";
    if (auto it = running.find(static_cast<std::uint32_t>(i)); it != running.end()) {
      out += "; running on";
      for (std::size_t k = 0; k < it->second.size(); ++k) out += (k ? ", " : " ") + it->second[k];
    }
    if (send == 0 && recv == 0 && flying == 0 && generating == 0 && !running.contains(static_cast<std::uint32_t>(i)))
      out += "; not waiting on a channel";
    out += '\n';
  }
}

void describe_edges(std::string& out, pipeline_state& state) {
  if (state.size() < 2) return;
  out += "edges (items queued / capacity):\n";
  for (std::size_t i = 1; i < state.size(); ++i) {
    auto& s = state.stats(i);
    auto& up = state.stats(i - 1);
    const auto depth = std::max<std::int64_t>(0, s.input.depth.load(std::memory_order_relaxed));
    const auto capacity = static_cast<std::int64_t>(state.info(i).capacity);
    out += "  " + stage_label(state, i - 1) + " -> " + stage_label(state, i) + ": " + std::to_string(depth) + "/" +
           std::to_string(capacity);
    if (capacity > 0 && depth >= capacity) {
      out += " FULL";
    } else if (depth == 0) {
      out += " empty";
    }
    const auto senders = up.activity.blocked_send.load(std::memory_order_relaxed);
    const auto receivers = s.activity.blocked_recv.load(std::memory_order_relaxed);
    if (senders > 0) out += "; " + count_text(senders, senders == 1 ? "sender blocked" : "senders blocked");
    if (receivers > 0) out += "; " + count_text(receivers, receivers == 1 ? "receiver waiting" : "receivers waiting");
    out += '\n';
  }
}

std::string wait_text(const wait_entry& w, clock::time_point now) {
  std::string out = std::string(to_string(w.kind)) + " " + json_quote(w.what) + " for " + seconds_text(now - w.since);
  if (w.until) out += ", ends in " + seconds_text(*w.until - now);
  return out;
}

// The in-flight async items of this run that await something labelled,
// each with its waits, then the waits tied to no item of this run (other
// runs, code outside any stage, notes made without an owner).
void describe_waits(std::string& out, pipeline_state& state, clock::time_point now) {
  const auto waits = current_waits();
  constexpr std::size_t k_max_listed = 32;
  using item_key = std::pair<std::size_t, std::uint64_t>;  // (stage, item)
  std::map<item_key, std::vector<const wait_entry*>> by_item;
  std::vector<const wait_entry*> rest;
  for (const auto& w : waits) {
    if (w.item && w.item->group == &state) {
      if (w.item->stage == k_run_join_stage) continue;  // run() awaiting its stages: implied by every dump
      by_item[{w.item->stage, w.item->item}].push_back(&w);
    } else {
      rest.push_back(&w);
    }
  }
  // Async stages with items in flight, and how many of those have a labelled wait.
  std::map<std::size_t, std::int64_t> listed;
  for (const auto& [key, list] : by_item) ++listed[key.first];
  std::vector<std::size_t> busy_stages;
  for (std::size_t i = 0; i < state.size(); ++i)
    if (state.stats(i).activity.in_flight.load(std::memory_order_relaxed) > 0 || listed.contains(i))
      busy_stages.push_back(i);
  if (!busy_stages.empty()) {
    out += "async items in flight (what each awaits):\n";
    std::size_t shown = 0;
    for (const auto& [key, list] : by_item) {
      if (shown++ == k_max_listed) {
        out += "  ... and " + std::to_string(by_item.size() - k_max_listed) + " more items\n";
        break;
      }
      const auto& item = *list.front()->item;
      out += "  " + stage_label(state, key.first) + " item " + std::to_string(key.second) + ", started " +
             seconds_text(now - item.since) + " ago:";
      if (list.size() == 1) {
        out += " " + wait_text(*list.front(), now) + "\n";
      } else {
        out += '\n';
        for (const auto* w : list) out += "    " + wait_text(*w, now) + "\n";
      }
    }
    for (const std::size_t i : busy_stages) {
      const auto flying = state.stats(i).activity.in_flight.load(std::memory_order_relaxed);
      const auto unlabelled = flying - listed[i];
      if (unlabelled > 0)
        out += "  " + stage_label(state, i) + ": " + count_text(unlabelled, unlabelled == 1 ? "item" : "items") +
               " with no labelled wait (running, or awaiting an unlabelled awaitable)\n";
    }
  }
  if (rest.empty()) {
    if (busy_stages.empty()) out += "awaited (HTTP, timers, rate limits, labelled awaitables): nothing recorded\n";
    return;
  }
  out += busy_stages.empty() ? "awaited (HTTP, timers, rate limits, labelled awaitables; whole process):\n"
                             : "other waits (not tied to an item of this run; whole process):\n";
  for (std::size_t i = 0; i < rest.size() && i < k_max_listed; ++i) out += "  " + wait_text(*rest[i], now) + "\n";
  if (rest.size() > k_max_listed)
    out += "  ... and " + std::to_string(rest.size() - k_max_listed) + " more (oldest listed first)\n";
}

// The name the operating system shows for `w`'s thread (sluice's own
// threads name themselves: sluice-reactor, ...); empty for an arena worker
// (labelled by its slot) or when it cannot be read.
std::string os_name_of(const thread_activity_view& w) {
  if (w.arena_index >= 0) return {};
  const std::string path = "/proc/self/task/" + std::to_string(w.thread_id) + "/comm";
  std::FILE* f = std::fopen(path.c_str(), "re");
  if (f == nullptr) return {};
  char name[64] = {};  // the kernel keeps at most 15 characters and a newline
  const bool read = std::fgets(name, sizeof name, f) != nullptr;
  std::fclose(f);
  if (!read) return {};
  std::string_view text(name);
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  return std::string(text);
}

// `os_name`: os_name_of(w), read once per thread and dump.
std::string thread_label(const thread_activity_view& w, const std::string& os_name) {
  if (w.arena_index >= 0)
    return "arena worker " + std::to_string(w.arena_index) + " (tid " + std::to_string(w.thread_id) + ")";
  // Quoted: any program can name its threads anything.
  return "thread " + (os_name.empty() ? std::string() : json_quote(os_name) + " ") + "(tid " +
         std::to_string(w.thread_id) + ")";
}

// Since when `w` has been in its current job, when the watchdog's samples
// saw it there at two checks (none without a job or samples).
std::optional<clock::time_point> in_current_job_since(const thread_activity_view& w, const job_clock* jobs) {
  if (jobs == nullptr || !w.in_job()) return std::nullopt;
  return jobs->in_job_since(w.thread_id, w.job);
}

// What the runtime's reactor is doing: waiting for its sockets and timers,
// or running callbacks, and for how long when the samples tell: a reactor
// held in one round is blocked, and with it every socket, timer and sleep
// of the runtime.
std::string reactor_doing(const thread_activity_view& w, const job_clock* jobs, clock::time_point now) {
  if (!w.in_job()) return "waiting for sockets and timers (idle)";
  const auto since = in_current_job_since(w, jobs);
  if (!since) return "running callbacks (sockets, timers, posted work)";
  return "in one round of callbacks for at least " + seconds_text(now - *since) +
         ": the reactor is blocked, so none of this runtime's sockets, timers or sleeps is served (a callback or "
         "posted work that blocks; blocking work belongs in spawn_blocking)";
}

// What a thread of the runtime's blocking pool is doing: waiting for work,
// or running a spawn_blocking call, for how long when the samples tell. A
// call that does not return holds its thread, and its awaiter (listed
// among the waits above) waits with it.
std::string blocking_thread_doing(const thread_activity_view& w, const job_clock* jobs, clock::time_point now) {
  if (!w.in_job()) return "idle (blocking pool: waiting for spawn_blocking work)";
  const auto since = in_current_job_since(w, jobs);
  if (!since) return "running a spawn_blocking call";
  return "running one spawn_blocking call for at least " + seconds_text(now - *since) +
         " (a call that never returns holds this thread and its awaiter; give blocking calls a timeout)";
}

// What one of the runtime's threads is doing: idle, in a stage's
// synchronous code, or in a job outside any stage (a coroutine resumed), and
// for how long it has been in that job when the samples tell.
std::string thread_doing(pipeline_state& state, const thread_activity_view& w, const job_clock* jobs,
                         clock::time_point now) {
  if (!w.in_job() && w.section_owner == nullptr) return "idle";
  const auto since = in_current_job_since(w, jobs);
  const std::string held = since ? " for at least " + seconds_text(now - *since) : std::string();
  if (w.section_owner == &state) {
    const std::string stage = w.section < state.size() ? stage_label(state, w.section) : std::string("a stage");
    return "running " + stage + (since ? ", in one job" + held : std::string());
  }
  if (w.section_owner != nullptr) return "running a stage of another pipeline";
  if (!since) return "running a coroutine or task (outside any stage's synchronous code)";
  return "in one job" + held +
         " outside any stage's synchronous code: a coroutine that does not suspend holds this thread (if it "
         "should be waiting, it blocks: blocking or long CPU work in async code belongs in spawn_blocking or a "
         "parallel stage)";
}

void describe_threads(std::string& out, pipeline_state& state, const std::vector<thread_activity_view>& threads,
                      const job_clock* jobs, clock::time_point now) {
  out += "threads of this runtime (" + std::to_string(state.rt().threads()) +
         " arena threads, its reactor and its blocking pool; listed: those that ran its work):\n";
  bool any = false;
  for (const auto& w : threads) {
    if (w.runtime != state.rt().id()) continue;
    any = true;
    std::string doing;
    switch (w.role) {
      case thread_role::reactor:
        doing = reactor_doing(w, jobs, now);
        break;
      case thread_role::blocking_pool:
        doing = blocking_thread_doing(w, jobs, now);
        break;
      case thread_role::jobs:
        doing = thread_doing(state, w, jobs, now);
        break;
    }
    out += "  " + thread_label(w, os_name_of(w)) + ": " + doing + "\n";
  }
  if (!any) out += "  none has run this runtime's work yet\n";
}

std::uint64_t progress_signature(pipeline_state& state) {
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < state.size(); ++i) {
    auto& s = state.stats(i);
    for (auto* c : {&s.items_in, &s.items_out, &s.emitted, &s.dropped, &s.failed, &s.cancelled, &s.retries})
      sum += c->load(std::memory_order_relaxed);
  }
  return sum;
}

// The picture of a run; `stalled_for` (when set) goes into the headline;
// `jobs` (when given) says how long threads have been in their jobs.
std::string describe_run(pipeline_state& state, clock::time_point started,
                         std::optional<std::chrono::nanoseconds> stalled_for, const job_clock* jobs) {
  const auto now = clock::now();
  std::string out = "sluice ";
  if (stalled_for) {
    out += "stall watchdog: no stage made progress for " + seconds_text(*stalled_for);
  } else {
    out += "pipeline dump";
  }
  out += " (run time " + seconds_text(now - started) + ", " + std::to_string(state.size()) + " stages" +
         (state.stopped() ? ", stopping" : "") + ")\n";
  const auto threads = thread_activity_views();
  std::map<std::uint32_t, std::vector<std::string>> running;
  for (const auto& w : threads)
    if (w.section_owner == &state && w.runtime == state.rt().id())
      running[w.section].push_back(thread_label(w, os_name_of(w)));
  describe_stages(out, state, running);
  describe_edges(out, state);
  describe_waits(out, state, now);
  describe_threads(out, state, threads, jobs, now);
  return out;
}

void write_stderr(std::string_view text) {
  // One write per dump where possible, so dumps do not interleave with other output lines.
  while (!text.empty()) {
    const auto n = ::write(STDERR_FILENO, text.data(), text.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Checks one run's counters every `period` (on the watchdog thread) and
// dumps once per stall.
class stall_watchdog {
 public:
  stall_watchdog(std::shared_ptr<pipeline_state> state, std::chrono::milliseconds timeout,
                 std::function<void(std::string_view)> sink, clock::time_point started)
      : m_state(std::move(state)),
        m_timeout(timeout),
        m_sink(std::move(sink)),
        m_started(started),
        m_jobs(std::make_shared<job_clock>(m_state->rt().id())) {
    m_period = std::clamp<std::chrono::milliseconds>(timeout / 4, std::chrono::milliseconds(5),
                                                     std::chrono::milliseconds(1000));
    m_last_signature = progress_signature(*m_state);
    m_last_progress = started;
  }

  [[nodiscard]] std::chrono::milliseconds period() const noexcept { return m_period; }

  // Its samples of the runtime's threads' jobs (a monitor's dumps read them too).
  [[nodiscard]] std::shared_ptr<const job_clock> jobs() const noexcept { return m_jobs; }

  // The watchdog thread's, one call at a time: samples, and dumps when no
  // stage has progressed for the timeout (once per stall).
  void check(clock::time_point now) {
    try {
      m_jobs->sample(now);
    } catch (...) {
      // Out of memory for a sample: dumps then give no job ages.
    }
    const auto signature = progress_signature(*m_state);
    if (signature != m_last_signature) {
      m_last_signature = signature;
      m_last_progress = now;
      m_dumped = false;
      return;
    }
    if (m_dumped || now - m_last_progress < m_timeout) return;
    m_dumped = true;
    try {
      const std::string dump = describe_run(*m_state, m_started, now - m_last_progress, m_jobs.get());
      if (m_sink) {
        m_sink(dump);
      } else {
        write_stderr(dump);
      }
    } catch (...) {
      // Out of memory, or a sink that throws: this dump is lost, the run
      // and the watching go on.
    }
  }

 private:
  std::shared_ptr<pipeline_state> m_state;
  std::chrono::milliseconds m_timeout;
  std::chrono::milliseconds m_period{};
  std::function<void(std::string_view)> m_sink;
  clock::time_point m_started;
  std::shared_ptr<job_clock> m_jobs;
  // The watchdog thread's only.
  bool m_dumped = false;
  std::uint64_t m_last_signature = 0;
  clock::time_point m_last_progress{};
};

// The thread that checks every stall_watchdog of the process, each at its
// period: started by the first run watched and kept (blocked, using no CPU,
// while no run is watched), named "sluice-watchdog".
//
// Why a thread of its own and not a reactor timer (as before): the reactor
// is one of the things a stall can hold (a callback that blocks it), and a
// watchdog must not depend on what it watches; and a dump, or the user's
// on_stall sink, that blocks (stderr into a full pipe, a logger that waits
// on its server) held up every socket and timer of the runtime while it ran
// on the reactor. Here it holds up only the checks of the other watched
// runs, and the end of its own run (remove() waits for a check in progress).
//
// One thread per process, not per run: a run's watchdog is on by default,
// and a thread started and joined per run() would cost a program that runs
// many small pipelines. A child forked while the thread exists starts its
// own (the fork handler gives it a new, empty instance: the parent's mutex
// may have been held at the fork and the thread is not in the child).
class watchdog_thread {
 public:
  static watchdog_thread& instance() {
    // The first call makes the instance (never destroyed: a check may run
    // while the process exits) and sets the fork handler.
    static const bool made = [] {
      s_instance.store(new watchdog_thread(), std::memory_order_release);
      ::pthread_atfork(nullptr, nullptr, [] {
        // The child's: the parent's instance is left as it is (its mutex
        // may be locked by a thread that does not exist here), kept
        // reachable so that a leak checker does not report it.
        s_left_by_fork.store(s_instance.load(std::memory_order_relaxed), std::memory_order_relaxed);
        s_instance.store(new watchdog_thread(), std::memory_order_relaxed);
      });
      return true;
    }();
    (void)made;
    return *s_instance.load(std::memory_order_acquire);
  }

  // Checks `w` every period from now on. Throws std::system_error when the
  // thread cannot be started.
  void add(std::shared_ptr<stall_watchdog> w) {
    std::lock_guard lock(m_mutex);
    if (!m_started) {
      std::thread thread([this] { loop(); });
      name_os_thread(thread, "sluice-watchdog");
      thread.detach();
      m_started = true;
    }
    const auto due = clock::now() + w->period();
    m_watched.push_back({std::move(w), due});
    m_changed.notify_all();
  }

  // Stops checking `w`; when this returns no check of `w` runs (one in
  // progress on the watchdog thread is waited for, unless the caller is
  // that check).
  void remove(const stall_watchdog* w) {
    std::unique_lock lock(m_mutex);
    std::erase_if(m_watched, [w](const watched& e) { return e.watchdog.get() == w; });
    if (std::this_thread::get_id() == m_thread_id) return;
    m_changed.wait(lock, [&] { return m_checking != w; });
  }

 private:
  struct watched {
    std::shared_ptr<stall_watchdog> watchdog;
    clock::time_point due;
  };

  watchdog_thread() = default;

  void loop() {
    std::unique_lock lock(m_mutex);
    m_thread_id = std::this_thread::get_id();
    for (;;) {
      if (m_watched.empty()) {
        m_changed.wait(lock);
        continue;
      }
      auto next = std::min_element(m_watched.begin(), m_watched.end(),
                                   [](const watched& a, const watched& b) { return a.due < b.due; });
      const auto now = clock::now();
      if (const auto due = next->due; now < due) {
        // A copy: wait_until keeps a reference to the time it is given, and
        // add() may move the entries while the lock is released.
        m_changed.wait_until(lock, due);
        continue;
      }
      // The next check keeps the cadence without a burst after a late one.
      next->due = std::max(next->due + next->watchdog->period(), now);
      auto checking = next->watchdog;
      m_checking = checking.get();
      lock.unlock();
      checking->check(now);
      checking.reset();
      lock.lock();
      m_checking = nullptr;
      m_changed.notify_all();
    }
  }

  static inline std::atomic<watchdog_thread*> s_instance{nullptr};
  static inline std::atomic<watchdog_thread*> s_left_by_fork{nullptr};  // see instance()

  std::mutex m_mutex;                 // guards everything below
  std::condition_variable m_changed;  // a run added or removed, a check ended
  std::vector<watched> m_watched;
  const stall_watchdog* m_checking = nullptr;  // the check in progress, if any
  std::thread::id m_thread_id{};
  bool m_started = false;
};

}  // namespace

struct run_observation::impl {
  std::shared_ptr<pipeline_state> state;
  clock::time_point started = clock::now();
  std::unique_ptr<trace_session> trace;  // ours to finish, when we started it
  std::shared_ptr<stall_watchdog> watchdog;
  run_monitor* monitor = nullptr;
  std::optional<wait_watch> watching_waits;
  bool finished = false;
};

run_observation::run_observation(const std::shared_ptr<pipeline_state>& state, const run_options& options)
    : m_impl(std::make_unique<impl>()) {
  auto& m = *m_impl;
  m.state = state;
  std::string trace_path = options.trace;
  if (trace_path.empty()) {
    if (const char* env = std::getenv("SLUICE_TRACE"); env != nullptr) trace_path = env;
  }
  if (!trace_path.empty()) m.trace = trace_session::start_unless_active(std::move(trace_path));
  if (options.stall_timeout.count() > 0 || options.monitor) m.watching_waits.emplace();
  if (options.stall_timeout.count() > 0)
    m.watchdog = std::make_shared<stall_watchdog>(state, options.stall_timeout, options.on_stall, m.started);
  if (options.monitor) {
    std::lock_guard lock(options.monitor->m_mutex);
    options.monitor->m_state = state;
    options.monitor->m_started = m.started;
    options.monitor->m_jobs = m.watchdog ? m.watchdog->jobs() : nullptr;
    m.monitor = options.monitor;
  }
  if (m.watchdog) watchdog_thread::instance().add(m.watchdog);
}

run_observation::~run_observation() {
  try {
    finish(true);
  } catch (...) {
    // finish(true) swallows trace errors; nothing else throws.
  }
}

void run_observation::finish(bool quiet) {
  auto& m = *m_impl;
  if (m.finished) return;
  m.finished = true;
  if (m.watchdog) watchdog_thread::instance().remove(m.watchdog.get());
  if (m.monitor) {
    std::lock_guard lock(m.monitor->m_mutex);
    if (m.monitor->m_state.lock() == m.state) {
      m.monitor->m_state.reset();
      m.monitor->m_jobs.reset();
    }
  }
  m.watching_waits.reset();
  if (auto* t = trace_active()) {
    try {
      t->async_span("pipeline", "run", m.started, clock::now(),
                    {trace_arg::num("stages", static_cast<std::int64_t>(m.state->size()))});
    } catch (...) {
      // Out of memory while tracing: the span is lost.
    }
  }
  if (!m.trace) return;
  if (quiet) {
    m.trace.reset();  // the destructor finishes and swallows errors
    return;
  }
  auto trace = std::move(m.trace);
  trace->finish();
}

}  // namespace detail

bool run_monitor::attached() const {
  std::lock_guard lock(m_mutex);
  return !m_state.expired();
}

std::string run_monitor::dump() const {
  std::shared_ptr<detail::pipeline_state> state;
  std::chrono::steady_clock::time_point started;
  std::shared_ptr<const detail::job_clock> jobs;
  {
    std::lock_guard lock(m_mutex);
    state = m_state.lock();
    started = m_started;
    jobs = m_jobs;
  }
  if (!state) return "sluice pipeline dump: no run attached to this monitor\n";
  return detail::describe_run(*state, started, std::nullopt, jobs.get());
}

void run_monitor::print() const { detail::write_stderr(dump()); }

}  // namespace sluice
