// A value or none: what a stage's call of its function gives back (the
// result, or none when the item failed or was abandoned; stage_io.hpp).
//
// Used as std::optional<T> would be (`if (r)`, `*r`, `r->`, nullopt), but
// flat: std::optional is four layers of bases (payload, storage, base,
// optional), some fifty functions per type at -O0, and a pipeline
// instantiates it for the result type of every stage function; this is a
// handful (docs/architecture.md, "Header cost").
//
// Thread-safety: none (a value type).
#pragma once

#include <new>
#include <optional>
#include <type_traits>
#include <utility>

namespace sluice::detail {

template <typename T>
class maybe {
  static_assert(!std::is_reference_v<T>, "maybe<T> holds values");

 public:
  maybe() noexcept {}                // NOLINT(modernize-use-equals-default): the union member stays unconstructed
  maybe(std::nullopt_t) noexcept {}  // NOLINT(google-explicit-constructor): as std::optional
  maybe(T&& value) : m_has(true) {   // NOLINT(google-explicit-constructor): as std::optional
    ::new (static_cast<void*>(&m_value)) T(std::move(value));
  }
  maybe(const T& value) : m_has(true) {  // NOLINT(google-explicit-constructor): as std::optional
    ::new (static_cast<void*>(&m_value)) T(value);
  }
  maybe(maybe&& other) noexcept(std::is_nothrow_move_constructible_v<T>) : m_has(other.m_has) {
    if (m_has) ::new (static_cast<void*>(&m_value)) T(std::move(other.m_value));
  }
  maybe& operator=(maybe&& other) noexcept(std::is_nothrow_move_constructible_v<T>) {
    if (this != &other) {
      reset();
      if (other.m_has) {
        ::new (static_cast<void*>(&m_value)) T(std::move(other.m_value));
        m_has = true;
      }
    }
    return *this;
  }
  maybe(const maybe&) = delete;
  maybe& operator=(const maybe&) = delete;
  ~maybe() { reset(); }

  [[nodiscard]] bool has_value() const noexcept { return m_has; }
  [[nodiscard]] explicit operator bool() const noexcept { return m_has; }
  [[nodiscard]] T& operator*() noexcept { return m_value; }
  [[nodiscard]] const T& operator*() const noexcept { return m_value; }
  [[nodiscard]] T* operator->() noexcept { return &m_value; }
  [[nodiscard]] const T* operator->() const noexcept { return &m_value; }

 private:
  void reset() noexcept {
    if (m_has) {
      m_value.~T();
      m_has = false;
    }
  }

  union {
    T m_value;
  };
  bool m_has = false;
};

}  // namespace sluice::detail
