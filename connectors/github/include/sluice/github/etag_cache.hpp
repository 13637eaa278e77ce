// A disk cache of GitHub pages keyed by URL, for conditional requests.
//
// The fetcher sends `If-None-Match: <etag>` for a URL it has cached; a 304
// answer (no body, no primary rate-limit cost) reuses the stored body and
// Link header. One file per URL under the cache directory, named by a hash
// of the URL; the URL is stored inside too, so a hash collision is a miss.
//
// Entries are hostile input too (a shared or tampered directory): each one
// carries the FNV-1a-64 checksum and length of its body, and a mismatch is a
// miss (the page is fetched again). Only regular files are read: the entry is
// opened with O_NONBLOCK|O_NOFOLLOW and fstat'ed, so a FIFO, device or symlink
// planted in the directory is skipped without blocking. Entries are created
// 0600 (they hold private repositories' data) through sluice::files::atomic_file.
//
// Thread-safety: load() and store() may run concurrently from any threads
// and processes; store() writes a temporary file and renames it, so a reader
// sees the old entry or the new one, never half of one.
// Errors: an unreadable, corrupt or oversized entry is a miss; a failed
// store() is ignored (the cache is an optimisation). Neither throws. Check a
// user-given directory first with directory_problem() for a clear error.
// Credentials are never written: entries hold the URL, ETag, Link and body.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::github {

class etag_cache {
 public:
  struct entry {
    std::string etag;
    std::string link;  // the page's Link header ("" when it had none)
    std::string body;
  };

  /// Uses (and creates, on first store) `directory`.
  explicit etag_cache(std::filesystem::path directory);

  /// Entries larger than this are never read (a miss).
  static constexpr std::size_t max_entry_bytes = std::size_t{1} << 30;

  /// Why `directory` cannot hold the cache (exists but is not a directory,
  /// cannot be created, a probe file cannot be created in it), or nullopt
  /// when it can. Creates the directory (0700) when missing.
  [[nodiscard]] static std::optional<std::string> directory_problem(const std::filesystem::path& directory);

  [[nodiscard]] std::optional<entry> load(std::string_view url) const;
  void store(std::string_view url, const entry& e) const;
  [[nodiscard]] const std::filesystem::path& directory() const noexcept { return m_directory; }

 private:
  [[nodiscard]] std::filesystem::path path_for(std::string_view url) const;
  std::filesystem::path m_directory;
};

}  // namespace sluice::github
