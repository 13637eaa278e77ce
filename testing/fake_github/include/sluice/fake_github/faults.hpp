#pragma once
// Switchable misbehaviour of the fake GitHub server.

#include <chrono>

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
};

}  // namespace sluice::fake_github
