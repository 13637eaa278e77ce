// How the DSL calls a user's stage function: with or without the run's
// std::stop_token (detected by invocability), and what it returns.
#pragma once

#include <concepts>
#include <stop_token>
#include <type_traits>
#include <utility>

#include "sluice/core/detail/std_parts.hpp"
#include "sluice/core/task.hpp"

namespace sluice::detail {

/// True when X is Template<Args...> (e.g. is_specialization_of<X, flow>).
template <typename X, template <typename...> class Template>
inline constexpr bool is_specialization_of = false;
template <template <typename...> class Template, typename... Args>
inline constexpr bool is_specialization_of<Template<Args...>, Template> = true;

template <typename T>
struct is_task : std::false_type {};
template <typename T>
struct is_task<task<T>> : std::true_type {
  using value_type = T;
};

/// fn(In, std::stop_token): the function wants the run's stop token.
template <typename F, typename In>
concept takes_stop_token = std::invocable<F&, In&&, std::stop_token>;

/// fn(In) or fn(In, std::stop_token).
template <typename F, typename In>
concept stage_callable = std::invocable<F&, In&&> || takes_stop_token<F, In>;

template <typename F, typename In, bool = takes_stop_token<F, In>>
struct stage_call_result : std::invoke_result<F&, In&&> {};
template <typename F, typename In>
struct stage_call_result<F, In, true> : std::invoke_result<F&, In&&, std::stop_token> {};
/// What a stage function returns for an item (SFINAE-friendly).
template <typename F, typename In>
using stage_call_result_t = typename stage_call_result<F, In>::type;

/// A function with no state of its own: a class without data members (a
/// lambda without captures, std::identity) or a pointer to a function. Two
/// copies of a light stage over it may run at once (pipeline.hpp, "Fusion").
template <typename F>
inline constexpr bool stateless_function_v = std::is_empty_v<F> ||
                                             (std::is_pointer_v<F> && std::is_function_v<std::remove_pointer_t<F>>);

/// Calls fn(item, stop) when fn takes a stop token, else fn(item).
template <typename F, typename In>
decltype(auto) invoke_stage_fn(F& fn, In&& item, const std::stop_token& stop) {
  if constexpr (std::invocable<F&, In&&, std::stop_token>) {
    return detail::invoke(fn, std::forward<In>(item), stop);
  } else {
    return detail::invoke(fn, std::forward<In>(item));
  }
}

}  // namespace sluice::detail
