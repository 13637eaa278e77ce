#include "sluice/core/detail/thread_activity.hpp"

#include <unistd.h>

#include <memory>
#include <mutex>

namespace sluice::detail {
namespace {

struct slot_registry {
  std::mutex mutex;
  std::vector<std::unique_ptr<thread_activity>> live;
  std::vector<std::unique_ptr<thread_activity>> spare;  // of exited threads, for reuse
};

slot_registry& registry() {
  static auto* r = new slot_registry();  // never freed: slots are released by exiting threads
  return *r;
}

// Owns the calling thread's slot and hands it back when the thread exits.
struct slot_owner {
  thread_activity* slot = nullptr;
  ~slot_owner();
};
thread_local slot_owner t_owner;
// The slot as a plain pointer: constant-initialised and trivially
// destructible, so the per-job lookup is one load with no call to a TLS
// wrapper checking `t_owner`'s initialisation guard.
constinit thread_local thread_activity* t_slot = nullptr;
// Where a thread's marks go once its slot is handed back (a job or a
// section in another thread-local's destructor): written, never listed.
constinit thread_local thread_activity t_exited_slot;

slot_owner::~slot_owner() {
  if (!slot) return;
  t_slot = &t_exited_slot;
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  for (auto it = r.live.begin(); it != r.live.end(); ++it) {
    if (it->get() != slot) continue;
    r.spare.push_back(std::move(*it));
    r.live.erase(it);
    break;
  }
}

[[gnu::noinline]] thread_activity& register_this_thread() noexcept {
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  std::unique_ptr<thread_activity> slot;
  if (!r.spare.empty()) {
    slot = std::move(r.spare.back());
    r.spare.pop_back();
  } else {
    slot = std::make_unique<thread_activity>();  // noexcept function: out of memory here terminates
  }
  slot->runtime.store(0, std::memory_order_relaxed);
  slot->job.store(0, std::memory_order_relaxed);
  slot->section_owner.store(nullptr, std::memory_order_relaxed);
  slot->section.store(0, std::memory_order_relaxed);
  slot->arena_index.store(-1, std::memory_order_relaxed);
  slot->role.store(thread_role::jobs, std::memory_order_relaxed);
  slot->thread_id = static_cast<std::int64_t>(::gettid());
  slot->job_depth = 0;
  t_owner.slot = slot.get();
  t_slot = slot.get();
  r.live.push_back(std::move(slot));
  return *t_slot;
}

}  // namespace

thread_activity& this_thread_activity() noexcept {
  if (t_slot != nullptr) [[likely]]
    return *t_slot;
  return register_this_thread();
}

std::vector<thread_activity_view> thread_activity_views() {
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  std::vector<thread_activity_view> out;
  out.reserve(r.live.size());
  for (const auto& s : r.live) {
    out.push_back({s->thread_id, s->arena_index.load(std::memory_order_relaxed),
                   s->runtime.load(std::memory_order_relaxed), s->job.load(std::memory_order_relaxed),
                   s->section_owner.load(std::memory_order_relaxed), s->section.load(std::memory_order_relaxed),
                   s->role.load(std::memory_order_relaxed)});
  }
  return out;
}

void mark_this_thread(std::uint64_t runtime_id, thread_role role) noexcept {
  auto& slot = this_thread_activity();
  slot.role.store(role, std::memory_order_relaxed);
  slot.runtime.store(runtime_id, std::memory_order_relaxed);
}

}  // namespace sluice::detail
