#include "sluice/github/fetcher.hpp"

#include <sluice/stages/async_map.hpp>
#include <sluice/stages/run.hpp>
#include <sluice/stages/source.hpp>
#include <sluice/stages/to_vector.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <deque>
#include <functional>
#include <limits>
#include <mutex>
#include <unordered_set>

#include "sluice/core/retry.hpp"
#include "sluice/core/sleep.hpp"
#include "sluice/core/trace.hpp"
#include "sluice/core/wait_note.hpp"
#include "sluice/core/when_all.hpp"
#include "sluice/github/detail/adaptive_limiter.hpp"
#include "sluice/github/etag_cache.hpp"
#include "sluice/github/link_header.hpp"
#include "sluice/github/page_parser.hpp"
#include "sluice/github/rate_limit.hpp"
#include "sluice/github/repo_name.hpp"
#include "sluice/http/retry.hpp"

namespace sluice::github {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using steady = std::chrono::steady_clock;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// "scheme://host[:port]" of an absolute URL, lowercased, default ports dropped.
std::string origin_of(std::string_view url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return {};
  auto end = url.find_first_of("/?#", scheme_end + 3);
  std::string origin = lower(url.substr(0, end == std::string_view::npos ? url.size() : end));
  if (const auto at = origin.find('@'); at != std::string::npos) origin.erase(scheme_end + 3, at - scheme_end - 2);
  if (origin.starts_with("https://") && origin.ends_with(":443")) origin.resize(origin.size() - 4);
  if (origin.starts_with("http://") && origin.ends_with(":80")) origin.resize(origin.size() - 3);
  return origin;
}

// A Location header resolved against the URL that answered with it.
std::string resolve_location(std::string_view base, std::string_view location) {
  if (location.find("://") != std::string_view::npos) return std::string(location);
  const auto scheme_end = base.find("://");
  if (location.starts_with("//")) return std::string(base.substr(0, scheme_end + 1)) + std::string(location);
  const auto path_start = base.find('/', scheme_end + 3);
  const std::string_view root = base.substr(0, path_start);
  if (location.starts_with("/")) return std::string(root) + std::string(location);
  std::string_view path = base.substr(0, base.find_first_of("?#"));
  return std::string(path.substr(0, path.rfind('/') + 1)) + std::string(location);
}

std::optional<std::int64_t> header_int(const http::headers& h, std::string_view name) {
  auto v = h.get(name);
  return v ? parse_header_integer(*v) : std::nullopt;
}

bool mentions_secondary_limit(std::string_view body) {
  const std::string text = lower(body.substr(0, 4096));
  return text.find("secondary rate limit") != std::string::npos || text.find("abuse") != std::string::npos;
}

std::string seconds_text(milliseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

void default_notice(std::string_view text) {
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  std::fprintf(stderr, "sluice-github: %.*s\n", static_cast<int>(text.size()), text.data());
}

// One page as received: its (final) URL, body and Link header.
struct fetched_page {
  std::string url;
  std::string body;
  std::string link;
  std::string etag;
  bool from_cache = false;
};

// Per-repository counters for repo_report's diagnostics.
struct repo_counters {
  std::atomic<std::int64_t> requests{0};
  std::atomic<std::int64_t> json_bytes{0};
};

template <typename Record>
using page_parser_fn = result<std::vector<Record>> (*)(std::string&);

result<std::vector<issue_record>> parse_issues(std::string& body) { return parse_issue_page(body); }
result<std::vector<pull_record>> parse_pulls(std::string& body) { return parse_pull_page(body); }

// What one answer means for the page being fetched: get_page classifies
// each outcome into one of these and its short loop carries it out.
enum class page_action {
  success,          // 2xx: the page
  not_modified,     // 304: the cached page
  redirect,         // 301/302/303/307/308: ask the Location instead
  wait_for_reset,   // a primary or secondary rate limit: pause every request, then retry
  back_off,         // 5xx, transport error, timeout: retry after the policy's backoff
  fail_repository,  // an answer about this repository (404, 410 ...) or an unusable response
  fail_run,         // 401: the credentials are rejected, nothing else can succeed
};

struct classified {
  page_action action = page_action::fail_repository;
  error failure{};                               // what to report if this ends the page
  std::optional<milliseconds> requested_wait{};  // Retry-After, when the server sent one
  bool primary_limit = false;                    // wait_for_reset: the primary budget, else secondary
};

// Per-page counts that bound the loop in get_page.
struct page_tries {
  std::size_t failures = 0;   // back_off and unexpected 304s (the retry policy's attempts)
  std::size_t secondary = 0;  // secondary rate-limit answers
  std::size_t primary = 0;    // primary rate-limit waits
  int redirects = 0;
};

// A URL as it may appear in a message: no userinfo, control bytes shown as \xNN.
std::string shown_url(std::string_view url) {
  std::string out;
  const auto scheme_end = url.find("://");
  if (scheme_end != std::string_view::npos) {
    const auto authority_end = url.find_first_of("/?#", scheme_end + 3);
    const auto at = url.substr(0, authority_end).rfind('@');
    if (at != std::string_view::npos && at > scheme_end) {
      out = std::string(url.substr(0, scheme_end + 3));
      url.remove_prefix(at + 1);
    }
  }
  for (unsigned char c : url) {
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// "host[:port]" of a URL, for notices.
std::string host_of(std::string_view url) {
  const std::string origin = origin_of(url);
  const auto scheme_end = origin.find("://");
  return scheme_end == std::string::npos ? origin : origin.substr(scheme_end + 3);
}

std::int64_t epoch_now() {
  return std::chrono::duration_cast<seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// When `wait` from now ends, as a UTC date-time (saturated: never overflows).
std::string end_of_wait_text(milliseconds wait) {
  const std::int64_t secs = std::chrono::duration_cast<seconds>(wait).count();
  const std::int64_t now = epoch_now();
  const std::int64_t end =
      secs > std::numeric_limits<std::int64_t>::max() - now ? std::numeric_limits<std::int64_t>::max() : now + secs;
  return utc_datetime_text(end);
}

// While a request is outstanding, says every `every` that it still is, so a
// silent or trickling server is visible (also when stderr is not a TTY).
// The reminder runs on the reactor thread; the destructor stops it.
class stall_watch {
 public:
  stall_watch(reactor& io, milliseconds every, const std::function<void(std::string_view)>& notice, std::string what)
      : m_shared(std::make_shared<shared>()) {
    if (every.count() <= 0) return;
    m_shared->io = &io;
    m_shared->every = every;
    m_shared->notice = &notice;
    m_shared->what = std::move(what);
    m_shared->start = steady::now();
    std::lock_guard lock(m_shared->mutex);
    arm(m_shared);
  }
  ~stall_watch() {
    if (!m_shared->io) return;
    std::lock_guard lock(m_shared->mutex);
    m_shared->done = true;
    m_shared->io->cancel_timer(m_shared->timer);
  }
  stall_watch(const stall_watch&) = delete;
  stall_watch& operator=(const stall_watch&) = delete;

 private:
  struct shared {
    std::mutex mutex;
    bool done = false;
    reactor* io = nullptr;
    reactor::timer_id timer = 0;
    milliseconds every{0};
    const std::function<void(std::string_view)>* notice = nullptr;
    std::string what;
    steady::time_point start;
  };
  static void arm(const std::shared_ptr<shared>& s) {  // under s->mutex
    s->timer = s->io->add_timer(steady::now() + s->every, [s] {
      std::lock_guard lock(s->mutex);
      if (s->done) return;
      const auto waited = std::chrono::duration_cast<milliseconds>(steady::now() - s->start);
      (*s->notice)("still waiting after " + seconds_text(waited) + ": " + s->what);
      arm(s);
    });
  }
  std::shared_ptr<shared> m_shared;
};

// The statistics sum `comments` over issues in 64 bits: a total that does
// not fit is an error for the repository, never a wrapped number.
std::optional<error> comments_overflow(const std::vector<issue_record>& issues) {
  std::int64_t total = 0;
  for (const issue_record& item : issues) {
    if (item.is_pull_request) continue;
    if (__builtin_add_overflow(total, item.comments, &total))
      return error{0,
                   "the issues' comment counts add up to more than a 64-bit integer holds: refusing to report a "
                   "wrapped total"};
  }
  return std::nullopt;
}

struct stop_forwarder {
  std::stop_source* target;
  void operator()() const noexcept { target->request_stop(); }
};

error cancelled_error() { return error{0, "cancelled"}; }

}  // namespace

class fetcher::state {
 public:
  state(runtime& rt, http::client& http, fetch_options options)
      : m_rt(rt), m_http(http), m_opt(std::move(options)), m_limiter(rt, m_opt.concurrency) {
    m_base = m_opt.api_url;
    while (!m_base.empty() && m_base.back() == '/') m_base.pop_back();
    m_api_origin = origin_of(m_base);
    if (m_opt.cache_dir) m_cache.emplace(*m_opt.cache_dir);
    if (!m_opt.notice) m_opt.notice = default_notice;
    m_opt.per_page = std::clamp(m_opt.per_page, 1, 100);
    m_opt.max_attempts = std::max<std::size_t>(1, m_opt.max_attempts);
    m_opt.max_pages = std::max<std::size_t>(1, m_opt.max_pages);
    m_policy.max_attempts = m_opt.max_attempts;
    m_policy.base_delay = m_opt.backoff_base;
    m_policy.max_delay = m_opt.backoff_max;
    m_policy.max_retry_after = m_opt.max_wait;
    // Secondary limits without retry-after: the floor, doubling per repeat, no jitter.
    m_secondary_policy.base_delay = m_opt.secondary_limit_floor;
    m_secondary_policy.max_delay = std::max(m_opt.backoff_max, m_opt.secondary_limit_floor * 8);
    m_secondary_policy.jitter = 0;
    m_forward_stop.emplace(m_opt.stop, stop_forwarder{&m_stop});
  }

  task<repo_report> fetch_repo(std::string full_name);
  task<std::vector<repo_report>> fetch_all(std::vector<std::string> names);

  bool unauthorized() const noexcept { return m_unauthorized.load(std::memory_order_acquire); }

  fetch_stats stats() const {
    fetch_stats s;
    s.requests = m_requests.load();
    s.not_modified = m_not_modified.load();
    s.retries = m_retries.load();
    s.malformed_pages = m_malformed.load();
    s.primary_waits = m_primary_waits.load();
    s.secondary_limits = m_secondary.load();
    s.redirects = m_redirects.load();
    s.pages = m_pages.load();
    s.json_bytes = m_json_bytes.load();
    s.parse_nanoseconds = m_parse_ns.load();
    s.concurrency_limit = m_limiter.limit();
    return s;
  }

 private:
  task<result<fetched_page>> get_page(std::string url, bool conditional, repo_counters& counters);
  template <typename Record>
  task<result<std::vector<Record>>> page_records(std::string url, std::optional<fetched_page> page,
                                                 page_parser_fn<Record> parse, repo_counters& counters);
  template <typename Record>
  task<result<std::vector<Record>>> list_endpoint(std::string url, page_parser_fn<Record> parse,
                                                  repo_counters& counters);
  template <typename Record>
  task<std::optional<error>> fan_out_pages(const std::string& last_url, int first_page, int last_page,
                                           page_parser_fn<Record> parse, repo_counters& counters,
                                           std::vector<Record>& records);

  http::request make_request(const std::string& url, const std::optional<etag_cache::entry>& cached) const {
    http::request req;
    req.url = url;
    req.headers.add("Accept", "application/vnd.github+json");
    req.headers.add("X-GitHub-Api-Version", "2022-11-28");
    req.headers.add("User-Agent", m_opt.user_agent);
    // The token goes to the API's own origin only: never to a redirect
    // target or a Link on another host.
    if (m_opt.token && origin_of(url) == m_api_origin)
      req.headers.add("Authorization", "Bearer " + std::string(m_opt.token->reveal()));
    if (cached) req.headers.add("If-None-Match", cached->etag);
    if (m_opt.request_timeout.count() > 0) req.timeout = m_opt.request_timeout;
    req.inactivity_timeout = std::chrono::duration_cast<milliseconds>(m_opt.inactivity_timeout);
    req.max_body_bytes = m_opt.max_body_bytes;
    return req;
  }

  // Why no further request may start: a 401 stopped the run, or the run was cancelled.
  std::optional<error> stop_reason() const {
    if (m_unauthorized.load(std::memory_order_acquire)) return stopped_error();
    if (m_opt.stop.stop_requested()) return cancelled_error();
    return std::nullopt;
  }

  // Waits while a rate limit pauses every request; false when stopped
  // meanwhile. Wakes at least once a second to report progress, so a
  // progress display counts the pause down.
  task<bool> wait_gate() {
    std::optional<steady::time_point> paused_at;  // set once this request had to wait
    std::optional<wait_note> note;                // what a stall dump shows meanwhile
    for (;;) {
      const steady::time_point until = pause_end();
      const auto now = steady::now();
      if (until <= now) break;
      if (!paused_at) {
        paused_at = now;
        if (waits_watched()) note.emplace(wait_kind::rate_limit, "GitHub API rate-limit pause", until);
      }
      auto nap = sleep_until(std::min(until, now + seconds(1)), m_stop.get_token());
      if (!co_await nap) {
        trace_pause(paused_at);
        co_return false;
      }
      report_progress();
    }
    trace_pause(paused_at);
    co_return true;
  }

  // A rate-limit pause this request sat out, as an async span when tracing.
  static void trace_pause(std::optional<steady::time_point> paused_at) noexcept {
    auto* tracer = trace_active();
    if (!tracer || !paused_at) return;
    try {
      tracer->async_span("rate_limit", "GitHub rate-limit pause", *paused_at, steady::now());
    } catch (...) {
      // Out of memory while tracing: the span is lost.
    }
  }

  steady::time_point pause_end() const {
    std::lock_guard lock(m_gate_mutex);
    return m_pause_until;
  }

  void pause_all_until(steady::time_point until) {
    std::lock_guard lock(m_gate_mutex);
    m_pause_until = std::max(m_pause_until, until);
  }

  classified classify(const http::result<http::response>& outcome, const std::string& url) const;
  std::optional<error> wait_for_primary_limit(const http::response& resp, page_tries& tries, const std::string& url);
  std::optional<error> wait_for_secondary_limit(const classified& c, long status, page_tries& tries,
                                                const std::string& url);
  result<std::string> redirect_target(const std::string& current, const http::response& resp, page_tries& tries);

  std::string answer_message(const http::response& resp, const std::string& url) const {
    std::string text = error_message(resp.body).value_or("HTTP " + std::to_string(resp.status));
    if (m_opt.token) text = m_opt.token->redact(std::move(text));
    return text + " (GET " + shown_url(url) + ")";
  }

  // The last stated rate limit, for progress displays (relaxed: a display value).
  void note_rate_limit(const http::headers& headers) {
    auto left = header_int(headers, "x-ratelimit-remaining");
    if (left && *left >= 0) m_rate_remaining.store(*left, std::memory_order_relaxed);
    auto limit = header_int(headers, "x-ratelimit-limit");
    if (limit && *limit >= 0) m_rate_limit.store(*limit, std::memory_order_relaxed);
  }

  void report_progress() {
    if (!m_opt.on_progress) return;
    fetch_progress p;
    p.rate_limit_remaining = m_rate_remaining.load(std::memory_order_relaxed);
    p.rate_limit = m_rate_limit.load(std::memory_order_relaxed);
    p.repos_total = m_repos_total.load();
    p.repos_done = m_repos_done.load();
    p.requests = m_requests.load();
    p.pages = m_pages.load();
    p.json_bytes = m_json_bytes.load();
    const auto left = pause_end() - steady::now();
    if (left > steady::duration::zero()) {
      p.wait_remaining = std::chrono::ceil<seconds>(left);
      p.wait_until = end_of_wait_text(std::chrono::ceil<milliseconds>(left));
    }
    m_opt.on_progress(p);
  }

  error stopped_error() const {
    return error{401, "not fetched: the API rejected the credentials (401 Bad credentials), so the run stopped"};
  }

  runtime& m_rt;
  http::client& m_http;
  fetch_options m_opt;
  std::string m_base;
  std::string m_api_origin;
  std::optional<etag_cache> m_cache;
  detail::adaptive_limiter m_limiter;
  sluice::retry_policy<http::result<http::response>> m_policy{};            // back_off and malformed JSON
  sluice::retry_policy<http::result<http::response>> m_secondary_policy{};  // secondary limits without retry-after
  std::stop_source m_stop;  // requested on a 401 or when fetch_options::stop is
  std::atomic<bool> m_unauthorized{false};

  mutable std::mutex m_gate_mutex;
  steady::time_point m_pause_until{};
  std::int64_t m_announced_reset = 0;

  std::atomic<std::int64_t> m_rate_remaining{-1}, m_rate_limit{-1};
  std::atomic<std::uint64_t> m_requests{0}, m_not_modified{0}, m_retries{0}, m_malformed{0}, m_primary_waits{0},
      m_secondary{0}, m_redirects{0}, m_pages{0}, m_json_bytes{0}, m_parse_ns{0};
  std::atomic<std::size_t> m_repos_total{0}, m_repos_done{0};
  std::optional<std::stop_callback<stop_forwarder>> m_forward_stop;  // last: unregistered first
};

classified fetcher::state::classify(const http::result<http::response>& outcome, const std::string& url) const {
  if (!outcome) {
    const http::error& e = outcome.error();
    std::string text = shown_url(e.url) + ": " + e.message;
    switch (e.what) {
      case http::error::kind::transport:
      case http::error::kind::timeout:
        return {page_action::back_off, error{0, std::move(text)}};
      case http::error::kind::cancelled:
        return {page_action::fail_repository, cancelled_error()};
      case http::error::kind::too_large:
        return {page_action::fail_repository,
                error{0, std::move(text) + " (raise max_body_bytes if this page is genuine)"}};
      case http::error::kind::invalid:
        return {page_action::fail_repository, error{0, std::move(text)}};
    }
    return {page_action::fail_repository, error{0, std::move(text)}};
  }
  const http::response& resp = *outcome;
  const long status = resp.status;
  if (status >= 200 && status < 300) return {page_action::success};
  if (status == 304)
    return {page_action::not_modified, error{304, "unexpected 304 Not Modified (GET " + shown_url(url) + ")"}};
  if (status == 301 || status == 302 || status == 303 || status == 307 || status == 308)
    return {page_action::redirect, error{status, "redirect (GET " + shown_url(url) + ")"}};
  if (status == 401) return {page_action::fail_run, error{401, answer_message(resp, url)}};
  std::optional<milliseconds> retry_after;
  const auto retry_after_header = resp.headers.get("retry-after");
  if (retry_after_header) retry_after = http::parse_retry_after(*retry_after_header);
  if (status == 403 || status == 429) {
    const bool says_secondary = mentions_secondary_limit(resp.body);
    const bool primary =
        header_int(resp.headers, "x-ratelimit-remaining") == 0 && !retry_after_header && !says_secondary;
    if (primary || retry_after_header || status == 429 || says_secondary)
      return {page_action::wait_for_reset, error{status, answer_message(resp, url)}, retry_after, primary};
    return {page_action::fail_repository, error{status, answer_message(resp, url)}};
  }
  if (status >= 500)
    return {page_action::back_off, error{status, "HTTP " + std::to_string(status) + " (GET " + shown_url(url) + ")"},
            retry_after};
  // 404 missing or private, 409 empty, 410 gone/issues disabled, 422, 451
  // blocked, other 4xx: an answer about this repository, not worth a retry.
  return {page_action::fail_repository, error{status, answer_message(resp, url)}};
}

// Primary limit spent: every request waits until reset + 1 s (retrying at the
// reset second itself is limited again), unless that is beyond max_wait.
std::optional<error> fetcher::state::wait_for_primary_limit(const http::response& resp, page_tries& tries,
                                                            const std::string& url) {
  const long status = resp.status;
  if (++tries.primary > m_opt.max_primary_waits) return error{status, answer_message(resp, url)};
  const auto reset = header_int(resp.headers, "x-ratelimit-reset");
  const auto [wait, beyond] = github::wait_for_primary_limit(reset, std::chrono::system_clock::now(), m_opt.max_wait,
                                                             m_opt.secondary_limit_floor);
  if (beyond && reset)
    return error{status, "GitHub API rate limit exhausted and it resets at " + utc_datetime_text(*reset) +
                             ", more than max_wait (" + std::to_string(m_opt.max_wait.count()) +
                             " s) from now: not waiting (GET " + shown_url(url) + ")"};
  if (beyond)
    return error{status, "GitHub API rate limit exhausted without x-ratelimit-reset; the wait of " +
                             seconds_text(wait) + " is more than max_wait: not waiting (GET " + shown_url(url) + ")"};
  pause_all_until(steady::now() + wait);
  bool announce = false;
  {
    std::lock_guard lock(m_gate_mutex);
    const std::int64_t key = reset.value_or(-1);
    if (key != m_announced_reset) {
      m_announced_reset = key;
      announce = true;
    }
  }
  if (announce) {
    ++m_primary_waits;
    m_opt.notice("GitHub API rate limit exhausted; waiting " + seconds_text(wait) + " until " + end_of_wait_text(wait) +
                 (reset ? " (its reset plus 1 s)" : std::string()) + ", then continuing");
  }
  return std::nullopt;
}

// Secondary limit: every request pauses for retry-after (never less than the
// backoff's floor, so "retry-after: 0" is no burst), or without one at least
// the floor, doubling per repeat; the concurrency limit is halved.
std::optional<error> fetcher::state::wait_for_secondary_limit(const classified& c, long status, page_tries& tries,
                                                              const std::string& url) {
  ++m_secondary;
  if (++tries.secondary > m_opt.max_secondary_retries) return c.failure;
  const milliseconds wait = c.requested_wait ? std::max(*c.requested_wait, m_policy.backoff(1, 0.0))
                                             : m_secondary_policy.backoff(tries.secondary, 0.5);
  if (wait > m_opt.max_wait)
    return error{status, "secondary rate limit: the server asks to wait " + seconds_text(wait) + ", until " +
                             end_of_wait_text(wait) + ", more than max_wait (" +
                             std::to_string(m_opt.max_wait.count()) + " s): not waiting (GET " + shown_url(url) + ")"};
  m_limiter.decrease();
  pause_all_until(steady::now() + wait);
  m_opt.notice("secondary rate limit (" + std::to_string(status) + "): pausing requests for " + seconds_text(wait) +
               " until " + end_of_wait_text(wait) + " and lowering concurrency to " +
               std::to_string(m_limiter.limit()));
  return std::nullopt;
}

result<std::string> fetcher::state::redirect_target(const std::string& current, const http::response& resp,
                                                    page_tries& tries) {
  const long status = resp.status;
  const auto location = resp.headers.get("location");
  if (!location || location->empty())
    return error{status, "redirect without Location (GET " + shown_url(current) + ")"};
  if (++tries.redirects > m_opt.max_redirects)
    return error{status, "too many redirects (GET " + shown_url(current) + ")"};
  ++m_redirects;
  return resolve_location(current, *location);
}

task<result<fetched_page>> fetcher::state::get_page(std::string url, bool conditional, repo_counters& counters) {
  std::string current = std::move(url);
  page_tries tries;
  for (;;) {
    if (auto stopped = stop_reason()) co_return *stopped;
    if (!co_await wait_gate()) continue;  // stopped: stop_reason() says why
    std::optional<etag_cache::entry> cached;
    if (m_cache && conditional) cached = m_cache->load(current);
    std::optional<http::result<http::response>> outcome;
    {
      // The run's token: a stopped run does not wait for permits to come back.
      auto permit = co_await m_limiter.acquire(m_stop.get_token());
      if (!permit) co_return stop_reason().value_or(cancelled_error());
      if (auto stopped = stop_reason()) co_return *stopped;
      ++m_requests;
      ++counters.requests;
      stall_watch watch(m_rt.io(), m_opt.stall_notice_after, m_opt.notice,
                        "no complete answer from " + host_of(current) + " to GET " + shown_url(current));
      auto sent = m_http.send(make_request(current, cached), m_stop.get_token());
      outcome.emplace(co_await std::move(sent));
    }
    if (outcome->has_value()) note_rate_limit(outcome->value().headers);
    classified c = classify(*outcome, current);
    switch (c.action) {
      case page_action::success: {
        http::response& resp = outcome->value();
        m_limiter.record_success();
        if (header_int(resp.headers, "x-ratelimit-remaining") == 0) {
          // The last unit is spent: later requests wait (or fail beyond max_wait); this page is fine.
          page_tries spare;
          (void)wait_for_primary_limit(resp, spare, current);
        }
        co_return fetched_page{current, std::move(resp.body), std::string(resp.headers.get("link").value_or("")),
                               std::string(resp.headers.get("etag").value_or("")), false};
      }
      case page_action::not_modified:
        if (cached) {
          ++m_not_modified;
          m_limiter.record_success();
          co_return fetched_page{current, std::move(cached->body), std::move(cached->link), std::move(cached->etag),
                                 true};
        }
        // 304 without a cached entry (removed meanwhile): ask unconditionally.
        conditional = false;
        if (++tries.failures >= m_opt.max_attempts) co_return c.failure;
        continue;
      case page_action::redirect: {
        auto target = redirect_target(current, outcome->value(), tries);
        if (!target) co_return target.error();
        current = std::move(target).value();
        continue;
      }
      case page_action::wait_for_reset: {
        auto failed = c.primary_limit ? wait_for_primary_limit(outcome->value(), tries, current)
                                      : wait_for_secondary_limit(c, outcome->value().status, tries, current);
        if (failed) co_return *failed;
        continue;
      }
      case page_action::back_off: {
        const auto delay = m_policy.delay_for(++tries.failures, c.requested_wait);
        if (!delay) {
          if (c.requested_wait && *c.requested_wait > m_opt.max_wait)
            co_return error{c.failure.status, c.failure.message + ": the server asks to retry after " +
                                                  seconds_text(*c.requested_wait) + ", more than max_wait"};
          co_return error{c.failure.status,
                          c.failure.message + " (gave up after " + std::to_string(tries.failures) + " attempts)"};
        }
        ++m_retries;
        if (c.requested_wait && *delay >= seconds(1))
          m_opt.notice("GET " + shown_url(current) + " answered " + std::to_string(c.failure.status) +
                       " with retry-after: waiting until " + end_of_wait_text(*delay));
        auto nap = sleep_for(*delay, m_stop.get_token());
        co_await nap;  // stopped early: the loop's stop_reason() ends the page
        continue;
      }
      case page_action::fail_run:
        if (!m_unauthorized.exchange(true)) {
          m_opt.notice("401 " + c.failure.message + ": the credentials are rejected, stopping the run");
          m_stop.request_stop();
        }
        co_return c.failure;
      case page_action::fail_repository:
        if (auto stopped = stop_reason(); stopped && c.failure == cancelled_error()) co_return *stopped;
        co_return c.failure;
    }
  }
}

template <typename Record>
task<result<std::vector<Record>>> fetcher::state::page_records(std::string url, std::optional<fetched_page> page,
                                                               page_parser_fn<Record> parse, repo_counters& counters) {
  for (std::size_t attempt = 1;; ++attempt) {
    if (!page) {
      // A retry after malformed JSON asks unconditionally: the cached copy
      // (if any) is what we would get back.
      auto got = co_await get_page(url, attempt == 1, counters);
      if (!got) co_return got.error();
      page = std::move(got).value();
    }
    // Parse on the TBB arena, in parallel with other pages and requests.
    auto parsed = co_await m_rt.offload([&page, parse, this]() {
      const auto start = steady::now();
      auto out = parse(page->body);
      m_parse_ns += static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now() - start).count());
      return out;
    });
    if (parsed) {
      ++m_pages;
      m_json_bytes += page->body.size();
      counters.json_bytes += static_cast<std::int64_t>(page->body.size());
      if (m_cache && !page->from_cache && !page->etag.empty())
        m_cache->store(page->url, {page->etag, page->link, page->body});
      report_progress();
      co_return parsed;
    }
    ++m_malformed;
    const auto delay = m_policy.delay_for(attempt);
    if (!delay)
      co_return error{0, parsed.error().message + " in " + shown_url(url) + " (gave up after " +
                             std::to_string(attempt) + " attempts)"};
    ++m_retries;
    page.reset();
    auto nap = sleep_for(*delay, m_stop.get_token());
    if (!co_await nap) co_return stop_reason().value_or(cancelled_error());
  }
}

namespace {

// Appends a page's records to the endpoint's, in page order.
template <typename Record>
void append_records(std::vector<Record>& into, std::vector<Record>&& page) {
  if (into.empty()) {
    into = std::move(page);
  } else {
    into.insert(into.end(), std::make_move_iterator(page.begin()), std::make_move_iterator(page.end()));
  }
}

}  // namespace

// Pages first_page..last_page of a page-numbered listing, at most a window
// of them in flight; records are appended as pages complete, in order. A
// page shorter than per_page is the end whatever rel="last" claimed, so a
// rel="last" far beyond the data costs at most one window of empty pages.
template <typename Record>
task<std::optional<error>> fetcher::state::fan_out_pages(const std::string& last_url, int first_page, int last_page,
                                                         page_parser_fn<Record> parse, repo_counters& counters,
                                                         std::vector<Record>& records) {
  const std::size_t window = std::max<std::size_t>(1, m_opt.concurrency / 2);  // both endpoints: <= concurrency
  const auto cap = static_cast<long long>(m_opt.max_pages);
  const long long stop_at = std::min<long long>(last_page, cap);
  std::deque<join_handle<result<std::vector<Record>>>> in_flight;
  std::optional<error> failure;
  bool ended = false;  // a short page: the listing ends there
  long long next = first_page;
  bool last_full = false;
  for (;;) {
    while (!ended && !failure && next <= stop_at && in_flight.size() < window) {
      auto part =
          page_records<Record>(with_page_number(last_url, static_cast<int>(next)), std::nullopt, parse, counters);
      in_flight.push_back(m_rt.spawn(std::move(part)));
      ++next;
    }
    if (in_flight.empty()) break;
    auto r = co_await std::move(in_flight.front());
    in_flight.pop_front();
    if (!r) {
      if (!failure) failure = r.error();
      continue;
    }
    last_full = r->size() >= static_cast<std::size_t>(m_opt.per_page);
    if (!last_full) ended = true;
    append_records(records, std::move(r).value());
  }
  if (!failure && !ended && last_full && last_page > cap)
    failure = error{0, "more than max_pages (" + std::to_string(m_opt.max_pages) + ") pages at " + shown_url(last_url) +
                           " (rel=\"last\" says " + std::to_string(last_page) +
                           "): stopped; raise max_pages if the repository really is that large"};
  co_return failure;
}

template <typename Record>
task<result<std::vector<Record>>> fetcher::state::list_endpoint(std::string url, page_parser_fn<Record> parse,
                                                                repo_counters& counters) {
  auto first = co_await get_page(std::move(url), true, counters);
  if (!first) co_return first.error();
  const link_relations links = parse_link_header(first->link);
  std::vector<Record> records;
  std::optional<error> failure;
  const std::string first_url = first->url;
  {
    auto parsed = co_await page_records<Record>(first_url, std::move(first).value(), parse, counters);
    if (!parsed) co_return parsed.error();
    append_records(records, std::move(parsed).value());
  }

  const std::optional<int> next_page = links.next ? page_number(*links.next) : std::nullopt;
  const std::optional<int> last_page = links.last ? page_number(*links.last) : std::nullopt;
  if (m_opt.fan_out && next_page && last_page && *next_page <= *last_page) {
    // rel="last" is page-numbered: fetch next..last a window at a time.
    auto pages = fan_out_pages<Record>(*links.last, *next_page, *last_page, parse, counters, records);
    failure = co_await std::move(pages);
  } else {
    // Walk rel="next" exactly as given; parse each page while fetching the
    // next (at most one parse outstanding, so buffers stay bounded).
    std::unordered_set<std::string> seen{first_url};
    std::optional<std::string> next = links.next;
    std::optional<join_handle<result<std::vector<Record>>>> parsing;
    std::size_t pages = 1;
    while (next && !failure) {
      if (++pages > m_opt.max_pages) {
        failure =
            error{0, "more than max_pages (" + std::to_string(m_opt.max_pages) + ") pages: rel=\"next\" goes on at " +
                         shown_url(*next) + "; stopped (raise max_pages if the repository really is that large)"};
        break;
      }
      if (!seen.insert(*next).second) {
        failure = error{0, "pagination loop: rel=\"next\" repeats " + shown_url(*next)};
        break;
      }
      auto page = co_await get_page(*next, true, counters);
      if (!page) {
        failure = page.error();
        break;
      }
      next = parse_link_header(page->link).next;
      if (parsing) {
        auto r = co_await std::move(*parsing);
        parsing.reset();
        if (!r) {
          failure = r.error();
          break;
        }
        append_records(records, std::move(r).value());
      }
      const std::string page_url = page->url;
      parsing.emplace(m_rt.spawn(page_records<Record>(page_url, std::move(page).value(), parse, counters)));
    }
    if (parsing) {
      auto r = co_await std::move(*parsing);
      if (!r && !failure) failure = r.error();
      if (r) append_records(records, std::move(r).value());
    }
  }
  if (failure) co_return *failure;
  co_return records;
}

task<repo_report> fetcher::state::fetch_repo(std::string full_name) {
  repo_report report;
  report.repo = full_name;
  const auto name = repo_name::parse(full_name);
  if (!name) {
    report.failure = error{0, name.error()};
  } else if (auto stopped = stop_reason()) {
    report.failure = std::move(*stopped);
  } else {
    repo_counters counters;
    const std::string repo_url = m_base + name->api_path();
    const std::string query = "?state=all&per_page=" + std::to_string(m_opt.per_page);
    auto [issues, pulls] =
        co_await when_all(list_endpoint<issue_record>(repo_url + "/issues" + query, parse_issues, counters),
                          list_endpoint<pull_record>(repo_url + "/pulls" + query, parse_pulls, counters));
    report.requests = counters.requests.load();
    report.json_bytes = counters.json_bytes.load();
    if (!issues) {
      report.failure = issues.error();
    } else if (!pulls) {
      report.failure = pulls.error();
    } else if (auto overflow = comments_overflow(*issues)) {
      report.failure = std::move(*overflow);
    } else {
      // Named captures: clang 14 cannot capture structured bindings (P1091).
      report.stats =
          co_await m_rt.offload([&issues = issues, &pulls = pulls] { return compute_repo_stats(*issues, *pulls); });
    }
    // A repository cut short by another's 401 reports the 401 too; one cut
    // short by cancellation reports exactly "cancelled".
    if (report.failure && report.failure->status == 0) {
      if (m_unauthorized.load()) {
        report.failure = stopped_error();
      } else if (m_opt.stop.stop_requested()) {
        report.failure = cancelled_error();
      }
    }
  }
  ++m_repos_done;
  report_progress();
  co_return report;
}

task<std::vector<repo_report>> fetcher::state::fetch_all(std::vector<std::string> names) {
  m_repos_total += names.size();
  std::vector<repo_report> reports;
  reports.reserve(names.size());
  // Repositories flow through an async stage: each one pages through its
  // issues and pull requests (pages parsed on the arena as they arrive) while
  // the shared limiter caps the requests in flight across all of them.
  auto fetch_one = [this](std::string name) { return fetch_repo(std::move(name)); };
  auto pipeline = sluice::from(std::move(names)) |
                  sluice::async_map(fetch_one, {.name = "fetch repository",
                                                .concurrency = std::max<std::size_t>(m_opt.concurrency, 1),
                                                .ordered = true}) |
                  sluice::to_vector(reports);
  // No stall watchdog: a rate-limit pause stalls this pipeline on purpose,
  // and the fetcher reports long waits itself (stall_notice_after, notice).
  run_options observe{.stall_timeout = std::chrono::milliseconds(0)};
  auto running = sluice::run_async(m_rt, std::move(pipeline), std::move(observe));  // named: g++ 12
  co_await std::move(running);
  co_return reports;
}

fetcher::fetcher(runtime& rt, http::client& http, fetch_options options)
    : m_state(std::make_unique<state>(rt, http, std::move(options))) {}
fetcher::~fetcher() = default;

task<repo_report> fetcher::fetch_repo(std::string full_name) { return m_state->fetch_repo(std::move(full_name)); }
task<std::vector<repo_report>> fetcher::fetch_all(std::vector<std::string> full_names) {
  return m_state->fetch_all(std::move(full_names));
}
bool fetcher::unauthorized() const noexcept { return m_state->unauthorized(); }
fetch_stats fetcher::stats() const { return m_state->stats(); }

}  // namespace sluice::github
