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
// Attribution to items: an async stage (async_map, async for_each) runs
// each item under a wait_owner (run, stage and item index: plain data in
// the item's frame, registered nowhere, so it costs nothing until a wait is
// noted, which copies it). The task chain that
// works for the item carries it (each awaited sluice::task inherits it from
// its awaiter: coroutine-local, whichever thread resumes it), and the
// library's own notes (timers, oneshots, HTTP requests) take it from the
// awaiting coroutine, so a stall dump lists every in-flight item with what
// it awaits. A user's note is attributed when made from the awaiting
// coroutine:
//
//   auto note = co_await sluice::note_wait(sluice::wait_kind::user, "reply from billing");
//
// (a note constructed directly names no item; it is listed apart).
//
// Thread-safety: notes may be created and destroyed on any thread (a
// coroutine may resume elsewhere); current_waits() may be called from any
// thread. A note must be destroyed before anything its text refers to
// (the text is copied, so only the note object itself matters).
#pragma once

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/core/detail/std_parts.hpp"
#include "sluice/core/task.hpp"

namespace sluice {

/// What kind of thing a wait is for.
enum class wait_kind { http, timer, oneshot, rate_limit, user, redis };

/// "HTTP", "timer", "oneshot", "rate limit", "awaitable", "Redis".
[[nodiscard]] std::string_view to_string(wait_kind kind) noexcept;

/// The in-flight item a wait is for: an async stage's item. Plain data
/// kept in the item's coroutine frame while it runs; see the file comment.
/// `stage_name` must outlive the owner (the pipeline's stage name does).
struct wait_owner {
  const void* group = nullptr;  // the run it belongs to (compared, never dereferenced)
  std::size_t stage = 0;        // the stage's index in its run
  std::string_view stage_name;
  std::uint64_t item = 0;  // the item's index in the stage
  std::chrono::steady_clock::time_point since{};
};

/// A wait_owner as a recorded wait keeps it (the name copied).
struct wait_item {
  const void* group = nullptr;
  std::size_t stage = 0;
  std::string stage_name;  // untrusted text, escape before printing
  std::uint64_t item = 0;
  std::chrono::steady_clock::time_point since{};
};

/// One recorded wait.
struct wait_entry {
  wait_kind kind = wait_kind::user;
  std::string what;  // as given: untrusted text, escape before printing
  std::chrono::steady_clock::time_point since{};
  std::optional<std::chrono::steady_clock::time_point> until{};  // a deadline, when the wait has one
  std::optional<wait_item> item{};                               // the item it waits for, when known
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

/// The item the coroutine behind `h` works for: a sluice::task's (see
/// task.hpp), null for other coroutine types. For awaiters that label their
/// waits: call it in await_suspend with the awaiting coroutine's handle.
template <typename P>
[[nodiscard]] const wait_owner* wait_owner_of(std::coroutine_handle<P> h) noexcept {
  return detail::owner_of_waits_of(h);
}

/// Registers a wait for its lifetime (when waits are watched); see the file comment.
class wait_note {
 public:
  wait_note() noexcept = default;
  /// `owner`: the item the wait is for (wait_owner_of, note_wait), or null.
  wait_note(wait_kind kind, std::string_view what,
            std::optional<std::chrono::steady_clock::time_point> until = std::nullopt,
            const wait_owner* owner = nullptr) {
    if (waits_watched()) m_id = add(kind, what, until, owner);
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
                           std::optional<std::chrono::steady_clock::time_point> until, const wait_owner* owner);
  static void remove(std::uint64_t id) noexcept;
  std::uint64_t m_id = 0;
};

namespace detail {
// co_await note_wait(...): reads the awaiting coroutine's owner without
// suspending, then makes the note. Trivially destructible on purpose (see
// the g++ 12 note in task.hpp's users: temporaries in co_await expressions).
struct note_wait_awaiter {
  wait_kind kind;
  std::string_view what;
  std::optional<std::chrono::steady_clock::time_point> until;
  const wait_owner* owner = nullptr;
  bool await_ready() const noexcept { return false; }
  template <typename P>
  bool await_suspend(std::coroutine_handle<P> h) noexcept {
    owner = wait_owner_of(h);
    return false;  // never suspends
  }
  wait_note await_resume() const { return wait_note(kind, what, until, owner); }
};

// co_await own_waits{&owner}: the awaiting task (and every task it awaits
// from now on) works for `owner`. Never suspends. `keep_inherited`: a task
// that works for an item already (inherited from its awaiter) keeps it, so
// a run nested in an async stage's item leaves its waits under that item.
struct own_waits_awaiter {
  const wait_owner* owner;
  bool keep_inherited = false;
  bool await_ready() const noexcept { return false; }
  template <typename P>
  bool await_suspend(std::coroutine_handle<P> h) noexcept {
    if constexpr (requires {
                    h.promise().owner_of_waits();
                    h.promise().set_owner_of_waits(owner);
                  }) {
      if (!keep_inherited || h.promise().owner_of_waits() == nullptr) h.promise().set_owner_of_waits(owner);
    }
    return false;
  }
  void await_resume() const noexcept {}
};
}  // namespace detail

/// `co_await note_wait(kind, what)`: a wait_note attributed to the item the
/// awaiting coroutine works for (see the file comment). `what` is copied by
/// the co_await, so it must live until then (name the awaiter first, as the
/// g++ 12 note asks, and keep `what` in a variable too if it is built).
[[nodiscard]] inline detail::note_wait_awaiter note_wait(
    wait_kind kind, std::string_view what, std::optional<std::chrono::steady_clock::time_point> until = std::nullopt) {
  return {kind, what, until, nullptr};
}

/// The waits recorded now, oldest first.
[[nodiscard]] std::vector<wait_entry> current_waits();

}  // namespace sluice
