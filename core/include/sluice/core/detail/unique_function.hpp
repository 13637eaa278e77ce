// A move-only `void()` callable (std::move_only_function is C++23 and absent
// from g++ 12): lets blocking jobs own move-only state such as a oneshot sender.
#pragma once

#include <memory>
#include <type_traits>
#include <utility>

namespace sluice::detail {

class unique_function {
 public:
  unique_function() = default;
  template <typename F>
  requires(!std::is_same_v<std::decay_t<F>, unique_function> && std::is_invocable_v<std::decay_t<F>&>)
      unique_function(F&& f)
      : m_callable(std::make_unique<model<std::decay_t<F>>>(std::forward<F>(f))) {}  // NOLINT

  void operator()() { m_callable->call(); }
  explicit operator bool() const noexcept { return static_cast<bool>(m_callable); }

 private:
  struct concept_base {
    virtual ~concept_base() = default;
    virtual void call() = 0;
  };
  template <typename F>
  struct model final : concept_base {
    explicit model(F&& f) : fn(std::move(f)) {}
    explicit model(const F& f) : fn(f) {}
    void call() override { fn(); }
    F fn;
  };
  std::unique_ptr<concept_base> m_callable;
};

}  // namespace sluice::detail
