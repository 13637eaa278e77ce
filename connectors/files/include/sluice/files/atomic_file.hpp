// sluice::files::atomic_file: write a file so that readers see either the old
// contents or the complete new contents, never a half-written file.
//
//   sluice::files::atomic_file out("report.jsonl");   // creates report.jsonl.XXXXXX beside it
//   out.write(line);                                   // as often as needed
//   out.commit();                                      // flush, fsync (optional), rename over the target
//   // destroyed without commit(): the temporary is removed, report.jsonl untouched
//
// The temporary lives in the target's directory (rename(2) is atomic only
// within one file system) and is created with mode 0600 by mkstemp; commit()
// applies `options.mode` (default 0644, less the umask) before the rename.
// With `options.fsync`, the data is fsync'ed before the rename and the
// directory after it, so the new file survives a power loss too.
//
// Errors (cannot create, disk full, permission, rename failure) throw
// std::system_error whose message names the target path. Not thread-safe:
// one writer per object. This is the one place sluice writes output files:
// repo-fetcher's --out and the files connector's sinks use it.
#pragma once

#include <sys/types.h>
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

namespace sluice::files {

/// How an atomic_file is finished; designated-initialiser friendly.
struct atomic_file_options {
  /// fsync the data before the rename and the directory after it.
  bool fsync = false;
  /// Permission bits of the finished file (the process umask still applies).
  mode_t mode = 0644;
  /// Bytes buffered before a write(2).
  std::size_t buffer_bytes = 1 << 16;
};

class atomic_file {
 public:
  /// Creates the temporary file beside `target`. Throws std::system_error
  /// naming `target` when the directory is missing or not writable.
  explicit atomic_file(std::filesystem::path target, atomic_file_options options = {});
  /// Removes the temporary file unless commit() succeeded.
  ~atomic_file();
  atomic_file(const atomic_file&) = delete;
  atomic_file& operator=(const atomic_file&) = delete;

  /// Appends bytes (buffered). Throws std::system_error on a write failure.
  void write(std::string_view bytes);
  /// Flushes, optionally fsyncs, and renames the temporary over the target.
  /// After a successful commit further writes throw std::logic_error.
  void commit();
  /// Removes the temporary file now; the target stays as it was.
  void abandon() noexcept;

  [[nodiscard]] const std::filesystem::path& target() const noexcept { return m_target; }
  [[nodiscard]] const std::filesystem::path& temporary() const noexcept { return m_temporary; }
  [[nodiscard]] bool committed() const noexcept { return m_committed; }

 private:
  void flush_buffer();
  [[noreturn]] void fail(const char* what, int error) const;

  std::filesystem::path m_target;
  std::filesystem::path m_temporary;
  atomic_file_options m_options;
  std::string m_buffer;
  int m_fd = -1;
  bool m_committed = false;
};

}  // namespace sluice::files
