// hiredis reply objects from a bump arena instead of one calloc/malloc per
// object (private to connection.cpp).
//
// hiredis's default reader builds a reply as a tree of redisReply objects,
// each calloc'ed, each string malloc'ed and copied, and frees the tree
// object by object after the reply callback: for one XREADGROUP entry of a
// sluice stream that is ~22 allocations and as many frees, which made
// malloc/free most of the reactor thread's time on the consumer. The arena
// builds the same redisReply layout (so every reader of a reply is
// unchanged) from a few reused blocks: a reply's objects are bump-allocated
// and freeing the root rewinds the arena once no other root is alive.
//
// Only hiredis calls these functions, on the reactor thread: a reply is
// read completely and handed to its callback before the next one starts, so
// at most one root per reader is being built; roots of an old context freed
// late (a reset) just delay the rewind. hiredis frees only roots
// (redisReaderFree, a protocol error, after a reply callback).
//
// Lifetime: owned by the connection state (release()); a reply still alive
// when the state goes (a context hiredis frees later) keeps the arena until
// that reply is freed.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

struct redisReplyObjectFunctions;
struct redisReader;

namespace sluice::redis::detail {

class reply_arena {
 public:
  reply_arena() = default;
  reply_arena(const reply_arena&) = delete;
  reply_arena& operator=(const reply_arena&) = delete;

  /// Makes `reader` build its replies here (the reader's privdata and object
  /// functions), and keeps its read buffer up to `keep_buffer` bytes between
  /// replies (hiredis frees it whenever more than 16 KiB sit unused).
  void attach(redisReader* reader);

  /// The owner lets go: deleted now, or when its last live reply is freed.
  void release() noexcept;

  // hiredis's object functions (reply_arena.cpp).
  static redisReplyObjectFunctions functions;

  // Blocks kept across replies, in bytes: a burst of huge replies does not
  // pin its memory for ever.
  static constexpr std::size_t keep_bytes = std::size_t{4} << 20;
  static constexpr std::size_t block_bytes = std::size_t{64} << 10;
  static constexpr std::size_t keep_buffer = std::size_t{1} << 20;

  // Called through `functions`.
  void* allocate(std::size_t bytes);  // 16-aligned; null when out of memory
  void root_created() noexcept { ++m_live_roots; }
  void root_freed() noexcept;

 private:
  ~reply_arena() = default;
  void rewind() noexcept;

  struct block {
    std::unique_ptr<std::byte[]> data;
    std::size_t size = 0;
  };
  std::vector<block> m_blocks;
  std::size_t m_current = 0;  // block being filled
  std::size_t m_used = 0;     // bytes used in it
  std::size_t m_live_roots = 0;
  bool m_released = false;
};

}  // namespace sluice::redis::detail
