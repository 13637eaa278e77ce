// How the files connector reads: block size, read-ahead, the I/O backend
// and gzip decoding. Shared by lines(), read_blocks() and read_lines().
//
// Backends. `io_uring` submits reads to the kernel with io_uring (liburing)
// and learns of their completion through an eventfd the runtime's reactor
// watches; no thread waits on a read. `blocking_pool` runs pread(2) on the
// runtime's blocking pool (read(2) after poll(2) for pipes and terminals).
// `automatic` (the default) uses io_uring when the kernel lets this process
// create a ring, else the pool: io_uring may be missing (old kernel),
// forbidden (seccomp, container policy, RLIMIT_MEMLOCK) or switched off with
// the environment variable SLUICE_FILES_IO=pool. Which one a stage uses is
// shown in describe() ("io_uring" or "blocking pool (...why...)").
//
// Read-ahead: up to `read_ahead` blocks of a regular file are requested at
// once, so the disk (or page cache copy) overlaps the parsing of the block
// before. With io_uring the reader starts with one block in flight and
// doubles that (up to `read_ahead`) each time it has to wait for a read: a
// read the page cache serves completes inside the submission, on the
// reading thread, so reading ahead of it would only keep more blocks alive
// and hand them out colder in cache. The pool fallback grows the same way
// (its reads run on other threads, so it waits, and grows, whenever the
// work on a block is faster than the read of the next). Pipes and
// terminals are read one block at a time.
#pragma once

#include <cstddef>
#include <string>

namespace sluice::files {

enum class io_backend {
  automatic,      ///< io_uring when available, else the blocking pool
  io_uring,       ///< io_uring; fails the run when no ring can be created
  blocking_pool,  ///< pread on the runtime's blocking pool
};

enum class gzip_mode {
  by_name,  ///< decode when the file name ends in ".gz"
  always,
  never,
};

/// Tunables of every file reader; designated-initialiser friendly.
struct read_options {
  /// Bytes per read (and per block handed out), 1 B to 1 GiB.
  std::size_t block_bytes = std::size_t{256} << 10;
  /// Reads of a regular file in flight at once (at least 1).
  std::size_t read_ahead = 4;
  io_backend backend = io_backend::automatic;
  gzip_mode gzip = gzip_mode::by_name;
};

/// True when this process can create an io_uring (probed once, cached) and
/// SLUICE_FILES_IO is not "pool".
[[nodiscard]] bool io_uring_available();

/// The backend `options` resolves to, for describe(): "io_uring" or
/// "blocking pool (reason)".
[[nodiscard]] std::string backend_description(const read_options& options);

namespace detail {
/// The parameters describe() shows for a reader of `name` (may be empty).
[[nodiscard]] std::string describe_read(const read_options& options, const std::string& name);
}  // namespace detail

}  // namespace sluice::files
