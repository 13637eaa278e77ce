// sluice::terminal_progress: the ready-made on_progress callback, a live
// view of every stage on standard error.
//
//   sluice::run_options options;
//   options.on_progress(250ms, sluice::terminal_progress({.title = "import"}));
//
// On a terminal it draws one header line and one line per stage, redrawn
// in place every interval; the final snapshot stays on screen. When standard
// error is not a terminal (a log file, CI) it writes one compact line per
// interval instead. It never writes to standard output. Stage names are
// escaped (see status_display). A stage line reads
//
//   #1 async_map   fetch   in 1.2k  out 1.18k  q 12/64  fly 8  950/s  busy 72%  retries 3  failed 1
//
// (q: items waiting in its input / capacity; fly: received, not yet done;
// busy: share of the last interval spent working; counters that are zero are
// left out).
#pragma once

#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/core/status_display.hpp"
#include "sluice/stages/progress.hpp"

namespace sluice {

struct terminal_progress_options {
  /// Shown first on the header line.
  std::string title = "pipeline";
  /// Where to draw; null: std::cerr. Must outlive the run.
  std::ostream* os = nullptr;
  /// Redraw in place; default: stderr_is_terminal().
  std::optional<bool> terminal{};
};

/// The lines terminal_progress draws for `snapshot` (header first). Pure.
[[nodiscard]] std::vector<std::string> progress_lines(const progress_snapshot& snapshot, std::string_view title);

/// `n` with a k/M/G suffix past 10 000 ("950", "12.3k", "4.56M").
[[nodiscard]] std::string compact_count(double n);

/// A callback for run_options::on_progress drawing through `display`,
/// which must outlive the run (for programs that print other messages
/// through the same display).
[[nodiscard]] progress_callback terminal_progress(std::shared_ptr<status_display> display, std::string title);

/// The same, with a display of its own on standard error (or options.os).
[[nodiscard]] progress_callback terminal_progress(terminal_progress_options options = {});

}  // namespace sluice
