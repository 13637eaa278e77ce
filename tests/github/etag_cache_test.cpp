#include "sluice/github/etag_cache.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

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
