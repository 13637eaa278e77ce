// Making a rename durable: the one place sluice fsyncs a directory, used by
// files::atomic_file and the trace writer when they are asked to fsync.
#pragma once

#include <filesystem>

namespace sluice::detail {

/// fsyncs the directory holding `path` (its parent; "." when it has none),
/// so that a rename into it survives a power loss. Returns 0 or the errno of
/// the failed fsync or close. A directory that cannot be opened (e.g. one
/// with write and search permission but no read permission) cannot be
/// synced by anyone: that returns 0 too. Thread-safe; blocks on the disk.
int sync_directory_of(const std::filesystem::path& path) noexcept;

}  // namespace sluice::detail
