// The io_uring reader. Each stream owns a small ring with an eventfd
// registered for its completions (io_uring_register_eventfd). A read the
// kernel serves at once (page cache) has completed by the time the reader
// looks, and the reader reaps it itself: no reactor, no thread switch. Only
// a reader that has to wait involves the runtime's reactor, which then reaps
// on its thread and resumes the coroutine on the arena. No thread blocks on
// a read.
//
// The reactor watches the eventfd only while a reader waits (a one-shot
// interest). Every completion signals the eventfd, and a permanent
// level-triggered watch woke the reactor for each block even when the
// reader had reaped it already; the reactor then queued on the ring's mutex
// behind the reader: about 45% of the context switches of the log
// workload (bench/stages/log_bench.cpp), on 2 cores whose 2 arena threads
// are busy. Now the waiting reader posts service() to the reactor, which
// drains the eventfd, reaps, and arms the watch only if nothing came; the
// watch's callback is the same service(), which parks the watch once
// nobody waits. No wake-up is lost, whatever the kernel's ordering: a
// completion posted before the drain is seen by the reap after it (the
// kernel publishes the CQ tail before it signals, and the signal and the
// drain serialise on the eventfd's lock), and one posted after the drain
// leaves the eventfd readable, which the level-triggered watch reports.
// (The alternative, io_uring_cq_eventfd_toggle around the wait, needs a
// full barrier in the kernel between its CQ-tail store and its read of
// IORING_CQ_EVENTFD_DISABLED; 6.x kernels signal the eventfd from
// io_commit_cqring_flush, and in some versions that ran before the
// smp_mb() of the wake-up path (__io_cq_unlock_post_flush, fixed for
// Debian bug 1093243), so it is not relied on.)
//
// A regular file has up to `read_ahead` block reads in flight at increasing
// offsets; a short read is resubmitted for the rest of its block, so blocks
// stay aligned and only the last one is partial. A pipe or terminal has one
// read in flight at a time (at the current position). cancel() submits
// IORING_OP_ASYNC_CANCEL for reads in flight (a read on an idle pipe would
// otherwise never finish); close() waits for every read to complete before
// the ring and the buffers it writes to can go away.
#include <liburing.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <coroutine>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

#include "block_pool.hpp"
#include "file_stream.hpp"
#include "sluice/core/detail/tsan.hpp"

namespace sluice::files::detail {
namespace {

// liburing maps a ring's memory and unmaps it with raw system calls, which
// ThreadSanitizer does not see: a ring mapped where an earlier one was
// would seem to race with that ring's last accesses (seen with one ring
// per round of a test that opens 150 pipes). Each unmap releases on this
// token and each new ring acquires it; outside TSan builds, nothing.
char ring_mapping_token = 0;

struct read_slot {
  shared_bytes bytes;
  std::uint64_t offset = 0;
  std::size_t want = 0;
  std::size_t filled = 0;
  int error = 0;
  bool done = false;
};

// Shared by the stream and the reactor (service(), the watch on the eventfd).
struct ring_state {
  runtime* rt = nullptr;
  std::shared_ptr<file_handle> file;
  io_uring ring{};
  int event_fd = -1;
  bool ring_ready = false;
  bool async_copy = false;  // regular file and a core to spare beyond the arena: IOSQE_ASYNC

  std::mutex mutex;                              // guards everything below (and the ring's submission queue)
  std::deque<std::unique_ptr<read_slot>> slots;  // in file order; addresses are the user_data
  std::size_t in_flight = 0;
  bool cancelled = false;
  std::coroutine_handle<> waiter;

  ring_state() = default;
  ring_state(const ring_state&) = delete;
  ring_state& operator=(const ring_state&) = delete;
  ~ring_state() {
    if (ring_ready) {
      // Before the unmap: a ring that then maps at this address acquires
      // after this release in real time.
      sluice::detail::tsan_release(&ring_mapping_token);
      ::io_uring_queue_exit(&ring);
    }
    if (event_fd >= 0) ::close(event_fd);
  }

  // Caller holds the mutex.
  void submit_read(read_slot* slot) {
    io_uring_sqe* sqe = ::io_uring_get_sqe(&ring);
    if (sqe == nullptr) {
      ::io_uring_submit(&ring);
      sqe = ::io_uring_get_sqe(&ring);
    }
    if (sqe == nullptr) {
      finish(slot, -EBUSY);
      return;
    }
    const std::uint64_t at = file->regular ? slot->offset + slot->filled : static_cast<std::uint64_t>(-1);
    ::io_uring_prep_read(sqe, file->fd, slot->bytes.data() + slot->filled,
                         static_cast<unsigned>(slot->want - slot->filled), at);
    ::io_uring_sqe_set_data(sqe, slot);
    // Where the copy of a cached regular file happens. Inline (no
    // IOSQE_ASYNC), the submitting arena thread copies, as read(2) would; with
    // IOSQE_ASYNC a kernel io-wq thread copies while the arena splits the
    // block before. That extra thread only helps on a core the arena does not
    // already use: on 2 cores with a 2-thread arena, lines() ran at
    // 0.61-0.73x a read(2)+memchr loop with it and 0.85-0.92x without
    // (quiet machine). A read that would block goes to io-wq either way.
    if (async_copy) sqe->flags |= IOSQE_ASYNC;
    const int rc = ::io_uring_submit(&ring);
    if (rc < 0) finish(slot, rc);
  }

  void finish(read_slot* slot, int error) {
    if (error < 0) slot->error = -error;
    slot->done = true;
    --in_flight;
  }

  // A completion for `slot` with result `res` (caller holds the mutex).
  void complete(read_slot* slot, int res) {
    if (res == -EINTR || res == -EAGAIN) {
      submit_read(slot);
    } else if (res < 0) {
      finish(slot, res);
    } else if (res == 0) {
      finish(slot, 0);  // end of file
    } else {
      slot->filled += static_cast<std::size_t>(res);
      if (file->regular && slot->filled < slot->want && !cancelled) {
        submit_read(slot);  // a short read: fetch the rest of the block
      } else {
        finish(slot, 0);
      }
    }
  }

  // Processes every completion in the queue; true when there was one for
  // a read. Caller holds the mutex.
  bool reap_locked() {
    io_uring_cqe* cqe = nullptr;
    bool any = false;
    while (::io_uring_peek_cqe(&ring, &cqe) == 0) {
      auto* slot = static_cast<read_slot*>(::io_uring_cqe_get_data(cqe));
      const int res = cqe->res;
      ::io_uring_cqe_seen(&ring, cqe);
      if (slot != nullptr) {  // null: the completion of a cancel request
        complete(slot, res);
        any = true;
      }
    }
    return any;
  }

  // Reactor thread: posted by a reader about to wait, and the watch's
  // callback while it is armed. Drains the eventfd, then reaps (in that
  // order: see the top of the file), resumes the waiter if a read
  // completed, and watches the eventfd only while someone still waits.
  void service() {
    std::uint64_t count = 0;
    (void)!::read(event_fd, &count, sizeof count);
    std::coroutine_handle<> wake;
    bool waiting = false;
    {
      std::lock_guard lock(mutex);
      if (reap_locked()) wake = std::exchange(waiter, {});
      waiting = static_cast<bool>(waiter);
    }
    if (waiting) {
      arm();
    } else {
      rt->io().park(event_fd);
    }
    if (wake) rt->post(wake);
  }

  // Reactor thread. The first wait of the stream registers the watch; later
  // ones re-arm it (no system call while it is still in epoll's set).
  void arm() {
    try {
      reactor& io = rt->io();
      if (!io.rearm(event_fd, EPOLLIN)) io.watch(event_fd, EPOLLIN, [this](std::uint32_t) { service(); });
    } catch (...) {
      // epoll refused the eventfd: nothing would ever be reaped. Fail the
      // reads in flight so the reader sees an error instead of hanging.
      std::coroutine_handle<> wake;
      {
        std::lock_guard lock(mutex);
        for (auto& slot : slots)
          if (!slot->done) finish(slot.get(), -EIO);
        wake = std::exchange(waiter, {});
      }
      if (wake) rt->post(wake);
    }
  }

  // Registers `h` to be resumed by service() (caller holds the mutex, and
  // has just reaped without finding what it waits for). The post happens
  // under the mutex: once it is released, a cancel() may resume `h`, whose
  // owner may then close the stream, and the state must outlive the post;
  // release() posts the state's end after it, and posts run in order.
  void wait_locked(std::coroutine_handle<> h) {
    waiter = h;
    try {
      rt->io().post([this] { service(); });
    } catch (...) {
      waiter = {};
      throw;
    }
  }

  void cancel_in_flight() {
    for (auto& slot : slots) {
      if (slot->done) continue;
      io_uring_sqe* sqe = ::io_uring_get_sqe(&ring);
      if (sqe == nullptr) break;
      ::io_uring_prep_cancel(sqe, slot.get(), 0);
      ::io_uring_sqe_set_data(sqe, nullptr);
    }
    ::io_uring_submit(&ring);
  }
};

// Suspends until `ready()` holds (checked under the state's mutex, so no
// completion slips between the check and the suspension).
template <typename Ready>
struct until {
  ring_state* state;
  Ready ready;
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) {
    std::lock_guard lock(state->mutex);
    state->reap_locked();
    if (ready()) return false;
    state->wait_locked(h);
    return true;
  }
  void await_resume() const noexcept {}
};

class uring_stream final : public byte_stream {
 public:
  uring_stream(std::shared_ptr<ring_state> state, const read_options& options)
      : m_state(std::move(state)),
        m_block(options.block_bytes),
        m_depth(m_state->file->regular ? options.read_ahead : 1),
        m_next_offset(m_state->file->start),
        m_pool(m_block, pool_keep(m_depth, m_state->rt->threads())) {}

  ~uring_stream() override { release(); }

  task<stream_piece> next() override {
    ring_state* s = m_state.get();
    if (m_end || s == nullptr) co_return stream_piece{};
    std::unique_ptr<read_slot> slot;
    {
      // One lock for the usual case: the reads submitted here complete
      // inside io_uring_submit when the page cache holds the block.
      std::lock_guard lock(s->mutex);
      if (s->cancelled) co_return stream_piece{};
      top_up();
      s->reap_locked();
      slot = take_front_if_done();
    }
    while (!slot) {
      // The read is not served from the page cache at once: read further
      // ahead from now on, so the next waits overlap the work on this block.
      m_depth_now = std::min(m_depth, m_depth_now * 2);
      auto front_done = [s] { return s->slots.front()->done; };
      co_await until<decltype(front_done)>{s, front_done};
      std::lock_guard lock(s->mutex);
      slot = take_front_if_done();
    }
    if (slot->error == ECANCELED) {
      m_end = true;
      co_return stream_piece{};
    }
    if (slot->error != 0) throw_file_error(s->file->name, "read failed", slot->error);
    if (slot->filled == 0 || (s->file->regular && slot->filled < slot->want)) m_end = true;
    const std::uint64_t offset = s->file->regular ? slot->offset : m_stream_offset;
    if (!s->file->regular) m_stream_offset += slot->filled;
    co_return stream_piece{std::move(slot->bytes), slot->filled, offset};
  }

  // Called from any thread (the run's stop callback) while the owner may be
  // in close() or its destructor: the state is taken under m_state_mutex,
  // and the copy keeps it alive for the rest of the call.
  void cancel() noexcept override {
    std::shared_ptr<ring_state> state;
    {
      std::lock_guard lock(m_state_mutex);
      state = m_state;
    }
    if (!state) return;
    // The reads end with -ECANCELED (or finish normally); service() then wakes next().
    std::coroutine_handle<> wake;
    {
      std::lock_guard lock(state->mutex);
      if (state->cancelled) return;
      state->cancelled = true;
      state->cancel_in_flight();
      // A cancellation may complete the read at once.
      if (state->reap_locked()) wake = std::exchange(state->waiter, {});
    }
    if (wake) state->rt->post(wake);
  }

  task<void> close() override {
    ring_state* s = m_state.get();
    if (s == nullptr) co_return;
    m_end = true;
    {
      std::lock_guard lock(s->mutex);
      if (!s->file->regular && s->in_flight > 0) s->cancel_in_flight();
    }
    auto idle = [s] { return s->in_flight == 0; };
    while (true) {
      {
        std::lock_guard lock(s->mutex);
        s->reap_locked();
        if (idle()) break;
      }
      co_await until<decltype(idle)>{s, idle};
    }
    release();
  }

  [[nodiscard]] std::string backend() const override { return "io_uring"; }
  [[nodiscard]] const std::string& name() const noexcept override { return m_name; }

  void set_name(std::string name) { m_name = std::move(name); }

 private:
  // The first read in file order once it has completed (caller holds the mutex).
  std::unique_ptr<read_slot> take_front_if_done() {
    ring_state& s = *m_state;
    if (!s.slots.front()->done) return nullptr;
    auto slot = std::move(s.slots.front());
    s.slots.pop_front();
    return slot;
  }

  // Caller holds the mutex.
  void top_up() {
    ring_state& s = *m_state;
    while (s.slots.size() < m_depth_now) {
      auto slot = std::make_unique<read_slot>();
      slot->bytes = m_pool.take();
      slot->offset = m_next_offset;
      slot->want = m_block;
      m_next_offset += m_block;
      ++s.in_flight;
      read_slot* raw = slot.get();
      s.slots.push_back(std::move(slot));
      s.submit_read(raw);
    }
  }

  // Stops the reactor's watch; the state (ring, eventfd) goes with the last
  // reference, after the unwatch, so the descriptor number cannot be reused
  // while still watched.
  void release() noexcept {
    std::shared_ptr<ring_state> state;
    {
      std::lock_guard lock(m_state_mutex);  // against cancel() on another thread
      state = std::move(m_state);
    }
    if (!state) return;
    try {
      runtime* rt = state->rt;
      rt->io().post([state]() mutable {
        state->rt->io().unwatch(state->event_fd);
        state.reset();
      });
    } catch (...) {
      // Posting failed (out of memory): keep the state alive rather than
      // free a ring the reactor may still touch.
      new std::shared_ptr<ring_state>(std::move(state));
    }
  }

  // Read without a lock only by the owner (next, close, top_up), which is
  // also the only writer (release); cancel() takes it under m_state_mutex.
  std::mutex m_state_mutex;
  std::shared_ptr<ring_state> m_state;
  std::string m_name;
  std::size_t m_block;
  std::size_t m_depth;
  // Reads in flight now. A read the page cache serves completes inside
  // io_uring_submit, on the submitting thread, so reading ahead gains
  // nothing then: it only keeps more blocks alive and hands each one out
  // longer after it was copied, colder in cache. Starts at one block and
  // doubles (up to m_depth) whenever the reader has to wait for a read.
  std::size_t m_depth_now = 1;
  std::uint64_t m_next_offset;
  std::uint64_t m_stream_offset = 0;
  bool m_end = false;
  block_pool_ref m_pool;  // the blocks read into, recycled (block_pool.hpp)
};

}  // namespace

std::shared_ptr<byte_stream> make_uring_stream(runtime& rt, std::shared_ptr<file_handle> file,
                                               const read_options& options, int& error) {
  auto state = std::make_shared<ring_state>();
  state->rt = &rt;
  state->file = file;
  state->async_copy = file->regular && std::thread::hardware_concurrency() > rt.threads();
  const unsigned entries = static_cast<unsigned>(2 * options.read_ahead + 2);
  int rc = ::io_uring_queue_init(entries, &state->ring, 0);
  if (rc < 0) {
    error = -rc;
    return nullptr;
  }
  state->ring_ready = true;
  sluice::detail::tsan_acquire(&ring_mapping_token);
  state->event_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (state->event_fd < 0) {
    error = errno;
    return nullptr;
  }
  // Every completion signals the eventfd. (Not _async: completions that the
  // kernel posts through task_work, as for a pipe read that waited, would
  // then never signal it.)
  rc = ::io_uring_register_eventfd(&state->ring, state->event_fd);
  if (rc < 0) {
    error = -rc;
    return nullptr;
  }
  // No watch yet: the reactor watches the eventfd only while a reader
  // waits (ring_state::wait_locked).
  auto stream = std::make_shared<uring_stream>(state, options);
  stream->set_name(file->name);
  return stream;
}

}  // namespace sluice::files::detail
