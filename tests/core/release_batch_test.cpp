// sluice::release_batch: releases deferred inside a batch are applied, all
// of them and exactly once, when the outermost batch on the thread closes
// (or when another object comes along); outside a batch nothing is deferred.
#include <gtest/gtest.h>

#include <sluice/core/release_batch.hpp>

#include <cstddef>
#include <stdexcept>
#include <thread>
#include <vector>

namespace {

// A counted object: how many releases reached it, in how many calls.
struct counted {
  std::size_t released = 0;
  std::size_t calls = 0;
};

void apply(void* object, std::size_t n) noexcept {
  auto* c = static_cast<counted*>(object);
  c->released += n;
  ++c->calls;
}

// What a reference-counted handle does in its destructor.
void release(counted& c) {
  if (!sluice::release_batch::defer(&c, &apply)) apply(&c, 1);
}

}  // namespace

TEST(ReleaseBatch, OutsideABatchEveryReleaseHappensAtOnce) {
  counted c;
  release(c);
  release(c);
  EXPECT_EQ(c.released, 2u);
  EXPECT_EQ(c.calls, 2u);
}

TEST(ReleaseBatch, ReleasesOfOneObjectInARowArriveTogetherWhenTheBatchCloses) {
  counted c;
  {
    sluice::release_batch batch;
    for (int i = 0; i < 1000; ++i) release(c);
    EXPECT_EQ(c.released, 0u) << "applied before the batch closed";
  }
  EXPECT_EQ(c.released, 1000u);
  EXPECT_EQ(c.calls, 1u);
}

TEST(ReleaseBatch, AnotherObjectFlushesThePendingOneAndNestedBatchesFlushOnceAtTheOutermost) {
  counted a, b;
  {
    sluice::release_batch outer;
    release(a);
    release(a);
    {
      sluice::release_batch inner;
      release(b);  // a's two go now
      EXPECT_EQ(a.released, 2u);
      release(b);
    }
    EXPECT_EQ(b.released, 0u) << "an inner batch must not flush";
    release(a);  // b's two go now
    EXPECT_EQ(b.released, 2u);
  }
  EXPECT_EQ(a.released, 3u);
  EXPECT_EQ(a.calls, 2u);
  EXPECT_EQ(b.calls, 1u);
}

TEST(ReleaseBatch, AnExceptionLeavingTheBatchStillAppliesItsReleases) {
  counted c;
  try {
    sluice::release_batch batch;
    release(c);
    release(c);
    throw std::runtime_error("a failing fold");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(c.released, 2u);
  release(c);  // and no batch is left open on the thread
  EXPECT_EQ(c.released, 3u);
}

TEST(ReleaseBatch, ABatchIsPerThread) {
  counted mine, theirs;
  sluice::release_batch batch;
  release(mine);
  std::thread other([&theirs] { release(theirs); });  // no batch open there
  other.join();
  EXPECT_EQ(theirs.released, 1u);
  EXPECT_EQ(mine.released, 0u);
}
