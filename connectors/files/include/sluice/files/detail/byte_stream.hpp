// The asynchronous byte stream under every file source: a file (or a pipe)
// read block by block through io_uring or the blocking pool, optionally
// through a gzip decoder. Internal to the files connector.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "sluice/core/runtime.hpp"
#include "sluice/core/task.hpp"
#include "sluice/files/line.hpp"
#include "sluice/files/read_options.hpp"

namespace sluice::files::detail {

/// One piece of a stream: `size` bytes at `bytes.data()`, starting at
/// `offset` in the stream. size == 0 means the end.
struct stream_piece {
  shared_bytes bytes;
  std::size_t size = 0;
  std::uint64_t offset = 0;
};

/// A file's bytes, in order. One consumer at a time: calls to next() and
/// close() never overlap, and each happens after the previous one (the
/// lanes of lines() take turns under a lock, lines_in_lanes.hpp); cancel()
/// from any thread.
class byte_stream {
 public:
  virtual ~byte_stream() = default;
  /// The next piece; {size 0} at the end (or after cancel()). Throws
  /// std::system_error / std::runtime_error naming the file on failure.
  virtual task<stream_piece> next() = 0;
  /// Makes a pending or later next() return the end soon. Thread-safe.
  virtual void cancel() noexcept = 0;
  /// Waits for reads in flight and releases the file. Idempotent; call it
  /// before destroying the stream (also after an error).
  virtual task<void> close() = 0;
  /// "io_uring" or "blocking pool", plus ", gzip" when decoding.
  [[nodiscard]] virtual std::string backend() const = 0;
  /// The file's name, for error messages.
  [[nodiscard]] virtual const std::string& name() const noexcept = 0;
};

/// Opens `path` for reading. Throws std::system_error naming the path when
/// it is missing, unreadable, or a directory; std::runtime_error when
/// io_backend::io_uring was demanded and no ring can be created.
std::shared_ptr<byte_stream> open_stream(runtime& rt, const std::filesystem::path& path, const read_options& options);

/// A stream over an open descriptor (not owned, not closed), e.g. stdin.
/// `name` appears in error messages.
std::shared_ptr<byte_stream> open_fd_stream(runtime& rt, int fd, std::string name, const read_options& options);

}  // namespace sluice::files::detail
