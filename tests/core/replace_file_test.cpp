// detail::replace_file: rename(2)'s result (the new file under the target's
// name, nothing left under the temporary one, readers never see neither)
// by exchanging names, and rename(2)'s errors where it cannot exchange.
#include "sluice/core/detail/replace_file.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <system_error>

namespace {

namespace fs = std::filesystem;

struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string pattern = (fs::temp_directory_path() / "sluice-replace-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp " + pattern + " failed");
    path = pattern;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

void write_file(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

TEST(ReplaceFile, ReplacesAnExistingFileAndLeavesNothingUnderTheTemporaryName) {
  temp_dir dir;
  const auto from = dir.path / "new.tmp", to = dir.path / "trace.json";
  write_file(to, "old contents, longer than the new ones");
  write_file(from, "new");
  ASSERT_EQ(sluice::detail::replace_file(from, to), 0);
  EXPECT_EQ(read_file(to), "new");
  EXPECT_FALSE(fs::exists(from));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()), 1);
}

// With `old_file`, the replaced file comes back open, its name already
// gone (nothing left in the directory), so its storage is freed only when
// the caller closes it; with nothing replaced, -1.
TEST(ReplaceFile, HandsBackTheReplacedFileOpenAndUnlinked) {
  temp_dir dir;
  const auto from = dir.path / "new.tmp", to = dir.path / "trace.json";
  const std::string old_text = "old contents, longer than the new ones";
  write_file(to, old_text);
  write_file(from, "new");
  int old_file = -2;
  ASSERT_EQ(sluice::detail::replace_file(from, to, &old_file), 0);
  ASSERT_GE(old_file, 0);
  struct stat st {};
  ASSERT_EQ(::fstat(old_file, &st), 0);
  EXPECT_EQ(st.st_nlink, 0u);  // unlinked, alive through the descriptor
  EXPECT_EQ(st.st_size, static_cast<off_t>(old_text.size()));
  EXPECT_EQ(::close(old_file), 0);
  EXPECT_EQ(read_file(to), "new");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()), 1);

  write_file(from, "first");
  const auto fresh = dir.path / "fresh.json";
  old_file = -2;
  ASSERT_EQ(sluice::detail::replace_file(from, fresh, &old_file), 0);
  EXPECT_EQ(old_file, -1);
  EXPECT_EQ(read_file(fresh), "first");
}

TEST(ReplaceFile, MovesToATargetThatDoesNotExist) {
  temp_dir dir;
  const auto from = dir.path / "new.tmp", to = dir.path / "trace.json";
  write_file(from, "new");
  ASSERT_EQ(sluice::detail::replace_file(from, to), 0);
  EXPECT_EQ(read_file(to), "new");
  EXPECT_FALSE(fs::exists(from));
}

TEST(ReplaceFile, ReplacesASymlinkItselfNotTheFileItPointsTo) {
  temp_dir dir;
  const auto from = dir.path / "new.tmp", to = dir.path / "trace.json", pointee = dir.path / "elsewhere";
  write_file(pointee, "untouched");
  fs::create_symlink(pointee, to);
  write_file(from, "new");
  ASSERT_EQ(sluice::detail::replace_file(from, to), 0);
  EXPECT_FALSE(fs::is_symlink(to));
  EXPECT_EQ(read_file(to), "new");
  EXPECT_EQ(read_file(pointee), "untouched");
  EXPECT_FALSE(fs::exists(from));
}

TEST(ReplaceFile, ADirectoryTargetIsRenamesErrorAndBothStayWhereTheyWere) {
  temp_dir dir;
  const auto from = dir.path / "new.tmp", to = dir.path / "trace.json";
  fs::create_directory(to);
  write_file(to / "inside", "kept");
  write_file(from, "new");
  EXPECT_EQ(sluice::detail::replace_file(from, to), EISDIR);
  EXPECT_EQ(read_file(from), "new");
  EXPECT_EQ(read_file(to / "inside"), "kept");
}

TEST(ReplaceFile, AMissingSourceIsENOENTAndTheTargetStays) {
  temp_dir dir;
  const auto to = dir.path / "trace.json";
  write_file(to, "old");
  EXPECT_EQ(sluice::detail::replace_file(dir.path / "missing", to), ENOENT);
  EXPECT_EQ(read_file(to), "old");
}

}  // namespace
