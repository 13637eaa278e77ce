// sluice::wait_note: a label saying what a suspended coroutine waits for
// (an HTTP request to a host, a timer, a rate-limit pause, a user
// awaitable), kept while the wait lasts so the stall watchdog can print it.
//
//   sluice::wait_note note(sluice::wait_kind::user, "reply from the billing service");
//   auto reply = co_await billing.next();          // listed in a stall dump meanwhile
//
// Notes are only recorded while someone watches (a run with a stall
// watchdog, a run_monitor): otherwise constructing one costs one relaxed
// load and a branch. The HTTP client, sleep_for/sleep_until and the GitHub
// fetcher's rate-limit pause label their waits themselves.
//
// Thread-safety: notes may be created and destroyed on any thread (a
// coroutine may resume elsewhere); current_waits() may be called from any
// thread. A note must be destroyed before anything its text refers to
// (the text is copied, so only the note object itself matters).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

/// What kind of thing a wait is for.
enum class wait_kind { http, timer, oneshot, rate_limit, user };

/// "HTTP", "timer", "oneshot", "rate limit", "awaitable".
[[nodiscard]] std::string_view to_string(wait_kind kind) noexcept;

/// One recorded wait.
struct wait_entry {
  wait_kind kind = wait_kind::user;
  std::string what;  // as given: untrusted text, escape before printing
  std::chrono::steady_clock::time_point since{};
  std::optional<std::chrono::steady_clock::time_point> until{};  // a deadline, when the wait has one
};

namespace detail {
extern std::atomic<int> g_wait_watchers;
}

/// True while at least one watcher is on: notes are recorded.
[[nodiscard]] inline bool waits_watched() noexcept {
  return detail::g_wait_watchers.load(std::memory_order_relaxed) != 0;
}

/// Switches recording on for its lifetime (counted: watchers may overlap).
class wait_watch {
 public:
  wait_watch() noexcept { detail::g_wait_watchers.fetch_add(1, std::memory_order_relaxed); }
  ~wait_watch() { detail::g_wait_watchers.fetch_sub(1, std::memory_order_relaxed); }
  wait_watch(const wait_watch&) = delete;
  wait_watch& operator=(const wait_watch&) = delete;
};

/// Registers a wait for its lifetime (when waits are watched); see the file comment.
class wait_note {
 public:
  wait_note() noexcept = default;
  wait_note(wait_kind kind, std::string_view what,
            std::optional<std::chrono::steady_clock::time_point> until = std::nullopt) {
    if (waits_watched()) m_id = add(kind, what, until);
  }
  ~wait_note() {
    if (m_id != 0) remove(m_id);
  }
  wait_note(const wait_note&) = delete;
  wait_note& operator=(const wait_note&) = delete;
  wait_note(wait_note&& other) noexcept : m_id(other.m_id) { other.m_id = 0; }
  wait_note& operator=(wait_note&& other) noexcept {
    if (this != &other) {
      if (m_id != 0) remove(m_id);
      m_id = other.m_id;
      other.m_id = 0;
    }
    return *this;
  }

 private:
  static std::uint64_t add(wait_kind kind, std::string_view what,
                           std::optional<std::chrono::steady_clock::time_point> until);
  static void remove(std::uint64_t id) noexcept;
  std::uint64_t m_id = 0;
};

/// The waits recorded now, oldest first.
[[nodiscard]] std::vector<wait_entry> current_waits();

}  // namespace sluice
