// `.capacity_bytes` of the line readers (lines, read_lines): the reader
// waits while the lines it sent that wait for the next stage hold that many
// bytes. Measured as the most bytes (sluice::item_bytes) of lines waiting
// in the next stage's channel, beside a control run without the bound.
#include <gtest/gtest.h>
#include <sluice/files/files.hpp>
#include <sluice/sluice.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "files_test_support.hpp"

namespace files = sluice::files;
using files_test::temp_dir;

namespace {

using namespace std::chrono_literals;

constexpr std::size_t line_bytes = 1024;
constexpr std::size_t line_count = 4096;  // 4 MiB
constexpr std::size_t chunk = 16;         // 16 KiB of lines per chunk
constexpr std::size_t bound = 64 << 10;

std::filesystem::path write_lines_file(const temp_dir& dir) {
  std::string text;
  text.reserve(line_count * line_bytes);
  for (std::size_t i = 0; i < line_count; ++i) {
    text += std::string(line_bytes - 1, static_cast<char>('a' + i % 26));
    text += '\n';
  }
  auto path = dir / "big.txt";
  files_test::write_file(path, text);
  return path;
}

files::lines_options options(std::size_t capacity_bytes) {
  return {.chunk = chunk, .capacity_bytes = capacity_bytes, .read = {.block_bytes = 64 << 10}};
}

// The most bytes of lines that waited in the channel after the reader,
// with a sink that starts late (its first line waits half a second): the
// sink's peak queue depth (items counted into its channel as they are sent
// and out as they are received) times the bytes of one line.
template <typename Reader>
long peak_waiting(Reader reader) {
  sluice::runtime rt({.threads = 2});
  std::atomic<long> lines{0};
  auto p = reader() | sluice::for_each([&](const files::line& l) {
             if (lines.fetch_add(1) == 0) std::this_thread::sleep_for(500ms);
             EXPECT_EQ(l.size(), line_bytes - 1);
           });
  auto report = sluice::run(rt, std::move(p));
  EXPECT_EQ(lines.load(), static_cast<long>(line_count));
  EXPECT_TRUE(report.balanced()) << report.describe();
  const auto one = static_cast<long>(sizeof(files::line) + line_bytes - 1);  // sluice::item_bytes of a line
  return static_cast<long>(report.stages.back().peak_queue_depth) * one;
}

// The bound, and a chunk the counters may show early.
constexpr long allowed = static_cast<long>(bound + chunk * (line_bytes - 1 + sizeof(files::line)));

TEST(ReadBounds, LinesWaitsWhileItsOutputHoldsCapacityBytes) {
  temp_dir dir;
  const auto path = write_lines_file(dir);
  const long unbounded = peak_waiting([&] { return files::lines(path, options(0)); });
  // The sink's channel holds 1024 lines (1 MiB) without a bound.
  EXPECT_GT(unbounded, 4 * allowed) << "control: the reader ran ahead";
  const long bounded = peak_waiting([&] { return files::lines(path, options(bound)); });
  EXPECT_LE(bounded, allowed) << "unbounded: " << unbounded;
}

TEST(ReadBounds, ReadLinesWaitsWhileItsOutputHoldsCapacityBytes) {
  temp_dir dir;
  const auto path = write_lines_file(dir);
  auto reader = [&](std::size_t capacity_bytes) {
    return [&path, capacity_bytes] {
      return sluice::from(std::vector<std::filesystem::path>{path}) | files::read_lines(options(capacity_bytes));
    };
  };
  const long unbounded = peak_waiting(reader(0));
  EXPECT_GT(unbounded, 4 * allowed) << "control";
  const long bounded = peak_waiting(reader(bound));
  EXPECT_LE(bounded, allowed) << "unbounded: " << unbounded;
}

TEST(ReadBounds, TheBoundShowsInDescribe) {
  temp_dir dir;
  const auto path = write_lines_file(dir);
  auto p = files::lines(path, options(bound)) | sluice::for_each([](const files::line&) {});
  EXPECT_NE(p.describe().find("output bound 65536 bytes"), std::string::npos) << p.describe();
}

}  // namespace
