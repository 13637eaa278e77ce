#include "reply_arena.hpp"

#include <hiredis/hiredis.h>
#include <hiredis/read.h>

#include <cstring>
#include <new>

namespace sluice::redis::detail {
namespace {

// In front of every object: its arena, and whether it is a reply's root
// (hiredis frees only roots; the rest goes with the rewind).
struct alignas(16) object_header {
  reply_arena* arena;
  bool root;
};

constexpr std::size_t round_up(std::size_t n) { return (n + 15) & ~std::size_t{15}; }

reply_arena* arena_of(const redisReadTask* task) {
  while (task->parent) task = task->parent;  // the root task always carries the reader's privdata
  return static_cast<reply_arena*>(task->privdata);
}

redisReply* create(const redisReadTask* task, int type, std::size_t extra, void** extra_out) {
  reply_arena* arena = arena_of(task);
  const std::size_t head = sizeof(object_header) + round_up(sizeof(redisReply));
  if (extra > static_cast<std::size_t>(-1) - head - 16) return nullptr;
  auto* p = static_cast<std::byte*>(arena->allocate(head + round_up(extra)));
  if (!p) return nullptr;
  auto* h = new (p) object_header{arena, task->parent == nullptr};
  auto* r = new (p + sizeof(object_header)) redisReply{};
  r->type = type;
  if (extra_out) *extra_out = p + head;
  if (h->root) arena->root_created();
  if (task->parent) {
    auto* parent = static_cast<redisReply*>(task->parent->obj);
    parent->element[task->idx] = r;
  }
  return r;
}

void* create_string(const redisReadTask* task, char* str, std::size_t len) {
  void* buf = nullptr;
  if (len == static_cast<std::size_t>(-1)) return nullptr;
  redisReply* r = create(task, task->type, len + 1, &buf);
  if (!r) return nullptr;
  auto* s = static_cast<char*>(buf);
  if (len) std::memcpy(s, str, len);
  s[len] = '\0';
  r->str = s;
  r->len = len;
  return r;
}

void* create_array(const redisReadTask* task, int elements) {
  const auto n = elements > 0 ? static_cast<std::size_t>(elements) : 0;
  void* buf = nullptr;
  redisReply* r = create(task, REDIS_REPLY_ARRAY, n * sizeof(redisReply*), n ? &buf : nullptr);
  if (!r) return nullptr;
  if (n) {
    std::memset(buf, 0, n * sizeof(redisReply*));
    r->element = static_cast<redisReply**>(buf);
  }
  r->elements = n;
  return r;
}

void* create_integer(const redisReadTask* task, long long value) {
  redisReply* r = create(task, REDIS_REPLY_INTEGER, 0, nullptr);
  if (r) r->integer = value;
  return r;
}

void* create_nil(const redisReadTask* task) { return create(task, REDIS_REPLY_NIL, 0, nullptr); }

void free_object(void* reply) {
  if (!reply) return;
  auto* h = reinterpret_cast<object_header*>(static_cast<std::byte*>(reply) - sizeof(object_header));
  if (h->root) h->arena->root_freed();
}

}  // namespace

redisReplyObjectFunctions reply_arena::functions = {create_string, create_array, create_integer, create_nil,
                                                    free_object};

void reply_arena::attach(redisReader* reader) {
  reader->fn = &functions;
  reader->privdata = this;
  reader->maxbuf = keep_buffer;
}

void reply_arena::release() noexcept {
  m_released = true;
  if (m_live_roots == 0) delete this;
}

void reply_arena::root_freed() noexcept {
  if (m_live_roots > 0) --m_live_roots;
  if (m_live_roots != 0) return;
  if (m_released) {
    delete this;
    return;
  }
  rewind();
}

void* reply_arena::allocate(std::size_t bytes) {
  bytes = round_up(bytes);
  if (!m_blocks.empty() && m_blocks[m_current].size - m_used >= bytes) {
    void* p = m_blocks[m_current].data.get() + m_used;
    m_used += bytes;
    return p;
  }
  // The next kept block if it is large enough, else a new one after the current.
  std::size_t next = m_blocks.empty() ? 0 : m_current + 1;
  if (next >= m_blocks.size() || m_blocks[next].size < bytes) {
    const std::size_t size = bytes > block_bytes ? bytes : block_bytes;
    block b{std::unique_ptr<std::byte[]>(new (std::nothrow) std::byte[size]), size};
    if (!b.data) return nullptr;
    try {
      m_blocks.insert(m_blocks.begin() + static_cast<std::ptrdiff_t>(next), std::move(b));
    } catch (...) {
      return nullptr;
    }
  }
  m_current = next;
  m_used = bytes;
  return m_blocks[m_current].data.get();
}

void reply_arena::rewind() noexcept {
  m_current = 0;
  m_used = 0;
  std::size_t total = 0;
  for (const auto& b : m_blocks) total += b.size;
  while (total > keep_bytes && !m_blocks.empty()) {
    total -= m_blocks.back().size;
    m_blocks.pop_back();
  }
}

}  // namespace sluice::redis::detail
