// A disk cache of GitHub pages keyed by URL, for conditional requests.
//
// The fetcher sends `If-None-Match: <etag>` for a URL it has cached; a 304
// answer (no body, no primary rate-limit cost) reuses the stored body and
// Link header. One file per URL under the cache directory, named by a hash
// of the URL; the URL is stored inside too, so a hash collision is a miss.
//
// Thread-safety: load() and store() may run concurrently from any threads
// and processes; store() writes a temporary file and renames it, so a reader
// sees the old entry or the new one, never half of one.
// Errors: an unreadable or corrupt entry is a miss; a failed store() is
// ignored (the cache is an optimisation). Neither throws.
// Credentials are never written: entries hold the URL, ETag, Link and body.
#pragma once

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

  [[nodiscard]] std::optional<entry> load(std::string_view url) const;
  void store(std::string_view url, const entry& e) const;
  [[nodiscard]] const std::filesystem::path& directory() const noexcept { return m_directory; }

 private:
  [[nodiscard]] std::filesystem::path path_for(std::string_view url) const;
  std::filesystem::path m_directory;
};

}  // namespace sluice::github
