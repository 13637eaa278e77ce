#include "sluice/github/etag_cache.hpp"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <system_error>
#include <thread>

#include <unistd.h>

namespace sluice::github {
namespace {

constexpr std::string_view k_magic = "sluice-etag-cache 1";

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 14695981039346656037ull;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

// Header lines must not contain newlines; URLs, ETags and Link values never do.
bool single_line(std::string_view s) { return s.find_first_of("\r\n") == std::string_view::npos; }

}  // namespace

etag_cache::etag_cache(std::filesystem::path directory) : m_directory(std::move(directory)) {}

std::filesystem::path etag_cache::path_for(std::string_view url) const {
  char name[32];
  std::snprintf(name, sizeof name, "%016llx.page", static_cast<unsigned long long>(fnv1a(url)));
  return m_directory / name;
}

std::optional<etag_cache::entry> etag_cache::load(std::string_view url) const {
  std::ifstream in(path_for(url), std::ios::binary);
  if (!in) return std::nullopt;
  std::string magic, stored_url;
  entry e;
  if (!std::getline(in, magic) || magic != k_magic) return std::nullopt;
  if (!std::getline(in, stored_url) || stored_url != url) return std::nullopt;
  if (!std::getline(in, e.etag) || e.etag.empty()) return std::nullopt;
  if (!std::getline(in, e.link)) return std::nullopt;
  e.body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (in.bad()) return std::nullopt;
  return e;
}

void etag_cache::store(std::string_view url, const entry& e) const {
  if (!single_line(url) || !single_line(e.etag) || !single_line(e.link) || e.etag.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(m_directory, ec);
  static std::atomic<std::uint64_t> sequence{0};
  const auto target = path_for(url);
  auto temp = target;
  temp += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(sequence.fetch_add(1));
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) return;
    out << k_magic << '\n' << url << '\n' << e.etag << '\n' << e.link << '\n';
    out.write(e.body.data(), static_cast<std::streamsize>(e.body.size()));
    if (!out.flush()) {
      out.close();
      std::filesystem::remove(temp, ec);
      return;
    }
  }
  std::filesystem::rename(temp, target, ec);
  if (ec) std::filesystem::remove(temp, ec);
}

}  // namespace sluice::github
