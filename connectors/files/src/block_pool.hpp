// Recycles a reader's blocks. A block of a file stays alive for as long as
// one of its lines does, on whatever thread drops it last; without reuse
// every read took a fresh 256 KiB block from malloc and gave it back there,
// and glibc returned such memory to the kernel (heap trimming, madvise) so
// often that the kernel's copy into the next block faulted its pages in
// again: about 4,200 page faults per run of the 200 MB access-log benchmark
// (a fifth of the reader's kernel time). A pool keeps a few idle blocks of
// the reader's block size and hands them out again, mapped and warm in cache.
//
// Lifetime: the reader owns the pool and calls close() when it is done;
// blocks still referenced then (lines kept by the user, reads in flight)
// come back later and are freed, and the pool itself goes with the last of
// them. Memory: at most `keep` idle blocks beyond those in use.
//
// Thread-safety: take() and close() from the reader, give_back() from any
// thread (shared_bytes' last release); all under one mutex, taken once per
// block. The mutex also orders the last reader's accesses to a block before
// the next write into it.
#pragma once

#include <cstddef>
#include <mutex>
#include <vector>

#include "sluice/files/line.hpp"

namespace sluice::files::detail {

class block_pool {
 public:
  /// A pool of blocks of `block_bytes`, keeping up to `keep` idle ones.
  static block_pool* create(std::size_t block_bytes, std::size_t keep) { return new block_pool(block_bytes, keep); }

  block_pool(const block_pool&) = delete;
  block_pool& operator=(const block_pool&) = delete;

  /// A block of the pool's size with one reference: an idle one if there
  /// is one, else a new one. Throws std::bad_alloc.
  shared_bytes take();

  /// The reader is done: idle blocks are freed now, the others when their
  /// last reference goes. The pool must not be used by its owner afterwards.
  void close() noexcept;

  /// The last reference to `s` (from this pool) went (shared_bytes::destroy).
  void give_back(shared_bytes::storage* s) noexcept;

 private:
  block_pool(std::size_t block_bytes, std::size_t keep) : m_block(block_bytes), m_keep(keep) { m_idle.reserve(keep); }
  ~block_pool() = default;
  static void free_storage(shared_bytes::storage* s) noexcept;

  std::mutex m_mutex;
  std::vector<shared_bytes::storage*> m_idle;  // capacity reserved: pushing never allocates
  std::size_t m_out = 0;                       // blocks handed out and not back yet
  bool m_closed = false;
  const std::size_t m_block;
  const std::size_t m_keep;
};

/// How many idle blocks a reader's pool keeps: the reads in flight plus
/// what the stages after it hold at once (a chunk in the channel and one in
/// work per arena thread, and the block being split). Keeping more costs
/// nothing beyond the most blocks ever in use at once, since the pool only
/// allocates when it has no idle block; keeping fewer made the 200 MB
/// access-log bench free and fault in a block every few reads.
inline std::size_t pool_keep(std::size_t read_ahead, std::size_t threads) { return read_ahead + 2 * threads + 2; }

/// Owns a pool for a reader: closes it when the reader goes.
class block_pool_ref {
 public:
  block_pool_ref(std::size_t block_bytes, std::size_t keep) : m_pool(block_pool::create(block_bytes, keep)) {}
  ~block_pool_ref() {
    if (m_pool) m_pool->close();
  }
  block_pool_ref(const block_pool_ref&) = delete;
  block_pool_ref& operator=(const block_pool_ref&) = delete;
  shared_bytes take() { return m_pool->take(); }

 private:
  block_pool* m_pool;
};

}  // namespace sluice::files::detail
