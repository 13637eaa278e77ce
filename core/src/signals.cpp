#include "sluice/core/signals.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <future>
#include <stdexcept>
#include <system_error>
#include <vector>

namespace sluice {
namespace {

// Process-wide, because signal dispositions are: read by the handler, so
// only lock-free atomics (async-signal-safe).
std::atomic<int> g_pipe_write{-1};
std::atomic<int> g_first_signal{0};
std::atomic<bool> g_alive{false};
static_assert(std::atomic<int>::is_always_lock_free);

// Async-signal-safe: the signal's number as one byte on the self-pipe.
void write_signal_byte(int sig) noexcept {
  const int saved_errno = errno;
  const int fd = g_pipe_write.load();
  if (fd >= 0) {
    const auto byte = static_cast<unsigned char>(sig);
    [[maybe_unused]] const auto n = ::write(fd, &byte, 1);
  }
  errno = saved_errno;
}

extern "C" void on_watched_signal(int sig) {
  int expected = 0;
  if (!g_first_signal.compare_exchange_strong(expected, sig)) ::_exit(128 + sig);  // the second one
  write_signal_byte(sig);
}

// A notify-only signal: just the byte, no first/second-signal logic.
extern "C" void on_notify_signal(int sig) { write_signal_byte(sig); }

bool catchable(int sig) { return sig != SIGKILL && sig != SIGSTOP && sig > 0 && sig < NSIG; }

[[noreturn]] void throw_errno(const char* what) { throw std::system_error(errno, std::generic_category(), what); }

}  // namespace

struct signal_stop::state {
  int read_fd = -1;
  int write_fd = -1;
  std::vector<std::pair<int, struct sigaction>> previous;
  std::atomic<int> fired{0};
};

signal_stop::signal_stop(runtime& rt, std::initializer_list<int> signals, signal_notify notify)
    : m_rt(rt), m_state(std::make_unique<state>()) {
  if (signals.size() == 0) throw std::invalid_argument("stop_on_signals: no signals given");
  for (int sig : signals)
    if (!catchable(sig))
      throw std::invalid_argument("stop_on_signals: signal " + std::to_string(sig) + " cannot be caught");
  for (int sig : notify.signals) {
    if (!catchable(sig))
      throw std::invalid_argument("stop_on_signals: signal " + std::to_string(sig) + " cannot be caught");
    for (int stop_sig : signals)
      if (sig == stop_sig)
        throw std::invalid_argument("stop_on_signals: signal " + std::to_string(sig) + " both stops and notifies");
  }
  if (g_alive.exchange(true)) throw std::logic_error("stop_on_signals: another signal_stop is alive");
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
    g_alive = false;
    throw_errno("stop_on_signals: pipe2");
  }
  m_state->read_fd = fds[0];
  m_state->write_fd = fds[1];
  g_first_signal = 0;
  g_pipe_write = fds[1];

  struct sigaction action {};
  action.sa_handler = on_watched_signal;
  action.sa_flags = SA_RESTART;
  sigemptyset(&action.sa_mask);
  for (int sig : signals) sigaddset(&action.sa_mask, sig);  // one handler at a time
  for (int sig : notify.signals) sigaddset(&action.sa_mask, sig);
  struct sigaction notify_action = action;
  notify_action.sa_handler = on_notify_signal;
  std::vector<std::pair<int, const struct sigaction*>> installs;
  for (int sig : signals) installs.emplace_back(sig, &action);
  for (int sig : notify.signals) installs.emplace_back(sig, &notify_action);
  for (auto [sig, act] : installs) {
    struct sigaction old {};
    if (::sigaction(sig, act, &old) != 0) {
      const int error = errno;
      for (auto& [s, prev] : m_state->previous) ::sigaction(s, &prev, nullptr);
      g_pipe_write = -1;
      ::close(fds[0]);
      ::close(fds[1]);
      g_alive = false;
      throw std::system_error(error, std::generic_category(), "stop_on_signals: sigaction");
    }
    m_state->previous.emplace_back(sig, old);
  }

  state* st = m_state.get();
  std::stop_source source = m_source;
  reactor& r = rt.io();
  auto on_readable = [st, source, notify = std::move(notify)](std::uint32_t) mutable {
    unsigned char buf[16];
    bool stop = false;
    for (;;) {
      const auto n = ::read(st->read_fd, buf, sizeof buf);
      if (n <= 0) break;
      for (ssize_t i = 0; i < n; ++i) {
        const int sig = buf[i];
        if (std::find(notify.signals.begin(), notify.signals.end(), sig) == notify.signals.end()) {
          stop = true;
        } else if (notify.on_notify) {
          try {
            notify.on_notify(sig);
          } catch (...) {
            // Documented: swallowed, the reactor must go on.
          }
        }
      }
    }
    if (!stop) return;
    st->fired.store(g_first_signal.load(), std::memory_order_release);
    source.request_stop();
  };
  r.post([&r, fd = st->read_fd, on_readable]() mutable { r.watch(fd, EPOLLIN, std::move(on_readable)); });
}

signal_stop::~signal_stop() {
  for (auto& [sig, prev] : m_state->previous) ::sigaction(sig, &prev, nullptr);
  g_pipe_write = -1;
  reactor& r = m_rt.io();
  const int fd = m_state->read_fd;
  if (r.on_reactor_thread()) {
    r.unwatch(fd);
  } else {
    std::promise<void> done;
    auto finished = done.get_future();
    r.post([&r, fd, &done] {
      r.unwatch(fd);
      done.set_value();
    });
    finished.wait();
  }
  ::close(m_state->read_fd);
  ::close(m_state->write_fd);
  g_first_signal = 0;
  g_alive = false;
}

int signal_stop::signal() const noexcept { return m_state->fired.load(std::memory_order_acquire); }

}  // namespace sluice
