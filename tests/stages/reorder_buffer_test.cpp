// stage_io's reorder buffer: chunks that overtook an earlier one come back
// in sequence order, and what is still held at the end is freed.
#include "sluice/stages/detail/reorder_buffer.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace {

using sluice::detail::reorder_buffer;
using items_t = std::vector<std::string>;

void delete_items(void* items) noexcept { delete static_cast<items_t*>(items); }

void hold(reorder_buffer& buffer, std::uint64_t seq, items_t items) {
  buffer.reserve_one();
  buffer.hold(seq, new items_t(std::move(items)), &delete_items);
}

items_t take(reorder_buffer& buffer, std::uint64_t& seq) {
  std::unique_ptr<items_t> held(static_cast<items_t*>(buffer.take_front(seq)));
  return std::move(*held);
}

TEST(ReorderBuffer, GivesChunksBackInSequenceOrder) {
  reorder_buffer buffer;
  EXPECT_TRUE(buffer.empty());
  const std::vector<std::uint64_t> arrival{7, 3, 9, 4, 12, 5, 8};
  for (std::uint64_t seq : arrival) hold(buffer, seq, {std::to_string(seq), "x"});
  std::vector<std::uint64_t> order;
  while (!buffer.empty()) {
    const std::uint64_t front = buffer.front_seq();
    std::uint64_t seq = 0;
    items_t items = take(buffer, seq);
    EXPECT_EQ(seq, front);
    ASSERT_EQ(items.size(), 2U);
    EXPECT_EQ(items[0], std::to_string(seq));
    order.push_back(seq);
  }
  EXPECT_EQ(order, (std::vector<std::uint64_t>{3, 4, 5, 7, 8, 9, 12}));
}

TEST(ReorderBuffer, FreesWhatIsStillHeld) {
  // Under ASan a leak here fails the run; the counter checks it without.
  static int alive = 0;
  struct counted {
    counted() { ++alive; }
    counted(const counted&) { ++alive; }
    counted(counted&&) noexcept { ++alive; }
    counted& operator=(const counted&) = default;
    counted& operator=(counted&&) = default;
    ~counted() { --alive; }
  };
  using counted_items = std::vector<counted>;
  {
    reorder_buffer buffer;
    for (std::uint64_t seq = 10; seq > 0; --seq) {
      buffer.reserve_one();
      buffer.hold(seq, new counted_items(3), [](void* p) noexcept { delete static_cast<counted_items*>(p); });
    }
    EXPECT_EQ(alive, 30);
    std::uint64_t seq = 0;
    delete static_cast<counted_items*>(buffer.take_front(seq));
    EXPECT_EQ(seq, 1U);
    EXPECT_EQ(alive, 27);
    reorder_buffer moved(std::move(buffer));  // stage_io is moved into its coroutine
    EXPECT_EQ(alive, 27);
  }
  EXPECT_EQ(alive, 0);
}

}  // namespace
