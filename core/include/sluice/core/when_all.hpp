// sluice::when_all: await several tasks started together.
//
//   auto [a, b] = co_await sluice::when_all(fetch(x), fetch(y));
//   std::vector<int> all = co_await sluice::when_all(std::move(tasks));
//
// Every child starts on the awaiting thread and runs until its first
// suspension; they then proceed concurrently wherever they are resumed.
// when_all completes after *all* children finished, even when one throws,
// and then rethrows the exception of the lowest-index child that failed (the
// others' results are discarded). void children yield std::monostate in the
// tuple form; when_all over a vector of task<void> yields void.
#pragma once

#include <atomic>
#include <coroutine>
#include <exception>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "sluice/core/detail/outcome.hpp"
#include "sluice/core/task.hpp"

namespace sluice {
namespace detail {

// Counts children plus one for the awaiting coroutine; whoever brings it to
// zero resumes the awaiting coroutine (no lost wake-up, no extra hop).
class when_all_latch {
 public:
  explicit when_all_latch(std::size_t children) noexcept : m_count(children + 1) {}
  // Returns true when the awaiting coroutine must suspend.
  bool suspend(std::coroutine_handle<> awaiting) noexcept {
    m_awaiting = awaiting;
    return m_count.fetch_sub(1, std::memory_order_acq_rel) > 1;
  }
  std::coroutine_handle<> child_done() noexcept {
    return m_count.fetch_sub(1, std::memory_order_acq_rel) == 1 ? m_awaiting : std::noop_coroutine();
  }

 private:
  std::atomic<std::size_t> m_count;
  std::coroutine_handle<> m_awaiting;
};

template <typename T>
using result_or_monostate = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

template <typename T>
class when_all_child {
 public:
  struct promise_type {
    when_all_latch* m_latch = nullptr;
    outcome<result_or_monostate<T>> m_value;  // not std::optional: see detail/outcome.hpp
    std::exception_ptr m_error;
    const wait_owner* m_wait_owner = nullptr;  // the item when_all's awaiter works for (wait_note.hpp)

    [[nodiscard]] const wait_owner* owner_of_waits() const noexcept { return m_wait_owner; }

    when_all_child get_return_object() noexcept {
      return when_all_child{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    auto final_suspend() const noexcept {
      struct notify {
        bool await_ready() const noexcept { return false; }
        std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> h) const noexcept {
          return h.promise().m_latch->child_done();
        }
        void await_resume() const noexcept {}
      };
      return notify{};
    }
    void unhandled_exception() noexcept { m_error = std::current_exception(); }
    template <typename U>
    void return_value(U&& v) {
      m_value.set_value(std::forward<U>(v));
    }
  };

  explicit when_all_child(std::coroutine_handle<promise_type> h) noexcept : m_handle(h) {}
  when_all_child(when_all_child&& o) noexcept : m_handle(std::exchange(o.m_handle, {})) {}
  when_all_child(const when_all_child&) = delete;
  when_all_child& operator=(const when_all_child&) = delete;
  when_all_child& operator=(when_all_child&&) = delete;
  ~when_all_child() {
    if (m_handle) m_handle.destroy();
  }

  void start(when_all_latch& latch, const wait_owner* owner) {
    m_handle.promise().m_latch = &latch;
    m_handle.promise().m_wait_owner = owner;
    m_handle.resume();
  }
  [[nodiscard]] std::exception_ptr error() const noexcept { return m_handle.promise().m_error; }
  result_or_monostate<T> take() { return m_handle.promise().m_value.take(); }

 private:
  std::coroutine_handle<promise_type> m_handle;
};

template <typename T>
when_all_child<T> make_when_all_child(task<T> t) {
  if constexpr (std::is_void_v<T>) {
    co_await std::move(t);
    co_return std::monostate{};
  } else {
    co_return co_await std::move(t);
  }
}

// Starts every child (a tuple or a vector of when_all_child), then
// suspends the awaiter until the last one finishes. The children work for
// the awaiter's item, if any (wait_note.hpp).
template <typename Children>
struct when_all_start {
  Children& m_children;
  when_all_latch& m_latch;
  bool await_ready() const noexcept { return false; }
  template <typename P>
  bool await_suspend(std::coroutine_handle<P> h) {
    const wait_owner* owner = owner_of_waits_of(h);
    if constexpr (requires(Children & c) { c.begin(); }) {
      for (auto& child : m_children) child.start(m_latch, owner);
    } else {
      std::apply([this, owner](auto&... child) { (child.start(m_latch, owner), ...); }, m_children);
    }
    return m_latch.suspend(h);
  }
  void await_resume() const noexcept {}
};

}  // namespace detail

/// Awaits all `tasks`; yields a tuple of their results (std::monostate for void).
template <typename... Ts>
task<std::tuple<detail::result_or_monostate<Ts>...>> when_all(task<Ts>... tasks) {
  std::tuple<detail::when_all_child<Ts>...> children{detail::make_when_all_child(std::move(tasks))...};
  detail::when_all_latch latch(sizeof...(Ts));
  co_await detail::when_all_start<decltype(children)>{children, latch};
  std::exception_ptr first_error;
  std::apply([&](auto&... child) { ((first_error = first_error ? first_error : child.error()), ...); }, children);
  if (first_error) std::rethrow_exception(first_error);
  co_return std::apply([](auto&... child) { return std::tuple{child.take()...}; }, children);
}

/// Awaits every task in `tasks`; yields their results in the same order
/// (void for task<void>).
template <typename T>
task<std::conditional_t<std::is_void_v<T>, void, std::vector<T>>> when_all(std::vector<task<T>> tasks) {
  std::vector<detail::when_all_child<T>> children;
  children.reserve(tasks.size());
  for (auto& t : tasks) children.push_back(detail::make_when_all_child(std::move(t)));
  detail::when_all_latch latch(children.size());
  co_await detail::when_all_start<decltype(children)>{children, latch};
  for (auto& child : children)
    if (auto e = child.error()) std::rethrow_exception(e);
  if constexpr (!std::is_void_v<T>) {
    std::vector<T> results;
    results.reserve(children.size());
    for (auto& child : children) results.push_back(child.take());
    co_return results;
  }
}

}  // namespace sluice
