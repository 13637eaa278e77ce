// sluice::escape_for_display: text from users or the network made safe to
// print on a terminal, in a log line or in a CSV cell. Used for every message
// that quotes input (usage errors, notices), by the csv and table writers and
// by the progress renderer (stage names). Pure function; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace sluice {

/// `text` safe to echo to a terminal or log: C0 controls and DEL are written
/// as \xNN, C1 controls as \u00NN, a backslash as "\\", and bytes that are
/// not valid UTF-8 become U+FFFD. Printable UTF-8 is kept.
[[nodiscard]] std::string escape_for_display(std::string_view text);

}  // namespace sluice
