// The stage protocol: what a stage descriptor must provide to be attached
// with `flow | stage`, as a concept, plus sluice::detail::stage_base, the
// shared implementation of the common parts.
//
// A stage descriptor D (for items of type In flowing into it) provides:
//
//   using sluice_stage = void;                              // the tag operator| looks for
//   template <class In> using output = ...;                 // item type sent on; detail::none for a sink
//   template <class In> static constexpr bool check();      // readable static_asserts; returns whether they hold
//   template <class In> void prepare() const;               // run-time option checks (throws std::logic_error)
//   stage_info info() const;                                // name, kind, parameters (for describe())
//   std::size_t capacity() const;                           // input channel items; 0 = default_capacity
//   std::size_t output_chunk(std::size_t in_chunk) const;   // items per output chunk (a hint downstream)
//   template <class In> task<void> run(stage_io<In, output<In>>&);   // the stage's body
// and optionally
//   template <class In> bool ordered_output() const;        // false: emits out of input order
//   std::size_t capacity_bytes() const;                     // input channel bound in bytes
//                                                           // (sluice::item_bytes); 0 = none
//
// sluice::detail::stage_protocol<D, In> checks all of this. A new stage
// derives from stage_base<Self, Options>, which supplies the tag, prepare()
// (the copyable-for-retry check), info(), capacity() and output_chunk(); it
// writes output, check and run, and `parameters()` if it has any to show;
// an Options struct with a `capacity_bytes` member gives it capacity_bytes().
//
// check() returning false makes operator| produce a poisoned flow
// (detail::poisoned_flow) instead of instantiating run(): the first compile
// error is then the stage's static_assert, not a cascade from inside the
// library. A check() returning void (the older form) still works; the stage
// then only gets that protection when its output type is ill-formed.
//
// Stage functions (async_map, for_each, map and custom stages) may take a
// std::stop_token as an extra last parameter: it is the run's token, stopped
// when the run is cancelled or fails (see stage_context::stop_token()).
#pragma once

#include <concepts>
#include <cstddef>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/core/detail/std_parts.hpp"
#include "sluice/core/task.hpp"
#include "sluice/stages/detail/stage_call.hpp"
#include "sluice/stages/detail/stage_io.hpp"
#include "sluice/stages/stage_options.hpp"

namespace sluice {

class pipeline;
template <typename T>
class flow;

namespace detail {

/// The output type of a stage whose check failed: what follows it is not
/// checked again, so the stage's own static_assert stays the only error.
struct poisoned {};

/// Tag check only: what operator| dispatches on.
template <typename D>
concept stage_descriptor = requires {
  typename D::sluice_stage;
};

/// The full protocol (see the file comment) for items of type In.
template <typename D, typename In>
concept stage_protocol = stage_descriptor<D> && std::move_constructible<D> && requires {
  typename D::template output<In>;
} && requires(D& d, const D& cd, stage_io<In, typename D::template output<In>>& io, std::size_t n) {
  D::template check<In>();
  cd.template prepare<In>();
  { cd.info() } -> std::convertible_to<stage_info>;
  { cd.capacity() } -> std::convertible_to<std::size_t>;
  { cd.output_chunk(n) } -> std::convertible_to<std::size_t>;
  { d.template run<In>(io) } -> std::same_as<task<void>>;
};

/// What the stage's own check() says (true for the older void form).
template <typename D, typename In>
constexpr bool stage_check_passes() {
  if constexpr (std::is_same_v<decltype(D::template check<In>()), bool>) {
    return D::template check<In>();
  } else {
    D::template check<In>();  // the older void form: its static_asserts still fire
    return true;
  }
}

/// True when D can be attached after a flow of In: its check passed and it
/// implements the protocol with a usable output type.
template <typename D, typename In>
constexpr bool stage_accepts() {
  if constexpr (!stage_check_passes<D, In>()) {
    return false;
  } else if constexpr (!requires { typename D::template output<In>; }) {
    return false;
  } else {
    using out_t = typename D::template output<In>;
    return !std::is_void_v<out_t> && !std::is_same_v<out_t, poisoned> && stage_protocol<D, In>;
  }
}

/// The stage check shared by every stage with an error policy: a retry
/// passes the item again, so it needs a copy.
template <typename In>
void require_copyable_for_retry(const error_policy& policy, const char* kind) {
  if (policy.retry.max_attempts > 1 && !std::is_copy_constructible_v<In>)
    throw std::logic_error("sluice::" + std::string(kind) + ": retry needs a copyable item type");
}

/// The common parts of a stage descriptor (CRTP). Options must have `name`
/// and `capacity`; an `on_error` member enables the retry check. Derived may
/// define `std::string parameters() const` for describe().
template <typename Derived, typename Options = stage_options>
class stage_base {
 public:
  using sluice_stage = void;

  stage_base(Options options, const char* kind) : m_options(std::move(options)), m_kind(kind) {}

  template <typename In>
  void prepare() const {
    if constexpr (requires { m_options.on_error; }) require_copyable_for_retry<In>(m_options.on_error, m_kind);
  }
  [[nodiscard]] stage_info info() const {
    return {.name = name_or(m_options.name, m_kind),
            .kind = m_kind,
            .parameters = static_cast<const Derived&>(*this).parameters(),
            .capacity = 0};
  }
  [[nodiscard]] std::string parameters() const { return {}; }
  [[nodiscard]] std::size_t capacity() const noexcept { return m_options.capacity; }
  [[nodiscard]] std::size_t output_chunk(std::size_t in) const noexcept { return in; }
  /// The input channel's bound in bytes: the options' `capacity_bytes`, if any.
  [[nodiscard]] std::size_t capacity_bytes() const noexcept {
    if constexpr (requires { m_options.capacity_bytes; }) {
      return m_options.capacity_bytes;
    } else {
      return 0;
    }
  }
  /// Whether a stage that can run fused (has on_chunk) may be: its `.fuse` option.
  [[nodiscard]] bool fuses() const noexcept {
    if constexpr (requires { m_options.fuse; }) {
      return m_options.fuse;
    } else {
      return false;
    }
  }

 protected:
  Options m_options;
  const char* m_kind;
};

/// The base of a stage that handles its input one chunk at a time (map,
/// filter, flat_map): Derived provides
///   template <class In> task<bool> on_chunk(stage_io<In, output<In>>&, input_chunk<In>&);
/// (false: downstream is gone), which is also its fused form (pipeline.hpp);
/// run() loops it over the input channel. run_stage runs that loop in its
/// own frame, so such a stage costs one coroutine less per item type.
template <typename Derived, typename Options = stage_options>
class chunk_stage : public stage_base<Derived, Options> {
 public:
  using stage_base<Derived, Options>::stage_base;

  // Self: Derived is incomplete when this base is instantiated.
  template <typename In, typename Self = Derived>
  task<void> run(stage_io<In, typename Self::template output<In>>& io) {
    while (auto in = co_await io.recv()) {
      if (!co_await static_cast<Self&>(*this).template on_chunk<In>(io, *in)) co_return;
    }
  }
};

/// What `flow | stage` yields when the stage's check failed. It takes any
/// further stage and converts to anything a pipeline is used as, so the
/// stage's static_assert is the only error; it can never run (the program
/// did not compile).
struct poisoned_flow {
  template <typename S>
  poisoned_flow operator|(S&&) const {
    return {};
  }
  template <typename T>
  operator flow<T>() const;   // NOLINT(google-explicit-constructor): absorbs errors
  operator pipeline() const;  // NOLINT(google-explicit-constructor)
  [[nodiscard]] std::vector<stage_info> stages() const { return {}; }
  [[nodiscard]] std::string describe() const { return {}; }
  [[nodiscard]] std::string to_dot() const { return {}; }
};

}  // namespace detail
}  // namespace sluice
