// The per-thread activity slots a stall dump reads (detail/thread_activity.hpp):
// a runtime's job marks its thread inside a job of that runtime, nested jobs
// keep the mark with a new value, and the mark ends with the job (or when
// the thread parks at its end). The reactor marks its rounds of callbacks,
// a blocking-pool thread its spawn_blocking calls, each under its role.
#include <gtest/gtest.h>
#include <unistd.h>
#include <sluice/core/blocking_pool.hpp>
#include <sluice/core/detail/thread_activity.hpp>
#include <sluice/core/runtime.hpp>

#include <chrono>
#include <cstdint>
#include <future>
#include <optional>
#include <thread>

namespace {

using sluice::detail::job_mark;
using sluice::detail::thread_activity;
using sluice::detail::thread_activity_view;
using sluice::detail::thread_role;

std::optional<thread_activity_view> view_of(std::int64_t tid) {
  for (const auto& v : sluice::detail::thread_activity_views())
    if (v.thread_id == tid) return v;
  return std::nullopt;
}

// A job that holds its thread until released, for looking at that thread's
// slot meanwhile: hand job() to whatever runs it (the reactor, the blocking
// pool), then tid() waits until it runs.
class thread_holder {
 public:
  auto job() {
    return [this, released = m_released] {
      m_tid.set_value(static_cast<std::int64_t>(::gettid()));
      released.wait();
    };
  }
  std::int64_t tid() { return m_tid_future.get(); }
  void release() { m_release.set_value(); }

 private:
  std::promise<std::int64_t> m_tid;
  std::future<std::int64_t> m_tid_future = m_tid.get_future();
  std::promise<void> m_release;
  std::shared_future<void> m_released = m_release.get_future().share();
};

// `tid`'s view once it is out of its job (a job ends just after it hands
// over its result): polled, for at most a minute, which only bounds a hang.
std::optional<thread_activity_view> view_once_out_of_its_job(std::int64_t tid) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::optional<thread_activity_view> later;
  while (std::chrono::steady_clock::now() < deadline) {
    later = view_of(tid);
    if (later && !later->in_job()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return later;
}

TEST(ThreadActivity, NestedJobsKeepTheMarkWithANewValueAndTheOutermostEndsIt) {
  thread_activity slot;
  {
    job_mark outer(slot, 7, [] { return 3; });
    const auto first = slot.job.load();
    EXPECT_EQ(first % 2, 1u);
    EXPECT_EQ(slot.runtime.load(), 7u);
    EXPECT_EQ(slot.arena_index.load(), 3);
    {
      job_mark inner(slot, 7, [] { return 5; });  // oneTBB running queued work while the thread waits
      EXPECT_EQ(slot.job.load() % 2, 1u);
      EXPECT_NE(slot.job.load(), first) << "a sampler would take the inner job for the outer one";
      EXPECT_EQ(slot.arena_index.load(), 3) << "only an outermost job asks for the index";
      job_mark::leave(slot);  // an inner job's park: the outer job still runs
      EXPECT_EQ(slot.job.load() % 2, 1u);
    }
    EXPECT_EQ(slot.job.load() % 2, 1u) << "the inner job ended the outer one's mark";
    job_mark::leave(slot);  // the outermost job parks at its end
    EXPECT_EQ(slot.job.load() % 2, 0u);
  }
  EXPECT_EQ(slot.job.load() % 2, 0u);
  EXPECT_EQ(slot.job_depth, 0);
  const auto after = slot.job.load();
  {
    job_mark next(slot, 8, [] { return 0; });
  }
  EXPECT_EQ(slot.job.load(), after + 2) << "one job: in, then out";
  EXPECT_EQ(slot.runtime.load(), 8u);
}

TEST(ThreadActivity, ARuntimesJobMarksItsThreadUntilTheJobEnds) {
  sluice::runtime rt({.threads = 1});
  struct seen {
    std::int64_t tid = 0;
    std::optional<thread_activity_view> inside;
  };
  const seen s = rt.offload([] {
                     seen out;
                     out.tid = static_cast<std::int64_t>(::gettid());
                     out.inside = view_of(out.tid);
                     return out;
                   }).get();
  ASSERT_TRUE(s.inside) << "the arena thread is not registered";
  EXPECT_TRUE(s.inside->in_job());
  EXPECT_EQ(s.inside->runtime, rt.id());
  EXPECT_GE(s.inside->arena_index, 0);
  EXPECT_EQ(s.inside->role, thread_role::jobs);
  // The job ends (or parks) just after it hands over its result.
  const auto later = view_once_out_of_its_job(s.tid);
  ASSERT_TRUE(later);
  EXPECT_FALSE(later->in_job()) << "the thread is still marked inside a job";
  EXPECT_EQ(later->runtime, rt.id());
}

// The reactor's work between two waits is one job of its runtime (see
// reactor.cpp's loop): held by a posted job, it is listed in a job of that
// runtime with no arena slot; waiting in epoll_wait, between jobs.
TEST(ThreadActivity, TheReactorIsMarkedInAJobOfItsRuntimeWhileItRunsCallbacks) {
  sluice::runtime rt({.threads = 1});
  thread_holder holder;
  rt.io().post(holder.job());
  const auto tid = holder.tid();
  const auto held = view_of(tid);
  holder.release();
  ASSERT_TRUE(held) << "the reactor thread is not registered";
  EXPECT_TRUE(held->in_job());
  EXPECT_EQ(held->runtime, rt.id());
  EXPECT_EQ(held->arena_index, -1);
  EXPECT_EQ(held->role, thread_role::reactor);
  // Back in epoll_wait once the callback returns.
  const auto later = view_once_out_of_its_job(tid);
  ASSERT_TRUE(later);
  EXPECT_FALSE(later->in_job()) << "the idle reactor is still marked inside a job";
  EXPECT_EQ(later->runtime, rt.id());
}

// A thread of a runtime's blocking pool names that runtime and its role, and
// is in a job exactly while it runs a spawn_blocking call: a call that does
// not return shows in a stall dump on its thread, not only as its awaiter's
// wait.
TEST(ThreadActivity, ABlockingPoolThreadIsMarkedInAJobOfItsRuntimeWhileItRunsACall) {
  sluice::runtime rt({.threads = 1});
  thread_holder holder;
  auto done = rt.spawn_blocking(holder.job());
  const auto tid = holder.tid();
  const auto held = view_of(tid);
  holder.release();
  done.get();
  ASSERT_TRUE(held) << "the blocking-pool thread is not registered";
  EXPECT_TRUE(held->in_job());
  EXPECT_EQ(held->runtime, rt.id());
  EXPECT_EQ(held->arena_index, -1);
  EXPECT_EQ(held->role, thread_role::blocking_pool);
  // Between calls (waiting for the next one), out of the job.
  const auto later = view_once_out_of_its_job(tid);
  ASSERT_TRUE(later);
  EXPECT_FALSE(later->in_job()) << "the idle pool thread is still marked inside a job";
  EXPECT_EQ(later->role, thread_role::blocking_pool);
}

// A pool of no runtime (constructed by the user) marks nothing: no runtime's
// dump would list its threads.
TEST(ThreadActivity, AThreadOfAPoolOfNoRuntimeIsNotListed) {
  thread_holder holder;
  sluice::blocking_pool pool;
  pool.submit(holder.job());
  const auto tid = holder.tid();
  EXPECT_FALSE(view_of(tid));
  holder.release();
}

TEST(ThreadActivity, AThreadThatRanNoJobIsNotListed) {
  std::int64_t tid = 0;
  std::thread([&] { tid = static_cast<std::int64_t>(::gettid()); }).join();
  EXPECT_FALSE(view_of(tid));
}

}  // namespace
