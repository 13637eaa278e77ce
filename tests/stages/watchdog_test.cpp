// The stall watchdog: a deliberately stuck pipeline produces a dump naming
// the full edge, the blocked stage and the thread stuck in the sink; an
// async stage's dump names what its items await. Then the run is cancelled
// through its stop token and ends cleanly. No wall-time assertions: the
// deadlines are generous and only bound a hang.
#include <gtest/gtest.h>
#include <pthread.h>
#include <sluice/sluice.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "os_threads.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;

// Collects dumps from on_stall (the watchdog thread) for the test thread.
struct dump_catcher {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::string> dumps;

  auto sink() {
    return [this](std::string_view d) {
      std::lock_guard lock(mutex);
      dumps.emplace_back(d);
      changed.notify_all();
    };
  }
  std::optional<std::string> wait_first() {
    std::unique_lock lock(mutex);
    if (!changed.wait_for(lock, 120s, [&] { return !dumps.empty(); })) return std::nullopt;
    return dumps.front();
  }
};

// A run that stalled: its first dump (none within the deadline: nullopt)
// and its report.
struct stalled_run {
  std::optional<std::string> dump;
  std::optional<sluice::pipeline_report> report;
};

// Runs `p` on another thread with a 200 ms stall watchdog until its first
// dump, then cancels it, calls `after_stop` (for waits a stop token cannot
// end) and joins it.
stalled_run run_until_first_dump(sluice::runtime& rt, sluice::pipeline p,
                                 const std::function<void()>& after_stop = {}) {
  dump_catcher catcher;
  std::stop_source stop;
  stalled_run out;
  std::thread runner([&] {
    out.report =
        sluice::run(rt, std::move(p), {.stop = stop.get_token(), .stall_timeout = 200ms, .on_stall = catcher.sink()});
  });
  out.dump = catcher.wait_first();
  stop.request_stop();
  if (after_stop) after_stop();
  runner.join();
  return out;
}

// Runs one item through an async_map named `stage` whose coroutine,
// `held(gate, item)`, holds the item until `gate` opens, which happens only
// once the run has dumped and been stopped (run_until_first_dump).
using held_item = sluice::task<int> (*)(std::shared_future<void> gate, int item);
stalled_run run_one_item_held_until_the_first_dump(sluice::runtime& rt, const char* stage, held_item held) {
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  std::vector<int> out;
  auto p = sluice::from(std::vector<int>{7}, {.name = "one"}) |
           sluice::async_map([gate, held](int x) { return held(gate, x); }, {.name = stage}) | sluice::to_vector(out);
  return run_until_first_dump(rt, std::move(p), [&] { release.set_value(); });
}

// Blocks until the run's token is stopped (a sink that never finishes on its own).
void block_until_stopped(std::stop_token stop) {
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lock(m);
  cv.wait(lock, stop, [] { return false; });
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The line of `text` that contains `part` (empty if none).
std::string line_with(const std::string& text, const std::string& part) {
  const auto at = text.find(part);
  if (at == std::string::npos) return {};
  const auto begin = text.rfind('\n', at);
  const auto end = text.find('\n', at);
  const auto from = begin == std::string::npos ? 0 : begin + 1;
  return text.substr(from, (end == std::string::npos ? text.size() : end) - from);
}

TEST(Watchdog, AStuckSinkDumpNamesTheFullEdgeTheBlockedStagesAndTheBusyThread) {
  sluice::runtime rt({.threads = 2});
  dump_catcher catcher;
  sluice::run_monitor monitor;
  std::stop_source stop;
  auto p = sluice::from(sluice_test::iota(1'000'000), {.name = "numbers", .chunk = 16}) |
           sluice::map([](int x) { return x; }, {.name = "relay", .capacity = 64}) |
           sluice::for_each([](int, std::stop_token st) { block_until_stopped(st); },
                            {.name = "stuck \x1b[2Jsink", .capacity = 64});
  std::optional<sluice::pipeline_report> report;
  std::thread runner([&] {
    report = sluice::run(
        rt, std::move(p),
        {.stop = stop.get_token(), .stall_timeout = 200ms, .on_stall = catcher.sink(), .monitor = &monitor});
  });
  auto dump = catcher.wait_first();
  std::string on_demand = monitor.dump();
  stop.request_stop();
  runner.join();

  ASSERT_TRUE(dump) << "no stall dump within the deadline";
  std::cout << *dump;  // for the record (docs/observability.md quotes one)
  SCOPED_TRACE(*dump);
  EXPECT_TRUE(contains(*dump, "no stage made progress"));
  // The relay is blocked sending into the edge to the stuck sink. (The depth
  // counts a chunk when its sender resumes; a receiver freeing a slot sends
  // the waiting sender's chunk on its behalf, so the depth may lag a chunk.)
  const std::string edge = line_with(*dump, "#1 \"relay\" -> #2 \"stuck \\u001b[2Jsink\": ");
  EXPECT_TRUE(contains(edge, "/64")) << edge;
  EXPECT_TRUE(contains(edge, "; 1 sender blocked")) << edge;
  EXPECT_TRUE(contains(*dump, "#1 \"relay\" (\"map\"): in"));
  EXPECT_TRUE(contains(*dump, "1 blocked sending (output full)"));
  // The sink's thread is inside the stage, and the name is escaped.
  EXPECT_TRUE(contains(*dump, "running #2 \"stuck \\u001b[2Jsink\""));
  EXPECT_FALSE(contains(*dump, "\x1b"));
  // The watchdog's samples saw that thread in one job since the sink
  // blocked; the monitor's dump reads the same samples.
  const auto sink_thread = line_with(*dump, ": running #2 \"stuck \\u001b[2Jsink\", in one job for at least ");
  EXPECT_TRUE(contains(sink_thread, "arena worker ")) << sink_thread;
  EXPECT_TRUE(contains(on_demand, ": running #2 \"stuck \\u001b[2Jsink\", in one job for at least ")) << on_demand;
  // run() awaiting its stages' join handles is implied, not listed.
  EXPECT_FALSE(contains(*dump, "oneshot")) << "the run's own wait for its stages is listed";
  EXPECT_TRUE(contains(on_demand, "sluice pipeline dump"));
  EXPECT_TRUE(contains(on_demand, "-> #2 \"stuck \\u001b[2Jsink\""));
  EXPECT_FALSE(monitor.attached());
  EXPECT_TRUE(contains(monitor.dump(), "no run attached"));

  ASSERT_TRUE(report);
  EXPECT_TRUE(report->cancelled);
  sluice_test::expect_chained(*report);
}

TEST(Watchdog, AStalledAsyncStageDumpShowsWhatItsItemsAwait) {
  sluice::runtime rt({.threads = 2});
  auto p = sluice::from(sluice_test::iota(8), {.name = "ids"}) |
           sluice::async_map(
               [](int x, std::stop_token st) -> sluice::task<int> {
                 sluice::wait_note note(sluice::wait_kind::user, "reply from \"nowhere\"\n");
                 co_await sluice::sleep_for(1h, st);
                 co_return x;
               },
               {.name = "ask", .concurrency = 3}) |
           sluice::for_each([](int) {}, {.name = "sink"});
  auto [dump, report] = run_until_first_dump(rt, std::move(p));

  ASSERT_TRUE(dump) << "no stall dump within the deadline";
  std::cout << *dump;  // for the record
  SCOPED_TRACE(*dump);
  EXPECT_TRUE(contains(*dump, "#1 \"ask\" (\"async_map\"): in"));
  EXPECT_TRUE(contains(*dump, "3 async items in flight"));
  EXPECT_TRUE(contains(*dump, "awaitable \"reply from \\\"nowhere\\\"\\n\" for"));
  EXPECT_TRUE(contains(*dump, "timer \"sleep\" for"));
  EXPECT_TRUE(contains(*dump, "ends in"));
  EXPECT_TRUE(contains(*dump, "#2 \"sink\" (\"for_each\"): in 0 out 0; 1 waiting for input (input empty)"));
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->cancelled);
  sluice_test::expect_chained(*report);
}

// What comes after `part` in `text`, up to `lines` lines.
std::string lines_after(const std::string& text, const std::string& part, int lines) {
  auto at = text.find(part);
  if (at == std::string::npos) return {};
  auto end = at;
  for (int i = 0; i < lines && end != std::string::npos; ++i) end = text.find('\n', end + 1);
  return text.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

TEST(Watchdog, TheDumpListsEachInFlightItemWithWhatItAwaits) {
  sluice::runtime rt({.threads = 2});
  auto [tx, rx] = sluice::oneshot<int>();
  std::optional<sluice::oneshot_receiver<int>> pending(std::move(rx));
  // A task the item awaits labels a wait of its own: it works for the same item.
  auto ask_billing = [](std::stop_token st) -> sluice::task<void> {
    auto noted = sluice::note_wait(sluice::wait_kind::user, "reply from \"billing\"");
    auto note = co_await noted;
    co_await sluice::sleep_for(1h, st);
  };
  auto p = sluice::from(sluice_test::iota(3), {.name = "ids"}) |
           sluice::async_map(
               [&](int x, std::stop_token st) -> sluice::task<int> {
                 if (x == 0) {
                   co_await sluice::sleep_for(1h, st);
                 } else if (x == 1) {
                   auto r = std::move(*pending);
                   const int v = co_await std::move(r);
                   co_return v;
                 } else {
                   auto asked = ask_billing(st);
                   co_await std::move(asked);
                 }
                 co_return x;
               },
               {.name = "per item", .concurrency = 3}) |
           sluice::for_each([](int) {}, {.name = "sink"});
  // The oneshot wait is not cancellable: answered once the run is stopped.
  auto [dump, report] = run_until_first_dump(rt, std::move(p), [&answer = tx] { answer.send(1); });

  ASSERT_TRUE(dump) << "no stall dump within the deadline";
  std::cout << *dump;  // for the record (docs/observability.md quotes one)
  SCOPED_TRACE(*dump);
  EXPECT_TRUE(contains(*dump, "async items in flight (what each awaits):\n"));
  const auto item0 = line_with(*dump, "#1 \"per item\" item 0, started ");
  EXPECT_TRUE(contains(item0, ": timer \"sleep\" for ")) << item0;
  EXPECT_TRUE(contains(item0, ", ends in ")) << item0;
  const auto item1 = line_with(*dump, "#1 \"per item\" item 1, started ");
  EXPECT_TRUE(contains(item1, ": oneshot \"")) << item1;
  // Item 2 awaits two labelled things at once: one line each, under it.
  const auto item2 = lines_after(*dump, "#1 \"per item\" item 2, started ", 3);
  EXPECT_TRUE(contains(item2, "\n    awaitable \"reply from \\\"billing\\\"\" for ")) << item2;
  EXPECT_TRUE(contains(item2, "\n    timer \"sleep\" for ")) << item2;
  // Nothing is left over: every wait of an item is under it, and run()'s
  // own wait for its stages is left out.
  EXPECT_FALSE(contains(*dump, "other waits")) << *dump;
  EXPECT_FALSE(contains(*dump, "with no labelled wait")) << "every item awaits something labelled";
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->cancelled);
  sluice_test::expect_chained(*report);
}

// The threads section of a dump: its heading and one line per listed thread.
std::vector<std::string> thread_lines(const std::string& dump) {
  auto rest = dump.substr(std::min(dump.find("threads of this runtime"), dump.size()));
  std::vector<std::string> lines;
  for (std::size_t at = 0; at < rest.size();) {
    const auto end = std::min(rest.find('\n', at), rest.size());
    lines.push_back(rest.substr(at, end - at));
    at = end + 1;
  }
  return lines;
}

// Every listed thread (after the heading) is an idle arena worker, except
// one, the runtime's reactor, waiting for its sockets and timers.
void expect_arena_workers_idle_and_the_reactor_waiting(const std::vector<std::string>& threads) {
  int reactors = 0;
  for (std::size_t i = 1; i < threads.size(); ++i) {
    if (threads[i].starts_with("  thread \"sluice-reactor\" (tid ")) {
      ++reactors;
      EXPECT_TRUE(threads[i].ends_with(": waiting for sockets and timers (idle)")) << threads[i];
      continue;
    }
    EXPECT_TRUE(threads[i].starts_with("  arena worker ")) << threads[i];
    EXPECT_TRUE(threads[i].ends_with(": idle")) << threads[i];
  }
  EXPECT_EQ(reactors, 1) << "the reactor is listed once";
}

// A run whose stages are all coroutines (a channel source, an async stage),
// stalled with every coroutine suspended: the threads that ran its work are
// listed, each idle (not in a stage, not in a job).
TEST(Watchdog, ADumpOfSuspendedCoroutineStagesListsTheirThreadsAsIdle) {
  sluice::runtime rt({.threads = 2});
  auto [tx, rx] = sluice::channel<int>(8);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(tx.try_send(i));
  std::vector<int> out;
  auto p = sluice::from(std::move(rx), {.name = "inbox"}) |
           sluice::async_map([](int x) -> sluice::task<int> { co_return x; }, {.name = "echo"}) |
           sluice::to_vector(out);
  auto [dump, report] = run_until_first_dump(rt, std::move(p));

  ASSERT_TRUE(dump) << "no stall dump within the deadline";
  SCOPED_TRACE(*dump);
  // The source waits on the caller's channel, which is empty.
  EXPECT_TRUE(contains(*dump, "#0 \"inbox\" (\"source\"): in 3 out 3; 1 waiting for input (input empty)"));
  const auto threads = thread_lines(*dump);
  ASSERT_GE(threads.size(), 2u) << "no thread listed";
  EXPECT_EQ(
      threads[0],
      "threads of this runtime (2 arena threads, its reactor and its blocking pool; listed: those that ran its work):");
  expect_arena_workers_idle_and_the_reactor_waiting(threads);
  EXPECT_FALSE(contains(*dump, "oneshot")) << "the run's own wait for its stages is listed";
  EXPECT_EQ(out.size(), 3u);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->cancelled);
}

// An async stage whose coroutine blocks its thread instead of suspending
// (the way to stall an executor that Tokio's docs warn about): the dump
// names the thread as held by a coroutine, for how long, and why, where it
// used to list the thread as idle.
TEST(Watchdog, ACoroutineThatBlocksItsThreadIsListedAsHoldingIt) {
  sluice::runtime rt({.threads = 2});
  auto [dump, report] = run_one_item_held_until_the_first_dump(
      rt, "blocking call", [](std::shared_future<void> gate, int x) -> sluice::task<int> {
        gate.wait();  // blocks the arena thread: the mistake under test
        co_return x;
      });

  ASSERT_TRUE(dump) << "no stall dump within the deadline";
  std::cout << *dump;  // for the record (docs/observability.md quotes one)
  SCOPED_TRACE(*dump);
  EXPECT_TRUE(contains(line_with(*dump, "#1 \"blocking call\" (\"async_map\")"), "1 async items in flight"));
  const auto held = line_with(*dump, " outside any stage's synchronous code: a coroutine that does not suspend");
  EXPECT_TRUE(held.starts_with("  arena worker ")) << held;
  EXPECT_TRUE(contains(held, ": in one job for at least ")) << held;
  EXPECT_TRUE(contains(held, "belongs in spawn_blocking or a parallel stage")) << held;
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->cancelled);  // stopped before the gate opened: the item's result is not delivered
}

// A spawn_blocking call that does not return (a synchronous client with no
// timeout, say): the dump lists the item awaiting it, labelled as such, and
// the blocking-pool thread holding it, for how long. Before, the pool's
// threads were not listed and the item's wait read as a bare oneshot.
TEST(Watchdog, ASpawnBlockingCallThatDoesNotReturnIsListedOnItsPoolThread) {
  sluice::runtime rt({.threads = 2});
  auto [dump, report] = run_one_item_held_until_the_first_dump(
      rt, "legacy call", [](std::shared_future<void> gate, int x) -> sluice::task<int> {
        // Named before the co_await: g++ 12 destroys a capturing lambda
        // temporary inside a co_await twice (docs/known-issues.md).
        auto call = sluice::spawn_blocking([gate, x] {
          gate.wait();  // the call that does not return
          return x;
        });
        co_return co_await std::move(call);
      });

  ASSERT_TRUE(dump) << "no stall dump within the deadline";
  std::cout << *dump;  // for the record (docs/observability.md quotes one)
  SCOPED_TRACE(*dump);
  EXPECT_TRUE(contains(line_with(*dump, "#1 \"legacy call\" (\"async_map\")"), "1 async items in flight"));
  EXPECT_TRUE(
      contains(*dump, "oneshot \"spawn_blocking call (queued or running on the runtime's blocking pool)\" for "));
  const auto pool = line_with(*dump, "  thread \"sluice-blocking\" (tid ");
  EXPECT_TRUE(contains(pool, ": running one spawn_blocking call for at least ")) << pool;
  EXPECT_FALSE(contains(*dump, "a coroutine that does not suspend")) << "the pool thread taken for an arena thread";
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->cancelled);
}

// With no watchdog sampling the threads, an on-demand dump still tells a
// thread held by a coroutine from an idle one, without a duration.
TEST(Watchdog, AMonitorWithoutAWatchdogListsACoroutineHoldingItsThread) {
  sluice::runtime rt({.threads = 2});
  sluice::run_monitor monitor;
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  std::atomic<bool> entered{false};
  std::vector<int> out;
  auto p = sluice::from(std::vector<int>{7}) |
           sluice::async_map(
               [gate, &entered](int x) -> sluice::task<int> {
                 entered.store(true);
                 gate.wait();
                 co_return x;
               },
               {.name = "blocking call"}) |
           sluice::to_vector(out);
  std::optional<sluice::pipeline_report> report;
  std::thread runner([&] { report = sluice::run(rt, std::move(p), {.stall_timeout = 0ms, .monitor = &monitor}); });
  for (int i = 0; i < 120'000 && !entered.load(); ++i) std::this_thread::sleep_for(1ms);
  const auto dump = monitor.dump();
  release.set_value();
  runner.join();

  ASSERT_TRUE(entered.load()) << "the stage never ran";
  SCOPED_TRACE(dump);
  const auto held = line_with(dump, ": running a coroutine or task (outside any stage's synchronous code)");
  EXPECT_TRUE(held.starts_with("  arena worker ")) << dump;
  EXPECT_FALSE(contains(dump, "in one job for at least")) << "a duration without samples";
  EXPECT_EQ(out, std::vector<int>{7});
  ASSERT_TRUE(report);
}

// A source reading an async generator that waits says so, rather than
// "not waiting on a channel"; what the generator awaits is listed too.
TEST(Watchdog, AGeneratorSourceAwaitingItsGeneratorSaysSo) {
  sluice::runtime rt({.threads = 2});
  std::vector<int> out;
  auto p = sluice::from([](std::stop_token stop) -> sluice::async_generator<int> {
             co_yield 1;
             auto nap = sluice::sleep_for(std::chrono::hours(1), stop);  // named: see docs/known-issues.md (g++ 12)
             co_await nap;                                               // ended by the run's cancellation
           }) |
           sluice::to_vector(out);
  auto [dump, report] = run_until_first_dump(rt, std::move(p));

  ASSERT_TRUE(dump) << "no stall dump within the deadline";
  SCOPED_TRACE(*dump);
  const auto source = line_with(*dump, "#0 ");
  EXPECT_TRUE(contains(source, "; awaiting its generator's next item")) << source;
  EXPECT_FALSE(contains(source, "not waiting on a channel")) << source;
  EXPECT_TRUE(contains(*dump, "timer \"sleep\" for ")) << "the generator's own wait is not listed";
  EXPECT_EQ(out, std::vector<int>{1});
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->cancelled);
}

// oneTBB's threads outlive a runtime, and a later runtime may get its
// address: the dump tells runtimes apart by id(), so threads that ran the
// destroyed runtime's stages are not listed as the new one's.
TEST(Watchdog, ARuntimeAtADestroyedOnesAddressListsNoneOfItsThreads) {
  alignas(sluice::runtime) unsigned char storage[sizeof(sluice::runtime)];
  {
    auto* first = new (storage) sluice::runtime({.threads = 2});
    std::vector<int> in(20000, 1), out;
    sluice::run(*first, sluice::from_ref(in, {.chunk = 64}) | sluice::map([](int x) { return x + 1; }) |
                            sluice::to_vector(out));
    EXPECT_EQ(out.size(), in.size());
    first->~runtime();
  }
  auto* second = new (storage) sluice::runtime({.threads = 2});
  struct destroy {
    sluice::runtime* rt;
    ~destroy() { rt->~runtime(); }
  } destroy_second{second};
  auto [tx, rx] = sluice::channel<int>(8);
  std::vector<int> out;
  auto p = sluice::from(std::move(rx), {.name = "inbox"}) | sluice::to_vector(out);
  auto [dump, report] = run_until_first_dump(*second, std::move(p));

  ASSERT_TRUE(dump) << "no stall dump within the deadline";
  SCOPED_TRACE(*dump);
  // Only threads that ran the second runtime's jobs are listed (each last
  // worked for it: see Runtime.EveryRuntimeHasItsOwnIdEvenAtAReusedAddress
  // and ThreadActivity's tests), and each is idle: none is listed with the
  // first runtime's stage or as in a job.
  const auto threads = thread_lines(*dump);
  ASSERT_GE(threads.size(), 2u) << "no thread listed";
  expect_arena_workers_idle_and_the_reactor_waiting(threads);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->cancelled);
}

// The watchdog does not run on the reactor: a reactor held by a callback
// that blocks (what a stall can be) does not silence it. Before, the checks
// were reactor timers and this run never dumped.
TEST(Watchdog, DumpsWhileTheReactorIsBlocked) {
  sluice::runtime rt({.threads = 2});
  std::promise<void> reactor_held;
  std::promise<void> release_reactor;
  auto released = release_reactor.get_future().share();
  rt.io().post([&reactor_held, released] {
    reactor_held.set_value();
    released.wait();
  });
  reactor_held.get_future().wait();
  bool reactor_released = false;
  auto release = [&] {
    if (!std::exchange(reactor_released, true)) release_reactor.set_value();
  };
  struct release_on_exit {
    std::function<void()> release;
    ~release_on_exit() { release(); }
  } guard{release};

  auto [tx, rx] = sluice::channel<int>(8);
  std::vector<int> out;
  auto p = sluice::from(std::move(rx), {.name = "inbox"}) | sluice::to_vector(out);
  auto [dump, report] = run_until_first_dump(rt, std::move(p), release);

  ASSERT_TRUE(dump) << "no stall dump within the deadline while the reactor was blocked";
  std::cout << *dump;  // for the record (docs/observability.md quotes one)
  SCOPED_TRACE(*dump);
  EXPECT_TRUE(contains(*dump, "no stage made progress"));
  EXPECT_TRUE(contains(*dump, "#0 \"inbox\""));
  // The dump names the reactor as held, for how long, and why it matters.
  const auto reactor = line_with(*dump, "  thread \"sluice-reactor\" (tid ");
  EXPECT_TRUE(contains(reactor, ": in one round of callbacks for at least ")) << reactor;
  EXPECT_TRUE(contains(reactor, "the reactor is blocked, so none of this runtime's sockets, timers or sleeps"))
      << reactor;
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->cancelled);
}

// on_stall runs on the watchdog's own thread, named for the OS: a sink that
// waits for the reactor (or blocks on a full pipe) holds up neither the
// runtime's I/O nor the dump.
TEST(Watchdog, OnStallRunsOffTheReactorOnAThreadNamedSluiceWatchdog) {
  sluice::runtime rt({.threads = 2});
  std::mutex mutex;
  std::condition_variable changed;
  bool called = false, on_reactor = true, reactor_answered = false;
  std::string thread_name;
  std::stop_source stop;
  auto [tx, rx] = sluice::channel<int>(8);
  std::vector<int> out;
  std::thread runner([&, rx = std::move(rx)]() mutable {
    sluice::run(rt, sluice::from(std::move(rx), {.name = "inbox"}) | sluice::to_vector(out),
                {.stop = stop.get_token(), .stall_timeout = 100ms, .on_stall = [&](std::string_view) {
                   // Shared: if the reactor answers late, the promise is still there.
                   auto answered = std::make_shared<std::promise<void>>();
                   auto answer = answered->get_future();
                   rt.io().post([answered] { answered->set_value(); });
                   const bool reactor_ok = answer.wait_for(60s) == std::future_status::ready;
                   char name[16] = {};
                   ::pthread_getname_np(::pthread_self(), name, sizeof name);
                   std::lock_guard lock(mutex);
                   if (called) return;
                   called = true;
                   on_reactor = rt.io().on_reactor_thread();
                   reactor_answered = reactor_ok;
                   thread_name = name;
                   changed.notify_all();
                 }});
  });
  {
    std::unique_lock lock(mutex);
    changed.wait_for(lock, 120s, [&] { return called; });
  }
  stop.request_stop();
  runner.join();
  std::lock_guard lock(mutex);
  ASSERT_TRUE(called) << "no stall dump within the deadline";
  EXPECT_FALSE(on_reactor);
  EXPECT_TRUE(reactor_answered) << "the reactor did not run a job posted while on_stall ran";
  EXPECT_EQ(thread_name, "sluice-watchdog");
  EXPECT_EQ(sluice_test::os_thread_names().count("sluice-watchdog"), 1u) << "one watchdog thread per process";
}

// A run ends only after an on_stall call in progress has returned, so a
// sink may use what the caller of run() owns. Before, the sink was called
// outside the watchdog's lock on the reactor and run() could return while
// it still ran.
TEST(Watchdog, RunReturnsOnlyAfterAnOnStallCallInProgressHasReturned) {
  sluice::runtime rt({.threads = 2});
  std::stop_source stop;
  std::promise<void> entered;
  std::atomic<bool> sink_returned{false};
  std::atomic<int> calls{0};
  auto [tx, rx] = sluice::channel<int>(8);
  std::vector<int> out;
  std::thread runner([&, rx = std::move(rx)]() mutable {
    sluice::run(rt, sluice::from(std::move(rx), {.name = "inbox"}) | sluice::to_vector(out),
                {.stop = stop.get_token(), .stall_timeout = 50ms, .on_stall = [&](std::string_view) {
                   if (calls.fetch_add(1) != 0) return;
                   entered.set_value();
                   std::this_thread::sleep_for(300ms);  // still running when the run is stopped
                   sink_returned.store(true);
                 }});
    EXPECT_TRUE(sink_returned.load()) << "run() returned while its on_stall call was still running";
  });
  ASSERT_EQ(entered.get_future().wait_for(120s), std::future_status::ready) << "no stall dump within the deadline";
  stop.request_stop();
  runner.join();
  EXPECT_EQ(calls.load(), 1);
}

// One watchdog thread serves every watched run of the process: runs that
// start while it waits for another run's next check (each with its own
// period) each get their own dump, naming their own stage. (Under ASan this
// also caught the thread waiting on a deadline inside its list of runs,
// which a run added meanwhile had moved.)
TEST(Watchdog, RunsWatchedAtTheSameTimeEachGetTheirOwnDump) {
  sluice::runtime rt({.threads = 2});
  constexpr int runs = 6;
  std::vector<dump_catcher> catchers(runs);
  std::vector<sluice::channel_sender<int>> inputs;
  std::stop_source stop;
  std::vector<std::thread> runners;
  for (int i = 0; i < runs; ++i) {
    auto [tx, rx] = sluice::channel<int>(8);
    inputs.push_back(std::move(tx));
    runners.emplace_back([&, i, rx = std::move(rx)]() mutable {
      std::vector<int> out;
      sluice::run(rt, sluice::from(std::move(rx), {.name = "inbox " + std::to_string(i)}) | sluice::to_vector(out),
                  {.stop = stop.get_token(),
                   .stall_timeout = std::chrono::milliseconds(60 + 25 * i),
                   .on_stall = catchers[static_cast<std::size_t>(i)].sink()});
    });
    std::this_thread::sleep_for(5ms);  // added while the thread waits for an earlier run's check
  }
  std::vector<std::optional<std::string>> dumps;
  for (auto& c : catchers) dumps.push_back(c.wait_first());
  stop.request_stop();
  for (auto& r : runners) r.join();
  for (int i = 0; i < runs; ++i) {
    const auto& dump = dumps[static_cast<std::size_t>(i)];
    ASSERT_TRUE(dump) << "run " << i << ": no stall dump within the deadline";
    EXPECT_TRUE(contains(*dump, "#0 \"inbox " + std::to_string(i) + "\"")) << *dump;
    for (int other = 0; other < runs; ++other) {
      if (other == i) continue;
      EXPECT_FALSE(contains(*dump, "\"inbox " + std::to_string(other) + "\"")) << *dump;
    }
  }
}

TEST(Watchdog, AHealthyRunNeverDumps) {
  sluice::runtime rt({.threads = 2});
  dump_catcher catcher;
  std::vector<int> out;
  sluice::run(
      rt, sluice::from(sluice_test::iota(10'000)) | sluice::map([](int x) { return x + 1; }) | sluice::to_vector(out),
      {.stall_timeout = 10s, .on_stall = catcher.sink()});
  EXPECT_EQ(out.size(), 10'000u);
  std::lock_guard lock(catcher.mutex);
  EXPECT_TRUE(catcher.dumps.empty());
}

}  // namespace
