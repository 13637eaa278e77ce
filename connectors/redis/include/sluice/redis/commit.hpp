// sluice::redis::commit(fn): the sink of a worker reading a stream. Calls
// fn(message<T>&) for every item (in arrival order, never concurrently) and
// acknowledges the item when fn returns; when fn throws, the item is given
// back with the exception's text and delivered again later, and after
// max_deliveries its entry is dead-lettered with that text as the reason.
//
//   redis::commit([&](redis::message<record>& m) { db.upsert(m.id(), m.value()); })
//   redis::commit([&](redis::message<record>& m) -> sluice::task<void> { co_await store(m); })
//
// fn should be idempotent (keyed by m.id() or the item's own key): delivery
// is at-least-once. A failure is counted in the report as `failed` and does
// not stop the run (redelivery is the error policy here).
#pragma once

#include <chrono>
#include <concepts>
#include <exception>
#include <string>
#include <type_traits>
#include <utility>

#include "sluice/redis/message.hpp"
#include "sluice/stages/pipeline.hpp"
#include "sluice/stages/stage_options.hpp"

namespace sluice::redis {
namespace detail {

template <typename F>
class commit_sink {
 public:
  using sluice_stage = void;
  template <typename In>
  using output = sluice::detail::none;

  commit_sink(F fn, std::string name) : m_fn(std::move(fn)), m_name(std::move(name)) {}

  template <typename In>
  static constexpr void check() {
    static_assert(is_message<In>, "sluice::redis::commit: the items reaching it must be redis::message<T>");
    static_assert(std::invocable<F&, In&>, "sluice::redis::commit: fn must take redis::message<T>&");
    using r = std::invoke_result_t<F&, In&>;
    static_assert(std::is_void_v<r> || std::is_same_v<r, task<void>>,
                  "sluice::redis::commit: fn must return void or sluice::task<void>");
  }
  template <typename In>
  void prepare() const {}
  [[nodiscard]] sluice::detail::stage_info info() const {
    return {.name = m_name.empty() ? "commit" : m_name, .kind = "sink", .parameters = "ack after fn", .capacity = 0};
  }
  [[nodiscard]] std::size_t capacity() const noexcept { return 0; }
  [[nodiscard]] std::size_t output_chunk(std::size_t) const noexcept { return 0; }

  template <typename In>
  task<void> run(sluice::detail::stage_io<In, sluice::detail::none>& io) {
    using r = std::invoke_result_t<F&, In&>;
    while (auto in = co_await io.recv()) {
      auto& items = in->items;
      auto started = std::chrono::steady_clock::now();
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (io.stopped()) {
          io.drop(items.size() - i);  // the messages give their entries back
          break;
        }
        std::exception_ptr error;
        try {
          if constexpr (std::is_void_v<r>) {
            m_fn(items[i]);
          } else {
            auto work = m_fn(items[i]);
            co_await std::move(work);
          }
        } catch (...) {
          error = std::current_exception();
        }
        if (error) {
          items[i].fail(what(error));
          sluice::detail::stage_stats::bump(io.stats().failed, 1);
        } else {
          items[i].ack();
          io.completed(1);
        }
      }
      io.stats().busy(std::chrono::steady_clock::now() - started);
    }
  }

 private:
  static std::string what(const std::exception_ptr& e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      return ex.what();
    } catch (...) {
      return "unknown exception";
    }
  }

  F m_fn;
  std::string m_name;
};

}  // namespace detail

/// The acknowledging sink (see the file comment).
template <typename F>
auto commit(F fn, std::string name = {}) {
  return detail::commit_sink<F>(std::move(fn), std::move(name));
}

}  // namespace sluice::redis
