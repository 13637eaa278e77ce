// sluice::generator<T>: a synchronous generator coroutine, usable as a source.
//
//   sluice::generator<int> naturals(int n) { for (int i = 0; i < n; ++i) co_yield i; }
//   sluice::from(naturals(10)) | ...
//
// It is an input range: each ++ resumes the body until the next co_yield.
// An exception thrown by the body is rethrown from ++ (and so fails the
// source stage). Thread-safety: one thread at a time; a pipeline source
// iterates it from one coroutine. The body must not block for long: it runs
// on an arena thread.
#pragma once

#include <coroutine>
#include <cstddef>
#include <exception>
#include <iterator>
#include <memory>
#include <type_traits>
#include <utility>

namespace sluice {

template <typename T>
class [[nodiscard]] generator {
 public:
  using value_type = std::remove_cvref_t<T>;

  struct promise_type {
    value_type* m_value = nullptr;
    std::exception_ptr m_error;

    generator get_return_object() noexcept {
      return generator{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    std::suspend_always final_suspend() const noexcept { return {}; }
    std::suspend_always yield_value(value_type& v) noexcept {
      m_value = std::addressof(v);
      return {};
    }
    std::suspend_always yield_value(value_type&& v) noexcept {
      m_value = std::addressof(v);
      return {};
    }
    void return_void() const noexcept {}
    void unhandled_exception() noexcept { m_error = std::current_exception(); }
    template <typename U>
    std::suspend_never await_transform(U&&) = delete;  // synchronous: no co_await inside
  };

  class iterator {
   public:
    using value_type = generator::value_type;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(std::coroutine_handle<promise_type> h) : m_handle(h) {}
    value_type& operator*() const noexcept { return *m_handle.promise().m_value; }
    iterator& operator++() {
      advance(m_handle);
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const noexcept { return !m_handle || m_handle.done(); }

   private:
    std::coroutine_handle<promise_type> m_handle;
  };

  generator(generator&& other) noexcept : m_handle(std::exchange(other.m_handle, {})) {}
  generator& operator=(generator&& other) noexcept {
    if (this != &other) {
      if (m_handle) m_handle.destroy();
      m_handle = std::exchange(other.m_handle, {});
    }
    return *this;
  }
  generator(const generator&) = delete;
  generator& operator=(const generator&) = delete;
  ~generator() {
    if (m_handle) m_handle.destroy();
  }

  /// Runs the body to the first co_yield. Call once.
  iterator begin() {
    advance(m_handle);
    return iterator{m_handle};
  }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  explicit generator(std::coroutine_handle<promise_type> h) noexcept : m_handle(h) {}
  static void advance(std::coroutine_handle<promise_type> h) {
    h.resume();
    if (h.promise().m_error) std::rethrow_exception(std::exchange(h.promise().m_error, {}));
  }
  std::coroutine_handle<promise_type> m_handle;
};

}  // namespace sluice
