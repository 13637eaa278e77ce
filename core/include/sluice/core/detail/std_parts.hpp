// The parts of <chrono>, <functional> and <algorithm> that sluice's headers
// use (durations and clocks; std::function, std::invoke, std::ref; min, max
// and the heap functions), without the rest: what a program including <sluice/sluice.hpp>
// compiles (docs/architecture.md, "Header cost").
//
// With libstdc++ (g++, and clang on Linux), <chrono> is the durations and
// clocks plus C++20's calendar, time zones and stream output, which bring
// <sstream>; <functional> is std::function plus the searchers, which bring
// <unordered_map> and all of <bits/stl_algo.h>; <algorithm> is the whole of
// <bits/stl_algo.h> and the ranges algorithms. Together about 28k of the
// 95k standard lines a pipeline program compiled. libstdc++ keeps the parts
// used here in internal headers, included below, for the releases whose
// layout we know (11 to 14: an internal header may change meaning in a later
// one); elsewhere the standard headers are included whole. Nothing else differs: the names are std's.
//
// A program that uses something from these headers (std::plus,
// std::unordered_map, std::sort, std::chrono::year_month_day, operator<< of
// a duration) includes the standard header itself, as it always should.
#pragma once

#if defined(__GLIBCXX__) && defined(_GLIBCXX_RELEASE) && _GLIBCXX_RELEASE >= 11 && _GLIBCXX_RELEASE <= 14 && \
    __has_include(<bits/chrono.h>) && __has_include(<bits/std_function.h>) && \
    __has_include(<bits/invoke.h>) && __has_include(<bits/refwrap.h>) && __has_include(<bits/stl_algobase.h>) && \
    __has_include(<bits/stl_heap.h>)
#include <bits/chrono.h>        // std::chrono durations, time points, clocks
#include <bits/invoke.h>        // std::__invoke, for detail::invoke
#include <bits/refwrap.h>       // std::reference_wrapper, std::ref, std::cref
#include <bits/std_function.h>  // std::function
#include <bits/stl_algobase.h>  // std::min, std::max
#include <bits/stl_heap.h>      // std::make_heap, std::push_heap, std::pop_heap
#define SLUICE_DETAIL_STD_INVOKE std::__invoke
#else
#include <algorithm>
#include <chrono>
#include <functional>
#define SLUICE_DETAIL_STD_INVOKE std::invoke
#endif

#include <type_traits>
#include <utility>

namespace sluice::detail {

/// std::invoke (which is declared in <functional>).
template <typename F, typename... Args>
constexpr std::invoke_result_t<F, Args...> invoke(F&& fn,
                                                  Args&&... args) noexcept(std::is_nothrow_invocable_v<F, Args...>) {
  return SLUICE_DETAIL_STD_INVOKE(std::forward<F>(fn), std::forward<Args>(args)...);
}

}  // namespace sluice::detail

#undef SLUICE_DETAIL_STD_INVOKE
