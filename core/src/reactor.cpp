#include "sluice/core/reactor.hpp"

#include "sluice/core/detail/os_thread_name.hpp"
#include "sluice/core/detail/thread_activity.hpp"
#include "sluice/core/trace.hpp"

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sluice {
namespace {

int check_fd(int fd, const char* what) {
  if (fd < 0) throw std::system_error(errno, std::generic_category(), what);
  return fd;
}

// Called on the reactor thread before it runs anything. A blocked SIGPIPE
// raised by a write on this thread stays pending on it (thread-directed,
// never delivered elsewhere) and the write returns EPIPE. Threads started
// from a reactor callback inherit the mask, which suits them just as well.
void block_sigpipe_on_this_thread() {
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  ::pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
}

void epoll_add(int epfd, int fd, std::uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  if (::epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
    throw std::system_error(errno, std::generic_category(), "reactor: epoll_ctl ADD");
}

// Registers `fd` for `events`: MOD when it is believed registered, ADD when
// not, and the other one when the kernel disagrees (an fd closed and reopened
// behind our back is no longer registered; one we deregistered may be).
void epoll_set(int epfd, int fd, std::uint32_t events, bool registered) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  int op = registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  if (::epoll_ctl(epfd, op, fd, &ev) == 0) return;
  if ((op == EPOLL_CTL_MOD && errno == ENOENT) || (op == EPOLL_CTL_ADD && errno == EEXIST)) {
    op = op == EPOLL_CTL_MOD ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    if (::epoll_ctl(epfd, op, fd, &ev) == 0) return;
  }
  throw std::system_error(errno, std::generic_category(), "reactor: epoll_ctl watch");
}

}  // namespace

struct reactor::state {
  int epoll_fd = -1;
  int wake_fd = -1;   // eventfd: posts, new earliest timers, stop
  int timer_fd = -1;  // armed to the earliest deadline

  mutable std::mutex mutex;  // guards posted, timers, timer_deadlines, stopping
  std::deque<std::function<void()>> posted;
  std::map<std::pair<clock::time_point, timer_id>, std::function<void()>> timers;
  std::unordered_map<timer_id, clock::time_point> timer_deadlines;
  timer_id next_timer_id = 1;
  bool stopping = false;
  bool rearm_needed = false;  // a new earliest timer since the timerfd was armed

  // Reactor thread only.
  struct watch_entry {
    std::shared_ptr<fd_callback> callback;
    std::uint32_t events = 0;
    bool registered = false;  // in the epoll set
    bool parked = false;      // registered, but events are not delivered
  };
  std::unordered_map<int, watch_entry> watches;
  std::atomic<std::thread::id> thread_id{};
  // True while the loop is in (or about to enter) epoll_wait: only then does
  // a post or an earlier timer need the eventfd write, one syscall we can
  // otherwise skip on every submission.
  std::atomic<bool> sleeping{false};
  std::thread thread;

  void wake_if_sleeping() const noexcept {
    if (sleeping.load(std::memory_order_seq_cst)) wake();
  }

  void wake() const noexcept {
    std::uint64_t one = 1;
    // A full eventfd counter still wakes the loop, so a failed write is harmless.
    [[maybe_unused]] auto n = ::write(wake_fd, &one, sizeof one);
  }

  void drain_fd(int fd) const noexcept {
    std::uint64_t value = 0;
    [[maybe_unused]] auto n = ::read(fd, &value, sizeof value);
  }

  // Returns false once stopping and nothing posted remains.
  bool run_posted() {
    std::deque<std::function<void()>> batch;
    bool stop = false;
    {
      std::lock_guard lock(mutex);
      batch.swap(posted);
      stop = stopping;
    }
    for (auto& fn : batch) fn();
    return !(stop && batch.empty());
  }

  void fire_due_timers() {
    std::vector<std::function<void()>> due;
    {
      std::lock_guard lock(mutex);
      auto now = clock::now();
      while (!timers.empty() && timers.begin()->first.first <= now) {
        auto node = timers.extract(timers.begin());
        timer_deadlines.erase(node.key().second);
        due.push_back(std::move(node.mapped()));
      }
    }
    for (auto& fn : due) fn();
  }

  // Reactor thread only: the deadline the timerfd is armed for, if any. The
  // loop used to re-arm it on every round, one timerfd_settime per round
  // (about one per eight requests in sluice_http_bench's throughput run);
  // now only when the earliest deadline differs from the armed one.
  std::optional<clock::time_point> armed_deadline;

  void arm_timerfd() {
    std::optional<clock::time_point> earliest;
    {
      std::lock_guard lock(mutex);
      rearm_needed = false;
      if (!timers.empty()) earliest = timers.begin()->first.first;
    }
    if (earliest == armed_deadline) return;
    itimerspec spec{};
    if (earliest) {
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(*earliest - clock::now()).count();
      if (ns < 1) ns = 1;  // zero would disarm
      spec.it_value.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
      spec.it_value.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    }
    ::timerfd_settime(timer_fd, 0, &spec, nullptr);
    armed_deadline = earliest;
  }

  void dispatch(const epoll_event& ev) {
    int fd = ev.data.fd;
    if (fd == wake_fd || fd == timer_fd) {
      drain_fd(fd);
      if (fd == timer_fd) armed_deadline.reset();  // it fired, so it is disarmed
      return;
    }
    auto it = watches.find(fd);
    if (it == watches.end()) return;  // unwatched by an earlier callback in this batch
    if (it->second.parked) {
      // An idle pooled socket became ready (usually: the peer closed it).
      // Level-triggered, it would fire again on every wait: deregister it.
      ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
      it->second.registered = false;
      return;
    }
    auto callback = it->second.callback;  // keeps it alive if the callback unwatches itself
    (*callback)(ev.events);
  }

  // The reactor's work between two waits is marked as one job of its
  // runtime on this thread's activity slot (detail/thread_activity.hpp; the
  // runtime stores its id there with the reactor's first job), so a stall
  // dump tells a reactor held by a callback that blocks (no socket, timer
  // or sleep of the runtime served meanwhile) from one waiting in
  // epoll_wait. Two relaxed stores per round.
  static detail::job_mark busy(detail::thread_activity& activity) noexcept {
    return detail::job_mark(activity, activity.runtime.load(std::memory_order_relaxed), [] { return -1; });
  }

  void loop() {
    std::vector<epoll_event> events(64);
    auto& activity = detail::this_thread_activity();
    for (;;) {
      {
        auto mark = busy(activity);
        if (!run_posted()) return;
        fire_due_timers();
        arm_timerfd();
      }
      // Announce the sleep before the last look at the queue; posters check
      // the flag after queueing (seq_cst on both sides), so one of us sees the other.
      sleeping.store(true, std::memory_order_seq_cst);
      {
        std::lock_guard lock(mutex);
        if (!posted.empty() || stopping || rearm_needed) {
          sleeping.store(false, std::memory_order_relaxed);
          continue;
        }
      }
      int n = ::epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()), -1);
      sleeping.store(false, std::memory_order_relaxed);
      if (n < 0 && errno == EINTR) continue;
      auto mark = busy(activity);
      for (int i = 0; i < n; ++i) dispatch(events[static_cast<std::size_t>(i)]);
    }
  }
};

reactor::reactor() : m_state(std::make_unique<state>()) {
  auto& s = *m_state;
  s.epoll_fd = check_fd(::epoll_create1(EPOLL_CLOEXEC), "reactor: epoll_create1");
  s.wake_fd = check_fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), "reactor: eventfd");
  s.timer_fd = check_fd(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC), "reactor: timerfd_create");
  epoll_add(s.epoll_fd, s.wake_fd, EPOLLIN);
  epoll_add(s.epoll_fd, s.timer_fd, EPOLLIN);
  s.thread = std::thread([&s] {
    block_sigpipe_on_this_thread();
    s.thread_id = std::this_thread::get_id();
    detail::set_trace_thread_name("reactor");
    detail::name_os_thread("sluice-reactor");
    s.loop();
  });
}

reactor::~reactor() {
  {
    std::lock_guard lock(m_state->mutex);
    m_state->stopping = true;
  }
  m_state->wake();
  m_state->thread.join();
  ::close(m_state->timer_fd);
  ::close(m_state->wake_fd);
  ::close(m_state->epoll_fd);
}

void reactor::post(std::function<void()> fn) {
  {
    std::lock_guard lock(m_state->mutex);
    m_state->posted.push_back(std::move(fn));
  }
  if (!on_reactor_thread()) m_state->wake_if_sleeping();
}

reactor::timer_id reactor::add_timer(clock::time_point deadline, std::function<void()> fn) {
  timer_id id = 0;
  bool earliest = false;
  {
    std::lock_guard lock(m_state->mutex);
    id = m_state->next_timer_id++;
    auto it = m_state->timers.emplace(std::pair{deadline, id}, std::move(fn)).first;
    m_state->timer_deadlines.emplace(id, deadline);
    earliest = it == m_state->timers.begin();
    if (earliest) m_state->rearm_needed = true;
  }
  if (earliest && !on_reactor_thread()) m_state->wake_if_sleeping();
  return id;
}

bool reactor::cancel_timer(timer_id id) {
  std::function<void()> dropped;  // destroyed outside the lock
  std::lock_guard lock(m_state->mutex);
  auto it = m_state->timer_deadlines.find(id);
  if (it == m_state->timer_deadlines.end()) return false;
  auto node = m_state->timers.extract(std::pair{it->second, id});
  dropped = std::move(node.mapped());
  m_state->timer_deadlines.erase(it);
  return true;
}

void reactor::watch(int fd, std::uint32_t events, fd_callback callback) {
  auto& s = *m_state;
  auto [it, inserted] = s.watches.try_emplace(fd);
  auto& entry = it->second;
  try {
    epoll_set(s.epoll_fd, fd, events, entry.registered);
  } catch (...) {
    if (inserted) s.watches.erase(it);
    throw;
  }
  entry.callback = std::make_shared<fd_callback>(std::move(callback));
  entry.events = events;
  entry.registered = true;
  entry.parked = false;
}

bool reactor::rearm(int fd, std::uint32_t events) {
  auto& s = *m_state;
  auto it = s.watches.find(fd);
  if (it == s.watches.end()) return false;
  auto& entry = it->second;
  if (!entry.registered || entry.events != events) {
    epoll_set(s.epoll_fd, fd, events, entry.registered);
    entry.events = events;
    entry.registered = true;
  }
  entry.parked = false;
  return true;
}

void reactor::park(int fd) {
  auto it = m_state->watches.find(fd);
  if (it != m_state->watches.end()) it->second.parked = true;
}

void reactor::unwatch(int fd) {
  auto& s = *m_state;
  auto it = s.watches.find(fd);
  if (it == s.watches.end()) return;
  bool registered = it->second.registered;
  s.watches.erase(it);
  // The fd may already be closed by its owner; ENOENT/EBADF are then expected.
  if (registered) ::epoll_ctl(s.epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
}

bool reactor::on_reactor_thread() const noexcept {
  return std::this_thread::get_id() == m_state->thread_id.load(std::memory_order_relaxed);
}

std::size_t reactor::pending_timers() const {
  std::lock_guard lock(m_state->mutex);
  return m_state->timers.size();
}

}  // namespace sluice
