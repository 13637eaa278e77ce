#include "sluice/core/status_display.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "sluice/core/display_text.hpp"
#include "sluice/core/json.hpp"

namespace sluice {
namespace {

std::size_t terminal_width() {
  winsize size{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  return 100;
}

// The first `columns` code points of `line` (escaped text is printable:
// one column per code point, except wide CJK glyphs, which may overrun a
// little; a final ellipsis marks the cut).
std::string fit(const std::string& line, std::size_t columns) {
  std::size_t i = 0, shown = 0;
  while (i < line.size() && shown + 1 < columns) {
    (void)next_code_point(line, i);
    ++shown;
  }
  if (i >= line.size()) return line;
  return line.substr(0, i) + "\xe2\x80\xa6";  // U+2026
}

}  // namespace

bool stderr_is_terminal() noexcept {
  if (::isatty(STDERR_FILENO) != 1) return false;
  const char* term = std::getenv("TERM");
  return term == nullptr || std::strcmp(term, "dumb") != 0;
}

status_display::status_display(std::ostream& os, bool terminal, std::size_t width)
    : m_os(os), m_terminal(terminal), m_width(width != 0 ? width : terminal_width()) {
  if (m_width < 20) m_width = 20;
}

status_display::~status_display() { clear(); }

void status_display::erase_block(std::string& frame) {
  if (m_shown == 0) return;
  // The cursor sits at the start of the line below the block: go up, clear to the end.
  frame += "\x1b[" + std::to_string(m_shown) + "A\r\x1b[J";
  m_shown = 0;
}

void status_display::show(const std::vector<std::string>& lines) {
  std::lock_guard lock(m_mutex);
  std::string frame;
  if (m_terminal) {
    erase_block(frame);
    for (const auto& line : lines) {
      frame += fit(escape_for_display(line), m_width);
      frame += '\n';
    }
    m_shown = lines.size();
  } else {
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if (i != 0) frame += " | ";
      frame += escape_for_display(lines[i]);
    }
    frame += '\n';
  }
  m_lines = lines;
  write(frame);
}

void status_display::message(std::string_view text) {
  std::lock_guard lock(m_mutex);
  std::string frame;
  erase_block(frame);
  frame += escape_for_display(text);
  frame += '\n';
  if (m_terminal) {
    for (const auto& line : m_lines) {
      frame += fit(escape_for_display(line), m_width);
      frame += '\n';
    }
    m_shown = m_lines.size();
  }
  write(frame);
}

void status_display::clear() {
  std::lock_guard lock(m_mutex);
  std::string frame;
  erase_block(frame);
  m_lines.clear();
  if (!frame.empty()) write(frame);
}

void status_display::keep() {
  std::lock_guard lock(m_mutex);
  m_shown = 0;
  m_lines.clear();
}

void status_display::write(const std::string& frame) {
  m_os.write(frame.data(), static_cast<std::streamsize>(frame.size()));
  m_os.flush();
}

}  // namespace sluice
