// Helpers for the files connector tests: temporary directories, files,
// gzip files, a child process without root's file permissions.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace files_test {

namespace fs = std::filesystem;

// Sanitizer builds run 5-15x slower: scale the big sizes down there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || defined(SLUICE_TSAN)
inline constexpr std::size_t scale = 8;
#else
inline constexpr std::size_t scale = 1;
#endif

class temp_dir {
 public:
  temp_dir() {
    std::string pattern = (fs::temp_directory_path() / "sluice-files-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp");
    m_path = pattern;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::permissions(m_path, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(m_path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  [[nodiscard]] const fs::path& path() const { return m_path; }
  [[nodiscard]] fs::path operator/(const std::string& name) const { return m_path / name; }

 private:
  fs::path m_path;
};

// An exception's message followed by those of the exceptions nested in it.
inline std::string nested_message(const std::exception& e) {
  std::string s = e.what();
  try {
    std::rethrow_if_nested(e);
  } catch (const std::exception& inner) {
    s += " | " + nested_message(inner);
  } catch (...) {
  }
  return s;
}

inline void write_file(const fs::path& p, std::string_view bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

inline std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// gzip-compresses `bytes` into one member (gzip format, not zlib).
inline std::string gzip(std::string_view bytes) {
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("deflateInit2");
  std::string out(deflateBound(&z, static_cast<uLong>(bytes.size())) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) throw std::runtime_error("deflate");
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// Lines of varying length (0 to 199 bytes), with their expected texts.
inline std::string numbered_lines(std::size_t n, std::vector<std::string>& expected, const char* newline = "\n") {
  std::string text;
  for (std::size_t i = 0; i < n; ++i) {
    std::string l = "line " + std::to_string(i) + " " + std::string(i * 37 % 190, static_cast<char>('a' + i % 26));
    if (i % 11 == 0) l.clear();
    text += l;
    text += newline;
    expected.push_back(std::move(l));
  }
  return text;
}

// Runs `body` in a child process that cannot bypass file permissions (root
// drops to "nobody"); the child exits 0 when body returns true.
#define SLUICE_EXPECT_AS_UNPRIVILEGED(body)                                \
  EXPECT_EXIT(                                                             \
      {                                                                    \
        if (::geteuid() == 0) {                                            \
          if (::setgid(65534) != 0 || ::setuid(65534) != 0) std::_Exit(3); \
        }                                                                  \
        std::_Exit((body)() ? 0 : 1);                                      \
      },                                                                   \
      ::testing::ExitedWithCode(0), "")

}  // namespace files_test
