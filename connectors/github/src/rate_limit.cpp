#include "sluice/github/rate_limit.hpp"

#include <algorithm>
#include <charconv>
#include <ctime>

namespace sluice::github {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::optional<std::int64_t> parse_header_integer(std::string_view value) noexcept {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  std::int64_t out = 0;
  const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
  if (ec != std::errc{} || ptr == value.data()) return std::nullopt;
  return out;
}

primary_limit_wait wait_for_primary_limit(std::optional<std::int64_t> reset_epoch,
                                          std::chrono::system_clock::time_point now, milliseconds max_wait,
                                          milliseconds without_reset) noexcept {
  if (!reset_epoch) return {without_reset, without_reset > max_wait};
  const std::int64_t now_s = std::chrono::duration_cast<seconds>(now.time_since_epoch()).count();
  const std::int64_t reset = *reset_epoch;
  if (reset < now_s) return {seconds(1), seconds(1) > max_wait};  // already past: one second, never a burst
  // reset >= now_s, so the difference cannot overflow (both fit in int64 and
  // now_s is positive on any real clock; a clock before 1970 is saturated).
  const std::int64_t ahead = now_s >= 0 ? reset - now_s : std::max<std::int64_t>(reset, 0);
  const std::int64_t max_s = std::chrono::duration_cast<seconds>(max_wait).count();
  if (ahead >= max_s) return {max_wait, true};
  // ahead < max_s, so this is a small number of milliseconds.
  const auto reset_at = std::chrono::system_clock::time_point(seconds(now_s + ahead)) + seconds(1);
  const auto wait = std::chrono::duration_cast<milliseconds>(reset_at - now);
  return {std::max<milliseconds>(wait, seconds(1)), false};
}

std::string utc_datetime_text(std::int64_t epoch_seconds) {
  const auto t = static_cast<std::time_t>(epoch_seconds);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr || tm.tm_year > 9999 - 1900 || tm.tm_year < 0)
    return "epoch second " + std::to_string(epoch_seconds) + " (not a representable date)";
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace sluice::github
