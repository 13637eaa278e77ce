#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <string>
#include <utility>

#include "file_stream.hpp"

namespace sluice::files::detail {

file_handle::~file_handle() {
  if (owned && fd >= 0) ::close(fd);
}

void throw_file_error(const std::string& name, const char* what, int error) {
  throw std::system_error(error, std::generic_category(), "sluice::files: " + name + ": " + what);
}

namespace {

read_options normalised(read_options options) {
  options.block_bytes = std::clamp<std::size_t>(options.block_bytes, 1, std::size_t{1} << 30);
  options.read_ahead = std::clamp<std::size_t>(options.read_ahead, 1, 64);
  return options;
}

bool wants_gzip(const read_options& options, const std::string& name) {
  switch (options.gzip) {
    case gzip_mode::always:
      return true;
    case gzip_mode::never:
      return false;
    case gzip_mode::by_name:
      break;
  }
  return name.size() >= 3 && name.compare(name.size() - 3, 3, ".gz") == 0;
}

std::shared_ptr<byte_stream> open_raw(runtime& rt, std::shared_ptr<file_handle> file, const read_options& options) {
  const bool try_uring =
      options.backend == io_backend::io_uring || (options.backend == io_backend::automatic && io_uring_available());
  if (try_uring) {
    int error = 0;
    if (auto s = make_uring_stream(rt, file, options, error)) return s;
    if (options.backend == io_backend::io_uring)
      throw_file_error(file->name, "io_uring was requested but no ring can be created", error);
  }
  return make_pool_stream(rt, std::move(file), options);
}

}  // namespace

std::shared_ptr<byte_stream> open_stream(runtime& rt, const std::filesystem::path& path, const read_options& options) {
  auto file = std::make_shared<file_handle>();
  file->name = path.string();
  file->fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (file->fd < 0) throw_file_error(file->name, "cannot open for reading", errno);
  file->owned = true;
  struct stat st {};
  if (::fstat(file->fd, &st) != 0) throw_file_error(file->name, "cannot stat", errno);
  if (S_ISDIR(st.st_mode)) throw_file_error(file->name, "is a directory, not a file", EISDIR);
  file->regular = S_ISREG(st.st_mode);
  const read_options o = normalised(options);
  auto raw = open_raw(rt, file, o);
  return wants_gzip(o, file->name) ? make_gzip_stream(std::move(raw), o) : raw;
}

std::shared_ptr<byte_stream> open_fd_stream(runtime& rt, int fd, std::string name, const read_options& options) {
  auto file = std::make_shared<file_handle>();
  file->name = std::move(name);
  file->fd = fd;
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw_file_error(file->name, "cannot stat", errno);
  if (S_ISDIR(st.st_mode)) throw_file_error(file->name, "is a directory, not a file", EISDIR);
  file->regular = S_ISREG(st.st_mode);
  if (file->regular) {
    const off_t at = ::lseek(fd, 0, SEEK_CUR);
    if (at > 0) file->start = static_cast<std::uint64_t>(at);
  }
  const read_options o = normalised(options);
  auto raw = open_raw(rt, file, o);
  return o.gzip == gzip_mode::always ? make_gzip_stream(std::move(raw), o) : raw;
}

}  // namespace sluice::files::detail
