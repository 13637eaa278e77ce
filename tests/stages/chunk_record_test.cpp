// The flat types that stand in for std::optional / std::variant in the
// stages' per-item-type code (docs/architecture.md, "Header cost"):
// chunk_record (the one channel item between stages, its items' type
// erased), maybe<T>, maybe_chunk<In> and core's outcome<T>. Run under ASan
// and LSan, these catch a double destroy or a leak in the erased moves.
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "sluice/core/channel.hpp"
#include "sluice/core/detail/outcome.hpp"
#include "sluice/core/sync_wait.hpp"
#include "sluice/stages/detail/chunk.hpp"
#include "sluice/stages/detail/maybe.hpp"
#include "sluice/stages/detail/stage_io.hpp"

namespace {

using sluice::detail::chunk_record;

std::vector<std::string> words(std::size_t n) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back("a string long enough to live on the heap #" + std::to_string(i));
  return out;
}

TEST(ChunkRecord, MovesKeepTheItemsAndLeaveTheSourceEmpty) {
  chunk_record a(7, words(3));
  a.bytes = 42;
  EXPECT_EQ(a.item_count(), 3U);
  chunk_record b(std::move(a));
  EXPECT_EQ(a.item_count(), 0U);  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
  EXPECT_EQ(b.seq, 7U);
  EXPECT_EQ(b.bytes, 42U);
  EXPECT_EQ(b.items<std::string>(), words(3));

  chunk_record c(1, words(1));
  c = std::move(b);  // the old items of c are destroyed, b's moved in
  EXPECT_EQ(c.seq, 7U);
  EXPECT_EQ(c.items<std::string>(), words(3));
  EXPECT_EQ(b.item_count(), 0U);  // NOLINT(bugprone-use-after-move)
  chunk_record& alias = c;
  c = std::move(alias);  // self-move keeps the items
  EXPECT_EQ(c.item_count(), 3U);
}

TEST(ChunkRecord, AChunkMadeWithoutItemsGivesAnEmptyVectorOfTheNamedType) {
  chunk_record c;
  EXPECT_EQ(c.item_count(), 0U);
  c.items<int>().push_back(5);
  EXPECT_EQ(c.item_count(), 1U);
  chunk_record d(std::move(c));
  EXPECT_EQ(d.items<int>(), std::vector<int>{5});
}

TEST(ChunkRecord, AVectorThatDoesNotFitInPlaceTravelsOnTheHeap) {
  // std::vector<bool> is not three pointers in libstdc++; either way the
  // items must survive the moves and be freed once (LSan/ASan check that).
  chunk_record a(3, std::vector<bool>{true, false, true});
  chunk_record b(std::move(a));
  chunk_record c;
  c = std::move(b);
  EXPECT_EQ(c.items<bool>(), (std::vector<bool>{true, false, true}));
  EXPECT_EQ(c.item_count(), 3U);
}

TEST(ChunkRecord, MoveOnlyItemsGoThroughTheStagesChannel) {
  auto [tx, rx] = sluice::channel<chunk_record>(2);
  std::vector<std::unique_ptr<int>> items;
  items.push_back(std::make_unique<int>(1));
  items.push_back(std::make_unique<int>(2));
  chunk_record c(9, std::move(items));
  ASSERT_TRUE(tx.try_send(c));
  tx.close();
  auto got = rx.try_recv();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->seq, 9U);
  auto& out = got->items<std::unique_ptr<int>>();
  ASSERT_EQ(out.size(), 2U);
  EXPECT_EQ(*out[0], 1);
  EXPECT_EQ(*out[1], 2);
}

TEST(Maybe, BehavesAsAnOptionalForTheStagesUses) {
  sluice::detail::maybe<std::string> none = std::nullopt;
  EXPECT_FALSE(none);
  sluice::detail::maybe<std::string> some(std::string("value"));
  ASSERT_TRUE(some.has_value());
  EXPECT_EQ(*some, "value");
  EXPECT_EQ(some->size(), 5U);
  sluice::detail::maybe<std::string> moved(std::move(some));
  EXPECT_EQ(*moved, "value");
  none = std::move(moved);
  EXPECT_EQ(*none, "value");
  none = sluice::detail::maybe<std::string>(std::nullopt);
  EXPECT_FALSE(none);
  std::vector<sluice::detail::maybe<std::string>> slots(3);
  slots[1] = sluice::detail::maybe<std::string>(std::string("x"));
  EXPECT_FALSE(slots[0]);
  EXPECT_EQ(*slots[1], "x");
}

TEST(Outcome, GivesTheValueOrRethrowsTheError) {
  sluice::detail::outcome<std::string> value;
  value.set_value("done");
  EXPECT_EQ(value.take(), "done");

  sluice::detail::outcome<std::string> error;
  error.set_error(std::make_exception_ptr(std::runtime_error("boom")));
  EXPECT_THROW(error.take(), std::runtime_error);

  // An error after the value (a throw once the value was stored) wins.
  sluice::detail::outcome<std::string> both;
  both.set_value("early");
  both.set_error(std::make_exception_ptr(std::runtime_error("late")));
  EXPECT_THROW(both.take(), std::runtime_error);
}

sluice::task<std::string> throws_after_a_value() {
  co_await std::suspend_never{};
  throw std::runtime_error("after");
}

TEST(Outcome, TasksKeepTheirExceptionsAndValues) {
  auto ok = []() -> sluice::task<std::vector<int>> { co_return std::vector<int>{1, 2}; };
  EXPECT_EQ(sluice::sync_wait(ok()), (std::vector<int>{1, 2}));
  EXPECT_THROW(sluice::sync_wait(throws_after_a_value()), std::runtime_error);
}

}  // namespace
