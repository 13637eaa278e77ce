// The result slot of a task's promise and of a oneshot: nothing yet, a
// value, or an exception. std::variant<std::monostate, T, std::exception_ptr>
// would do, but every variant type is some forty-five functions at -O0 (its
// storage, visitors and special members, layered) and a pipeline program
// instantiates one per task result type; this is five
// (docs/architecture.md, "Header cost").
#pragma once

#include <cassert>
#include <exception>
#include <new>
#include <utility>

namespace sluice::detail {

/// Not thread-safe: the task or oneshot that owns it orders the accesses.
template <typename T>
class outcome {
 public:
  outcome() noexcept {}  // NOLINT(modernize-use-equals-default): the union member stays unconstructed
  outcome(const outcome&) = delete;
  outcome& operator=(const outcome&) = delete;
  ~outcome() {
    if (m_has_value) m_value.~T();
  }

  /// Stores the value. At most once, and not after set_error(). If T's
  /// constructor throws, nothing is stored.
  template <typename... Args>
  void set_value(Args&&... args) {
    assert(!m_has_value && !m_error && "outcome set twice");
    ::new (static_cast<void*>(&m_value)) T(std::forward<Args>(args)...);
    m_has_value = true;
  }
  /// Stores the error (replacing a value, if any: an exception raised after
  /// the value was stored wins, as it did with the variant).
  void set_error(std::exception_ptr error) noexcept {
    if (m_has_value) {
      m_value.~T();
      m_has_value = false;
    }
    m_error = std::move(error);
  }

  /// The value (moved out), or rethrows the error (also moved out).
  T take() {
    // The error leaves the slot, so the exception's last reference dies with
    // the catcher's copies, not with the slot: a oneshot's state may be freed
    // last by its sender, on another thread, after the catcher has read and
    // dropped the exception, and freeing it there is ordered only by
    // libstdc++'s uninstrumented reference counts (ThreadSanitizer reported
    // that as a race in ListFiles.MissingDirectoryOrAFileFailsWithThePath).
    if (m_error) std::rethrow_exception(std::exchange(m_error, nullptr));
    assert(m_has_value && "finished without a value");
    return std::move(m_value);
  }

 private:
  union {
    T m_value;
  };
  bool m_has_value = false;
  std::exception_ptr m_error;
};

}  // namespace sluice::detail
