#include "sluice/github/etag_cache.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <system_error>

#include "sluice/files/atomic_file.hpp"

namespace sluice::github {
namespace {

constexpr std::string_view k_magic = "sluice-etag-cache 2";

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 14695981039346656037ull;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

std::string checksum_line(std::string_view body) {
  char line[64];
  std::snprintf(line, sizeof line, "fnv1a64 %016llx %zu", static_cast<unsigned long long>(fnv1a(body)), body.size());
  return line;
}

// Header lines must not contain newlines; URLs, ETags and Link values never do.
bool single_line(std::string_view s) { return s.find_first_of("\r\n") == std::string_view::npos; }

// Reads a whole regular file without ever blocking on a FIFO or device and
// without following a symlink; nullopt for anything else or on error.
std::optional<std::string> read_regular_file(const std::filesystem::path& path, std::size_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct stat st {};
  std::optional<std::string> out;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && static_cast<std::uintmax_t>(st.st_size) <= max_bytes) {
    std::string data(static_cast<std::size_t>(st.st_size), '\0');
    std::size_t got = 0;
    while (got < data.size()) {
      const auto n = ::read(fd, data.data() + got, data.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    if (got == data.size()) out = std::move(data);
  }
  ::close(fd);
  return out;
}

// Splits off the next '\n'-terminated line of `rest`.
std::optional<std::string_view> next_line(std::string_view& rest) {
  const auto nl = rest.find('\n');
  if (nl == std::string_view::npos) return std::nullopt;
  const std::string_view line = rest.substr(0, nl);
  rest.remove_prefix(nl + 1);
  return line;
}

}  // namespace

etag_cache::etag_cache(std::filesystem::path directory) : m_directory(std::move(directory)) {}

std::optional<std::string> etag_cache::directory_problem(const std::filesystem::path& directory) {
  std::error_code ec;
  const auto status = std::filesystem::status(directory, ec);
  if (std::filesystem::exists(status)) {
    if (!std::filesystem::is_directory(status)) return "exists and is not a directory";
  } else {
    std::filesystem::create_directories(directory, ec);
    if (ec) return "cannot be created: " + ec.message();
    std::filesystem::permissions(directory, std::filesystem::perms::owner_all, ec);
  }
  // A probe file, not access(2): it also catches read-only mounts and
  // directories root cannot write to (/proc).
  auto probe = (directory / ".sluice-probe-XXXXXX").string();
  const int fd = ::mkostemp(probe.data(), O_CLOEXEC);
  if (fd < 0) return std::string("is not writable: ") + std::strerror(errno);
  ::close(fd);
  ::unlink(probe.c_str());
  return std::nullopt;
}

std::filesystem::path etag_cache::path_for(std::string_view url) const {
  char name[32];
  std::snprintf(name, sizeof name, "%016llx.page", static_cast<unsigned long long>(fnv1a(url)));
  return m_directory / name;
}

std::optional<etag_cache::entry> etag_cache::load(std::string_view url) const {
  const auto data = read_regular_file(path_for(url), max_entry_bytes);
  if (!data) return std::nullopt;
  std::string_view rest = *data;
  const auto magic = next_line(rest), stored_url = next_line(rest), etag = next_line(rest), link = next_line(rest),
             checksum = next_line(rest);
  if (!checksum || *magic != k_magic || *stored_url != url || etag->empty()) return std::nullopt;
  if (*checksum != checksum_line(rest)) return std::nullopt;  // corrupt or tampered: fetch again
  return entry{.etag = std::string(*etag), .link = std::string(*link), .body = std::string(rest)};
}

void etag_cache::store(std::string_view url, const entry& e) const {
  if (!single_line(url) || !single_line(e.etag) || !single_line(e.link) || e.etag.empty()) return;
  std::error_code ec;
  if (std::filesystem::create_directories(m_directory, ec))
    std::filesystem::permissions(m_directory, std::filesystem::perms::owner_all, ec);
  try {
    files::atomic_file out(path_for(url), {.mode = 0600});
    std::string header;
    for (std::string_view line : {k_magic, url, std::string_view(e.etag), std::string_view(e.link)}) {
      header.append(line);
      header.push_back('\n');
    }
    header += checksum_line(e.body);
    header.push_back('\n');
    out.write(header);
    out.write(e.body);
    out.commit();
  } catch (const std::exception&) {
    // The cache is an optimisation: a failed store is a future miss.
  }
}

}  // namespace sluice::github
