#include "sluice/core/detail/replace_file.hpp"

#include <fcntl.h>
#include <stdio.h>  // renameat2, RENAME_EXCHANGE (glibc, _GNU_SOURCE)
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace sluice::detail {

int replace_file(const std::filesystem::path& from, const std::filesystem::path& to, int* old_file) noexcept {
  if (old_file != nullptr) *old_file = -1;
  struct stat target {};
  // Only a file or a symlink is swapped: rename(2) replaces either by name,
  // and so do exchange + unlink. Anything else (a directory) goes to
  // rename(2) for its usual error.
  if (::lstat(to.c_str(), &target) == 0 && (S_ISREG(target.st_mode) || S_ISLNK(target.st_mode)) &&
      ::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_EXCHANGE) == 0) {
    // The old file is under `from` now. O_PATH|O_NOFOLLOW: a reference to
    // the inode (or the symlink itself), no read access needed.
    const int held =
        old_file != nullptr && S_ISREG(target.st_mode) ? ::open(from.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC) : -1;
    if (::unlink(from.c_str()) == 0) {
      if (old_file != nullptr) *old_file = held;
      return 0;
    }
    const int error = errno;
    if (held >= 0) ::close(held);
    // Something other than the old file took `to`'s place between lstat
    // and the exchange (a directory: unlink refuses it). Put it back where
    // it was and let rename(2) decide.
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_EXCHANGE) != 0) return error;
  }
  return ::rename(from.c_str(), to.c_str()) == 0 ? 0 : errno;
}

}  // namespace sluice::detail
