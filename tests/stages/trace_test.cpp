// Trace export from run(): the file is strict JSON, every track is named,
// complete spans nest per track and carry the user's stage names and item
// counts, channel waits and async items are async spans.
#include <gtest/gtest.h>
#include <unistd.h>
#include <sluice/sluice.hpp>

#include <cstdlib>
#include <filesystem>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>

#include "test_support.hpp"
#include "trace_check.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string pattern = (fs::temp_directory_path() / "sluice-trace-XXXXXX").string();
    path = ::mkdtemp(pattern.data());
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

TEST(Trace, ChannelWaitsAndAsyncItemsAreAsyncSpans) {
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
    if (s.category == "channel") {
      ++waits;
      waiting_stages.insert(s.args.at("stage"));
    }
  }
  EXPECT_EQ(items, 64u);
  EXPECT_GT(waits, 0u);
  // The source outruns a 1 ms per item stage with a two-item input channel.
  EXPECT_TRUE(waiting_stages.contains("src"));
  sluice_test::expect_spans_nest(t);
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
