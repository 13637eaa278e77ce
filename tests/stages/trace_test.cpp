// Trace export from run(): the file is strict JSON, every track is named,
// complete spans nest per track and carry the user's stage names and item
// counts, channel waits are complete spans on their coroutine's track, async
// items are async spans.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sluice/sluice.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <vector>

#include "os_threads.hpp"
#include "test_support.hpp"
#include "trace_check.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string pattern = (fs::temp_directory_path() / "sluice-trace-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp " + pattern + " failed");
    path = pattern;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::uint64_t sum_items(const sluice_test::loaded_trace& t, const std::string& name) {
  std::uint64_t n = 0;
  for (const auto& s : t.complete)
    if (s.name == name && s.category == "stage") n += std::stoull(s.args.at("items"));
  return n;
}

TEST(Trace, RunWritesAChromeTraceWhoseSpansNestAndCarryStageNames) {
  temp_dir dir;
  const auto file = (dir.path / "run.trace.json").string();
  sluice::runtime rt({.threads = 2});
  const std::size_t n = 20'000 / sluice_test::scale;
  std::atomic<std::uint64_t> sum{0};
  auto p = sluice::from(sluice_test::iota(n), {.name = "numbers", .chunk = 64}) |
           sluice::map([](int x) { return x * 2; }, {.name = "double \"it\"\n", .capacity = 128}) |
           sluice::parallel_map([](int x) { return x + 1; }, {.name = "plus one", .batch = 256}) |
           sluice::for_each([&](int x) { sum.fetch_add(static_cast<std::uint64_t>(x)); }, {.name = "sum"});
  auto report = sluice::run(rt, std::move(p), {.trace = file, .stall_timeout = 0ms});
  ASSERT_EQ(report.stages.back().items_out, n);
  ASSERT_FALSE(fs::exists(file + ".tmp-" + std::to_string(::getpid())));

  auto t = sluice_test::load_trace(file);
  EXPECT_EQ(t.dropped, 0);
  sluice_test::expect_spans_nest(t);
  // Every item passed through each stage's spans exactly once.
  EXPECT_EQ(sum_items(t, "numbers"), n);
  EXPECT_EQ(sum_items(t, "double \"it\"\n"), n);
  EXPECT_EQ(sum_items(t, "sum"), n);
  EXPECT_EQ(sum_items(t, "plus one"), n);
  bool arena_track = false;
  for (const auto& [tid, name] : t.thread_names) arena_track = arena_track || name.starts_with("arena worker");
  EXPECT_TRUE(arena_track);
  bool run_span = false;
  for (const auto& s : t.async) run_span = run_span || (s.category == "pipeline" && s.name == "run");
  EXPECT_TRUE(run_span);
}

// Back-to-back sections of one stage on one thread (at most 4 us apart,
// nothing recorded between them) are one span counting their chunks; any
// other gap, stage or record between them keeps them apart.
TEST(Trace, BackToBackSectionsOfAStageAreOneSpanCountingItsChunks) {
  temp_dir dir;
  const auto file = (dir.path / "merged.json").string();
  sluice::trace_session session(file);
  auto* tr = sluice::trace_active();
  ASSERT_NE(tr, nullptr);
  const auto t0 = sluice::detail::trace_recorder::clock::now();
  auto at = [&](int us) { return t0 + std::chrono::microseconds(us); };
  const std::string a = "stage a", b = "stage b";
  tr->stage_section(a, at(0), at(10), 3);
  tr->stage_section(a, at(10), at(20), 4);  // touching: merged
  tr->stage_section(a, at(24), at(30), 5);  // 4 us apart: merged
  tr->stage_section(a, at(35), at(40), 6);  // 5 us apart: a new span
  tr->stage_section(b, at(40), at(50), 7);  // another stage
  tr->stage_section(b, at(50), at(60), 8);  // merged into b
  tr->channel_wait(b, "waiting for input", at(60), at(61));
  tr->stage_section(b, at(61), at(70), 9);  // a record between: a new span
  // The extension is decided inline by the name's text, not its address:
  std::string reused = "stage c";
  tr->stage_section(reused, at(70), at(80), 10);
  reused[6] = 'd';                                   // the same storage, now another stage's name
  tr->stage_section(reused, at(80), at(90), 11);     // a new span
  const std::string same_text = "stage d";           // the same name in other storage
  tr->stage_section(same_text, at(90), at(95), 12);  // merged
  session.finish();

  auto t = sluice_test::load_trace(file);
  EXPECT_EQ(t.dropped, 0);
  std::vector<std::tuple<std::string, std::string, std::string>> got;  // name, items, chunks
  for (const auto& s : t.complete) got.emplace_back(s.name, s.args.at("items"), s.args.at("chunks"));
  const std::vector<std::tuple<std::string, std::string, std::string>> want{
      {a, "12", "3"}, {a, "6", "1"}, {b, "15", "2"}, {b, "9", "1"}, {"stage c", "10", "1"}, {"stage d", "23", "2"}};
  EXPECT_EQ(got, want);
  ASSERT_EQ(t.complete.size(), 6u);
  EXPECT_EQ(t.complete[0].end_ns - t.complete[0].start_ns, 30'000);  // the first section's start to the third's end
  sluice_test::expect_spans_nest(t);
}

// The writer formats numbers with its own digit code (eight digits per
// step, a table for the three decimals): every length and the boundaries
// between its paths come out as the exact decimal text, checked in the
// file's text (the JSON reader would parse durations into doubles).
TEST(Trace, NumbersOfEveryLengthAreWrittenExactly) {
  temp_dir dir;
  const auto file = (dir.path / "numbers.json").string();
  const std::vector<std::pair<std::int64_t, std::string>> durations{
      // nanoseconds, and as microseconds with three decimals
      {0, "0.000"},
      {1, "0.001"},
      {999, "0.999"},
      {1'000, "1.000"},
      {9'999, "9.999"},
      {10'010, "10.010"},
      {123'456'789, "123456.789"},
      {99'999'999'999, "99999999.999"},
      {100'000'000'000, "100000000.000"},
      {1'234'567'890'123'456'789, "1234567890123456.789"},
  };
  const std::vector<std::int64_t> items{0,
                                        7,
                                        10,
                                        99,
                                        100,
                                        12'345'678,
                                        99'999'999,
                                        100'000'000,
                                        1'234'567'890'123,
                                        9'999'999'999'999'999,
                                        10'000'000'000'000'000,
                                        INT64_MAX};
  {
    sluice::trace_session session(file);
    auto* tr = sluice::trace_active();
    ASSERT_NE(tr, nullptr);
    const auto t0 = sluice::detail::trace_recorder::clock::now();
    const std::vector<std::string> names{"n0", "n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8", "n9", "n10", "n11"};
    for (std::size_t i = 0; i < names.size(); ++i) {
      const auto dur = std::chrono::nanoseconds(durations[i % durations.size()].first);
      tr->stage_section(names[i], t0, t0 + dur, items[i]);
    }
  }
  std::ifstream in(file);
  std::map<std::string, std::string> lines;  // stage name -> its event's line
  for (std::string line; std::getline(in, line);) {
    const std::string_view key = "\"cat\":\"stage\",\"name\":\"";
    if (const auto at = line.find(key); at != std::string::npos) {
      const auto name_start = at + key.size();
      lines[line.substr(name_start, line.find('"', name_start) - name_start)] = line;
    }
  }
  ASSERT_EQ(lines.size(), items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    const auto& line = lines["n" + std::to_string(i)];
    const auto want = "\"dur\":" + durations[i % durations.size()].second +
                      ",\"args\":{\"items\":" + std::to_string(items[i]) + ",\"chunks\":1}}";
    EXPECT_NE(line.find(want), std::string::npos) << line << "\nlacks " << want;
    EXPECT_NE(line.find("\"ts\":"), std::string::npos) << line;
  }
  sluice_test::expect_spans_nest(sluice_test::load_trace(file));
}

// A channel wait is one record, written as one complete span on a track of
// its coroutine and stage: the waits of one coroutine follow each other on
// its track, another coroutine's (overlapping) waits go on another track,
// and each track is named for the stage.
TEST(Trace, AChannelWaitIsOneCompleteSpanOnItsCoroutinesTrack) {
  temp_dir dir;
  const auto file = (dir.path / "wait-tracks.json").string();
  sluice::trace_session session(file);
  auto* tr = sluice::trace_active();
  ASSERT_NE(tr, nullptr);
  const auto t0 = sluice::detail::trace_recorder::clock::now();
  auto at = [&](int us) { return t0 + std::chrono::microseconds(us); };
  const int first = 0, second = 0;  // two coroutines' frames
  const std::string stage = "stage \"s\"", other = "other";
  tr->channel_wait(stage, "waiting for input", at(0), at(5), &first);
  tr->channel_wait(stage, "waiting to send (output full)", at(10), at(12), &first);
  tr->channel_wait(stage, "waiting for input", at(3), at(20), &second);  // overlaps the first's
  tr->channel_wait(other, "waiting for input", at(1), at(2), &first);    // the frame, reused by another stage
  tr->channel_wait(stage, "waiting for input", at(30), at(29), &first);  // the clock went back: no negative span
  const auto summary = session.finish();

  auto t = sluice_test::load_trace(file);
  EXPECT_EQ(t.dropped, 0);
  EXPECT_TRUE(t.async.empty());
  ASSERT_EQ(t.complete.size(), 5u);
  std::vector<std::tuple<std::string, std::int64_t, std::int64_t>> got;  // name, start, duration (us from the first)
  const auto origin = t.complete[0].start_ns;
  for (const auto& s : t.complete) {
    EXPECT_EQ(s.category, "channel");
    EXPECT_TRUE(s.args.empty());
    got.emplace_back(s.name, (s.start_ns - origin) / 1000, (s.end_ns - s.start_ns) / 1000);
  }
  const std::vector<std::tuple<std::string, std::int64_t, std::int64_t>> want{
      {stage + ": waiting for input", 0, 5},
      {stage + ": waiting to send (output full)", 10, 2},
      {stage + ": waiting for input", 3, 17},
      {"other: waiting for input", 1, 1},
      {stage + ": waiting for input", 30, 0}};
  EXPECT_EQ(got, want);
  const auto& c = t.complete;
  EXPECT_EQ(c[0].tid, c[1].tid);  // one coroutine's waits: one track
  EXPECT_EQ(c[0].tid, c[4].tid);
  EXPECT_NE(c[0].tid, c[2].tid);  // another coroutine: another track
  EXPECT_NE(c[0].tid, c[3].tid);  // another stage: another track
  EXPECT_NE(c[2].tid, c[3].tid);
  EXPECT_EQ(t.thread_names.at(c[0].tid), stage + ": channel waits");
  EXPECT_EQ(t.thread_names.at(c[2].tid), stage + ": channel waits");
  EXPECT_EQ(t.thread_names.at(c[3].tid), "other: channel waits");
  sluice_test::expect_spans_nest(t);
  // One event per wait, one per track name, the recording thread's name and the process's.
  EXPECT_EQ(summary.events, 5u + 3u + 1u + 1u);
}

// The stage library stamps its channel waits with trace_now() (the TSC
// where it can stand in for steady_clock, see trace_stamp), and the writer
// converts the stamps: a wait comes out between the steady_clock readings
// taken around it, as long as the time between them. The tolerance is for
// the conversion's calibration (tens of ns) on a loaded machine; a stamp
// left unconverted (TSC ticks, or nanoseconds read as ticks) is off by far
// more.
TEST(Trace, StampedChannelWaitsComeOutInSteadyClockTime) {
  temp_dir dir;
  const auto file = (dir.path / "stamped.json").string();
  sluice::trace_session session(file);
  auto* tr = sluice::trace_active();
  ASSERT_NE(tr, nullptr);
  RecordProperty("stamp_source", sluice::detail::decide_trace_stamp_source() == 1 ? "tsc" : "steady_clock");
  using clock = sluice::detail::trace_recorder::clock;
  const std::string before = "before", after = "after", stage = "stage";
  const int frame = 0;
  std::vector<clock::duration> slept;
  for (int i = 0; i < 3; ++i) {
    const auto t0 = clock::now();
    const auto s0 = sluice::detail::trace_now();
    std::this_thread::sleep_for(2ms);
    const auto s1 = sluice::detail::trace_now();
    const auto t1 = clock::now();
    tr->stage_section(before, t0, t0, 1);  // markers at the steady_clock readings
    tr->channel_wait(stage, "waiting for input", s0, s1, &frame);
    tr->stage_section(after, t1, t1, 1);
    slept.push_back(t1 - t0);
  }
  session.finish();

  auto t = sluice_test::load_trace(file);
  EXPECT_EQ(t.dropped, 0);
  std::vector<sluice_test::span> markers, waits;
  for (const auto& s : t.complete) (s.category == "channel" ? waits : markers).push_back(s);
  ASSERT_EQ(waits.size(), 3u);
  ASSERT_EQ(markers.size(), 6u);
  constexpr std::int64_t tolerance_ns = 5'000;
  for (std::size_t i = 0; i < 3; ++i) {
    const auto& w = waits[i];
    EXPECT_GE(w.start_ns, markers[2 * i].start_ns - tolerance_ns) << "wait " << i;
    EXPECT_LE(w.end_ns, markers[2 * i + 1].start_ns + tolerance_ns) << "wait " << i;
    EXPECT_GE(w.end_ns - w.start_ns, 2'000'000 - tolerance_ns) << "wait " << i;  // it slept 2 ms
    EXPECT_LE(w.end_ns - w.start_ns, std::chrono::nanoseconds(slept[i]).count() + tolerance_ns) << "wait " << i;
  }
  sluice_test::expect_spans_nest(t);
}

// The writer keeps at most 4096 wait tracks per session (its map of them is
// bounded); waits of further coroutines are async spans, still named and
// paired.
TEST(Trace, ChannelWaitsPastTheTrackLimitAreAsyncSpans) {
  temp_dir dir;
  const auto file = (dir.path / "many-waiters.json").string();
  sluice::trace_session session(file);
  auto* tr = sluice::trace_active();
  ASSERT_NE(tr, nullptr);
  constexpr std::size_t limit = 4096, waiters = limit + 10;
  std::vector<char> frames(waiters);  // distinct addresses
  auto t0 = sluice::detail::trace_recorder::clock::now();
  const std::string stage = "many";
  for (std::size_t i = 0; i < waiters; ++i) {
    tr->channel_wait(stage, "waiting for input", t0, t0 + 1us, &frames[i]);
    t0 += 2us;
  }
  session.finish();
  auto t = sluice_test::load_trace(file);
  EXPECT_EQ(t.dropped, 0);
  EXPECT_EQ(t.complete.size(), limit);
  ASSERT_EQ(t.async.size(), waiters - limit);
  for (const auto& s : t.async) {
    EXPECT_EQ(s.category, "channel");
    EXPECT_EQ(s.name, "many: waiting for input");
    EXPECT_EQ(s.end_ns - s.start_ns, 1000);
  }
  sluice_test::expect_spans_nest(t);
}

TEST(Trace, ChannelWaitsAreSpansOnTheirCoroutinesTracksAndAsyncItemsAreAsyncSpans) {
  temp_dir dir;
  const auto file = (dir.path / "waits.json").string();
  sluice::runtime rt({.threads = 2});
  auto p = sluice::from(sluice_test::iota(64), {.name = "src", .chunk = 1}) |
           sluice::async_map(
               [](int x) -> sluice::task<int> {
                 co_await sluice::sleep_for(1ms);
                 co_return x;
               },
               {.name = "nap", .concurrency = 4, .capacity = 2}) |
           sluice::for_each([](int) {}, {.name = "sink"});
  sluice::run(rt, std::move(p), {.trace = file, .stall_timeout = 0ms});
  auto t = sluice_test::load_trace(file);
  std::size_t items = 0, waits = 0;
  std::set<std::string> waiting_stages;
  for (const auto& s : t.async) {
    if (s.category == "item" && s.name == "nap") ++items;
    EXPECT_NE(s.category, "channel") << "run()'s channel waits name their coroutine: complete spans";
  }
  for (const auto& s : t.complete) {
    if (s.category != "channel") continue;
    ++waits;
    // "<stage>: <what>" on the track "<stage>: channel waits".
    const auto stage = s.name.substr(0, s.name.find(": "));
    waiting_stages.insert(stage);
    EXPECT_EQ(t.thread_names.at(s.tid), stage + ": channel waits");
    EXPECT_GE(s.tid, std::int64_t{1} << 30);  // not a thread's id
    EXPECT_GE(s.end_ns, s.start_ns);
  }
  EXPECT_EQ(items, 64u);
  EXPECT_GT(waits, 0u);
  // The source outruns a 1 ms per item stage with a two-item input channel.
  EXPECT_TRUE(waiting_stages.contains("src"));
  sluice_test::expect_spans_nest(t);
}

// A source reading the caller's channel waits for its input like any stage:
// a producer thread sending slowly leaves it waiting, and each wait is a
// complete span "<source>: waiting for input" on the source's track of waits.
TEST(Trace, ASourceReadingAChannelTracesItsWaitsForInput) {
  temp_dir dir;
  const auto file = (dir.path / "inbox.json").string();
  sluice::runtime rt({.threads = 2});
  auto [tx, rx] = sluice::channel<int>(4);
  // The producer sends its later items only once the sink has the first, so
  // the run is under way and reading when the channel runs dry (on a loaded
  // machine a run that started late found all five items waiting, CI).
  std::atomic<bool> first_taken{false};
  auto release_producer = [&first_taken] {
    if (!first_taken.exchange(true)) first_taken.notify_one();
  };
  std::thread producer([tx = std::move(tx), &first_taken]() mutable {
    (void)tx.send_blocking(0);
    first_taken.wait(false);
    for (int i = 1; i < 5; ++i) {
      std::this_thread::sleep_for(5ms);
      (void)tx.send_blocking(i);
    }
  });  // the sender closes the channel as the thread ends
  std::vector<int> out;
  auto sink = [&](int v) {
    out.push_back(v);
    release_producer();
  };
  auto p = sluice::from(std::move(rx), {.name = "inbox", .chunk = 8}) | sluice::for_each(sink, {.name = "sink"});
  sluice::run(rt, std::move(p), {.trace = file, .stall_timeout = 0ms});
  release_producer();  // a run that ended early must not leave the producer waiting
  producer.join();
  EXPECT_EQ(out, (std::vector<int>{0, 1, 2, 3, 4}));
  auto t = sluice_test::load_trace(file);
  std::size_t waits = 0;
  for (const auto& s : t.complete) {
    if (s.category != "channel" || s.name != "inbox: waiting for input") continue;
    ++waits;
    EXPECT_EQ(t.thread_names.at(s.tid), "inbox: channel waits");
  }
  EXPECT_GE(waits, 1u);
  sluice_test::expect_spans_nest(t);
}

TEST(Trace, NamesInternedAfterTheWriterStartedAreWrittenIntact) {
  // The writer keeps its own copy of the interned names and extends it when
  // a record names one it has not seen. Here it has formatted a full buffer
  // of one stage's sections (so it knows that name) before the channel
  // waits below intern their 40 details: extending the copy for a detail
  // must not invalidate the stage name it already holds (a use after free,
  // seen by the sanitizers, with names garbled in the file).
  temp_dir dir;
  const auto file = (dir.path / "late-names.json").string();
  const auto temp = file + ".tmp-" + std::to_string(::getpid());
  sluice::trace_session session(file);
  auto* r = sluice::trace_active();
  ASSERT_NE(r, nullptr);
  // The writer writes the file's opening (a hundred bytes) when the
  // session starts; a formatted buffer of sections is tens of kilobytes.
  const std::uintmax_t head = 4096;
  auto t0 = std::chrono::steady_clock::now();
  const std::string stage = "early stage";
  for (int i = 0; i < 2'000; ++i) {  // sections 5 us apart: none merge; more than a full buffer
    r->stage_section(stage, t0, t0 + 1us, 1);
    t0 += 6us;
  }
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (fs::file_size(temp) <= head && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  ASSERT_GT(fs::file_size(temp), head) << "the writer never wrote the first buffer";
  std::vector<std::string> details;
  for (int i = 0; i < 40; ++i) details.push_back("late detail " + std::to_string(i));
  for (const auto& d : details) {
    r->channel_wait(stage, d, t0, t0 + 1us);
    t0 += 3us;
  }
  session.finish();
  auto t = sluice_test::load_trace(file);
  std::set<std::string> seen;
  for (const auto& s : t.async) {
    if (s.category != "channel") continue;
    EXPECT_TRUE(s.args.empty());  // the name says it all
    seen.insert(s.name);
  }
  std::set<std::string> expected;
  for (const auto& d : details) expected.insert(stage + ": " + d);
  EXPECT_EQ(seen, expected);
}

TEST(Trace, EnvironmentVariableNamesTheFile) {
  temp_dir dir;
  const auto file = (dir.path / "env.json").string();
  ::setenv("SLUICE_TRACE", file.c_str(), 1);
  sluice::runtime rt({.threads = 2});
  std::vector<int> out;
  sluice::run(rt, sluice::from(sluice_test::iota(100), {.name = "from env"}) | sluice::to_vector(out));
  ::unsetenv("SLUICE_TRACE");
  ASSERT_TRUE(fs::exists(file));
  auto t = sluice_test::load_trace(file);
  EXPECT_EQ(sum_items(t, "from env"), 100u);
}

using sluice_test::for_each_os_thread;
using sluice_test::os_thread_names;

// The writer thread is started by the process's first session and kept:
// the OS shows it by name from then on, one however many sessions follow.
TEST(Trace, TheWriterThreadCarriesANameTheOsShowsAndOneServesEverySession) {
  temp_dir dir;
  EXPECT_LE(os_thread_names().count("sluice-trace"), 1u);  // earlier tests' sessions may have started it
  for (int i = 0; i < 3; ++i) {
    sluice::trace_session session((dir.path / ("named" + std::to_string(i) + ".json")).string());
    EXPECT_EQ(os_thread_names().count("sluice-trace"), 1u);
    session.finish();
    EXPECT_EQ(os_thread_names().count("sluice-trace"), 1u);
  }
}

// Between sessions the kept writer waits on a condition variable: it takes
// no CPU (its CPU time, read from /proc, does not move over a quiet 200 ms).
TEST(Trace, TheKeptWriterThreadUsesNoCpuBetweenSessions) {
  temp_dir dir;
  sluice::trace_session((dir.path / "first.json").string()).finish();
  auto writer_cpu_ticks = [] {
    long ticks = -1;
    for_each_os_thread([&](const fs::path& task, const std::string& name) {
      if (name != "sluice-trace") return;
      std::ifstream stat(task / "stat");
      std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
      // Fields after the ")" closing the name: state is the 3rd field, utime the 14th, stime the 15th.
      std::istringstream rest(text.substr(text.rfind(')') + 2));
      std::vector<std::string> fields{std::istream_iterator<std::string>(rest), std::istream_iterator<std::string>()};
      if (fields.size() > 12) ticks = std::stol(fields[11]) + std::stol(fields[12]);
    });
    return ticks;
  };
  const long before = writer_cpu_ticks();
  ASSERT_GE(before, 0) << "no sluice-trace thread after a session";
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(writer_cpu_ticks(), before);
}

// Waits (up to 10 s) until the trace writer thread, if this process has
// one, is blocked (state S: waiting for work). A fork must not copy it in
// the middle of its work under a sanitizer: ASan's allocator and thread
// registry locks are not fork-safe in GCC 12's runtime, so a child forked
// while the writer holds one hangs in its first allocation or thread
// start (glibc's own malloc and pthread_create are safe across fork, and
// the recorder's mutexes are held across it by its fork handlers).
void wait_until_the_writer_waits() {
  for (int i = 0; i < 10'000; ++i) {
    bool busy = false;
    for_each_os_thread([&](const fs::path& task, const std::string& name) {
      if (name != "sluice-trace") return;
      std::ifstream stat(task / "stat");
      std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
      const auto close = text.rfind(')');
      busy = busy || close == std::string::npos || close + 2 >= text.size() || text[close + 2] != 'S';
    });
    if (!busy) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// Runs `body` (returning an exit code) in a forked child, which exits
// with that code (99 if `body` throws); returns the child's exit status,
// -1 (a failure reported) if it could not be forked or did not exit.
template <typename Body>
int exit_status_in_child(Body&& body) {
  wait_until_the_writer_waits();
  const pid_t child = ::fork();
  if (child < 0) {
    ADD_FAILURE() << "fork failed";
    return -1;
  }
  if (child == 0) {
    int code = 99;
    try {
      code = body();
    } catch (...) {
    }
    ::_exit(code);
  }
  int status = 0;
  EXPECT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status));
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// fork() copies no thread: a child whose parent's writer is running starts
// a writer of its own for its first session instead of waiting for one
// that does not exist there.
TEST(Trace, AForkedChildTracesWithAWriterOfItsOwn) {
#if defined(__SANITIZE_THREAD__) || defined(SLUICE_TSAN)
  GTEST_SKIP() << "ThreadSanitizer does not support starting threads after a multi-threaded fork";
#endif
  temp_dir dir;
  sluice::trace_session((dir.path / "parent.json").string()).finish();  // the parent's writer runs
  const auto child_file = (dir.path / "child.json").string();
  ASSERT_EQ(exit_status_in_child([&] {
              sluice::trace_session session(child_file);
              sluice::trace_active()->async_span("test", "in the child", sluice::detail::trace_recorder::clock::now(),
                                                 sluice::detail::trace_recorder::clock::now());
              return session.finish().events >= 3 ? 0 : 2;  // process name, the span's two events
            }),
            0);
  const auto t = sluice_test::load_trace(child_file);
  EXPECT_EQ(t.dropped, 0);
  bool span = false;
  for (const auto& s : t.async) span = span || s.name == "in the child";
  EXPECT_TRUE(span);
}

// fork() while a session records: the session is the parent's. The child
// records nothing into it, may start its own, and its copy of the parent's
// session object finishes nothing (the parent's file is not touched);
// the parent's session goes on and finishes whole.
TEST(Trace, AChildForkedDuringASessionLeavesItToTheParentAndTracesOnItsOwn) {
#if defined(__SANITIZE_THREAD__) || defined(SLUICE_TSAN)
  GTEST_SKIP() << "ThreadSanitizer does not support starting threads after a multi-threaded fork";
#endif
  temp_dir dir;
  const auto parent_file = (dir.path / "parent.json").string();
  const auto child_file = (dir.path / "child.json").string();
  const auto now = [] { return sluice::detail::trace_recorder::clock::now(); };
  sluice::trace_session session(parent_file);
  sluice::trace_active()->async_span("test", "before the fork", now(), now());
  ASSERT_EQ(exit_status_in_child([&] {
              int code = 0;
              if (sluice::trace_active() != nullptr) code |= 1;  // the parent's session is not recording here
              if (session.finish().events != 0) code |= 2;       // the parent's, left to the parent
              sluice::trace_session own(child_file);             // the slot is free for the child's own
              sluice::trace_active()->async_span("test", "in the child", now(), now());
              if (own.finish().events < 3) code |= 4;  // process name, the span's two events
              return code;
            }),
            0);
  sluice::trace_active()->async_span("test", "after the fork", now(), now());
  const auto summary = session.finish();
  EXPECT_EQ(summary.dropped_events, 0u);
  std::set<std::string> parent_spans, child_spans;
  for (const auto& s : sluice_test::load_trace(parent_file).async) parent_spans.insert(s.name);
  for (const auto& s : sluice_test::load_trace(child_file).async) child_spans.insert(s.name);
  EXPECT_EQ(parent_spans, (std::set<std::string>{"before the fork", "after the fork"}));
  EXPECT_EQ(child_spans, (std::set<std::string>{"in the child"}));
}

TEST(Trace, ARunInsideAnActiveSessionRecordsIntoIt) {
  temp_dir dir;
  const auto outer = (dir.path / "outer.json").string();
  const auto inner = (dir.path / "inner.json").string();
  sluice::runtime rt({.threads = 2});
  sluice::trace_session session(outer);
  EXPECT_THROW(sluice::trace_session second(inner), std::logic_error);
  std::vector<int> out;
  sluice::run(rt, sluice::from(sluice_test::iota(10), {.name = "first"}) | sluice::to_vector(out), {.trace = inner});
  sluice::run(rt, sluice::from(sluice_test::iota(20), {.name = "second"}) | sluice::to_vector(out));
  auto summary = session.finish();
  EXPECT_FALSE(fs::exists(inner));
  EXPECT_EQ(summary.dropped_events, 0u);
  auto t = sluice_test::load_trace(outer);
  EXPECT_EQ(sum_items(t, "first"), 10u);
  EXPECT_EQ(sum_items(t, "second"), 20u);
  EXPECT_EQ(summary.bytes, t.text.size());
}

TEST(Trace, ALongRunPassesManyBuffersThroughTheWriterAndLosesNothing) {
  // One item per chunk: one record per item and stage, megabytes of records,
  // so threads hand many full buffers to the writer (and wait for it when
  // 2 MiB of them are queued).
  temp_dir dir;
  const auto file = (dir.path / "long.json").string();
  sluice::runtime rt({.threads = 2});
  const std::size_t n = 30'000 / sluice_test::scale;  // 30k items: 3.6 MB of records, 110 buffers
  std::uint64_t sum = 0;
  auto p = sluice::from(sluice_test::iota(n), {.name = "one by one", .chunk = 1}) |
           sluice::map([](int x) { return x + 1; }, {.name = "next", .capacity = 4}) |
           sluice::for_each([&](int x) { sum += static_cast<std::uint64_t>(x); }, {.name = "add"});
  sluice::trace_session session(file);
  sluice::run(rt, std::move(p), {.stall_timeout = 0ms});
  const auto summary = session.finish();
  EXPECT_EQ(summary.dropped_events, 0u);
  auto t = sluice_test::load_trace(file);
  EXPECT_EQ(t.dropped, 0);
  EXPECT_EQ(summary.bytes, t.text.size());
  EXPECT_EQ(sum_items(t, "one by one"), n);
  EXPECT_EQ(sum_items(t, "next"), n);
  EXPECT_EQ(sum_items(t, "add"), n);
  // Every event the summary counts is in the file (metadata included).
  const auto in_file = t.complete.size() + 2 * t.async.size() + t.thread_names.size() + 1;
  EXPECT_EQ(summary.events, in_file);
  sluice_test::expect_spans_nest(t);
}

TEST(Trace, ARunThatFailsAfterStreamingBuffersLeavesACompleteTrace) {
  // The writer writes full buffers while the run goes on; a run that then
  // fails still ends with the whole file, valid JSON, in place (run()'s
  // session finishes on the way out), and nothing beside it.
  temp_dir dir;
  const auto file = (dir.path / "failed.json").string();
  sluice::runtime rt({.threads = 2});
  constexpr std::size_t n = 4'000 / sluice_test::scale;  // several full buffers before the failure
  auto p = sluice::from(sluice_test::iota(n + 100), {.name = "numbers", .chunk = 1}) |
           sluice::map([](int x) { return x; }, {.name = "pass", .capacity = 4}) |
           sluice::for_each(
               [](int x) {
                 if (static_cast<std::size_t>(x) == n) throw std::runtime_error("sink gives up");
               },
               {.name = "sink"});
  EXPECT_THROW(sluice::run(rt, std::move(p), {.trace = file, .stall_timeout = 0ms}), sluice::pipeline_error);
  auto t = sluice_test::load_trace(file);
  EXPECT_EQ(t.dropped, 0);
  EXPECT_GE(sum_items(t, "numbers"), n);
  EXPECT_GE(sum_items(t, "sink"), n - 1);
  sluice_test::expect_spans_nest(t);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()), 1);
}

TEST(Trace, StageNamesInReusedStorageAreNotConfused) {
  // Each pipeline's name lives where the previous one's did (same length,
  // same stack slot): the per-thread name cache must compare the text too.
  temp_dir dir;
  const auto file = (dir.path / "names.json").string();
  sluice::runtime rt({.threads = 2});
  sluice::trace_session session(file);
  for (int k = 0; k < 8; ++k) {
    const std::string name = "stage " + std::to_string(k);
    std::vector<int> out;
    sluice::run(
        rt, sluice::from(sluice_test::iota(static_cast<std::size_t>(k + 1)), {.name = name}) | sluice::to_vector(out));
  }
  session.finish();
  auto t = sluice_test::load_trace(file);
  for (int k = 0; k < 8; ++k)
    EXPECT_EQ(sum_items(t, "stage " + std::to_string(k)), static_cast<std::uint64_t>(k + 1)) << k;
}

TEST(Trace, EventsOfThreadsThatExitedAreWrittenWithTheirArguments) {
  temp_dir dir;
  const auto file = (dir.path / "threads.json").string();
  sluice::trace_session session(file);
  const auto t0 = std::chrono::steady_clock::now();
  std::thread worker([&] {
    sluice::detail::set_trace_thread_name("my \"worker\"");
    auto* r = sluice::trace_active();
    ASSERT_NE(r, nullptr);
    const auto t1 = std::chrono::steady_clock::now();
    r->complete("custom", "bad \xff utf-8 \x01", t0, t1,
                {sluice::trace_arg::str("text", "tab\there"), sluice::trace_arg::num("n", -42)});
    r->async_span("custom", "a wait", t0, t1, {sluice::trace_arg::str("host", "example.org")});
    r->stage_section("section", t0, t1, 7);
    r->channel_wait("section", "waiting for input", t0, t1);
    r->async_item("section", t0, t1, 3);
  });
  worker.join();
  const auto summary = session.finish();
  EXPECT_EQ(summary.dropped_events, 0u);
  auto t = sluice_test::load_trace(file);
  bool named = false;
  for (const auto& [tid, name] : t.thread_names) named = named || name == "my \"worker\"";
  EXPECT_TRUE(named);
  bool custom = false;
  for (const auto& s : t.complete) {
    if (s.category != "custom") continue;
    custom = true;
    EXPECT_EQ(s.name, "bad \xEF\xBF\xBD utf-8 \x01");  // invalid UTF-8 became U+FFFD
    EXPECT_EQ(s.args.at("text"), "tab\there");
    EXPECT_EQ(s.args.at("n"), "-42");
  }
  EXPECT_TRUE(custom);
  EXPECT_EQ(sum_items(t, "section"), 7u);
  std::set<std::string> async_names;
  for (const auto& s : t.async) {
    async_names.insert(s.category + "/" + s.name);
    if (s.category == "custom") {
      EXPECT_EQ(s.args.at("host"), "example.org");
    } else if (s.category == "item") {
      EXPECT_EQ(s.args.at("item"), "3");
    }
  }
  EXPECT_EQ(async_names,
            (std::set<std::string>{"custom/a wait", "channel/section: waiting for input", "item/section"}));
}

TEST(Trace, ASyncedTraceIsTheSameCompleteFile) {
  // trace_options::fsync: the file (and its directory) is synced before and
  // after the rename; what it holds does not change.
  temp_dir dir;
  const auto file = (dir.path / "synced.json").string();
  sluice::runtime rt({.threads = 2});
  std::vector<int> out;
  sluice::trace_session session(file, {.fsync = true});
  sluice::run(rt, sluice::from(sluice_test::iota(500), {.name = "synced", .chunk = 7}) | sluice::to_vector(out));
  const auto summary = session.finish();
  EXPECT_FALSE(fs::exists(file + ".tmp-" + std::to_string(::getpid())));
  auto t = sluice_test::load_trace(file);
  EXPECT_EQ(summary.bytes, t.text.size());
  EXPECT_EQ(summary.dropped_events, 0u);
  EXPECT_EQ(sum_items(t, "synced"), 500u);
  sluice_test::expect_spans_nest(t);
}

TEST(Trace, ASecondTraceOnThePathReplacesTheFirstWhole) {
  // finish() swaps the names of the new file and an old one at the path
  // (detail::replace_file) and removes the old: the path holds the second
  // trace alone, and nothing is left beside it.
  temp_dir dir;
  const auto file = (dir.path / "again.json").string();
  sluice::runtime rt({.threads = 2});
  for (const char* stage : {"first", "second"}) {
    std::vector<int> out;
    sluice::run(rt, sluice::from(sluice_test::iota(300), {.name = stage, .chunk = 7}) | sluice::to_vector(out),
                {.trace = file, .stall_timeout = 0ms});
  }
  auto t = sluice_test::load_trace(file);
  EXPECT_EQ(sum_items(t, "second"), 300u);
  EXPECT_EQ(sum_items(t, "first"), 0u);
  sluice_test::expect_spans_nest(t);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()), 1);
}

TEST(Trace, RecordsRacingFinishAreWrittenWholeInOrderOrCountedDropped) {
  // Threads record without a lock (see trace.cpp's thread_buffer): finish()
  // must wait for a record in progress, take every thread's buffer whole,
  // and count what comes after as dropped. Each thread numbers its records:
  // in the file they must be 0..k-1 on its track, nothing torn or skipped.
  temp_dir dir;
  const auto file = (dir.path / "race.json").string();
  constexpr int racers = 3;
  const std::size_t before_finish = 7'000 / sluice_test::scale;  // several full buffers each (819 records)
  std::atomic<int> warmed_up{0};
  std::vector<std::int64_t> calls(racers, 0);
  std::vector<std::int64_t> tids(racers, 0);
  sluice::trace_session session(file);
  std::vector<std::thread> threads;
  for (int k = 0; k < racers; ++k) {
    threads.emplace_back([&, k] {
      tids[static_cast<std::size_t>(k)] = static_cast<std::int64_t>(::gettid());
      const auto t0 = std::chrono::steady_clock::now();
      std::int64_t n = 0;
      while (auto* r = sluice::trace_active()) {
        r->async_item("racer", t0, t0, n++);
        if (n == static_cast<std::int64_t>(before_finish)) warmed_up.fetch_add(1);
        // Past the warm-up, slower: still racing finish(), without piling
        // up records for the writer while the main thread waits for a core.
        if (n >= static_cast<std::int64_t>(before_finish)) std::this_thread::yield();
      }
      calls[static_cast<std::size_t>(k)] = n;
    });
  }
  while (warmed_up.load() < racers) std::this_thread::yield();
  const auto summary = session.finish();
  for (auto& t : threads) t.join();
  auto t = sluice_test::load_trace(file);
  std::map<std::int64_t, std::vector<std::int64_t>> items;  // tid -> item numbers in file order
  for (const auto& s : t.async)
    if (s.category == "item" && s.name == "racer") items[s.tid].push_back(std::stoll(s.args.at("item")));
  std::int64_t written = 0, made = 0;
  for (int k = 0; k < racers; ++k) {
    const auto& mine = items[tids[static_cast<std::size_t>(k)]];
    ASSERT_GE(mine.size(), before_finish) << k;
    for (std::size_t i = 0; i < mine.size(); ++i) ASSERT_EQ(mine[i], static_cast<std::int64_t>(i)) << k;
    written += static_cast<std::int64_t>(mine.size());
    made += calls[static_cast<std::size_t>(k)];
  }
  // Every record is in the file or counted dropped, except at most one per
  // thread whose drop was counted after finish() read the count.
  const auto dropped = static_cast<std::int64_t>(summary.dropped_events);
  EXPECT_LE(written + dropped, made);
  EXPECT_GE(written + dropped + racers, made);
  EXPECT_EQ(summary.bytes, t.text.size());
  sluice_test::expect_spans_nest(t);
}

TEST(Trace, SectionsExtendedWhileFinishRunsAreWrittenWholeOrCountedDropped) {
  // Back-to-back sections of a stage extend the thread's open section
  // without raising its busy flag (see trace.cpp's thread_buffer), also
  // while finish() takes the buffers: every item is in the file or counted
  // dropped, except at most two per thread (one extension racing finish()
  // and one drop counted after finish() read the count), and the spans of
  // each track still nest.
  temp_dir dir;
  const auto file = (dir.path / "race-sections.json").string();
  constexpr int racers = 3;
  const std::size_t before_finish = 20'000 / sluice_test::scale;  // several full buffers each
  const std::string stage = "racing stage";
  std::atomic<int> warmed_up{0};
  std::vector<std::int64_t> calls(racers, 0);
  sluice::trace_session session(file);
  std::vector<std::thread> threads;
  for (int k = 0; k < racers; ++k) {
    threads.emplace_back([&, k] {
      using namespace std::chrono;
      auto t = steady_clock::now();
      std::int64_t n = 0;
      while (auto* r = sluice::trace_active()) {
        // Every fourth section starts 1 ms after the last one ended (a
        // new span); the others touch it and extend it.
        const auto start = n % 4 == 0 ? t + 1ms : t;
        t = start + 100ns;
        r->stage_section(stage, start, t, 1);
        ++n;
        if (n == static_cast<std::int64_t>(before_finish)) warmed_up.fetch_add(1);
        if (n >= static_cast<std::int64_t>(before_finish)) std::this_thread::yield();
      }
      calls[static_cast<std::size_t>(k)] = n;
    });
  }
  while (warmed_up.load() < racers) std::this_thread::yield();
  const auto summary = session.finish();
  for (auto& t : threads) t.join();
  auto t = sluice_test::load_trace(file);
  std::int64_t made = 0;
  for (const auto n : calls) made += n;
  const auto written = static_cast<std::int64_t>(sum_items(t, stage));
  const auto dropped = static_cast<std::int64_t>(summary.dropped_events);
  EXPECT_GE(written, racers * static_cast<std::int64_t>(before_finish) - 2 * racers);
  EXPECT_LE(written + dropped, made);
  EXPECT_GE(written + dropped + 2 * racers, made);
  sluice_test::expect_spans_nest(t);
}

TEST(Trace, AnUnwritableTraceFileIsAnErrorNamingIt) {
  sluice::runtime rt({.threads = 1});
  std::vector<int> out;
  try {
    sluice::run(rt, sluice::from(sluice_test::iota(10)) | sluice::to_vector(out),
                {.trace = "/nonexistent-dir/sluice.json"});
    FAIL() << "expected std::system_error";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/sluice.json"), std::string::npos) << e.what();
  }
  // Recording is off again: a new session can start.
  EXPECT_EQ(sluice::trace_active(), nullptr);
}

}  // namespace
