// sluice::release_batch: reference-count releases made on one thread,
// applied together at the end of a synchronous scope.
//
//   {
//     sluice::release_batch batch;   // opens the scope on this thread
//     items.clear();                 // each line of one block: a plain increment here...
//   }                                // ...and one atomic fetch_sub(k) per block here
//
// Why: a file line (sluice/files/line.hpp) holds a reference on the block it
// views, and dropping a chunk of 2,000 lines of one block was 2,000 atomic
// decrements of one counter, about 5% of the CPU of the 200 MB access-log
// bench. An object whose release may be deferred calls defer(); while a
// batch is open on the thread, releases of the same object in a row are
// counted in a thread-local slot and handed to its flush function in one
// call when another object comes along or the outermost batch closes.
//
// Safety: a deferred release only keeps a count higher for a while, so an
// object is never freed early; it is freed by whichever release (deferred or
// not, on any thread) takes its count to zero. A batch must not span a
// suspension (no co_await inside it): the pending releases belong to the
// thread, and a coroutine resumed elsewhere would leave them there. Closing
// the batch (also by an exception) applies them. Outside a batch defer()
// returns false and the caller releases at once, so code that knows nothing
// of batches (a user's thread, a late destructor) behaves as before.
//
// Thread-safety: everything is per thread; no synchronisation.
#pragma once

#include <cstddef>

namespace sluice {

namespace detail {
// This thread's pending releases (of one object) and open batches.
struct release_pending {
  void* object = nullptr;
  void (*fn)(void*, std::size_t) noexcept = nullptr;
  std::size_t count = 0;
  unsigned depth = 0;
};
}  // namespace detail

class release_batch {
 public:
  /// Applies `count` releases of `object` (must not throw).
  using flush_fn = void (*)(void* object, std::size_t count) noexcept;

  /// Opens a batch on this thread (batches nest; the outermost one flushes).
  release_batch() noexcept { ++t_pending.depth; }
  ~release_batch() {
    if (--t_pending.depth == 0) flush();
  }
  release_batch(const release_batch&) = delete;
  release_batch& operator=(const release_batch&) = delete;

  /// Records one release of `object`, to be applied by `fn`; false when no
  /// batch is open on this thread (the caller then releases it itself).
  static bool defer(void* object, flush_fn fn) noexcept {
    pending& p = t_pending;
    if (p.depth == 0) return false;
    if (p.object == object) [[likely]] {
      ++p.count;  // the common case, small enough to inline into every destructor
      return true;
    }
    return defer_other(object, fn);
  }

  /// Applies the releases pending on this thread now.
  static void flush() noexcept {
    pending& p = t_pending;
    if (p.object == nullptr) return;
    void* object = p.object;
    p.object = nullptr;  // first: fn may free objects whose destructors come back here
    p.fn(object, p.count);
  }

 private:
  using pending = detail::release_pending;
  static inline thread_local pending t_pending{};

  // Another object than the pending one, in a batch.
  [[gnu::noinline]] static bool defer_other(void* object, flush_fn fn) noexcept {
    pending& p = t_pending;
    flush();
    p.object = object;
    p.fn = fn;
    p.count = 1;
    return true;
  }
};

}  // namespace sluice
