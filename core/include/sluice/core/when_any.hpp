// sluice::when_any: run several branches at once; the first to finish wins,
// the others are cancelled through a stop token they were given.
//
//   auto fast = [&](std::stop_token s) { return fetch(mirror_a, s); };
//   auto slow = [&](std::stop_token s) { return fetch(mirror_b, s); };
//   std::variant<page, page> r = co_await sluice::when_any(run_stop, fast, slow);
//   page p = r.index() == 0 ? std::get<0>(r) : std::get<1>(r);
//
// A branch is either
//  * a callable taking a std::stop_token and returning an awaitable (a
//    task<T>, sleep_for(d, token), sem.acquire_permit(token), ...): when_any
//    calls it with a token that is stopped as soon as another branch wins, or
//    when `parent` (the run's token, the project's one cancellation model)
//    stops;
//  * a task<T> the caller built already, ideally around a token of its own:
//    when_any cannot reach inside it, so it runs to completion.
//
// The result is a std::variant with one alternative per branch, in order
// (std::monostate for void): index() is the winner. If the winner threw, the
// exception is rethrown; what losers return or throw after the stop request
// is destroyed unseen, so have branches return owning values (a
// semaphore_permit, an async_mutex::scoped_lock): one that lost the race
// after acquiring gives it back instead of leaking it. Structured: when_any
// completes only after *every* branch has finished, so no branch outlives the
// frames it references; a loser that ignores its token delays the result (it
// is never abandoned mid-flight).
// Branches start on the awaiting thread, in order, and run until their
// first suspension, as in when_all.
//
// Do not race an awaitable that consumes something it cannot give back, such
// as a plain channel recv(): it cannot be withdrawn, so as a loser it waits
// for the next item (delaying when_any) and that item is then discarded. To
// wait on several channels use sluice::select (select.hpp): its losing arms
// take nothing.
//
// g++ 12: a capturing lambda created inside the co_await expression is
// destroyed twice (docs/known-issues.md); name the branches first, as above.
#pragma once

#include <atomic>
#include <concepts>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <stop_token>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include "sluice/core/task.hpp"
#include "sluice/core/when_all.hpp"

namespace sluice {
namespace detail {

template <typename A>
decltype(auto) get_awaiter(A&& a) {
  if constexpr (requires { std::forward<A>(a).operator co_await(); }) {
    return std::forward<A>(a).operator co_await();
  } else {
    return std::forward<A>(a);
  }
}

/// What `co_await a` yields, for an awaitable of type A.
template <typename A>
using await_result_t = decltype(get_awaiter(std::declval<A>()).await_resume());

/// A branch given as a callable: called with the race's stop token.
template <typename F>
concept stop_token_branch = std::invocable<F&, std::stop_token> && awaitable<std::invoke_result_t<F&, std::stop_token>>;

template <typename B>
struct branch_traits;

template <typename T>
struct branch_traits<task<T>> {
  using awaitable_type = task<T>;
};

template <typename F>
requires stop_token_branch<F>
struct branch_traits<F> {
  using awaitable_type = std::invoke_result_t<F&, std::stop_token>;
};

template <typename B>
using branch_result_t = std::remove_cvref_t<await_result_t<typename branch_traits<B>::awaitable_type>>;

/// The race: who won, and the stop source every branch's token comes from.
class when_any_race {
 public:
  static constexpr std::size_t nobody = static_cast<std::size_t>(-1);

  /// Called as each branch finishes (value or exception); the first wins and
  /// stops the others.
  void finished(std::size_t index) noexcept {
    std::size_t expected = nobody;
    if (m_winner.compare_exchange_strong(expected, index, std::memory_order_acq_rel)) m_stop.request_stop();
  }
  [[nodiscard]] std::size_t winner() const noexcept { return m_winner.load(std::memory_order_acquire); }
  [[nodiscard]] std::stop_token token() const noexcept { return m_stop.get_token(); }
  void request_stop() noexcept { m_stop.request_stop(); }

 private:
  std::atomic<std::size_t> m_winner{nobody};
  std::stop_source m_stop;
};

// Marks its branch finished when the branch body exits, normally or by an
// exception (locals are destroyed before unhandled_exception runs).
struct when_any_mark {
  when_any_race& m_race;
  std::size_t m_index;
  when_any_mark(when_any_race& race, std::size_t index) noexcept : m_race(race), m_index(index) {}
  when_any_mark(const when_any_mark&) = delete;
  when_any_mark& operator=(const when_any_mark&) = delete;
  ~when_any_mark() { m_race.finished(m_index); }
};

// One branch, awaited inside the child's own frame: the awaitable a callable
// returns is never moved, so awaiters that cannot move (most can't) work.
template <typename R, typename B>
when_all_child<R> make_when_any_child(B& branch, std::stop_token token, when_any_race& race, std::size_t index) {
  when_any_mark mark(race, index);
  if constexpr (stop_token_branch<B>) {
    if constexpr (std::is_void_v<R>) {
      co_await branch(std::move(token));
      co_return std::monostate{};
    } else {
      co_return co_await branch(std::move(token));
    }
  } else if constexpr (std::is_void_v<R>) {
    co_await std::move(branch);
    co_return std::monostate{};
  } else {
    co_return co_await std::move(branch);
  }
}

template <typename... Bs, std::size_t... Is>
task<std::variant<result_or_monostate<branch_result_t<Bs>>...>> when_any_impl(std::stop_token parent,
                                                                              std::index_sequence<Is...>,
                                                                              Bs... branches) {
  when_any_race race;
  // The parent's stop reaches every branch; registered before they start.
  auto forward_stop = [&race]() noexcept { race.request_stop(); };
  std::stop_callback<decltype(forward_stop)> link(parent, forward_stop);
  std::tuple<when_all_child<branch_result_t<Bs>>...> children{
      make_when_any_child<branch_result_t<Bs>>(branches, race.token(), race, Is)...};
  when_all_latch latch(sizeof...(Bs));
  when_all_start<decltype(children)> start_all{children, latch};  // named: g++ 12 (see task.hpp's users)
  co_await start_all;

  using result_type = std::variant<result_or_monostate<branch_result_t<Bs>>...>;
  std::optional<result_type> out;
  const std::size_t winner = race.winner();
  auto take = [&]<std::size_t I>(std::integral_constant<std::size_t, I>) {
    if (winner != I) return;
    auto& child = std::get<I>(children);
    if (auto error = child.error()) std::rethrow_exception(error);
    out.emplace(std::in_place_index<I>, child.take());
  };
  (take(std::integral_constant<std::size_t, Is>{}), ...);
  co_return std::move(*out);
}

template <typename B>
concept when_any_branch = stop_token_branch<B> || requires {
  typename branch_traits<B>::awaitable_type;
};

}  // namespace detail

/// Races `branches` (see the header comment); `parent` stopping stops them all.
template <typename... Bs>
requires(sizeof...(Bs) > 0 && (detail::when_any_branch<std::decay_t<Bs>> && ...)) auto when_any(std::stop_token parent,
                                                                                                Bs&&... branches) {
  return detail::when_any_impl<std::decay_t<Bs>...>(std::move(parent), std::index_sequence_for<Bs...>{},
                                                    std::forward<Bs>(branches)...);
}

/// Races `branches` with no outer token.
template <typename... Bs>
requires(sizeof...(Bs) > 0 && (detail::when_any_branch<std::decay_t<Bs>> && ...)) auto when_any(Bs&&... branches) {
  return when_any(std::stop_token{}, std::forward<Bs>(branches)...);
}

}  // namespace sluice
