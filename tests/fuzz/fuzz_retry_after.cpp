// Property: parse_retry_after (delay-seconds or an HTTP-date, from the
// network) has no undefined behaviour for any value and never yields a
// negative wait. The fetcher's own x-ratelimit-reset arithmetic lives in an
// anonymous namespace of connectors/github/src/fetcher.cpp and cannot be
// reached from here (see the report of the fuzzing work).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.hpp"
#include "sluice/http/retry.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view value(reinterpret_cast<const char*>(data), size);
  // A fixed clock (2026-01-01T00:00:00Z) keeps every run reproducible.
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'767'225'600));
  if (const auto wait = sluice::http::parse_retry_after(value, now))
    SLUICE_FUZZ_CHECK(wait->count() >= 0, "a Retry-After wait is never negative");
  return 0;
}
