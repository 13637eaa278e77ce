// Custom stages: a plain struct becomes a pipeline stage.
//
//   struct word_count {                                   // sync, per item
//     static constexpr const char* name = "word_count";   // optional
//     static constexpr std::size_t capacity_bytes = 1 << 20;  // optional: input bound in bytes
//     std::size_t process(std::string line) const;
//   };
//   struct fetch_page {                                   // async, per item
//     sluice::task<page> process(url u);                  // called concurrently (up to .concurrency)
//   };                                                    // or process(url u, std::stop_token stop)
//   struct dedupe {                                       // batch
//     std::vector<row> process_batch(std::vector<row>& rows);
//   };
//
//   sluice::from(lines) | word_count{} | sluice::to_vector(counts);
//   sluice::from(urls) | sluice::stage(fetch_page{}, {.concurrency = 8}) | ...;
//
// The three forms, checked by sluice::custom_stage<S, In> (In is the item
// type flowing into the stage):
//   sync  : `Out process(In)`               -> runs like sluice::map (inline, in order)
//   async : `sluice::task<Out> process(In)` -> runs like sluice::async_map
//   batch : `std::vector<Out> process_batch(std::vector<In>&)` -> called once
//           per received chunk (up to `.batch` items), inline, in order.
// A struct fitting none of them fails to compile with one static_assert
// message that lists them. The struct is moved into the pipeline; process
// is called on that copy. The per-item forms may take the run's
// std::stop_token as a last parameter (stopped when the run is cancelled).
#pragma once

#include <concepts>
#include <exception>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/core/detail/std_parts.hpp"
#include "sluice/core/task.hpp"
#include "sluice/stages/async_map.hpp"
#include "sluice/stages/map.hpp"
#include "sluice/stages/pipeline.hpp"
#include "sluice/stages/stage_protocol.hpp"

namespace sluice {
namespace detail {
template <typename T>
struct is_vector : std::false_type {};
template <typename T, typename A>
struct is_vector<std::vector<T, A>> : std::true_type {};

template <typename S, typename In>
concept process_takes_stop = requires(S& s, In&& item, std::stop_token stop) {
  s.process(std::forward<In>(item), stop);
};
template <typename S, typename In>
concept has_process = process_takes_stop<S, In> || requires(S& s, In&& item) {
  s.process(std::forward<In>(item));
};

/// The per-item function of a custom stage: calls process on the shared
/// struct, with the run's token when process takes one.
template <typename S>
struct call_process {
  std::shared_ptr<S> stage;
  template <typename In>
  requires has_process<S, In>
  auto operator()(In&& item, std::stop_token stop) const {
    if constexpr (process_takes_stop<S, In>) {
      return stage->process(std::forward<In>(item), std::move(stop));
    } else {
      return stage->process(std::forward<In>(item));
    }
  }
};

template <typename S, typename In>
using process_result_t = std::invoke_result_t<const call_process<S>&, In&&, std::stop_token>;
}  // namespace detail

/// `Out process(In)` with a non-task, non-void Out.
template <typename S, typename In>
concept sync_item_stage = detail::has_process<S, In> && !detail::is_task<detail::process_result_t<S, In>>::value &&
                          !std::is_void_v<detail::process_result_t<S, In>>;

/// `task<Out> process(In)`.
template <typename S, typename In>
concept async_item_stage = detail::has_process<S, In> && detail::is_task<detail::process_result_t<S, In>>::value;

/// `std::vector<Out> process_batch(std::vector<In>&)`.
template <typename S, typename In>
concept batch_stage = requires(S& s, std::vector<In>& items) {
  {s.process_batch(items)};
}
&&detail::is_vector<decltype(std::declval<S&>().process_batch(std::declval<std::vector<In>&>()))>::value;

/// Any of the three custom stage forms.
template <typename S, typename In>
concept custom_stage = sync_item_stage<S, In> || async_item_stage<S, In> || batch_stage<S, In>;

/// Options for sluice::stage(s, options).
struct custom_stage_options {
  std::string name = {};
  /// Async form: items in flight.
  std::size_t concurrency = 16;
  /// Async form: emit in input order.
  bool ordered = false;
  /// Batch form: items handed to one process_batch call (at most).
  std::size_t batch = 256;
  /// Items the input channel holds; 0 = sluice::default_capacity.
  std::size_t capacity = 0;
  /// Bytes (sluice::item_bytes) the input channel holds; 0 = the struct's
  /// `static constexpr std::size_t capacity_bytes` if it has one, else no
  /// bound in bytes. A chunk larger than this still passes, alone.
  std::size_t capacity_bytes = 0;
  error_policy on_error = {};
};

namespace detail {

template <typename S>
custom_stage_options named_custom(custom_stage_options options) {
  if constexpr (requires { S::name; }) {
    if (options.name.empty()) options.name = S::name;
  }
  if constexpr (requires { std::size_t{S::capacity_bytes}; }) {
    if (options.capacity_bytes == 0) options.capacity_bytes = S::capacity_bytes;
  }
  if (options.batch == 0) options.batch = 1;
  return options;
}

template <typename S>
class custom_stage_adapter : public stage_base<custom_stage_adapter<S>, custom_stage_options> {
 public:
  template <typename In>
  static auto output_of() {
    if constexpr (sync_item_stage<S, In>) {
      return std::type_identity<process_result_t<S, In>>{};
    } else if constexpr (async_item_stage<S, In>) {
      return std::type_identity<typename is_task<process_result_t<S, In>>::value_type>{};
    } else if constexpr (batch_stage<S, In>) {
      return std::type_identity<typename decltype(std::declval<S&>().process_batch(
          std::declval<std::vector<In>&>()))::value_type>{};
    } else {
      return std::type_identity<poisoned>{};
    }
  }
  template <typename In>
  using output = typename decltype(output_of<In>())::type;

  custom_stage_adapter(S s, custom_stage_options options)
      : stage_base<custom_stage_adapter<S>, custom_stage_options>(named_custom<S>(std::move(options)), "custom"),
        m_stage(std::make_shared<S>(std::move(s))) {}

  template <typename In>
  static constexpr bool check() {
    constexpr bool ok = custom_stage<S, In>;
    static_assert(ok,
                  "sluice: this type is not a pipeline stage for the items flowing into it. A custom stage needs "
                  "one of: `Out process(In)` (sync, per item), `sluice::task<Out> process(In)` (async, per item) "
                  "or `std::vector<Out> process_batch(std::vector<In>&)` (batch), where In is the item type.");
    return ok;
  }
  // Only the async form may reorder (and only when not asked to keep order).
  template <typename In>
  [[nodiscard]] bool ordered_output() const noexcept {
    return !async_item_stage<S, In> || m_options.ordered;
  }

  template <typename In>
  task<void> run(stage_io<In, output<In>>& io) {
    if constexpr (sync_item_stage<S, In>) {
      map_stage<call_process<S>> inner(
          call_process<S>{m_stage},
          {.name = m_options.name, .capacity = m_options.capacity, .on_error = m_options.on_error});
      co_await inner.template run<In>(io);
    } else if constexpr (async_item_stage<S, In>) {
      async_map_stage<call_process<S>> inner(call_process<S>{m_stage}, {.name = m_options.name,
                                                                        .concurrency = m_options.concurrency,
                                                                        .ordered = m_options.ordered,
                                                                        .capacity = m_options.capacity,
                                                                        .on_error = m_options.on_error});
      co_await inner.template run<In>(io);
    } else {
      co_await run_batches(io);
    }
  }

 private:
  template <typename In>
  task<void> run_batches(stage_io<In, output<In>>& io) {
    while (auto in = co_await io.recv()) {
      auto& items = in->items;
      while (items.size() < m_options.batch) {
        auto more = io.try_recv();
        if (!more) break;
        items.insert(items.end(), std::make_move_iterator(more->items.begin()),
                     std::make_move_iterator(more->items.end()));
      }
      const std::size_t n = items.size();
      if (io.stopped() || n == 0) {
        io.drop(n);
        continue;
      }
      auto started = std::chrono::steady_clock::now();
      auto call = [this](std::vector<In>& batch) { return m_stage->process_batch(batch); };
      // A failing batch fails as one: the dead letter (if any) carries the whole batch.
      std::exception_ptr error;
      std::optional<output_vector<In>> out;
      try {
        out.emplace(call(items));
      } catch (...) {
        error = std::current_exception();
      }
      io.stats().busy(std::chrono::steady_clock::now() - started);
      if (error) {
        stage_stats::bump(io.stats().failed, n - 1);
        io.item_failed(m_options.on_error, in->first_index, &items, error);
        continue;
      }
      if (out->empty()) {
        io.completed(n);
        continue;
      }
      if (!co_await io.send(*out, n)) co_return;
    }
  }
  template <typename In>
  using output_vector = std::vector<output<In>>;

  using stage_base<custom_stage_adapter<S>, custom_stage_options>::m_options;
  std::shared_ptr<S> m_stage;
};

}  // namespace detail

/// Wraps a custom stage struct with options (see the file comment for the forms).
template <typename S>
auto stage(S s, custom_stage_options options = {}) {
  return detail::custom_stage_adapter<S>(std::move(s), std::move(options));
}

/// `flow | my_stage{}`: a custom stage with default options. A type that is
/// not a stage fails here, with the message in custom_stage_adapter::check.
template <typename T, typename S>
requires(!detail::stage_descriptor<std::remove_cvref_t<S>>) auto operator|(flow<T> upstream, S&& s) {
  return std::move(upstream) | stage(std::forward<S>(s));
}

}  // namespace sluice
