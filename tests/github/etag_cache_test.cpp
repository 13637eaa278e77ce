#include "sluice/github/etag_cache.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include <sys/stat.h>

namespace gh = sluice::github;

namespace {
std::filesystem::path fresh_dir() {
  auto dir = std::filesystem::temp_directory_path() / ("sluice-etag-test-" + std::to_string(std::random_device{}()));
  std::filesystem::remove_all(dir);
  return dir;
}
}  // namespace

TEST(EtagCache, StoredEntryLoadsBackByUrl) {
  const auto dir = fresh_dir();
  gh::etag_cache cache(dir);
  EXPECT_FALSE(cache.load("http://h/a"));
  cache.store("http://h/a", {"W/\"abc\"", "<http://h/a?page=2>; rel=\"next\"", "[{\"x\":\"\\n\"}]\n\n"});
  auto e = cache.load("http://h/a");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->etag, "W/\"abc\"");
  EXPECT_EQ(e->link, "<http://h/a?page=2>; rel=\"next\"");
  EXPECT_EQ(e->body, "[{\"x\":\"\\n\"}]\n\n");
  EXPECT_FALSE(cache.load("http://h/b"));
  std::filesystem::remove_all(dir);
}

TEST(EtagCache, CorruptEntriesAreMisses) {
  const auto dir = fresh_dir();
  gh::etag_cache cache(dir);
  cache.store("http://h/a", {"\"e\"", "", "[]"});
  for (const auto& f : std::filesystem::directory_iterator(dir)) std::ofstream(f.path()) << "nonsense";
  EXPECT_FALSE(cache.load("http://h/a"));
  std::filesystem::remove_all(dir);
}

TEST(EtagCache, EntriesWithoutAnEtagAreNotStored) {
  const auto dir = fresh_dir();
  gh::etag_cache cache(dir);
  cache.store("http://h/a", {"", "", "[]"});
  EXPECT_FALSE(cache.load("http://h/a"));
  std::filesystem::remove_all(dir);
}

TEST(EtagCache, ABodyThatDoesNotMatchItsChecksumIsAMiss) {
  const auto dir = fresh_dir();
  gh::etag_cache cache(dir);
  cache.store("http://h/a", {"\"e\"", "", "[{\"comments\": 1}]"});
  ASSERT_TRUE(cache.load("http://h/a"));
  for (const auto& f : std::filesystem::directory_iterator(dir)) {
    std::fstream io(f.path(), std::ios::in | std::ios::out | std::ios::binary);
    std::string all((std::istreambuf_iterator<char>(io)), std::istreambuf_iterator<char>());
    const auto pos = all.find("1}]");
    ASSERT_NE(pos, std::string::npos);
    io.seekp(static_cast<std::streamoff>(pos));
    io << '9';  // same length, different body
  }
  EXPECT_FALSE(cache.load("http://h/a"));
  std::filesystem::remove_all(dir);
}

TEST(EtagCache, EntriesAreCreatedOwnerOnly) {
  const auto dir = fresh_dir();
  gh::etag_cache cache(dir);
  cache.store("http://h/a", {"\"e\"", "", "[]"});
  int files = 0;
  for (const auto& f : std::filesystem::directory_iterator(dir)) {
    ++files;
    const auto perms = std::filesystem::status(f.path()).permissions();
    EXPECT_EQ(perms & (std::filesystem::perms::group_all | std::filesystem::perms::others_all),
              std::filesystem::perms::none)
        << f.path();
  }
  EXPECT_EQ(files, 1);
  std::filesystem::remove_all(dir);
}

TEST(EtagCache, AFifoInPlaceOfAnEntryIsSkippedWithoutBlocking) {
  const auto dir = fresh_dir();
  gh::etag_cache cache(dir);
  cache.store("http://h/a", {"\"e\"", "", "[]"});
  std::filesystem::path entry;
  for (const auto& f : std::filesystem::directory_iterator(dir)) entry = f.path();
  std::filesystem::remove(entry);
  ASSERT_EQ(::mkfifo(entry.c_str(), 0600), 0);
  // A blocking open of a FIFO with no writer would hang this test forever.
  EXPECT_FALSE(cache.load("http://h/a"));
  std::filesystem::remove_all(dir);
}

TEST(EtagCache, AnUnusableDirectoryIsReportedClearly) {
  const auto dir = fresh_dir();
  std::filesystem::create_directories(dir);
  const auto file = dir / "plain-file";
  std::ofstream(file) << "x";
  const auto not_dir = gh::etag_cache::directory_problem(file);
  ASSERT_TRUE(not_dir);
  EXPECT_NE(not_dir->find("not a directory"), std::string::npos) << *not_dir;
  const auto below_file = gh::etag_cache::directory_problem(file / "sub");
  ASSERT_TRUE(below_file);
  EXPECT_NE(below_file->find("cannot be created"), std::string::npos) << *below_file;
  // Not writable even for root.
  const auto proc = gh::etag_cache::directory_problem("/proc/self");
  ASSERT_TRUE(proc);
  EXPECT_NE(proc->find("not writable"), std::string::npos) << *proc;
  EXPECT_FALSE(gh::etag_cache::directory_problem(dir / "new" / "cache"));
  EXPECT_TRUE(std::filesystem::is_directory(dir / "new" / "cache"));
  std::filesystem::remove_all(dir);
}
