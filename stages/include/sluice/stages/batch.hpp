// sluice::batch(n, max_wait): groups items into std::vector<T> of up to n.
//
// A batch is sent when it holds n items, or when its oldest item has waited
// `max_wait` (0: no time limit; a partial batch is then sent only at the
// end). Useful in front of bulk APIs (one request per 100 rows). The time
// limit is checked every few milliseconds by a second coroutine, so a batch
// may leave up to ~5 ms later than max_wait.
//
// Accounting: items_in and items_out count items; `emitted` counts batches.
// Batches leave in the order they were closed.
#pragma once

#include <atomic>
#include <cstddef>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "sluice/core/detail/std_parts.hpp"
#include "sluice/core/runtime.hpp"
#include "sluice/core/when_all.hpp"
#include "sluice/stages/pipeline.hpp"
#include "sluice/stages/stage_options.hpp"
#include "sluice/stages/stage_protocol.hpp"

namespace sluice {

struct batch_options {
  std::string name = {};
  /// Items the input channel holds; 0 = sluice::default_capacity.
  std::size_t capacity = 0;
  /// Bytes (sluice::item_bytes) the input channel holds; 0 = no bound in
  /// bytes. A chunk larger than this still passes, alone.
  std::size_t capacity_bytes = 0;
};

namespace detail {

class batching_stage : public stage_base<batching_stage, batch_options> {
 public:
  template <typename In>
  using output = std::vector<In>;

  batching_stage(std::size_t size, std::chrono::nanoseconds max_wait, batch_options options)
      : stage_base(std::move(options), "batch"), m_size(size ? size : 1), m_max_wait(max_wait) {}

  template <typename In>
  static constexpr bool check() {
    return true;
  }
  [[nodiscard]] std::string parameters() const {
    std::string params = "size " + std::to_string(m_size);
    if (m_max_wait.count() > 0)
      params += ", max_wait " +
                std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(m_max_wait).count()) + " us";
    return params;
  }
  [[nodiscard]] std::size_t output_chunk(std::size_t) const noexcept { return 1; }

  template <typename In>
  task<void> run(stage_io<In, std::vector<In>>& io) {
    open_batch<In> current;
    std::atomic<bool> done{false};
    if (m_max_wait.count() > 0) {
      co_await when_all(collect(io, current, done), flush_on_time(io, current, done));
    } else {
      co_await collect(io, current, done);
    }
  }

 private:
  template <typename In>
  struct open_batch {
    std::mutex mutex;
    std::vector<In> items;
    std::chrono::steady_clock::time_point oldest;
  };

  template <typename In>
  static std::vector<std::vector<In>> one_batch(std::vector<In>& items) {
    std::vector<std::vector<In>> chunk;
    chunk.push_back(std::move(items));
    return chunk;
  }

  template <typename In>
  task<void> collect(stage_io<In, std::vector<In>>& io, open_batch<In>& current, std::atomic<bool>& done) {
    while (auto in = co_await io.recv()) {
      if (io.stopped()) {
        io.drop(in->items.size());
        continue;
      }
      for (std::size_t i = 0; i < in->items.size(); ++i) {
        std::vector<In> full;
        {
          std::lock_guard lock(current.mutex);
          if (current.items.empty()) {
            current.items.reserve(m_size);
            current.oldest = std::chrono::steady_clock::now();
          }
          current.items.push_back(std::move(in->items[i]));
          if (current.items.size() >= m_size) full.swap(current.items);
        }
        std::size_t n = full.size();
        auto out = one_batch(full);
        if (n > 0 && !co_await io.send(out, n)) {
          io.drop(in->items.size() - i - 1);
          break;
        }
      }
    }
    std::vector<In> rest;
    {
      std::lock_guard lock(current.mutex);
      rest.swap(current.items);
    }
    if (!rest.empty()) {
      if (io.stopped()) {
        io.drop(rest.size());
      } else {
        std::size_t n = rest.size();
        auto out = one_batch(rest);
        co_await io.send(out, n);
      }
    }
    done.store(true, std::memory_order_release);
  }

  template <typename In>
  task<void> flush_on_time(stage_io<In, std::vector<In>>& io, open_batch<In>& current, std::atomic<bool>& done) {
    const auto slice = std::min<std::chrono::nanoseconds>(m_max_wait, std::chrono::milliseconds(5));
    auto tx = io.output_handle();  // the collector sends concurrently through the stage's own
    while (!done.load(std::memory_order_acquire) && !io.stopped()) {
      auto tick = sleep_for(slice, io.stop_token());  // ends early when the run stops
      co_await tick;
      std::vector<In> due;
      {
        std::lock_guard lock(current.mutex);
        if (!current.items.empty() && std::chrono::steady_clock::now() - current.oldest >= m_max_wait)
          due.swap(current.items);
      }
      if (due.empty()) continue;
      std::size_t n = due.size();
      auto out = one_batch(due);
      if (!co_await io.send(out, n, tx)) co_return;
    }
  }

  std::size_t m_size;
  std::chrono::nanoseconds m_max_wait;
};

}  // namespace detail

/// Groups items into vectors of up to `size`, closing a batch early when its
/// oldest item has waited `max_wait` (0 = never).
inline auto batch(std::size_t size, std::chrono::nanoseconds max_wait = {}, batch_options options = {}) {
  return detail::batching_stage(size, max_wait, std::move(options));
}

}  // namespace sluice
