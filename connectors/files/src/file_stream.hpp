// The two raw readers behind detail::open_stream, and what they share.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <system_error>

#include "sluice/files/detail/byte_stream.hpp"

namespace sluice::files::detail {

/// An open descriptor shared by a stream and the reads it has in flight, so
/// it cannot be closed (and its number reused) under a pending read.
struct file_handle {
  int fd = -1;
  bool owned = false;
  /// Regular files are read at offsets with read-ahead; anything else
  /// (pipes, terminals) sequentially, one read at a time.
  bool regular = false;
  /// Where reading starts (a descriptor handed in may have been read from).
  std::uint64_t start = 0;
  std::string name;
  file_handle() = default;
  file_handle(const file_handle&) = delete;
  file_handle& operator=(const file_handle&) = delete;
  ~file_handle();
};

[[noreturn]] void throw_file_error(const std::string& name, const char* what, int error);

/// pread on the runtime's blocking pool.
std::shared_ptr<byte_stream> make_pool_stream(runtime& rt, std::shared_ptr<file_handle> file,
                                              const read_options& options);
/// io_uring completions through an eventfd watched by the reactor. Returns
/// null when no ring can be created (the caller falls back to the pool).
std::shared_ptr<byte_stream> make_uring_stream(runtime& rt, std::shared_ptr<file_handle> file,
                                               const read_options& options, int& error);
/// Decodes gzip (one or more members) from `inner`.
std::shared_ptr<byte_stream> make_gzip_stream(std::shared_ptr<byte_stream> inner, const read_options& options);

}  // namespace sluice::files::detail
