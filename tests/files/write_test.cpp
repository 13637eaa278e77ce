// files::write_lines and files::write_jsonl: atomic replacement, failures
// and cancellation keep the previous file, errors name the path.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <sluice/files/files.hpp>
#include <sluice/sluice.hpp>

#include <atomic>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <vector>

#include "files_test_support.hpp"

// Last: it defines a BLOCK_SIZE macro that clashes with concurrentqueue.h.
#include <sys/mount.h>

namespace files = sluice::files;
using files_test::nested_message;
using files_test::temp_dir;

namespace {

std::vector<std::string> words(std::size_t n) {
  std::vector<std::string> v;
  for (std::size_t i = 0; i < n; ++i) v.push_back("w" + std::to_string(i));
  return v;
}

std::size_t entries(const std::filesystem::path& dir) {
  return static_cast<std::size_t>(
      std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()));
}

}  // namespace

TEST(WriteLines, WritesEveryItemAndRoundTripsThroughLines) {
  temp_dir dir;
  sluice::runtime rt({.threads = 2});
  const auto target = dir / "out.txt";
  auto report = sluice::run(rt, sluice::from(words(50'000)) | files::write_lines(target, {.buffer_bytes = 4096}));
  EXPECT_TRUE(report.balanced());
  std::vector<std::string> back;
  sluice::run(rt, files::lines<std::string>(target) | sluice::to_vector(back));
  EXPECT_EQ(back, words(50'000));
  EXPECT_EQ(entries(dir.path()), 1u) << "no temporary left behind";
  struct stat st {};
  ASSERT_EQ(::stat(target.c_str(), &st), 0);
  EXPECT_EQ(report.stages[1].bytes, static_cast<std::uint64_t>(st.st_size));
  EXPECT_EQ(
      st.st_mode & 0777, 0644 & ~[] {
        mode_t m = ::umask(0);
        ::umask(m);
        return m;
      }());
}

TEST(WriteLines, CopiesAFileLineByLineWithoutAllocatingPerLine) {
  temp_dir dir;
  sluice::runtime rt({.threads = 2});
  std::vector<std::string> expected;
  files_test::write_file(dir / "in.txt", files_test::numbered_lines(10'000, expected));
  sluice::run(rt, files::lines(dir / "in.txt") | files::write_lines(dir / "copy.txt", {.fsync = true}));
  std::string want;
  for (const auto& l : expected) want += l + "\n";
  EXPECT_EQ(files_test::read_file(dir / "copy.txt"), want);
}

TEST(WriteLines, AFailedRunLeavesThePreviousFileIntact) {
  temp_dir dir;
  sluice::runtime rt({.threads = 2});
  const auto target = dir / "keep.txt";
  files_test::write_file(target, "previous\n");
  auto p = sluice::from(words(100'000)) | sluice::map([](std::string w) {
             if (w == "w60000") throw std::runtime_error("boom");
             return w;
           }) |
           files::write_lines(target, {.buffer_bytes = 1024});
  EXPECT_THROW(sluice::run(rt, std::move(p)), sluice::pipeline_error);
  EXPECT_EQ(files_test::read_file(target), "previous\n");
  EXPECT_EQ(entries(dir.path()), 1u) << "the temporary is removed";
}

TEST(WriteLines, ACancelledRunLeavesThePreviousFileIntact) {
  temp_dir dir;
  sluice::runtime rt({.threads = 2});
  const auto target = dir / "keep.txt";
  files_test::write_file(target, "previous\n");
  std::stop_source stop;
  std::atomic<int> n{0};
  auto p = sluice::from(words(100'000)) | sluice::inspect([&](const std::string&) {
             if (n.fetch_add(1) == 5000) stop.request_stop();
           }) |
           files::write_lines(target, {.buffer_bytes = 1024});
  auto report = sluice::run(rt, std::move(p), stop.get_token());
  EXPECT_TRUE(report.cancelled);
  EXPECT_EQ(files_test::read_file(target), "previous\n");
  EXPECT_EQ(entries(dir.path()), 1u);
}

TEST(WriteLines, AMissingDirectoryFailsWithThePath) {
  temp_dir dir;
  sluice::runtime rt({.threads = 1});
  const auto target = dir / "no/such/dir/out.txt";
  try {
    sluice::run(rt, sluice::from(words(10)) | files::write_lines(target));
    FAIL() << "expected an error";
  } catch (const sluice::pipeline_error& e) {
    EXPECT_NE(nested_message(e).find(target.string()), std::string::npos) << nested_message(e);
  }
}

TEST(WriteLines, PermissionDeniedFailsWithThePath) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  temp_dir dir;
  const auto locked = dir / "locked";
  std::filesystem::create_directory(locked);
  ::chmod(dir.path().c_str(), 0755);
  ::chmod(locked.c_str(), 0555);
  const auto target = locked / "out.txt";
  SLUICE_EXPECT_AS_UNPRIVILEGED([&] {
    sluice::runtime rt({.threads = 1});
    try {
      sluice::run(rt, sluice::from(words(10)) | files::write_lines(target));
    } catch (const sluice::pipeline_error& e) {
      const auto msg = nested_message(e);
      return msg.find(target.string()) != std::string::npos && msg.find("Permission denied") != std::string::npos;
    }
    return false;
  });
}

TEST(WriteLines, DiskFullFailsWithThePathAndKeepsThePreviousFile) {
  temp_dir dir;
  const auto mnt = dir / "tiny";
  std::filesystem::create_directory(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=64k") != 0)
    GTEST_SKIP() << "cannot mount a tmpfs here (needs CAP_SYS_ADMIN): ENOSPC not tested";
  struct unmount {
    std::filesystem::path p;
    ~unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } guard{mnt};
  const auto target = mnt / "out.txt";
  files_test::write_file(target, "previous\n");
  sluice::runtime rt({.threads = 1});
  std::string msg;
  try {
    sluice::run(rt, sluice::from(words(100'000)) | files::write_lines(target, {.buffer_bytes = 8192}));
  } catch (const sluice::pipeline_error& e) {
    msg = nested_message(e);
  }
  EXPECT_NE(msg.find(target.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("No space left"), std::string::npos) << msg;
  EXPECT_EQ(files_test::read_file(target), "previous\n");
  EXPECT_EQ(entries(mnt), 1u);
}

TEST(WriteJsonl, QuotesStringsAndUsesToJson) {
  temp_dir dir;
  sluice::runtime rt({.threads = 2});
  sluice::run(rt, sluice::from(std::vector<std::string>{"a\"b", "line\nbreak"}) | files::write_jsonl(dir / "s.jsonl"));
  EXPECT_EQ(files_test::read_file(dir / "s.jsonl"), "\"a\\\"b\"\n\"line\\nbreak\"\n");
  sluice::run(rt, sluice::from(std::vector<int>{1, 2}) |
                      files::write_jsonl(dir / "n.jsonl", [](int x) { return "{\"x\":" + std::to_string(x) + "}"; }));
  EXPECT_EQ(files_test::read_file(dir / "n.jsonl"), "{\"x\":1}\n{\"x\":2}\n");
  EXPECT_NE((sluice::from(std::vector<int>{}) | files::write_jsonl(dir / "n.jsonl")).describe().find("atomic"),
            std::string::npos);
}

TEST(WriteJsonl, AThrowingToJsonFailsTheRunNamingTheItem) {
  temp_dir dir;
  sluice::runtime rt({.threads = 2});
  auto p = sluice::from(std::vector<int>{1, 2, 3}) | files::write_jsonl(dir / "x.jsonl", [](int x) -> std::string {
             if (x == 2) throw std::invalid_argument("no json for 2");
             return std::to_string(x);
           });
  try {
    sluice::run(rt, std::move(p));
    FAIL() << "expected an error";
  } catch (const sluice::pipeline_error& e) {
    EXPECT_EQ(e.item_index(), 1u);
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "x.jsonl"));
}
