// Splits a stream of byte pieces into lines (views into the pieces). A line
// that spans pieces is copied into a small block of its own. Internal.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/files/line.hpp"

namespace sluice::files::detail {

class line_splitter {
 public:
  /// `name` is the file's, for the error a too-long line raises.
  line_splitter(bool strip_cr, std::size_t max_line_bytes, std::string name)
      : m_strip_cr(strip_cr), m_max_line(max_line_bytes), m_name(std::move(name)) {}

  /// Appends the lines that end in `bytes` (a view into `owner`) to `out`;
  /// keeps the unterminated rest for the next piece. Throws
  /// std::length_error when a line grows past max_line_bytes.
  void feed(const shared_bytes& owner, std::string_view bytes, std::vector<line>& out);
  /// End of input: the last line, if the input did not end with a newline.
  void finish(std::vector<line>& out);
  /// Lines produced so far.
  [[nodiscard]] std::uint64_t lines() const noexcept { return m_lines; }

  /// Splits `run` (a piece of whole lines that whole_lines_cutter made: each
  /// line ends in "\n", except a last one at the end of the input) into its
  /// lines, views into the same block, appended to `out`. Allocates nothing
  /// but `out`'s growth; counts the block's references once.
  static void split_run(const line& run, bool strip_cr, std::vector<line>& out);

 private:
  // Appends every line of [p, end) that ends in "\n" to `out` (views into
  // `owner`) and returns where the unterminated rest starts.
  static const char* append_terminated_lines(const shared_bytes& owner, const char* p, const char* end, bool strip_cr,
                                             std::vector<line>& out);
  void emit_carry(std::vector<line>& out);
  void check_carry() const;

  bool m_strip_cr;
  std::size_t m_max_line;
  std::string m_name;
  std::string m_carry;  // an unterminated line from earlier pieces
  bool m_has_carry = false;
  std::uint64_t m_lines = 0;
  std::uint64_t m_bytes = 0;  // fed so far, with m_lines: the average line length
};

/// Cuts a stream of byte pieces into runs of whole lines, for splitting
/// elsewhere (line_splitter::split_run, in the lanes after a source: see
/// lines.hpp). Per piece it looks for the last newline only: the bytes
/// before it go as one run, a view into the piece; the unterminated rest is
/// carried into the next piece, and a line spanning pieces goes as a run of
/// its own, copied into a small block. A line that grows past
/// max_line_bytes while carried throws, as line_splitter does.
class whole_lines_cutter {
 public:
  whole_lines_cutter(std::size_t max_line_bytes, std::string name)
      : m_max_line(max_line_bytes), m_name(std::move(name)) {}

  /// Appends the runs that end in `bytes` (a view into `owner`) to `out`.
  void feed(const shared_bytes& owner, std::string_view bytes, std::vector<line>& out);
  /// End of input: the last line, if the input did not end with a newline.
  void finish(std::vector<line>& out);

 private:
  void emit_carry(std::vector<line>& out);
  void check_carry() const;

  std::size_t m_max_line;
  std::string m_name;
  std::string m_carry;             // an unterminated line from earlier pieces
  std::uint64_t m_offset = 0;      // bytes fed so far
  std::uint64_t m_carry_from = 0;  // where the carried line starts in the input
};

}  // namespace sluice::files::detail
