// A copyable, type-erased callable that shares its target instead of copying
// it: the launchers of flows and pipelines and the run's close actions.
//
// Why not std::function: every lambda stored in one instantiates its manager,
// clone, destroy, invoker and the lambda's copy constructor, some twenty
// functions per launcher; a pipeline has several per stage, and at -O0 each
// one is code the compiler generates (docs/architecture.md, "Header cost").
// Here a lambda costs a holder (constructor, destructor, vtable) and one call
// thunk. Copies share the target, which is the same as copying it for the
// callables stored here (called through const, their captures are values or
// shared pointers).
//
// Thread-safety: copies may be made and destroyed on any thread (the count is
// atomic); calling is as thread-safe as the target. Calling an empty
// shared_fn is undefined (check with operator bool).
#pragma once

#include <atomic>
#include <concepts>
#include <cstddef>
#include <type_traits>
#include <utility>

namespace sluice::detail {

/// Untyped part of shared_fn: the reference-counted, virtually destroyed target.
class shared_fn_target {
 public:
  shared_fn_target() = default;
  shared_fn_target(const shared_fn_target&) = delete;
  shared_fn_target& operator=(const shared_fn_target&) = delete;

  static void retain(shared_fn_target* t) noexcept {
    if (t) t->m_refs.fetch_add(1, std::memory_order_relaxed);
  }
  static void release(shared_fn_target* t) noexcept {
    if (t && t->m_refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete t;
  }

 protected:
  virtual ~shared_fn_target() = default;

 private:
  std::atomic<std::size_t> m_refs{1};
};

/// Untyped part of shared_fn: owns one reference to the target. Copies,
/// moves and destruction are the same code for every signature.
class shared_fn_base {
 public:
  shared_fn_base() noexcept = default;
  shared_fn_base(const shared_fn_base& other) noexcept : m_target(other.m_target) {
    shared_fn_target::retain(m_target);
  }
  shared_fn_base(shared_fn_base&& other) noexcept : m_target(other.m_target) { other.m_target = nullptr; }
  shared_fn_base& operator=(const shared_fn_base& other) noexcept {
    shared_fn_target::retain(other.m_target);
    shared_fn_target::release(m_target);
    m_target = other.m_target;
    return *this;
  }
  shared_fn_base& operator=(shared_fn_base&& other) noexcept {
    if (this != &other) {
      shared_fn_target::release(m_target);
      m_target = other.m_target;
      other.m_target = nullptr;
    }
    return *this;
  }
  ~shared_fn_base() { shared_fn_target::release(m_target); }

  explicit operator bool() const noexcept { return m_target != nullptr; }

 protected:
  explicit shared_fn_base(shared_fn_target* target) noexcept : m_target(target) {}
  shared_fn_target* m_target = nullptr;
};

template <typename Sig>
class shared_fn;

/// A shared callable returning void (what the launchers and closers need).
template <typename... Args>
class shared_fn<void(Args...)> : public shared_fn_base {
 public:
  shared_fn() noexcept = default;
  template <typename F>
  requires(!std::same_as<std::remove_cvref_t<F>, shared_fn> && std::invocable<const std::decay_t<F>&, Args...>)
      shared_fn(F&& fn)  // NOLINT(google-explicit-constructor): stands in for std::function
      : shared_fn_base(new holder<std::decay_t<F>>(std::forward<F>(fn))), m_call(&call<std::decay_t<F>>) {}

  void operator()(Args... args) const { m_call(m_target, std::forward<Args>(args)...); }

 private:
  template <typename F>
  class holder final : public shared_fn_target {
   public:
    template <typename G>
    explicit holder(G&& fn) : m_fn(std::forward<G>(fn)) {}
    const F m_fn;
  };
  template <typename F>
  static void call(shared_fn_target* target, Args... args) {
    static_cast<holder<F>*>(target)->m_fn(std::forward<Args>(args)...);
  }

  // Not cleared by a move: calling a moved-from shared_fn is as undefined as
  // calling an empty one.
  void (*m_call)(shared_fn_target*, Args...) = nullptr;
};

}  // namespace sluice::detail
