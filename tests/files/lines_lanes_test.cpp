// files::lines before stages in lanes (lines_in_lanes.hpp): the lanes read
// the file in turn and each splits the block it read. Every line must arrive
// exactly once whatever the block edges cut (lines spanning blocks, CRLF,
// a last line without a newline, empty lines, a newline exactly at a block
// edge, gzip, more lanes than cores), with the source still counting lines;
// a too-long line, a missing file or a failing fold fails the run naming
// the cause; cancelling mid-file loses no count. On both I/O backends.
#include <unistd.h>

#include <gtest/gtest.h>
#include <sluice/files/files.hpp>
#include <sluice/sluice.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "files_test_support.hpp"

namespace files = sluice::files;
using files_test::nested_message;
using files_test::temp_dir;

namespace {

// The lines of `text` as the splitter must give them, worked out
// independently: split on "\n", no line after a final newline, one "\r"
// before each "\n" (and at the end) dropped when stripping.
std::vector<std::string> split_text(std::string_view text, bool strip_cr) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t nl = text.find('\n', at);
    const std::size_t stop = nl == std::string_view::npos ? text.size() : nl;
    std::string l(text.substr(at, stop - at));
    if (strip_cr && !l.empty() && l.back() == '\r') l.pop_back();
    out.push_back(std::move(l));
    at = stop + 1;
  }
  return out;
}

using texts = std::vector<std::string>;

class LinesInLanes : public ::testing::TestWithParam<files::io_backend> {
 protected:
  void SetUp() override {
    if (GetParam() == files::io_backend::io_uring && !files::io_uring_available())
      GTEST_SKIP() << files::backend_description({});
  }
  [[nodiscard]] files::read_options read(std::size_t block, std::size_t ahead = 3) const {
    return {.block_bytes = block, .read_ahead = ahead, .backend = GetParam()};
  }
  // Folds every line's text through the lanes (two fold workers), returns
  // them sorted, and checks the report counts each line once at each stage.
  texts fold_all(const std::filesystem::path& p, files::lines_options o, const std::string& label) {
    texts got;
    auto pipe = files::lines(p, std::move(o)) |
                sluice::fold(
                    got, [](texts& acc, const files::line& l) { acc.emplace_back(l.text()); },
                    [](texts& acc, texts&& other) { acc.insert(acc.end(), other.begin(), other.end()); });
    EXPECT_NE(pipe.describe().find("fused, in lanes"), std::string::npos) << pipe.describe();
    auto report = sluice::run(m_rt, std::move(pipe));
    EXPECT_TRUE(report.balanced()) << label;
    EXPECT_EQ(report.stages.size(), 2u) << label;
    EXPECT_EQ(report.stages[0].items_in, got.size()) << label;
    EXPECT_EQ(report.stages[0].items_out, got.size()) << label;
    EXPECT_EQ(report.stages[0].emitted, got.size()) << label;
    EXPECT_EQ(report.stages[1].items_in, got.size()) << label;
    EXPECT_EQ(report.stages[1].items_out, got.size()) << label;
    std::sort(got.begin(), got.end());
    return got;
  }
  // Counts `lines` through the lanes (two fold workers), the fold throwing
  // "line N reached" at line number `fail_at` (0: never), expecting the run
  // to fail, and hands the error to `check`.
  template <typename Check>
  void count_expecting_failure(sluice::flow<files::line> lines, std::size_t fail_at, Check&& check) {
    std::atomic<std::size_t> seen{0};
    std::size_t total = 0;
    auto p = std::move(lines) | sluice::fold(
                                    total,
                                    [&seen, fail_at](std::size_t& acc, const files::line&) {
                                      ++acc;
                                      if (seen.fetch_add(1) + 1 == fail_at)
                                        throw std::runtime_error("line " + std::to_string(fail_at) + " reached");
                                    },
                                    [](std::size_t& acc, std::size_t&& other) { acc += other; });
    ASSERT_NE(p.describe().find("fused, in lanes"), std::string::npos) << p.describe();
    try {
      sluice::run(m_rt, std::move(p));
      ADD_FAILURE() << "expected a pipeline_error";
    } catch (const sluice::pipeline_error& e) {
      check(e);
    }
  }
  template <typename Check>
  void count_expecting_failure(const std::filesystem::path& file, files::lines_options o, Check&& check) {
    count_expecting_failure(files::lines(file, std::move(o)), 0, std::forward<Check>(check));
  }
  sluice::runtime m_rt{{.threads = 2}};
  temp_dir m_dir;
};

}  // namespace

TEST_P(LinesInLanes, EveryLineIsFoldedExactlyOnceWhateverTheBlockEdgesCut) {
  std::vector<std::string> numbered;
  const std::vector<std::pair<std::string, std::string>> inputs = {
      {"numbered", files_test::numbered_lines(2000, numbered)},
      {"crlf", files_test::numbered_lines(300, numbered, "\r\n")},
      {"no final newline", "alpha\nbeta\r\n\n\ngamma-without-newline"},
      {"empty lines only", "\n\n\n\n\n\n\n\n\n"},
      {"cr at the end", "x\r\ny\r"},
      {"one line, no newline", "just-one-line"},
      // Seven bytes and a newline: with 8-byte blocks every newline ends a
      // block and the next line starts one; with 4 and 16 they fall mid-block
      // or on an edge in turn.
      {"block edges", "1234567\nabcdefg\n\n234567\r\nABCDEFG\n"},
      // A line of exactly one block and longer lines spanning several.
      {"long lines",
       std::string(8, 'a') + "\n" + std::string(100, 'b') + "\n" + std::string(17, 'c') + "\n" + std::string(8, 'd')},
      {"empty file", ""},
  };
  for (const auto& [label, text] : inputs) {
    files_test::write_file(m_dir / "in.txt", text);
    files_test::write_file(m_dir / "in.txt.gz", files_test::gzip(text));
    for (const bool strip_cr : {true, false}) {
      texts want = split_text(text, strip_cr);
      std::sort(want.begin(), want.end());
      for (const char* name : {"in.txt", "in.txt.gz"}) {
        // Tiny blocks only for the short inputs: a byte per read of 100 KB
        // is slow and cuts nothing new.
        const std::vector<std::size_t> blocks = text.size() < 1000 ? std::vector<std::size_t>{1, 3, 4, 8, 16, 4096}
                                                                   : std::vector<std::size_t>{7, 64, 1000, 4096};
        for (const std::size_t block : blocks) {
          // chunk 3 makes a lane push a run's lines in several chunks.
          for (const std::size_t chunk : {std::size_t{3}, std::size_t{4096}}) {
            const std::string what = label + ", " + name + ", block " + std::to_string(block) + ", chunk " +
                                     std::to_string(chunk) + (strip_cr ? "" : ", keeping CR");
            auto got = fold_all(m_dir / name, {.chunk = chunk, .strip_cr = strip_cr, .read = read(block)}, what);
            ASSERT_EQ(got, want) << what;
          }
        }
      }
    }
  }
}

// A stage keeping its input's order after lines(): no lanes, the lines come
// in file order exactly as before.
TEST_P(LinesInLanes, AnOrderedSinkAfterStatelessStagesGetsTheLinesInFileOrder) {
  std::vector<std::string> expected;
  files_test::write_file(m_dir / "o.txt", files_test::numbered_lines(20'000 / files_test::scale, expected));
  std::vector<std::string> got;
  auto p = files::lines(m_dir / "o.txt", {.read = read(1000)}) |
           sluice::map([](files::line l) { return std::string(l.text()); }) | sluice::to_vector(got);
  EXPECT_EQ(p.describe().find("in lanes"), std::string::npos) << p.describe();
  sluice::run(m_rt, std::move(p));
  EXPECT_EQ(got, expected);
}

// A line growing past max_line_bytes across blocks fails the run in the
// source, naming the path and where the line starts (the source does not
// count lines here: the lanes do), plain and gzip.
TEST_P(LinesInLanes, AnOverlongLineFailsTheRunNamingThePathAndTheLinesOffset) {
  const std::string text = "short\n" + std::string(10'000, 'x') + "\nafter\n";
  files_test::write_file(m_dir / "long.txt", text);
  files_test::write_file(m_dir / "long.txt.gz", files_test::gzip(text));
  for (const char* name : {"long.txt", "long.txt.gz"}) {
    count_expecting_failure(
        m_dir / name, {.max_line_bytes = 1000, .read = read(256)}, [&](const sluice::pipeline_error& e) {
          const std::string msg = nested_message(e);
          EXPECT_EQ(e.stage_name(), "lines(" + (m_dir / name).string() + ")") << msg;
          EXPECT_NE(msg.find((m_dir / name).string()), std::string::npos) << msg;
          EXPECT_NE(msg.find("the line at byte 6 is longer than 1000 bytes"), std::string::npos) << msg;
          EXPECT_TRUE(e.report().balanced()) << name;
          EXPECT_EQ(e.report().stages[0].emitted, e.report().stages[1].items_in) << name;
        });
  }
}

// lines(FILE*) on a pipe, written in pieces that cut lines anywhere (the
// last one without a newline): every line reaches the lanes once.
TEST_P(LinesInLanes, APipeWrittenInOddPiecesIsSplitInTheLanes) {
  std::string text;
  for (int i = 0; i < 3000; ++i) text += "row " + std::to_string(i) + (i % 7 == 0 ? "\r\n" : "\n");
  text += "last";
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::FILE* in = ::fdopen(fds[0], "r");
  ASSERT_NE(in, nullptr);
  std::thread writer([w = fds[1], &text] {
    for (std::size_t at = 0, piece = 1; at < text.size(); at += piece, piece = piece % 97 + 13) {
      const std::size_t n = std::min(piece, text.size() - at);
      if (::write(w, text.data() + at, n) != static_cast<ssize_t>(n)) break;
    }
    ::close(w);
  });
  texts got;
  auto p = files::lines(in, {.read = read(64)}) |
           sluice::fold(
               got, [](texts& acc, const files::line& l) { acc.emplace_back(l.text()); },
               [](texts& acc, texts&& other) { acc.insert(acc.end(), other.begin(), other.end()); });
  EXPECT_NE(p.describe().find("fused, in lanes"), std::string::npos) << p.describe();
  auto report = sluice::run(m_rt, std::move(p));
  writer.join();
  std::fclose(in);
  texts want = split_text(text, true);
  std::sort(want.begin(), want.end());
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, want);
  EXPECT_EQ(report.stages[0].items_in, want.size());
  EXPECT_TRUE(report.balanced());
}

// A gzip file cut in half fails the run in the source naming the path while
// the lanes fold what came before, and every line sent is counted once.
TEST_P(LinesInLanes, TruncatedGzipFailsTheRunNamingThePath) {
  std::vector<std::string> expected;
  const std::string gz = files_test::gzip(files_test::numbered_lines(20'000 / files_test::scale, expected));
  files_test::write_file(m_dir / "cut.gz", gz.substr(0, gz.size() / 2));
  count_expecting_failure(m_dir / "cut.gz", {.read = read(4096)}, [&](const sluice::pipeline_error& e) {
    const std::string msg = nested_message(e);
    EXPECT_NE(msg.find("truncated gzip"), std::string::npos) << msg;
    EXPECT_NE(msg.find((m_dir / "cut.gz").string()), std::string::npos) << msg;
    EXPECT_TRUE(e.report().balanced());
    EXPECT_EQ(e.report().stages[0].emitted, e.report().stages[1].items_in);
    EXPECT_LT(e.report().stages[0].items_in, expected.size());
  });
}

// Cancelling from the fold while the lanes split: the run stops (the
// source does not read the whole file), every line the source counted out
// reached the fold once, and the fold's result holds what it counted.
TEST_P(LinesInLanes, CancellingMidFileLosesNoLineAndReadsNoFurther) {
  std::vector<std::string> expected;
  const std::string text = files_test::numbered_lines(100'000 / files_test::scale, expected);
  files_test::write_file(m_dir / "c.txt", text);
  files_test::write_file(m_dir / "c.txt.gz", files_test::gzip(text));
  for (const char* name : {"c.txt", "c.txt.gz"}) {
    for (const std::size_t chunk : {std::size_t{16}, std::size_t{4096}}) {
      std::stop_source stop;
      std::atomic<std::size_t> seen{0};
      std::size_t total = 0;
      auto p = files::lines(m_dir / name, {.chunk = chunk, .read = read(4096)}) |
               sluice::fold(
                   total,
                   [&stop, &seen](std::size_t& acc, const files::line&) {
                     ++acc;
                     if (seen.fetch_add(1) == 2000) stop.request_stop();
                   },
                   [](std::size_t& acc, std::size_t&& other) { acc += other; }, {.name = "count"});
      auto report = sluice::run(m_rt, std::move(p), stop.get_token());
      const std::string what = std::string(name) + ", chunk " + std::to_string(chunk);
      EXPECT_TRUE(report.cancelled) << what;
      EXPECT_TRUE(report.balanced()) << what;
      EXPECT_LT(report.stages[0].items_in, expected.size()) << what;
      EXPECT_LT(report.stages[0].bytes, text.size()) << what;
      EXPECT_EQ(report.stages[0].emitted, report.stages[1].items_in) << what;
      EXPECT_EQ(total, report.stages[1].items_out) << what;
    }
  }
}

// The lanes read the file themselves, one block at a time: with more lanes
// than cores (so lanes are preempted while reading, holding the read lock,
// or while pushing) and a chain before the fold, every line still arrives
// exactly once, and the source counts every byte and line.
TEST_P(LinesInLanes, MoreLanesThanCoresReadEveryBlockOnceUnderStress) {
  std::vector<std::string> numbered;
  const std::string text = files_test::numbered_lines(40'000 / files_test::scale, numbered);
  files_test::write_file(m_dir / "s.txt", text);
  texts want = numbered;
  std::sort(want.begin(), want.end());
  sluice::runtime rt({.threads = 6});
  for (const std::size_t block : {std::size_t{97}, std::size_t{4096}}) {
    for (int round = 0; round < 5; ++round) {
      texts got;
      auto pipe = files::lines(m_dir / "s.txt", {.chunk = 64, .read = read(block, 2)}) |
                  sluice::map([](files::line l) { return std::string(l.text()); }) |
                  sluice::filter([](const std::string&) { return true; }) |
                  sluice::fold(
                      got, [](texts& acc, const std::string& l) { acc.push_back(l); },
                      [](texts& acc, texts&& other) { acc.insert(acc.end(), other.begin(), other.end()); });
      ASSERT_NE(pipe.describe().find("fused, in lanes"), std::string::npos) << pipe.describe();
      auto report = sluice::run(rt, std::move(pipe));
      const std::string what = "block " + std::to_string(block) + ", round " + std::to_string(round);
      EXPECT_TRUE(report.balanced()) << what;
      EXPECT_EQ(report.stages[0].items_in, want.size()) << what;
      EXPECT_EQ(report.stages[0].bytes, text.size()) << what;
      std::sort(got.begin(), got.end());
      ASSERT_EQ(got, want) << what;
    }
  }
}

// A file that cannot be opened fails the run from the lane that opens it,
// naming the path, and the other lanes end without reading.
TEST_P(LinesInLanes, AMissingFileFailsTheRunNamingThePath) {
  count_expecting_failure(m_dir / "absent.txt", {.read = read(4096)}, [&](const sluice::pipeline_error& e) {
    const std::string msg = nested_message(e);
    EXPECT_NE(msg.find((m_dir / "absent.txt").string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("No such file"), std::string::npos) << msg;
    EXPECT_EQ(e.report().stages[0].items_in, 0u);
    EXPECT_TRUE(e.report().balanced());
  });
}

// A fold that throws fails the run: the lanes stop reading (the source does
// not read the whole file), and every line split reached the fold once.
TEST_P(LinesInLanes, AFailingFoldStopsTheReadingLanes) {
  std::vector<std::string> expected;
  const std::string text = files_test::numbered_lines(100'000 / files_test::scale, expected);
  files_test::write_file(m_dir / "f.txt", text);
  count_expecting_failure(
      files::lines(m_dir / "f.txt", {.read = read(4096)}), 3000, [&](const sluice::pipeline_error& e) {
        EXPECT_NE(nested_message(e).find("line 3000 reached"), std::string::npos) << nested_message(e);
        EXPECT_TRUE(e.report().balanced());
        EXPECT_LT(e.report().stages[0].bytes, text.size());
        EXPECT_EQ(e.report().stages[0].emitted, e.report().stages[1].items_in);
      });
}

// A fold failing while a lane waits on an empty pipe (the writer keeps it
// open): the waiting read is cancelled, every lane leaves, the stream is
// closed with no read in flight, and the run fails instead of hanging.
TEST_P(LinesInLanes, AFailingFoldEndsARunWhoseLaneWaitsOnAPipe) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::FILE* in = ::fdopen(fds[0], "r");
  ASSERT_NE(in, nullptr);
  std::atomic<bool> run_over{false};
  std::thread writer([w = fds[1], &run_over] {
    std::string text;
    for (int i = 0; i < 2000; ++i) text += "row " + std::to_string(i) + "\n";
    if (::write(w, text.data(), text.size()) == static_cast<ssize_t>(text.size())) {
      while (!run_over.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ::close(w);
  });
  count_expecting_failure(files::lines(in, {.read = read(256)}), 2000, [](const sluice::pipeline_error& e) {
    EXPECT_NE(nested_message(e).find("line 2000 reached"), std::string::npos) << nested_message(e);
    EXPECT_TRUE(e.report().balanced());
    EXPECT_EQ(e.report().stages[0].emitted, e.report().stages[1].items_in);
  });
  run_over = true;
  writer.join();
  std::fclose(in);
}

INSTANTIATE_TEST_SUITE_P(Backends, LinesInLanes,
                         ::testing::Values(files::io_backend::io_uring, files::io_backend::blocking_pool),
                         [](const auto& param_info) {
                           return param_info.param == files::io_backend::io_uring ? std::string("IoUring")
                                                                                  : std::string("BlockingPool");
                         });
