// run_options::on_progress: live snapshots while a pipeline runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <ranges>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "test_support.hpp"

using namespace std::chrono_literals;
using sluice_test::iota;

namespace {

// Endless source (clang 14 cannot use libstdc++ 12's views::iota here).
sluice::generator<int> naturals() {
  for (int i = 0;; ++i) co_yield i;
}

// Waits (generously: loaded machines) until `flag` is set; false on timeout.
bool wait_for(const std::atomic<bool>& flag, std::chrono::seconds limit = 60s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!flag.load()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// Every snapshot of a run, copied out of the callback.
struct recorder {
  std::mutex mutex;
  std::vector<sluice::progress_snapshot> snapshots;
  std::atomic<int> on_arena{0};
  std::atomic<int> concurrent{0};
  std::atomic<int> overlapped{0};

  void operator()(const sluice::progress_snapshot& s) {
    if (concurrent.fetch_add(1) != 0) overlapped.fetch_add(1);
    // Arena jobs mark their thread with the runtime; the blocking pool does not.
    if (sluice::runtime::current() != nullptr) on_arena.fetch_add(1);
    {
      std::lock_guard lock(mutex);
      snapshots.push_back(s);
    }
    concurrent.fetch_sub(1);
  }
};

TEST(Progress, SnapshotsShowABlockedSinkWithAFullQueueOffTheArena) {
  sluice::runtime rt({.threads = 2});
  std::atomic<bool> release{false};
  std::atomic<bool> saw_full{false};
  recorder rec;
  sluice::run_options options;
  options.on_progress(5ms, [&](const sluice::progress_snapshot& s) {
    rec(s);
    const auto& sink = s.stages.back();
    // The sink holds one item until the picture shows its input full.
    if (sink.queue_depth == sink.queue_capacity && sink.in_flight > 0) {
      saw_full = true;
      release = true;
    }
  });
  std::atomic<std::size_t> seen{0};
  auto report = sluice::run(rt,
                            sluice::from(iota(5000), {.chunk = 16}) | sluice::map([](int x) { return x + 1; }) |
                                sluice::for_each(
                                    [&](int) {
                                      if (seen.fetch_add(1) == 0) {
                                        ASSERT_TRUE(wait_for(release));
                                      }
                                    },
                                    {.name = "slow sink", .capacity = 64}),
                            std::move(options));
  EXPECT_TRUE(saw_full.load());
  EXPECT_EQ(seen.load(), 5000u);
  std::lock_guard lock(rec.mutex);
  ASSERT_GE(rec.snapshots.size(), 2u);
  EXPECT_EQ(rec.on_arena.load(), 0);
  EXPECT_EQ(rec.overlapped.load(), 0);
  // Sequence numbers count up, counters never go backwards, and the balance
  // in = out + dropped + failed + cancelled + in_flight holds in every snapshot.
  for (std::size_t k = 0; k < rec.snapshots.size(); ++k) {
    const auto& s = rec.snapshots[k];
    EXPECT_EQ(s.sequence, k);
    EXPECT_EQ(s.final, k + 1 == rec.snapshots.size());
    ASSERT_EQ(s.stages.size(), 3u);
    EXPECT_EQ(s.stages[2].name, "slow sink");
    EXPECT_EQ(s.stages[2].queue_capacity, 64u);
    for (const auto& st : s.stages) {
      EXPECT_LE(st.items_out + st.dropped + st.failed + st.cancelled, st.items_in);
      EXPECT_GE(st.rate, 0.0);
      EXPECT_GE(st.busy_share, 0.0);
      EXPECT_LE(st.busy_share, 1.0);
      EXPECT_LE(st.queue_depth, st.queue_capacity == 0 ? 0 : st.queue_capacity);
    }
    if (k == 0) continue;
    for (std::size_t i = 0; i < 3; ++i) {
      EXPECT_GE(s.stages[i].items_in, rec.snapshots[k - 1].stages[i].items_in);
      EXPECT_GE(s.stages[i].items_out, rec.snapshots[k - 1].stages[i].items_out);
    }
  }
  // The final snapshot is the report.
  const auto& last = rec.snapshots.back();
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(last.stages[i].items_in, report.stages[i].items_in);
    EXPECT_EQ(last.stages[i].items_out, report.stages[i].items_out);
    EXPECT_EQ(last.stages[i].in_flight, 0u);
    EXPECT_EQ(last.stages[i].queue_depth, 0u);
  }
  EXPECT_TRUE(report.progress_error.empty());
}

TEST(Progress, ShowsTheItemsAnAsyncStageAwaits) {
  sluice::runtime rt({.threads = 2});
  std::atomic<bool> open{false};
  std::atomic<std::uint64_t> max_in_flight{0};
  sluice::run_options options;
  options.on_progress(2ms, [&](const sluice::progress_snapshot& s) {
    const auto in_flight = s.stages[1].in_flight;
    if (in_flight > max_in_flight.load()) max_in_flight = in_flight;
    if (in_flight >= 4) open = true;
  });
  std::vector<int> out;
  auto report = sluice::run(rt,
                            sluice::from(iota(64), {.chunk = 8}) |
                                sluice::async_map(
                                    [&](int x) -> sluice::task<int> {
                                      while (!open.load()) co_await sluice::sleep_for(1ms);
                                      co_return x;
                                    },
                                    {.name = "gate", .concurrency = 4}) |
                                sluice::to_vector(out),
                            std::move(options));
  EXPECT_EQ(out.size(), 64u);
  EXPECT_EQ(max_in_flight.load(), 4u);  // the calls awaiting the gate, never more than the concurrency
  EXPECT_EQ(report.stages[1].latency.count, 64u);
}

// Calls that finish as soon as they start, sampled every millisecond. The
// snapshots once counted a whole received chunk as in flight before the
// stage's first call (64 here, 8 in ShowsTheItemsAnAsyncStageAwaits under
// ASan), and could count calls replaced between their two reads twice.
TEST(Progress, InFlightNeverExceedsTheConcurrencyWhileCallsChurn) {
  sluice::runtime rt({.threads = 2});
  std::atomic<std::uint64_t> max_in_flight{0};
  std::atomic<std::size_t> snapshots{0};
  sluice::run_options options;
  options.on_progress(1ms, [&](const sluice::progress_snapshot& s) {
    snapshots.fetch_add(1);
    const auto in_flight = s.stages[1].in_flight;
    if (in_flight > max_in_flight.load()) max_in_flight = in_flight;
  });
  std::vector<int> out;
  auto report = sluice::run(
      rt,
      sluice::from(iota(200'000), {.chunk = 64}) |
          sluice::async_map([](int x) -> sluice::task<int> { co_return x + 1; }, {.name = "churn", .concurrency = 2}) |
          sluice::to_vector(out),
      std::move(options));
  EXPECT_EQ(out.size(), 200'000u);
  EXPECT_GE(snapshots.load(), 1u);
  EXPECT_LE(max_in_flight.load(), 2u);
  EXPECT_EQ(report.stages[1].latency.count, 200'000u);
}

TEST(Progress, AThrowingCallbackStopsProgressButNotTheRun) {
  sluice::runtime rt({.threads = 2});
  std::atomic<int> calls{0};
  sluice::run_options options;
  options.on_progress(1ms, [&](const sluice::progress_snapshot&) {
    calls.fetch_add(1);
    throw std::runtime_error("terminal went away");
  });
  std::vector<int> out;
  auto report = sluice::run(rt,
                            sluice::from(iota(2000), {.chunk = 4}) |
                                sluice::async_map(
                                    [](int x) -> sluice::task<int> {
                                      if (x % 100 == 0) co_await sluice::sleep_for(1ms);
                                      co_return x;
                                    },
                                    {.concurrency = 2}) |
                                sluice::to_vector(out),
                            std::move(options));
  EXPECT_EQ(out.size(), 2000u);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_NE(report.progress_error.find("terminal went away"), std::string::npos);
  EXPECT_NE(report.describe().find("terminal went away"), std::string::npos);
  EXPECT_TRUE(report.balanced());
}

TEST(Progress, AFailingRunStillDeliversTheFinalSnapshotBeforeThrowing) {
  sluice::runtime rt({.threads = 2});
  recorder rec;
  sluice::run_options options;
  options.on_progress(1h, std::ref(rec));  // only the final one
  auto p = sluice::from(iota(1000)) | sluice::map([](int x) {
             if (x == 500) throw std::runtime_error("boom");
             return x;
           }) |
           sluice::for_each([](int) {});
  EXPECT_THROW(sluice::run(rt, std::move(p), std::move(options)), sluice::pipeline_error);
  std::lock_guard lock(rec.mutex);
  ASSERT_EQ(rec.snapshots.size(), 1u);
  EXPECT_TRUE(rec.snapshots[0].final);
  EXPECT_EQ(rec.snapshots[0].stages[1].failed, 1u);
}

TEST(Progress, StopTokenInOptionsCancelsTheRun) {
  sluice::runtime rt({.threads = 2});
  std::stop_source stop;
  std::atomic<int> calls{0};
  sluice::run_options options{.stop = stop.get_token()};
  options.on_progress(1ms, [&](const sluice::progress_snapshot& s) {
    // Cancel from the observer once items flow.
    if (calls.fetch_add(1) >= 0 && s.stages[1].items_out > 0) stop.request_stop();
  });
  auto report = sluice::run(rt, sluice::from(naturals()) | sluice::async_map([](int x) -> sluice::task<int> {
                                  co_await sluice::sleep_for(100us);
                                  co_return x;
                                }) | sluice::for_each([](int) {}),
                            std::move(options));
  EXPECT_TRUE(report.cancelled);
  EXPECT_TRUE(report.balanced()) << report.describe();
  EXPECT_GE(calls.load(), 2);
}

TEST(TerminalProgress, RedrawsInPlaceOnATerminalAndEscapesStageNames) {
  std::ostringstream os;
  auto display = std::make_shared<sluice::status_display>(os, true, 200);
  auto draw = sluice::terminal_progress(display, "job");
  sluice::progress_snapshot s;
  s.stages.push_back({.name = "evil\x1b]0;pwned\x07name", .kind = "source", .items_in = 12'345, .items_out = 12'000});
  s.stages.push_back({.name = "sink", .kind = "for_each", .items_in = 10, .queue_depth = 3, .queue_capacity = 64});
  draw(s);
  const std::string first = os.str();
  EXPECT_EQ(first.find('\x1b'), first.find("\x1b[")) << "the only escape sequences are the display's own";
  EXPECT_EQ(first.find("\x07"), std::string::npos);
  EXPECT_NE(first.find("evil\\x1b]0;pwned\\x07name"), std::string::npos) << first;
  EXPECT_NE(first.find("in 12.3k"), std::string::npos) << first;
  EXPECT_NE(first.find("q 3/64"), std::string::npos) << first;
  s.final = true;
  draw(s);
  const std::string second = os.str().substr(first.size());
  // Cursor up over the 3 lines drawn before, clear to the end, redraw.
  EXPECT_EQ(second.rfind("\x1b[3A\r\x1b[J", 0), 0u) << second;
  EXPECT_NE(second.find("done"), std::string::npos);
  display.reset();  // the final picture stays: nothing more is written
  EXPECT_EQ(os.str().size(), first.size() + second.size());
}

TEST(TerminalProgress, WritesOneCompactLinePerSnapshotElsewhere) {
  std::ostringstream os;
  auto draw = sluice::terminal_progress({.title = "job", .os = &os, .terminal = false});
  sluice::progress_snapshot s;
  s.stages.push_back({.name = "a\nb", .kind = "source", .items_in = 5});
  draw(s);
  draw(s);
  const std::string text = os.str();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
  EXPECT_NE(text.find("job 0.0 s | #0 source     a\\x0ab  in 5"), std::string::npos) << text;
}

TEST(TerminalProgress, MessagesGoAboveTheBlock) {
  std::ostringstream os;
  sluice::status_display display(os, true, 80);
  display.show({"one", "two"});
  display.message("note\r");
  EXPECT_EQ(os.str(), "one\ntwo\n\x1b[2A\r\x1b[Jnote\\x0d\none\ntwo\n");
  display.clear();
  EXPECT_EQ(os.str().substr(os.str().size() - 8), "\x1b[2A\r\x1b[J");
}

TEST(TerminalProgress, DrawsALiveRunWithoutTouchingStdout) {
  sluice::runtime rt({.threads = 2});
  std::ostringstream os;
  sluice::run_options options;
  options.on_progress(1ms, sluice::terminal_progress({.title = "live", .os = &os, .terminal = false}));
  std::vector<int> out;
  auto report =
      sluice::run(rt, sluice::from(iota(3000), {.name = "numbers"}) | sluice::to_vector(out), std::move(options));
  EXPECT_EQ(out.size(), 3000u);
  EXPECT_NE(os.str().find("live "), std::string::npos);
  EXPECT_NE(os.str().find(", done | #0 source     numbers  in 3000  out 3000"), std::string::npos) << os.str();
}

}  // namespace
