// sluice::files::files(directory, glob, recursive): the paths of the files
// in a directory whose names match a shell pattern, as a source.
//
//   sluice::run(rt, files::files("logs", "*.jsonl.gz") | files::read_lines() | ...);
//   files::files("data", "*.csv", {.recursive = true})
//
// The pattern is matched against each file's name (not its directory) with
// fnmatch(3): `*`, `?`, `[a-z]`; a leading dot must be matched explicitly, as
// in a shell. Only regular files (and symlinks to them) are listed. The
// listing runs on the runtime's blocking pool (directory reads block) and is
// sorted, so a run sees the files in a stable order; it is taken when the
// run starts. Errors fail the run with the path in the message: a missing
// directory, a file given as the directory, an unreadable (sub)directory.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "sluice/core/runtime.hpp"
#include "sluice/stages/pipeline.hpp"

namespace sluice::files {

/// Options of files(); designated-initialiser friendly.
struct list_options {
  /// Descend into subdirectories.
  bool recursive = false;
  /// Shown in describe() and reports; defaults to "files(<dir>/<glob>)".
  std::string name = {};
  /// Paths per chunk sent downstream.
  std::size_t chunk = 16;
};

/// The sorted paths of the regular files under `directory` whose names
/// match `glob`. Blocking: the source calls it on the blocking pool. Throws
/// std::system_error naming the directory.
std::vector<std::filesystem::path> list_matching(const std::filesystem::path& directory, const std::string& glob,
                                                 bool recursive);

namespace detail {

class files_source {
 public:
  files_source(std::filesystem::path directory, std::string glob, list_options options)
      : m_directory(std::move(directory)), m_glob(std::move(glob)), m_options(std::move(options)) {}

  [[nodiscard]] sluice::detail::stage_info info() const {
    return {.name = m_options.name.empty() ? "files(" + (m_directory / m_glob).string() + ")" : m_options.name,
            .kind = "source",
            .parameters = std::string(m_options.recursive ? "recursive, " : "") + "sorted, listed on the blocking pool",
            .capacity = 0};
  }

  template <typename>
  task<void> run(sluice::detail::stage_io<sluice::detail::none, std::filesystem::path>& io) {
    auto list = [this] { return list_matching(m_directory, m_glob, m_options.recursive); };
    auto listing = io.rt().spawn_blocking(std::move(list));
    std::vector<std::filesystem::path> paths = co_await std::move(listing);
    const std::size_t chunk = m_options.chunk ? m_options.chunk : 1;
    for (std::size_t at = 0; at < paths.size() && !io.stopped(); at += chunk) {
      const std::size_t n = std::min(chunk, paths.size() - at);
      std::vector<std::filesystem::path> out(
          std::make_move_iterator(paths.begin() + static_cast<std::ptrdiff_t>(at)),
          std::make_move_iterator(paths.begin() + static_cast<std::ptrdiff_t>(at + n)));
      sluice::detail::stage_stats::bump(io.stats().items_in, n);
      auto sending = io.send(out, n);
      if (!co_await sending) co_return;
    }
  }

 private:
  std::filesystem::path m_directory;
  std::string m_glob;
  list_options m_options;
};

}  // namespace detail

/// The files in `directory` whose names match `glob` (see the file comment).
inline flow<std::filesystem::path> files(std::filesystem::path directory, std::string glob = "*",
                                         list_options options = {}) {
  const std::size_t chunk = options.chunk ? options.chunk : 1;
  return sluice::detail::make_source<std::filesystem::path>(
      detail::files_source(std::move(directory), std::move(glob), std::move(options)), chunk);
}

}  // namespace sluice::files
