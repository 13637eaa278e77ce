// sluice::error_policy: what a stage does when the user's function throws.
//
//   map(parse)                                                   // fail fast (default)
//   async_map(fetch, {.on_error = sluice::retry({.max_attempts = 3, .base_delay = 10ms})})
//   parallel_map(score, {.on_error = sluice::skip_to(dead.sink())})
//
// Fail fast cancels the whole pipeline and makes run() throw a
// sluice::pipeline_error naming the stage and the item. Retry calls the
// function again (async stages sleep between attempts with the one retry
// policy's jittered exponential backoff; sync stages retry at once); when
// attempts run out, or `retryable` refuses the exception, the
// fallback applies. Skip hands the item and its exception to a dead-letter
// sink and carries on: an error is never dropped silently, which is why there
// is no "skip" without a sink.
#pragma once

#include <any>
#include <cstddef>
#include <exception>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "sluice/core/detail/std_parts.hpp"
#include "sluice/core/retry.hpp"

namespace sluice {

/// One item a stage gave up on, with the reason.
struct dead_letter {
  /// Name of the stage that failed (its options' `.name`, or its kind).
  std::string stage;
  /// The item's position in that stage's input (0-based, in receive order).
  std::size_t item_index = 0;
  /// What the user's function threw (after the last attempt).
  std::exception_ptr error;
  /// A copy of the input item when its type is copyable; empty otherwise.
  std::any item;
};

/// Receives dead letters. Called from arena threads, possibly concurrently:
/// it must be thread-safe and must not block for long.
using dead_letter_sink = std::function<void(dead_letter)>;

/// A thread-safe collector of dead letters, for tests and small programs.
class dead_letter_queue {
 public:
  /// A sink appending here. The queue must outlive the pipeline run.
  [[nodiscard]] dead_letter_sink sink() {
    return [this](dead_letter d) {
      std::lock_guard lock(m_mutex);
      m_letters.push_back(std::move(d));
    };
  }
  /// Takes everything collected so far.
  [[nodiscard]] std::vector<dead_letter> take() {
    std::lock_guard lock(m_mutex);
    return std::exchange(m_letters, {});
  }
  [[nodiscard]] std::size_t size() const {
    std::lock_guard lock(m_mutex);
    return m_letters.size();
  }

 private:
  mutable std::mutex m_mutex;
  std::vector<dead_letter> m_letters;
};

/// How often and how patiently a stage calls a failing function again: the
/// project's one retry policy (sluice/core/retry.hpp), so a stage, the HTTP
/// client and the GitHub fetcher describe and compute their backoff the same
/// way. Stages use max_attempts, base_delay, max_delay and jitter (async
/// stages sleep on the run's token; sync stages retry at once), and
/// `retryable`, when set, decides per exception (false: no further attempt).
/// Retry-After and on_attempt do not apply to stages.
using retry_options = retry_policy<std::exception_ptr>;

/// A stage's reaction to exceptions from the user's function.
/// Aggregate: `{.retry = {.max_attempts = 2}, .dead_letters = q.sink()}` works too.
struct error_policy {
  /// max_attempts == 1: no retry.
  retry_options retry{.max_attempts = 1};
  /// Empty: fail fast once attempts are exhausted. Set: skip the item and send it here.
  dead_letter_sink dead_letters = {};

  [[nodiscard]] bool fails_fast() const noexcept { return !dead_letters; }
  /// True when the item must be kept after a call (for another attempt or a dead letter).
  [[nodiscard]] bool keeps_items() const noexcept { return retry.max_attempts > 1 || !fails_fast(); }
};

/// The default: the first exception cancels the pipeline and is rethrown by run().
[[nodiscard]] inline error_policy fail_fast() { return {}; }

/// Retries, then applies `then` (fail fast unless told otherwise).
/// Needs a copyable item type (the item is passed again).
[[nodiscard]] inline error_policy retry(retry_options options, error_policy then = {}) {
  then.retry = options;
  return then;
}

/// Skips failing items, sending each (with its exception) to `sink`.
[[nodiscard]] inline error_policy skip_to(dead_letter_sink sink) {
  return error_policy{.retry = {.max_attempts = 1}, .dead_letters = std::move(sink)};
}

}  // namespace sluice
