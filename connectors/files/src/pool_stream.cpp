// The fallback reader: pread(2) jobs on the runtime's blocking pool, up to
// `read_ahead` in flight for a regular file; poll(2) + read(2) for a pipe or
// terminal, where an eventfd lets cancel() end a read that would wait forever.
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <deque>
#include <utility>

#include "block_pool.hpp"
#include "file_stream.hpp"
#include "sluice/core/oneshot.hpp"

namespace sluice::files::detail {
namespace {

struct read_result {
  shared_bytes bytes;
  std::size_t size = 0;
  int error = 0;
};

// Wakes a pool thread blocked in poll() on a pipe. Shared with the jobs.
struct cancel_signal {
  int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  std::atomic<bool> raised{false};
  cancel_signal() = default;
  cancel_signal(const cancel_signal&) = delete;
  cancel_signal& operator=(const cancel_signal&) = delete;
  ~cancel_signal() {
    if (fd >= 0) ::close(fd);
  }
  void raise() noexcept {
    raised.store(true, std::memory_order_release);
    const std::uint64_t one = 1;
    if (fd >= 0) (void)!::write(fd, &one, sizeof one);
  }
};

// Fills `len` bytes at `offset` unless the file ends first.
read_result read_at(const file_handle& file, shared_bytes bytes, std::uint64_t offset, std::size_t len) {
  std::size_t got = 0;
  while (got < len) {
    const ssize_t n = ::pread(file.fd, bytes.data() + got, len - got, static_cast<off_t>(offset + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return {std::move(bytes), got, errno};
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  return {std::move(bytes), got, 0};
}

// One read of whatever a pipe has, waiting (cancellably) until it has some.
read_result read_some(const file_handle& file, const cancel_signal& cancel, shared_bytes bytes, std::size_t len) {
  for (;;) {
    if (cancel.raised.load(std::memory_order_acquire)) return {std::move(bytes), 0, ECANCELED};
    pollfd fds[2] = {{file.fd, POLLIN, 0}, {cancel.fd, POLLIN, 0}};
    const int n = ::poll(fds, cancel.fd >= 0 ? 2 : 1, cancel.fd >= 0 ? -1 : 100);
    if (n < 0 && errno != EINTR) return {std::move(bytes), 0, errno};
    if (n <= 0) continue;
    if (fds[1].revents != 0) return {std::move(bytes), 0, ECANCELED};
    const ssize_t got = ::read(file.fd, bytes.data(), len);
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return {std::move(bytes), 0, errno};
    }
    return {std::move(bytes), static_cast<std::size_t>(got), 0};
  }
}

class pool_stream final : public byte_stream {
 public:
  pool_stream(runtime& rt, std::shared_ptr<file_handle> file, const read_options& options)
      : m_rt(&rt),
        m_file(std::move(file)),
        m_block(options.block_bytes),
        m_depth(m_file->regular ? options.read_ahead : 1),
        m_next_offset(m_file->start),
        m_pool(m_block, pool_keep(m_depth, rt.threads())) {}

  task<stream_piece> next() override {
    if (m_end || m_cancel->raised.load(std::memory_order_acquire)) co_return stream_piece{};
    top_up();
    auto [offset, rx] = std::move(m_inflight.front());
    m_inflight.pop_front();
    // Not read yet: read further ahead from now on (as the io_uring reader
    // does), so the next reads overlap the work on this block. Starting at
    // one block in flight keeps no more blocks alive than the reads need.
    if (!rx.ready()) m_depth_now = std::min(m_depth, m_depth_now * 2);
    read_result r = co_await std::move(rx);
    if (r.error == ECANCELED) {
      m_end = true;
      co_return stream_piece{};
    }
    if (r.error != 0) throw_file_error(m_file->name, "read failed", r.error);
    if (!m_file->regular) m_stream_offset += r.size;
    if (r.size == 0 || (m_file->regular && r.size < m_block)) m_end = true;  // a short pread: the file ended
    co_return stream_piece{std::move(r.bytes), r.size, offset};
  }

  void cancel() noexcept override { m_cancel->raise(); }

  task<void> close() override {
    // Jobs own their buffer and the descriptor; waiting for them keeps the
    // pool from holding the file open after the stream is gone.
    m_end = true;
    while (!m_inflight.empty()) {
      auto rx = std::move(m_inflight.front().second);
      m_inflight.pop_front();
      (void)co_await std::move(rx);
    }
  }

  [[nodiscard]] std::string backend() const override { return "blocking pool"; }
  [[nodiscard]] const std::string& name() const noexcept override { return m_file->name; }

 private:
  void top_up() {
    if (!m_file->regular) {
      if (m_inflight.empty()) {
        auto job = [file = m_file, cancel = m_cancel, bytes = m_pool.take(), len = m_block]() {
          return read_some(*file, *cancel, bytes, len);
        };
        m_inflight.emplace_back(m_stream_offset, m_rt->spawn_blocking(std::move(job)));
      }
      return;
    }
    while (m_inflight.size() < m_depth_now) {
      auto job = [file = m_file, bytes = m_pool.take(), offset = m_next_offset, len = m_block]() {
        return read_at(*file, bytes, offset, len);
      };
      m_inflight.emplace_back(m_next_offset, m_rt->spawn_blocking(std::move(job)));
      m_next_offset += m_block;
    }
  }

  runtime* m_rt;
  std::shared_ptr<file_handle> m_file;
  std::shared_ptr<cancel_signal> m_cancel = std::make_shared<cancel_signal>();
  std::size_t m_block;
  std::size_t m_depth;
  std::size_t m_depth_now = 1;  // reads in flight now: grows while the reader waits
  std::uint64_t m_next_offset;
  std::uint64_t m_stream_offset = 0;
  bool m_end = false;
  block_pool_ref m_pool;  // the blocks read into, recycled (block_pool.hpp)
  std::deque<std::pair<std::uint64_t, oneshot_receiver<read_result>>> m_inflight;
};

}  // namespace

std::shared_ptr<byte_stream> make_pool_stream(runtime& rt, std::shared_ptr<file_handle> file,
                                              const read_options& options) {
  return std::make_shared<pool_stream>(rt, std::move(file), options);
}

}  // namespace sluice::files::detail
