#include "sluice/core/wait_note.hpp"

#include <map>
#include <mutex>
#include <utility>

namespace sluice {
namespace detail {
std::atomic<int> g_wait_watchers{0};
}  // namespace detail

namespace {

struct wait_board {
  std::mutex mutex;
  std::uint64_t next_id = 1;
  std::map<std::uint64_t, wait_entry> entries;  // by id: the order of arrival
};

wait_board& board() {
  static auto* b = new wait_board();  // never freed: notes may die on exiting threads
  return *b;
}

}  // namespace

std::string_view to_string(wait_kind kind) noexcept {
  switch (kind) {
    case wait_kind::http:
      return "HTTP";
    case wait_kind::timer:
      return "timer";
    case wait_kind::oneshot:
      return "oneshot";
    case wait_kind::rate_limit:
      return "rate limit";
    case wait_kind::redis:
      return "Redis";
    case wait_kind::user:
      break;
  }
  return "awaitable";
}

std::uint64_t wait_note::add(wait_kind kind, std::string_view what,
                             std::optional<std::chrono::steady_clock::time_point> until, const wait_owner* owner) {
  wait_entry entry{kind, std::string(what), std::chrono::steady_clock::now(), until, std::nullopt};
  if (owner)
    entry.item = wait_item{owner->group, owner->stage, std::string(owner->stage_name), owner->item, owner->since};
  auto& b = board();
  std::lock_guard lock(b.mutex);
  const auto id = b.next_id++;
  b.entries.emplace(id, std::move(entry));
  return id;
}

void wait_note::remove(std::uint64_t id) noexcept {
  auto& b = board();
  std::lock_guard lock(b.mutex);
  b.entries.erase(id);
}

std::vector<wait_entry> current_waits() {
  auto& b = board();
  std::lock_guard lock(b.mutex);
  std::vector<wait_entry> out;
  out.reserve(b.entries.size());
  for (const auto& [id, entry] : b.entries) out.push_back(entry);
  return out;
}

}  // namespace sluice
