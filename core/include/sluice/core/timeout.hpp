// sluice::timeout: bound how long an awaited operation may take.
//
//   auto fetch = [&](std::stop_token s) { return http.get(url, s); };
//   auto r = co_await sluice::timeout(5s, fetch, run_stop);
//   if (!r) log("gave up: " + std::string(r.error().what()));   // r.error().why
//   else use(*r);
//
// The operation is a callable taking a std::stop_token and returning an
// awaitable (a task<T>, a cancellable sleep, sem.acquire_permit(token), ...),
// not a ready-made awaitable: a timeout that cannot reach the operation to
// stop it could only wait for it to finish (or abandon it mid-flight). It
// races a timer on the current runtime's reactor (sleep_for with a token,
// no thread held). When the timer fires first, the operation's token is
// stopped and timeout waits for it to wind down, then yields
// timeout_error{reason::elapsed}. When `parent` (the run's token) stops first
// and the timer branch ends first because of it, the result is
// timeout_error{reason::stopped}. Otherwise the result is the operation's
// value (std::monostate for void), and the timer is cancelled; an exception
// the operation throws first is rethrown. Built on when_any: the same rules
// apply (structured, a value produced after losing is discarded).
//
// Outside a runtime an operation that has to wait makes it throw
// std::logic_error (there is no reactor for the timer).
// g++ 12: name a capturing lambda before the co_await (docs/known-issues.md).
#pragma once

#include <stop_token>
#include <type_traits>
#include <utility>
#include <variant>

#include "sluice/core/detail/std_parts.hpp"
#include "sluice/core/result.hpp"
#include "sluice/core/sleep.hpp"
#include "sluice/core/task.hpp"
#include "sluice/core/when_any.hpp"

namespace sluice {

/// Why timeout() has no value for you.
struct timeout_error {
  enum class reason { elapsed, stopped };
  reason why = reason::elapsed;
  std::chrono::nanoseconds limit{};

  [[nodiscard]] const char* what() const noexcept {
    return why == reason::elapsed ? "sluice::timeout: time limit elapsed" : "sluice::timeout: stop requested";
  }
};

namespace detail {

// The timer branch: true when the full time elapsed, false when stopped.
class timeout_timer {
 public:
  explicit timeout_timer(std::chrono::nanoseconds limit) noexcept : m_limit(limit) {}
  // Templates only so that the coroutine is compiled where a timeout is
  // used: g++ emits a non-template inline coroutine, and one that a
  // non-template inline function calls, in every translation unit that
  // includes it (docs/architecture.md, "Header cost").
  template <typename Lazy = void>
  task<bool> operator()(std::stop_token stop) const {
    return sleep<Lazy>(m_limit, std::move(stop));
  }

 private:
  template <typename Lazy>
  static task<bool> sleep(std::chrono::nanoseconds limit, std::stop_token stop) {
    co_return co_await sleep_for(limit, std::move(stop));
  }
  std::chrono::nanoseconds m_limit;
};

template <typename F>
using timeout_value_t = result_or_monostate<branch_result_t<F>>;

template <typename F>
task<result<timeout_value_t<F>, timeout_error>> timeout_impl(std::chrono::nanoseconds limit, F operation,
                                                             std::stop_token parent) {
  timeout_timer timer(limit);
  auto raced = co_await when_any(std::move(parent), std::move(operation), timer);
  if (raced.index() == 0) co_return std::move(std::get<0>(raced));
  timeout_error error{.why = std::get<1>(raced) ? timeout_error::reason::elapsed : timeout_error::reason::stopped,
                      .limit = limit};
  co_return error;
}

}  // namespace detail

/// Awaitable result<T, timeout_error>: `operation(token)`'s value, or why
/// there is none (see the header comment). `parent` stopping stops both.
template <typename F>
requires detail::stop_token_branch<std::decay_t<F>>
auto timeout(std::chrono::nanoseconds limit, F&& operation, std::stop_token parent = {}) {
  return detail::timeout_impl<std::decay_t<F>>(limit, std::forward<F>(operation), std::move(parent));
}

}  // namespace sluice
