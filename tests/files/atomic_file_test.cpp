#include "sluice/files/atomic_file.hpp"

#include <gtest/gtest.h>

#include "files_test_support.hpp"

#include <sys/stat.h>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>

namespace fs = std::filesystem;
using files_test::read_file;
using files_test::temp_dir;
using sluice::files::atomic_file;

namespace {

std::size_t entries(const fs::path& dir) {
  return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

}  // namespace

TEST(AtomicFile, CommitReplacesTheTargetWithEverythingWritten) {
  temp_dir dir;
  const fs::path target = dir.path() / "out.txt";
  std::ofstream(target) << "old";
  {
    atomic_file f(target, {.buffer_bytes = 4});
    f.write("hello ");
    f.write(std::string(10'000, 'x'));
    f.write("!");
    EXPECT_EQ(read_file(target), "old");  // nothing visible before commit
    f.commit();
    EXPECT_TRUE(f.committed());
  }
  EXPECT_EQ(read_file(target), "hello " + std::string(10'000, 'x') + "!");
  EXPECT_EQ(entries(dir.path()), 1u);  // the temporary is gone
}

TEST(AtomicFile, DestroyedWithoutCommitLeavesThePreviousFileIntact) {
  temp_dir dir;
  const fs::path target = dir.path() / "out.txt";
  std::ofstream(target) << "previous run";
  {
    atomic_file f(target);
    f.write("half a report");
  }
  EXPECT_EQ(read_file(target), "previous run");
  EXPECT_EQ(entries(dir.path()), 1u);
}

TEST(AtomicFile, FinishedFileHasTheRequestedModeAndFsyncWorks) {
  temp_dir dir;
  const fs::path target = dir.path() / "secret.jsonl";
  atomic_file f(target, {.fsync = true, .mode = 0600});
  f.write("{}\n");
  f.commit();
  struct stat st {};
  ASSERT_EQ(::stat(target.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_THROW(f.write("more"), std::logic_error);
}

TEST(AtomicFile, MissingDirectoryIsAnErrorNamingThePath) {
  temp_dir dir;
  const fs::path target = dir.path() / "no-such-dir" / "out.txt";
  try {
    atomic_file f(target);
    FAIL() << "expected std::system_error";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find(target.string()), std::string::npos) << e.what();
    EXPECT_EQ(e.code().value(), ENOENT);
  }
}

TEST(AtomicFile, RenameOntoADirectoryFailsAndRemovesTheTemporary) {
  temp_dir dir;
  const fs::path target = dir.path() / "taken";
  fs::create_directory(target);
  fs::create_directory(target / "child");  // rename(2) refuses a non-empty directory
  atomic_file f(target);
  f.write("data");
  EXPECT_THROW(f.commit(), std::system_error);
  EXPECT_EQ(entries(dir.path()), 1u);
  EXPECT_TRUE(fs::is_directory(target));
}
