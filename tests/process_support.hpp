// Shared by the test areas that run child processes or touch signal
// dispositions: a bounded wait for a child, and a signal's disposition set
// for one scope.
#pragma once

#include <signal.h>
#include <sys/wait.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <optional>
#include <thread>

namespace sluice::testing {

/// Waits for the child `pid` at most `limit`: its exit status (128 + the
/// signal when one ended it; -1 when waitpid fails), or nullopt while it is
/// still running, for the caller to report or kill. Polls every 5 ms: a
/// generous liveness bound, not a timing assertion.
inline std::optional<int> wait_child(pid_t pid, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int raw = 0;
    const pid_t done = ::waitpid(pid, &raw, WNOHANG);
    if (done == pid) return WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
    if (done < 0 && errno != EINTR) return -1;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

/// Sets `sig`'s disposition to `handler` for the scope, then restores the
/// previous one, also when an ASSERT leaves the scope early.
class scoped_signal_disposition {
 public:
  scoped_signal_disposition(int sig, void (*handler)(int)) : m_sig(sig), m_previous(std::signal(sig, handler)) {}
  ~scoped_signal_disposition() { std::signal(m_sig, m_previous); }
  scoped_signal_disposition(const scoped_signal_disposition&) = delete;
  scoped_signal_disposition& operator=(const scoped_signal_disposition&) = delete;

 private:
  int m_sig;
  void (*m_previous)(int);
};

}  // namespace sluice::testing
