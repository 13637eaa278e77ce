#include "sluice/core/detail/sync_directory.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace sluice::detail {

int sync_directory_of(const std::filesystem::path& path) noexcept {
  const auto dir = path.parent_path();
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return 0;  // nothing anyone can sync (see the header)
  int error = ::fsync(fd) != 0 ? errno : 0;
  if (::close(fd) != 0 && error == 0) error = errno;
  return error;
}

}  // namespace sluice::detail
