#pragma once
// Switchable misbehaviour of the fake GitHub server.

#include <chrono>
#include <string>

namespace sluice::fake_github {

/// Faults the server injects. Set server-wide (`server_options::faults`,
/// `server::set_faults`) or per repository (`server::set_repo_faults`, which
/// replaces the server-wide set for that repository's requests).
///
/// "Rates" are probabilities drawn from the server's seeded generator;
/// "counts" are consumed: the next N eligible requests get the fault, then it
/// stops. Faults apply in this order: latency, secondary limit, 502, then the
/// normal answer, possibly with a malformed body.
struct fault_options {
  /// Added to every request (slept inside the handler, so it holds a server
  /// thread and counts towards concurrency like a slow upstream would).
  std::chrono::milliseconds latency{0};

  /// Fraction of requests answered 502 Bad Gateway (an HTML body, as GitHub's
  /// front end sends).
  double error_502_rate = 0.0;
  /// The next N requests answer 502.
  int error_502_count = 0;

  /// Fraction of list pages (200 answers of /issues and /pulls) whose JSON body
  /// is broken: alternately truncated mid-way and syntactically invalid. The
  /// HTTP framing stays correct (Content-Length matches), only the JSON is bad.
  double malformed_rate = 0.0;
  /// The next N list pages are malformed.
  int malformed_count = 0;

  /// > 0: a request arriving while more than this many are in flight gets a
  /// secondary rate limit answer ("You have exceeded a secondary rate limit").
  int secondary_limit_concurrency = 0;
  /// The next N requests get a secondary rate limit answer regardless.
  int secondary_limit_count = 0;
  /// `retry-after` seconds sent with secondary limit answers.
  int secondary_retry_after_s = 1;
  /// Fraction of secondary limit answers that omit `retry-after` (GitHub
  /// sometimes does; clients must then wait at least a minute).
  double secondary_omit_retry_after_rate = 0.0;
  /// Secondary limit answers alternate 403 and 429 when true, else always 403.
  bool secondary_alternate_429 = true;

  // ---- Hostile modes (issue 9): a server that lies or attacks. ----

  /// Non-empty: secondary limit answers send this `retry-after` value
  /// verbatim ("99999999999999999999", "-1", an HTTP-date ...).
  std::string retry_after_value{};
  /// Non-empty: every answer sends this `x-ratelimit-reset` verbatim (with
  /// server::exhaust_rate_limit: a primary limit whose reset is absurd).
  std::string ratelimit_reset_value{};
  /// > 0: page-numbered list pages announce rel="last" as this page (and
  /// rel="next" up to it), however few items exist; pages past the data are `[]`.
  long long fake_last_page = 0;
  /// Appended to every URL in a Link header (e.g. "\x01" or " x"): control
  /// characters and spaces in server-chosen URLs.
  std::string link_suffix{};
  /// != 0: list endpoints ignore the repository's data and serve synthetic
  /// one-item pages `[synthetic_item]`, page-numbered: > 0 serves that many
  /// pages with rel="next" and rel="last"; < 0 serves an endless rel="next"
  /// chain without rel="last". Answers are small, uncached and unlimited by
  /// the primary budget, for memory and page-cap tests.
  long long synthetic_pages = 0;
  /// The item of synthetic pages (raw JSON, e.g. with a huge "comments").
  std::string synthetic_item = R"({"number":1,"state":"open","user":{"login":"a"},"labels":[],"comments":1})";
};

}  // namespace sluice::fake_github
