#include "sluice/files/list_files.hpp"

#include <fnmatch.h>
#include <algorithm>
#include <cerrno>
#include <system_error>

namespace sluice::files {
namespace {

[[noreturn]] void fail(const std::filesystem::path& where, const char* what, std::error_code ec) {
  throw std::system_error(ec, "sluice::files: " + where.string() + ": " + what);
}

bool matches(const std::filesystem::path& p, const std::string& glob) {
  return ::fnmatch(glob.c_str(), p.filename().c_str(), FNM_PERIOD) == 0;
}

template <typename Iterator>
void collect(Iterator it, const std::filesystem::path& directory, const std::string& glob,
             std::vector<std::filesystem::path>& out) {
  std::error_code ec;
  for (; it != Iterator(); it.increment(ec)) {
    if (ec) fail(directory, "cannot list", ec);
    const auto& entry = *it;
    std::error_code type_ec;
    if (!entry.is_regular_file(type_ec)) continue;  // directories, sockets, dangling links
    if (matches(entry.path(), glob)) out.push_back(entry.path());
  }
  if (ec) fail(directory, "cannot list", ec);
}

}  // namespace

std::vector<std::filesystem::path> list_matching(const std::filesystem::path& directory, const std::string& glob,
                                                 bool recursive) {
  std::error_code ec;
  const auto status = std::filesystem::status(directory, ec);
  if (ec) fail(directory, "cannot list", ec);
  if (!std::filesystem::is_directory(status))
    fail(directory, "is not a directory", std::make_error_code(std::errc::not_a_directory));
  std::vector<std::filesystem::path> out;
  if (recursive) {
    std::filesystem::recursive_directory_iterator it(directory, ec);
    if (ec) fail(directory, "cannot list", ec);
    collect(std::move(it), directory, glob, out);
  } else {
    std::filesystem::directory_iterator it(directory, ec);
    if (ec) fail(directory, "cannot list", ec);
    collect(std::move(it), directory, glob, out);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace sluice::files
