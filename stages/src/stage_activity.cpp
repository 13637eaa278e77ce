#include "sluice/stages/detail/stage_activity.hpp"

#include <oneapi/tbb/task_arena.h>
#include <unistd.h>

#include <memory>
#include <mutex>

namespace sluice::detail {
namespace {

struct slot_registry {
  std::mutex mutex;
  std::vector<std::unique_ptr<worker_slot>> live;
  std::vector<std::unique_ptr<worker_slot>> spare;  // of exited threads, for reuse
};

slot_registry& registry() {
  static auto* r = new slot_registry();  // never freed: slots are released by exiting threads
  return *r;
}

// Owns the calling thread's slot and hands it back when the thread exits.
struct slot_owner {
  worker_slot* slot = nullptr;
  ~slot_owner() {
    if (!slot) return;
    auto& r = registry();
    std::lock_guard lock(r.mutex);
    for (auto it = r.live.begin(); it != r.live.end(); ++it) {
      if (it->get() != slot) continue;
      r.spare.push_back(std::move(*it));
      r.live.erase(it);
      break;
    }
  }
};
thread_local slot_owner t_owner;

}  // namespace

worker_slot& this_worker_slot() noexcept {
  if (t_owner.slot) [[likely]]
    return *t_owner.slot;
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  std::unique_ptr<worker_slot> slot;
  if (!r.spare.empty()) {
    slot = std::move(r.spare.back());
    r.spare.pop_back();
  } else {
    slot = std::make_unique<worker_slot>();  // noexcept function: out of memory here terminates
  }
  slot->run.store(nullptr, std::memory_order_relaxed);
  slot->runtime.store(0, std::memory_order_relaxed);
  slot->thread_id = static_cast<std::int64_t>(::gettid());
  slot->arena_index.store(tbb::this_task_arena::current_thread_index(), std::memory_order_relaxed);
  t_owner.slot = slot.get();
  r.live.push_back(std::move(slot));
  return *t_owner.slot;
}

std::vector<worker_view> worker_views() {
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  std::vector<worker_view> out;
  out.reserve(r.live.size());
  for (const auto& s : r.live) {
    out.push_back({s->thread_id, s->arena_index.load(std::memory_order_relaxed),
                   s->runtime.load(std::memory_order_relaxed), s->run.load(std::memory_order_relaxed),
                   s->stage.load(std::memory_order_relaxed)});
  }
  return out;
}

}  // namespace sluice::detail
