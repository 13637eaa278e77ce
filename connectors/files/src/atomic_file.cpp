#include "sluice/files/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <cstdio>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "sluice/core/detail/replace_file.hpp"
#include "sluice/core/detail/sync_directory.hpp"

namespace sluice::files {
namespace {

// The process umask, read once. umask(2) can only be read by setting it, and
// setting it briefly would race with files created on other threads, so read
// it from /proc (Linux 4.7+) and fall back to the common 022.
mode_t process_umask() {
  static const mode_t mask = [] {
    mode_t value = 022;
    if (FILE* status = std::fopen("/proc/self/status", "re")) {
      char line[256];
      while (std::fgets(line, sizeof line, status)) {
        unsigned parsed = 0;
        if (std::sscanf(line, "Umask: %o", &parsed) == 1) {
          value = static_cast<mode_t>(parsed & 0777u);
          break;
        }
      }
      std::fclose(status);
    }
    return value;
  }();
  return mask;
}

}  // namespace

atomic_file::atomic_file(std::filesystem::path target, atomic_file_options options)
    : m_target(std::move(target)), m_options(options) {
  if (m_target.empty() || !m_target.has_filename()) fail("not a file name", EINVAL);
  std::string pattern = m_target.string() + ".XXXXXX";
  m_fd = ::mkostemp(pattern.data(), O_CLOEXEC);
  if (m_fd < 0) fail("cannot create a temporary file beside it", errno);
  m_temporary = pattern;
  m_buffer.reserve(m_options.buffer_bytes);
}

atomic_file::~atomic_file() { abandon(); }

void atomic_file::fail(const char* what, int error) const {
  throw std::system_error(error, std::generic_category(), "sluice: " + m_target.string() + ": " + what);
}

void atomic_file::write(std::string_view bytes) {
  if (m_fd < 0) throw std::logic_error("sluice::files::atomic_file: write after commit or abandon");
  if (m_buffer.size() + bytes.size() > m_options.buffer_bytes) flush_buffer();
  if (bytes.size() >= m_options.buffer_bytes) {
    m_buffer.assign(bytes);
    flush_buffer();
    return;
  }
  m_buffer.append(bytes);
}

void atomic_file::flush_buffer() {
  std::size_t done = 0;
  while (done < m_buffer.size()) {
    const ssize_t n = ::write(m_fd, m_buffer.data() + done, m_buffer.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("write failed", errno);
    }
    done += static_cast<std::size_t>(n);
  }
  m_buffer.clear();
}

void atomic_file::commit() {
  if (m_fd < 0) throw std::logic_error("sluice::files::atomic_file: commit after commit or abandon");
  flush_buffer();
  if (::fchmod(m_fd, m_options.mode & ~process_umask()) != 0) fail("cannot set permissions", errno);
  if (m_options.fsync && ::fsync(m_fd) != 0) fail("fsync failed", errno);
  const int fd = std::exchange(m_fd, -1);
  if (::close(fd) != 0) {
    const int error = errno;
    ::unlink(m_temporary.c_str());
    fail("close failed", error);
  }
  // With fsync the data is already on disk, so the names may simply be
  // exchanged (replace_file: no flush inside the call). Without it, plain
  // rename(2) keeps ext4's auto_da_alloc, which starts writing a file
  // renamed over another so that a power loss does not leave an empty file
  // where the previous one was: user data keeps that safety net even when
  // it did not ask for fsync.
  const int rename_error = m_options.fsync ? detail::replace_file(m_temporary, m_target)
                                           : (::rename(m_temporary.c_str(), m_target.c_str()) == 0 ? 0 : errno);
  if (rename_error != 0) {
    ::unlink(m_temporary.c_str());
    fail("cannot rename the temporary file over it", rename_error);
  }
  m_committed = true;
  if (m_options.fsync) {
    if (const int error = detail::sync_directory_of(m_target); error != 0) fail("fsync of the directory failed", error);
  }
}

void atomic_file::abandon() noexcept {
  if (m_fd < 0) return;
  ::close(std::exchange(m_fd, -1));
  ::unlink(m_temporary.c_str());
}

}  // namespace sluice::files
