// sluice::async_generator<T>: a generator coroutine that may co_await between
// items (a page fetch, a timer, a channel), usable as a pipeline source.
//
//   sluice::async_generator<page> pages(client& http, std::string url) {
//     while (!url.empty()) {
//       auto r = co_await http.get(url);      // suspends without holding a thread
//       co_yield parse(*r);
//       url = next_link(*r);
//     }
//   }
//   sluice::from(pages(http, first)) | ...
//
// Consumed one item at a time with `std::optional<T> v = co_await gen.next();`
// (empty once the body returns). An exception thrown by the body is rethrown
// from that co_await. The body starts at the first next() (lazy) and runs on
// whichever thread resumes it.
//
// Items produced without an intervening suspension hand over without growing
// the stack (next() resumes the body with a plain call and returns when it
// yields), so a long stream is safe even where symmetric transfer is not a
// tail call (-O0, sanitizers). Only one next() may be pending at a time, and
// the generator must not be destroyed while one is.
#pragma once

#include <atomic>
#include <concepts>
#include <coroutine>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace sluice {

template <typename T>
class [[nodiscard]] async_generator {
  static_assert(std::is_object_v<T> && !std::is_const_v<T>, "async_generator<T> yields values: T is a plain type");

 public:
  using value_type = T;

  class promise_type {
   public:
    async_generator get_return_object() noexcept {
      return async_generator{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }

    template <typename U = T>
    requires std::constructible_from<T, U&&>
    auto yield_value(U&& value) {
      m_value.emplace(std::forward<U>(value));
      return produced{};
    }
    auto final_suspend() noexcept { return produced{}; }
    void return_void() const noexcept {}
    void unhandled_exception() noexcept { m_error = std::current_exception(); }

   private:
    friend async_generator;

    // Who moves on after the body produces (an item, the end or an error):
    //   running          next() is still inside its resume() call;
    //   consumer_waiting the body went off to wait, so next() suspended;
    //   produced         the body produced while next() was still inside resume().
    enum handoff : int { running, consumer_waiting, produced_value };

    // Suspends the body. If next() is still in its resume() call, control
    // simply returns there; if the consumer already suspended, it resumes it.
    struct produced {
      bool await_ready() const noexcept { return false; }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> self) const noexcept {
        promise_type& p = self.promise();
        int expected = running;
        if (p.m_handoff.compare_exchange_strong(expected, produced_value, std::memory_order_acq_rel,
                                                std::memory_order_acquire))
          return std::noop_coroutine();
        return p.m_consumer;
      }
      void await_resume() const noexcept {}
    };

    std::optional<T> m_value;
    std::exception_ptr m_error;
    std::coroutine_handle<> m_consumer;
    std::atomic<int> m_handoff{running};
  };

  async_generator(async_generator&& other) noexcept : m_handle(std::exchange(other.m_handle, {})) {}
  async_generator& operator=(async_generator&& other) noexcept {
    if (this != &other) {
      if (m_handle) m_handle.destroy();
      m_handle = std::exchange(other.m_handle, {});
    }
    return *this;
  }
  async_generator(const async_generator&) = delete;
  async_generator& operator=(const async_generator&) = delete;
  ~async_generator() {
    if (m_handle) m_handle.destroy();
  }

  /// Awaitable: the next item, or an empty optional once the body has returned.
  /// Rethrows what the body threw (once; after that the generator is finished).
  [[nodiscard]] auto next() noexcept { return next_awaiter{m_handle}; }

 private:
  explicit async_generator(std::coroutine_handle<promise_type> h) noexcept : m_handle(h) {}

  struct next_awaiter {
    std::coroutine_handle<promise_type> handle;

    bool await_ready() const noexcept { return !handle || handle.done(); }
    bool await_suspend(std::coroutine_handle<> consumer) {
      promise_type& p = handle.promise();
      p.m_consumer = consumer;  // m_value is empty: await_resume takes every item
      p.m_handoff.store(promise_type::running, std::memory_order_relaxed);
      handle.resume();
      // Produced already (the common, synchronous case): carry on now, with
      // a plain load. Still running: the body is waiting on something; unless
      // it produces in the meantime, suspend and let it resume us.
      int seen = p.m_handoff.load(std::memory_order_acquire);
      if (seen == promise_type::produced_value) return false;
      return p.m_handoff.compare_exchange_strong(seen, promise_type::consumer_waiting, std::memory_order_acq_rel,
                                                 std::memory_order_acquire);
    }
    std::optional<T> await_resume() {
      if (!handle) return std::nullopt;
      promise_type& p = handle.promise();
      if (p.m_error) std::rethrow_exception(std::exchange(p.m_error, nullptr));
      return std::exchange(p.m_value, std::nullopt);
    }
  };

  std::coroutine_handle<promise_type> m_handle;
};

}  // namespace sluice
