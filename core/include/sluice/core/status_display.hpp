// sluice::status_display: a few status lines on standard error (or any
// stream), redrawn in place on a terminal, one compact line at a time when
// the stream is a pipe or a file.
//
//   sluice::status_display display(std::cerr, sluice::stderr_is_terminal());
//   display.show({"fetch: 120/500 repositories", "rate limit: 4871 left"});
//   display.message("warning: ...");   // printed above the block, block redrawn
//   display.clear();                   // before the program writes its result
//
// On a terminal, show() moves the cursor up over the previous block (ANSI
// CSI n A), clears each line (CSI 2K) and writes the new one; lines are cut
// to `width` columns so none wraps (a wrapped line would break the cursor
// arithmetic). Elsewhere, show() writes the lines joined by " | " as one line.
// Every frame is built first and written with one write, so nothing written
// to the same stream by another thread through this display lands inside it.
// The display writes only to the stream it was given (standard error by
// convention) and never to standard output, so a program's results stay
// clean; messages printed while a block is shown must go through message().
//
// Safety: every line is passed through escape_for_display, so control
// characters from stage names, URLs or server answers never reach the
// terminal as commands. Thread-safety: all members may be called from any
// thread (one mutex).
#pragma once

#include <cstddef>
#include <mutex>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

/// True when standard error is a terminal (isatty(2)) and TERM is not "dumb".
[[nodiscard]] bool stderr_is_terminal() noexcept;

class status_display {
 public:
  /// `os` must outlive the display. `terminal`: redraw in place (see the file
  /// comment). `width`: columns a line may use on a terminal (0: the
  /// terminal's width from TIOCGWINSZ on standard error, else 100).
  status_display(std::ostream& os, bool terminal, std::size_t width = 0);
  ~status_display();
  status_display(const status_display&) = delete;
  status_display& operator=(const status_display&) = delete;

  /// Replaces the block with `lines` (escaped, see the file comment).
  void show(const std::vector<std::string>& lines);
  /// Prints `text` (escaped) as its own line, above the block on a terminal.
  void message(std::string_view text);
  /// Removes the block from a terminal (nothing to do elsewhere). Idempotent;
  /// the destructor calls it.
  void clear();
  /// Leaves the block on screen as the last word (a final summary) and
  /// forgets it: later output goes below it, clear() no longer erases it.
  void keep();

  [[nodiscard]] bool terminal() const noexcept { return m_terminal; }

 private:
  void erase_block(std::string& frame);
  void write(const std::string& frame);

  std::mutex m_mutex;
  std::ostream& m_os;
  bool m_terminal;
  std::size_t m_width;
  std::size_t m_shown = 0;  // lines of the block on screen now
  std::vector<std::string> m_lines;
};

}  // namespace sluice
