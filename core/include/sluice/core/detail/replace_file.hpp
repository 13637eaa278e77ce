// Putting a finished temporary file in place of its target, for
// the trace writer and files::atomic_file (with fsync): what rename(2) does, without the
// flush ext4 starts when a rename replaces a file.
#pragma once

#include <filesystem>

namespace sluice::detail {

/// Moves `from` to `to`, replacing `to` if it exists, atomically as
/// rename(2) does: a reader of `to` sees the old file or the new one,
/// never neither or half. Returns 0 or an errno.
///
/// Why not rename(2) itself: on ext4 (auto_da_alloc, the default), a rename
/// that replaces an existing regular file makes the kernel allocate and
/// start writing the renamed file's delayed blocks inside the call,
/// 1.5-8 ms for a 1.4 MB file here, which is most of what finishing a trace
/// of a short run cost. Exchanging the two names (renameat2 with
/// RENAME_EXCHANGE) and unlinking the old file under `from` gives readers
/// the same view, without that flush. Falls back to rename(2) when `to` is
/// not a regular file or a symlink, or the file system cannot exchange
/// names. Durability is the caller's (fsync the file before, and
/// sync_directory_of(to) after, if it must survive a power loss).
/// Thread-safe as the system calls are.
///
/// With `old_file`, a replaced regular file is opened (O_PATH) before its
/// name is removed and the descriptor stored there (-1 if none was
/// replaced or it could not be opened): the file's storage is then
/// released at that descriptor's close, which the caller may do later,
/// off its critical path. Freeing a 1 MB file's pages is most of what
/// the unlink costs (100-130 us of 130-150 here); unlinking a name whose
/// inode is still open is not. The caller must close it.
int replace_file(const std::filesystem::path& from, const std::filesystem::path& to, int* old_file = nullptr) noexcept;

}  // namespace sluice::detail
