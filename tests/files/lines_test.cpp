// files::lines, read_lines, read_blocks, files(): content, block boundaries,
// gzip, stdin, errors and cancellation, on both I/O backends.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <sluice/files/files.hpp>
#include <sluice/sluice.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "files_test_support.hpp"

namespace files = sluice::files;
using files_test::nested_message;
using files_test::temp_dir;

namespace {

// The message of the pipeline_error a run throws, or "" when it succeeds.
std::string run_error(sluice::runtime& rt, sluice::pipeline p) {
  try {
    sluice::run(rt, std::move(p));
  } catch (const sluice::pipeline_error& e) {
    return nested_message(e);
  }
  return {};
}

class Lines : public ::testing::TestWithParam<files::io_backend> {
 protected:
  void SetUp() override {
    if (GetParam() == files::io_backend::io_uring && !files::io_uring_available())
      GTEST_SKIP() << files::backend_description({});
  }
  [[nodiscard]] files::read_options read(std::size_t block = 4096, std::size_t ahead = 4) const {
    return {.block_bytes = block, .read_ahead = ahead, .backend = GetParam()};
  }
  std::vector<std::string> collect(const std::filesystem::path& p, files::lines_options o) {
    std::vector<std::string> out;
    sluice::run(m_rt, files::lines(p, std::move(o)) |
                          sluice::for_each([&out](const files::line& l) { out.emplace_back(l.text()); }));
    return out;
  }
  sluice::runtime m_rt{{.threads = 2}};
  temp_dir m_dir;
};

}  // namespace

TEST_P(Lines, ReadsEveryLineOfALargeFileAcrossManyBlocks) {
  std::vector<std::string> expected;
  const std::string text = files_test::numbered_lines(200'000 / files_test::scale, expected);
  files_test::write_file(m_dir / "big.txt", text);
  // 4 KiB blocks: hundreds of blocks, and lines spanning their boundaries.
  std::vector<std::string> got;
  auto p = files::lines(m_dir / "big.txt", {.read = read(4096)}) |
           sluice::for_each([&got](const files::line& l) { got.emplace_back(l.text()); });
  auto report = sluice::run(m_rt, std::move(p));
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], expected[i]) << "line " << i;
  EXPECT_TRUE(report.balanced());
  EXPECT_EQ(report.stages[0].items_in, expected.size());
  EXPECT_EQ(report.stages[0].bytes, text.size());
}

// The log shape: lines | map | filter | fold. The map and filter have no
// state, so they run in lanes, one per fold worker (pipeline.md, "Fused
// stages in lanes"): the same sums and exact per-stage counts as with
// `.fuse = false`, also under the reader's output bound in bytes.
TEST_P(Lines, LightStagesInLanesBeforeAFoldCountEveryLineExactly) {
  std::vector<std::string> expected;
  const std::string text = files_test::numbered_lines(100'000 / files_test::scale, expected);
  files_test::write_file(m_dir / "log.txt", text);
  std::size_t want_lines = 0, want_bytes = 0;
  for (const auto& l : expected) {
    if (l.empty()) continue;
    ++want_lines;
    want_bytes += l.size();
  }
  struct sized {
    files::line text;
    std::size_t size;
  };
  struct total {
    std::size_t lines = 0;
    std::size_t bytes = 0;
  };
  for (const std::size_t bound : {std::size_t{0}, std::size_t{64} << 10}) {
    for (const bool fuse : {true, false}) {
      total t;
      auto report = sluice::run(
          m_rt, files::lines(m_dir / "log.txt", {.capacity_bytes = bound, .read = read(16384)}) |
                    sluice::map(
                        [](files::line l) {
                          return sized{l, l.size()};
                        },
                        {.name = "measure", .fuse = fuse}) |
                    sluice::filter([](const sized& s) { return s.size > 0; }, {.name = "non-empty", .fuse = fuse}) |
                    sluice::fold(
                        t,
                        [](total& acc, const sized& s) {
                          ++acc.lines;
                          acc.bytes += s.text.size();
                        },
                        [](total& acc, total&& o) {
                          acc.lines += o.lines;
                          acc.bytes += o.bytes;
                        }));
      EXPECT_EQ(t.lines, want_lines) << "bound " << bound << " fuse " << fuse;
      EXPECT_EQ(t.bytes, want_bytes) << "bound " << bound << " fuse " << fuse;
      ASSERT_EQ(report.stages.size(), 4u);
      EXPECT_EQ(report.stages[0].items_in, expected.size());
      EXPECT_EQ(report.stages[1].items_in, expected.size());
      EXPECT_EQ(report.stages[1].items_out, expected.size());
      EXPECT_EQ(report.stages[2].items_in, expected.size());
      EXPECT_EQ(report.stages[2].dropped, expected.size() - want_lines);
      EXPECT_EQ(report.stages[3].items_in, want_lines);
      EXPECT_TRUE(report.balanced());
    }
  }
}

TEST_P(Lines, TinyBlocksSplitLinesAnywhere) {
  std::vector<std::string> expected;
  const std::string text = files_test::numbered_lines(300, expected);
  files_test::write_file(m_dir / "t.txt", text);
  for (std::size_t block : {1, 2, 7, 64, 1000}) {
    auto got = collect(m_dir / "t.txt", {.read = read(block, 3)});
    EXPECT_EQ(got, expected) << "block " << block;
  }
}

TEST_P(Lines, HandlesCrlfNoTrailingNewlineAndEmptyFiles) {
  files_test::write_file(m_dir / "crlf.txt", "a\r\nbb\r\n\r\nccc");
  EXPECT_EQ(collect(m_dir / "crlf.txt", {.read = read(3)}), (std::vector<std::string>{"a", "bb", "", "ccc"}));
  EXPECT_EQ(collect(m_dir / "crlf.txt", {.strip_cr = false, .read = read()}),
            (std::vector<std::string>{"a\r", "bb\r", "\r", "ccc"}));
  files_test::write_file(m_dir / "empty.txt", "");
  EXPECT_TRUE(collect(m_dir / "empty.txt", {.read = read()}).empty());
  files_test::write_file(m_dir / "nl.txt", "\n");
  EXPECT_EQ(collect(m_dir / "nl.txt", {.read = read()}), (std::vector<std::string>{""}));
  files_test::write_file(m_dir / "last.txt", "x\ny");
  EXPECT_EQ(collect(m_dir / "last.txt", {.read = read(1)}), (std::vector<std::string>{"x", "y"}));
}

TEST_P(Lines, LinesStayValidAfterTheRunAndAcrossThreads) {
  std::vector<std::string> expected;
  files_test::write_file(m_dir / "keep.txt", files_test::numbered_lines(5000, expected));
  std::vector<files::line> kept;
  sluice::run(m_rt, files::lines(m_dir / "keep.txt", {.read = read(512)}) |
                        sluice::parallel_map([](files::line l) { return l; }, {.ordered = true}) |
                        sluice::to_vector(kept));
  ASSERT_EQ(kept.size(), expected.size());
  for (std::size_t i = 0; i < kept.size(); ++i) ASSERT_EQ(kept[i].text(), expected[i]);
}

// Readers recycle their blocks (block_pool.hpp): a block goes back to the
// pool only when its last line is gone. Keeping every 37th line (so most
// blocks come back and are read into again while some stay held, also past
// the run) must leave every kept line's text intact, with plain and gzip
// input (whose decoded blocks are recycled too).
TEST_P(Lines, RecycledBlocksNeverOverwriteALineStillHeld) {
  std::vector<std::string> expected;
  const std::string text = files_test::numbered_lines(20'000 / files_test::scale, expected);
  files_test::write_file(m_dir / "r.txt", text);
  files_test::write_file(m_dir / "r.txt.gz", files_test::gzip(text));
  for (const char* name : {"r.txt", "r.txt.gz"}) {
    std::vector<files::line> kept;
    std::vector<std::size_t> at;
    std::size_t seen = 0;
    sluice::run(m_rt, files::lines(m_dir / name, {.read = read(700, 3)}) | sluice::filter([&seen](const files::line&) {
                        return seen++ % 37 == 0;
                      }) | sluice::to_vector(kept));
    for (std::size_t i = 0; i < expected.size(); i += 37) at.push_back(i);
    ASSERT_EQ(kept.size(), at.size()) << name;
    for (std::size_t k = 0; k < kept.size(); ++k)
      ASSERT_EQ(kept[k].text(), expected[at[k]]) << name << " line " << at[k];
  }
}

// A fold after lines() runs fused in the lanes (pipeline.hpp, "Fusion") and
// drops each chunk inside one release_batch: the lines of a block release it
// with one decrement per chunk. A fold that keeps some lines in its
// accumulator, past the chunk they came in, holds their blocks; every kept
// line's text must be intact after the run while the other blocks were
// recycled and read into again (plain and gzip, several lanes). A block
// released one time too many would be overwritten here (or, under ASan,
// freed under the line).
TEST_P(Lines, AFoldKeepingLinesPastTheirChunkKeepsTheirText) {
  std::vector<std::string> expected;
  const std::string text = files_test::numbered_lines(20'000 / files_test::scale, expected);
  files_test::write_file(m_dir / "k.txt", text);
  files_test::write_file(m_dir / "k.txt.gz", files_test::gzip(text));
  std::vector<std::string> want;
  for (std::size_t i = 0; i < expected.size(); i += 37)
    if (!expected[i].empty()) want.push_back(expected[i]);
  std::sort(want.begin(), want.end());
  for (const char* name : {"k.txt", "k.txt.gz"}) {
    std::vector<files::line> kept;
    auto p = files::lines(m_dir / name, {.chunk = 100, .read = read(700, 3)}) |
             sluice::filter([](const files::line& l) { return !l.empty(); }) |
             sluice::fold(
                 kept,
                 [](std::vector<files::line>& acc, const files::line& l) {
                   const std::string_view t = l.text();  // "line N ..."
                   const auto n = std::stoul(std::string(t.substr(5, t.find(' ', 5) - 5)));
                   if (n % 37 == 0) acc.push_back(l);
                 },
                 [](std::vector<files::line>& acc, std::vector<files::line>&& other) {
                   acc.insert(acc.end(), other.begin(), other.end());
                 });
    EXPECT_NE(p.describe().find("fused, in lanes"), std::string::npos) << p.describe();
    auto report = sluice::run(m_rt, std::move(p));
    EXPECT_TRUE(report.balanced());
    std::vector<std::string> got;
    for (const auto& l : kept) got.emplace_back(l.text());
    std::sort(got.begin(), got.end());
    ASSERT_EQ(got, want) << name;
  }
}

// Cancelling a run whose fold runs in lanes while they hold blocks: every
// line is accounted for (the fold saw exactly what it counted out), the
// result holds what was folded, and no block stays pinned (the pool and its
// blocks are freed; LeakSanitizer checks that in the asan preset).
TEST_P(Lines, CancellingAFoldInLanesMidFileLosesNoCountAndNoBlock) {
  std::vector<std::string> expected;
  files_test::write_file(m_dir / "c.txt", files_test::numbered_lines(100'000 / files_test::scale, expected));
  files_test::write_file(m_dir / "c.txt.gz", files_test::gzip(files_test::read_file(m_dir / "c.txt")));
  for (const char* name : {"c.txt", "c.txt.gz"}) {
    std::stop_source stop;
    std::atomic<std::size_t> seen{0};
    std::size_t total = 0;
    auto p = files::lines(m_dir / name, {.chunk = 64, .read = read(4096)}) |
             sluice::map([](files::line l) { return l; }) |
             sluice::fold(
                 total,
                 [&stop, &seen](std::size_t& acc, const files::line&) {
                   ++acc;
                   if (seen.fetch_add(1) == 3000) stop.request_stop();
                 },
                 [](std::size_t& acc, std::size_t&& other) { acc += other; }, {.name = "count"});
    auto report = sluice::run(m_rt, std::move(p), stop.get_token());
    EXPECT_TRUE(report.cancelled) << name;
    EXPECT_LT(report.stages[0].items_in, expected.size()) << name;
    EXPECT_EQ(total, report.stages.back().items_out) << name;
    EXPECT_TRUE(report.balanced()) << name;
  }
}

// A fold in lanes that throws while blocks are in flight (read ahead, in
// the lane channel, in the other lane) fails the run naming the stage and
// the item, counts the one failure, and releases every block.
TEST_P(Lines, AFailingFoldWithBlocksInFlightFailsTheRunNamingTheStage) {
  std::vector<std::string> expected;
  files_test::write_file(m_dir / "f.txt", files_test::numbered_lines(50'000 / files_test::scale, expected));
  files_test::write_file(m_dir / "f.txt.gz", files_test::gzip(files_test::read_file(m_dir / "f.txt")));
  for (const char* name : {"f.txt", "f.txt.gz"}) {
    std::size_t total = 0;
    auto p = files::lines(m_dir / name, {.chunk = 128, .read = read(4096)}) |
             sluice::fold(
                 total,
                 [](std::size_t& acc, const files::line& l) {
                   if (l.text().starts_with("line 2000 ")) throw std::runtime_error("bad line");
                   ++acc;
                 },
                 [](std::size_t& acc, std::size_t&& other) { acc += other; }, {.name = "tally"});
    try {
      sluice::run(m_rt, std::move(p));
      ADD_FAILURE() << name << ": expected a pipeline_error";
    } catch (const sluice::pipeline_error& e) {
      EXPECT_EQ(e.stage_name(), "tally") << name;
      EXPECT_NE(nested_message(e).find("bad line"), std::string::npos) << nested_message(e);
      EXPECT_EQ(e.report().stages.back().failed, 1u) << name;
      EXPECT_TRUE(e.report().balanced()) << name;
    }
  }
}

TEST_P(Lines, StringFormOwnsItsText) {
  files_test::write_file(m_dir / "s.txt", "alpha\nbeta\n");
  std::vector<std::string> out;
  sluice::run(m_rt, files::lines<std::string>(m_dir / "s.txt", {.read = read()}) | sluice::to_vector(out));
  EXPECT_EQ(out, (std::vector<std::string>{"alpha", "beta"}));
}

TEST_P(Lines, DecodesGzipIncludingConcatenatedMembers) {
  std::vector<std::string> expected;
  const std::string text = files_test::numbered_lines(20'000 / files_test::scale, expected);
  const std::size_t half = text.find('\n', text.size() / 2) + 1;
  files_test::write_file(m_dir / "two.txt.gz",
                         files_test::gzip(text.substr(0, half)) + files_test::gzip(text.substr(half)));
  EXPECT_EQ(collect(m_dir / "two.txt.gz", {.read = read(1000)}), expected);
}

TEST_P(Lines, TruncatedOrInvalidGzipFailsTheRunNamingTheFile) {
  std::vector<std::string> expected;
  const std::string gz = files_test::gzip(files_test::numbered_lines(2000, expected));
  files_test::write_file(m_dir / "cut.gz", gz.substr(0, gz.size() / 2));
  auto msg = run_error(m_rt, files::lines(m_dir / "cut.gz", {.read = read()}) | sluice::for_each([](files::line) {}));
  EXPECT_NE(msg.find("truncated gzip"), std::string::npos) << msg;
  EXPECT_NE(msg.find((m_dir / "cut.gz").string()), std::string::npos) << msg;

  files_test::write_file(m_dir / "plain.gz", "this is not gzip\n");
  msg = run_error(m_rt, files::lines(m_dir / "plain.gz", {.read = read()}) | sluice::for_each([](files::line) {}));
  EXPECT_NE(msg.find("not valid gzip"), std::string::npos) << msg;
}

TEST_P(Lines, MissingFileAndDirectoryFailWithThePath) {
  auto msg = run_error(m_rt, files::lines(m_dir / "nope.txt", {.read = read()}) | sluice::for_each([](files::line) {}));
  EXPECT_NE(msg.find((m_dir / "nope.txt").string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("No such file"), std::string::npos) << msg;
  msg = run_error(m_rt, files::lines(m_dir.path(), {.read = read()}) | sluice::for_each([](files::line) {}));
  EXPECT_NE(msg.find("is a directory"), std::string::npos) << msg;
}

TEST_P(Lines, AnOverlongLineFailsTheRun) {
  files_test::write_file(m_dir / "long.txt", "short\n" + std::string(10'000, 'x') + "\n");
  auto msg = run_error(m_rt, files::lines(m_dir / "long.txt", {.max_line_bytes = 1000, .read = read(256)}) |
                                 sluice::for_each([](files::line) {}));
  EXPECT_NE(msg.find("line 2 is longer than 1000 bytes"), std::string::npos) << msg;
}

TEST_P(Lines, UnreadableFileFailsWithPermissionDenied) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const auto file = m_dir / "secret.txt";
  files_test::write_file(file, "x\n");
  ::chmod(file.c_str(), 0);
  ::chmod(m_dir.path().c_str(), 0755);
  const auto backend = GetParam();
  SLUICE_EXPECT_AS_UNPRIVILEGED([&] {
    sluice::runtime rt({.threads = 1});
    auto msg = run_error(rt, files::lines(file, {.read = {.backend = backend}}) | sluice::for_each([](files::line) {}));
    return msg.find(file.string()) != std::string::npos && msg.find("Permission denied") != std::string::npos;
  });
}

TEST_P(Lines, StopTokenEndsTheRunMidFile) {
  std::vector<std::string> expected;
  files_test::write_file(m_dir / "mid.txt", files_test::numbered_lines(100'000 / files_test::scale, expected));
  std::stop_source stop;
  std::size_t seen = 0;
  auto p = files::lines(m_dir / "mid.txt", {.chunk = 64, .read = read(4096)}) | sluice::for_each([&](files::line) {
             if (++seen == 1000) stop.request_stop();
           });
  auto report = sluice::run(m_rt, std::move(p), stop.get_token());
  EXPECT_TRUE(report.cancelled);
  EXPECT_LT(report.stages[0].items_in, expected.size());
  EXPECT_TRUE(report.balanced());
}

TEST_P(Lines, ReadsStdinStyleDescriptorsFromAPipe) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::FILE* in = ::fdopen(fds[0], "r");
  ASSERT_NE(in, nullptr);
  std::thread writer([w = fds[1]] {
    for (int i = 0; i < 2000; ++i) {
      std::string l = "row " + std::to_string(i) + "\n";
      if (::write(w, l.data(), l.size()) != static_cast<ssize_t>(l.size())) break;
    }
    ::close(w);
  });
  std::vector<std::string> got;
  auto p = files::lines<std::string>(in, {.read = read(100)}) | sluice::to_vector(got);
  EXPECT_NE(p.stages()[0].name.find("fd "), std::string::npos);
  sluice::run(m_rt, std::move(p));
  writer.join();
  std::fclose(in);
  ASSERT_EQ(got.size(), 2000u);
  EXPECT_EQ(got[1999], "row 1999");
}

TEST_P(Lines, CancellingWhileAPipeHasNoDataDoesNotHang) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::FILE* in = ::fdopen(fds[0], "r");
  ASSERT_EQ(::write(fds[1], "first\n", 6), 6);
  std::stop_source stop;
  std::atomic<int> seen{0};
  auto p = files::lines(in, {.read = read()}) | sluice::for_each([&](files::line) { seen.fetch_add(1); });
  std::thread canceller([&] {
    while (seen.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the source is now waiting on the empty pipe
    stop.request_stop();
  });
  auto report = sluice::run(m_rt, std::move(p), stop.get_token());
  canceller.join();
  EXPECT_TRUE(report.cancelled);
  EXPECT_EQ(seen.load(), 1);
  ::close(fds[1]);
  std::fclose(in);
}

// The io_uring reader involves the reactor only while it waits (the
// eventfd's watch is one-shot, re-armed for each wait: uring_stream.cpp):
// a writer feeding a pipe slowly makes the reader wait thousands of times,
// and a lost wake-up would hang the run.
TEST_P(Lines, APipeReaderWaitingThousandsOfTimesGetsEveryLineOnce) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::FILE* in = ::fdopen(fds[0], "r");
  ASSERT_NE(in, nullptr);
  constexpr int count = 4000 / static_cast<int>(files_test::scale);
  std::thread writer([w = fds[1]] {
    for (int i = 0; i < count; ++i) {
      const std::string l = "slow " + std::to_string(i) + "\n";
      if (::write(w, l.data(), l.size()) != static_cast<ssize_t>(l.size())) break;
      // Mostly one line per read; now and then a pause long enough for the
      // reader to reach its wait.
      if (i % 8 == 0) std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    ::close(w);
  });
  std::vector<std::string> got;
  sluice::run(m_rt, files::lines<std::string>(in, {.read = read(64)}) | sluice::to_vector(got));
  writer.join();
  std::fclose(in);
  ASSERT_EQ(got.size(), static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) ASSERT_EQ(got[static_cast<std::size_t>(i)], "slow " + std::to_string(i));
}

// A stop request lands anywhere around a wait on a pipe: before it, while
// the reactor re-arms the watch, after a completion. Every run must end,
// and the lines it delivered are the first ones, in order.
TEST_P(Lines, CancellingARacingWaitOnAPipeNeverHangsNorLosesOrder) {
  const int rounds = 150 / static_cast<int>(files_test::scale);
  for (int round = 0; round < rounds; ++round) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    std::FILE* in = ::fdopen(fds[0], "r");
    ASSERT_NE(in, nullptr);
    std::stop_source stop;
    std::vector<std::string> got;
    std::thread writer([w = fds[1], round, &stop] {
      for (int i = 0; i < 20 && !stop.stop_requested(); ++i) {
        const std::string l = "r" + std::to_string(i) + "\n";
        if (::write(w, l.data(), l.size()) != static_cast<ssize_t>(l.size())) break;
        std::this_thread::sleep_for(std::chrono::microseconds(20 + round % 7 * 30));
      }
    });
    std::thread canceller([round, &stop] {
      std::this_thread::sleep_for(std::chrono::microseconds(round % 13 * 150));
      stop.request_stop();
    });
    auto report =
        sluice::run(m_rt, files::lines<std::string>(in, {.read = read(16)}) | sluice::to_vector(got), stop.get_token());
    canceller.join();
    writer.join();
    ::close(fds[1]);  // only now: the run ends by its cancellation, never by the end of the pipe
    std::fclose(in);
    EXPECT_TRUE(report.cancelled) << "round " << round;
    EXPECT_TRUE(report.balanced()) << "round " << round;
    for (std::size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], "r" + std::to_string(i)) << "round " << round;
  }
}

// A file whose pages were dropped from the page cache: the reads go to the
// disk (io_uring's workers), so the reader waits for most blocks, with
// read-ahead in flight.
TEST_P(Lines, ReadsAFileEvictedFromThePageCache) {
  std::vector<std::string> expected;
  const auto path = m_dir / "cold.txt";
  files_test::write_file(path, files_test::numbered_lines(60'000 / files_test::scale, expected));
  const int fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::fdatasync(fd), 0);  // only clean pages can be dropped
  ASSERT_EQ(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
  ::close(fd);
  EXPECT_EQ(collect(path, {.read = read(16 * 1024, 4)}), expected);
}

TEST_P(Lines, ReadBlocksAreAlignedAndCoverTheFile) {
  std::string data;
  for (int i = 0; i < 100'000; ++i) data += static_cast<char>(i * 7 % 251);
  files_test::write_file(m_dir / "b.bin", data);
  std::vector<files::file_block> blocks;
  sluice::run(m_rt, files::read_blocks(m_dir / "b.bin", 4096, {.read = read()}) | sluice::to_vector(blocks));
  ASSERT_EQ(blocks.size(), (data.size() + 4095) / 4096);
  std::string joined;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    EXPECT_EQ(blocks[i].offset(), i * 4096);
    if (i + 1 < blocks.size()) {
      EXPECT_EQ(blocks[i].size(), 4096u);
    }
    joined += blocks[i].bytes();
  }
  EXPECT_EQ(joined, data);

  files_test::write_file(m_dir / "b.bin.gz", files_test::gzip(data));
  blocks.clear();
  sluice::run(m_rt, files::read_blocks(m_dir / "b.bin.gz", 10'000, {.read = read()}) | sluice::to_vector(blocks));
  ASSERT_EQ(blocks.size(), 10u);
  joined.clear();
  for (const auto& b : blocks) joined += b.bytes();
  EXPECT_EQ(joined, data);

  files_test::write_file(m_dir / "none.bin", "");
  blocks.clear();
  sluice::run(m_rt, files::read_blocks(m_dir / "none.bin", 4096, {.read = read()}) | sluice::to_vector(blocks));
  EXPECT_TRUE(blocks.empty());
}

TEST_P(Lines, ReadLinesReadsEveryFileOfADirectoryInOrder) {
  std::filesystem::create_directories(m_dir / "logs/sub");
  files_test::write_file(m_dir / "logs/b.jsonl.gz", files_test::gzip("{\"n\":3}\n{\"n\":4}\n"));
  files_test::write_file(m_dir / "logs/a.jsonl.gz", files_test::gzip("{\"n\":1}\n{\"n\":2}\n"));
  files_test::write_file(m_dir / "logs/sub/c.jsonl.gz", files_test::gzip("{\"n\":5}\n"));
  files_test::write_file(m_dir / "logs/notes.txt", "ignored\n");
  files_test::write_file(m_dir / "logs/.hidden.jsonl.gz", files_test::gzip("{\"n\":99}\n"));
  std::vector<std::string> got;
  auto p = files::files(m_dir / "logs", "*.jsonl.gz") | files::read_lines<std::string>({.read = read(5)}) |
           sluice::to_vector(got);
  auto report = sluice::run(m_rt, std::move(p));
  EXPECT_EQ(got, (std::vector<std::string>{"{\"n\":1}", "{\"n\":2}", "{\"n\":3}", "{\"n\":4}"}));
  EXPECT_TRUE(report.balanced());
  EXPECT_EQ(report.stages[1].items_in, 2u);

  got.clear();
  sluice::run(m_rt, files::files(m_dir / "logs", "*.jsonl.gz", {.recursive = true}) | files::read_lines<std::string>() |
                        sluice::to_vector(got));
  EXPECT_EQ(got.size(), 5u);
}

TEST_P(Lines, ReadLinesSendsAFailingFileToTheDeadLetters) {
  files_test::write_file(m_dir / "1.gz", files_test::gzip("one\n"));
  files_test::write_file(m_dir / "2.gz", "broken");
  files_test::write_file(m_dir / "3.gz", files_test::gzip("three\n"));
  sluice::dead_letter_queue dead;
  std::vector<std::string> got;
  auto p = files::files(m_dir.path(), "*.gz") |
           files::read_lines<std::string>({.on_error = sluice::skip_to(dead.sink()), .read = read()}) |
           sluice::to_vector(got);
  auto report = sluice::run(m_rt, std::move(p));
  EXPECT_EQ(got, (std::vector<std::string>{"one", "three"}));
  auto letters = dead.take();
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(std::any_cast<std::filesystem::path>(letters[0].item), m_dir / "2.gz");
  EXPECT_TRUE(report.balanced());
}

TEST_P(Lines, DescribeNamesTheBackend) {
  files_test::write_file(m_dir / "d.txt", "x\n");
  auto p = files::lines(m_dir / "d.txt", {.read = read()}) | sluice::for_each([](files::line) {});
  const std::string shown = p.describe();
  if (GetParam() == files::io_backend::io_uring) {
    EXPECT_NE(shown.find("io_uring"), std::string::npos) << shown;
  } else {
    EXPECT_NE(shown.find("blocking pool (requested)"), std::string::npos) << shown;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, Lines,
                         ::testing::Values(files::io_backend::io_uring, files::io_backend::blocking_pool),
                         [](const auto& param_info) {
                           return param_info.param == files::io_backend::io_uring ? std::string("IoUring")
                                                                                  : std::string("BlockingPool");
                         });

TEST(LinesBackend, EnvironmentVariableForcesTheFallback) {
  ::setenv("SLUICE_FILES_IO", "pool", 1);
  EXPECT_FALSE(files::io_uring_available());
  EXPECT_EQ(files::backend_description({}), "blocking pool (SLUICE_FILES_IO=pool)");
  temp_dir dir;
  files_test::write_file(dir / "e.txt", "1\n2\n");
  sluice::runtime rt({.threads = 1});
  std::vector<std::string> got;
  sluice::run(rt, files::lines<std::string>(dir / "e.txt") | sluice::to_vector(got));
  ::unsetenv("SLUICE_FILES_IO");
  EXPECT_EQ(got, (std::vector<std::string>{"1", "2"}));
}

TEST(ListFiles, MissingDirectoryOrAFileFailsWithThePath) {
  temp_dir dir;
  sluice::runtime rt({.threads = 1});
  std::vector<std::filesystem::path> out;
  auto msg = run_error(rt, files::files(dir / "absent") | sluice::to_vector(out));
  EXPECT_NE(msg.find((dir / "absent").string()), std::string::npos) << msg;
  files_test::write_file(dir / "f", "");
  msg = run_error(rt, files::files(dir / "f") | sluice::to_vector(out));
  EXPECT_NE(msg.find("is not a directory"), std::string::npos) << msg;
}

TEST(ListFiles, MatchesNamesSortedWithGlobClasses) {
  temp_dir dir;
  for (const char* n : {"b1.log", "a2.log", "a1.log", "c.txt", "a10.log"}) files_test::write_file(dir / n, "");
  auto names = files::list_matching(dir.path(), "a?.log", false);
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[0].filename(), "a1.log");
  EXPECT_EQ(names[1].filename(), "a2.log");
  EXPECT_EQ(files::list_matching(dir.path(), "[ab]*.log", false).size(), 4u);
}
