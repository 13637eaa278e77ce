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
#include <mutex>
#include <random>
#include <unordered_set>

#include "sluice/core/when_all.hpp"
#include "sluice/github/detail/adaptive_limiter.hpp"
#include "sluice/github/etag_cache.hpp"
#include "sluice/github/link_header.hpp"
#include "sluice/github/page_parser.hpp"
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
  if (!v) return std::nullopt;
  std::string_view s = *v;
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  std::int64_t out = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec != std::errc{} || ptr == s.data()) return std::nullopt;
  return out;
}

bool mentions_secondary_limit(std::string_view body) {
  const std::string text = lower(body.substr(0, 4096));
  return text.find("secondary rate limit") != std::string::npos || text.find("abuse") != std::string::npos;
}

milliseconds with_jitter(milliseconds d) {
  thread_local std::minstd_rand rng{std::random_device{}()};
  std::uniform_real_distribution<double> factor(0.8, 1.2);
  return milliseconds(static_cast<milliseconds::rep>(static_cast<double>(d.count()) * factor(rng)));
}

milliseconds doubled(milliseconds base, std::size_t times, milliseconds cap) {
  milliseconds d = base;
  for (std::size_t i = 0; i < times && d < cap; ++i) d *= 2;
  return std::min(d, cap);
}

std::string seconds_text(milliseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

std::string utc_clock_text(std::int64_t epoch) {
  const std::time_t t = static_cast<std::time_t>(epoch);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%H:%M:%S UTC", &tm);
  return buf;
}

void default_notice(std::string_view text) {
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  std::fprintf(stderr, "sluice-github: %.*s\n", static_cast<int>(text.size()), text.data());
}

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
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

}  // namespace

std::optional<std::pair<std::string, std::string>> split_repo_name(std::string_view full_name) {
  const auto slash = full_name.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == full_name.size()) return std::nullopt;
  const std::string_view owner = full_name.substr(0, slash), name = full_name.substr(slash + 1);
  if (!std::all_of(owner.begin(), owner.end(), is_name_char) || !std::all_of(name.begin(), name.end(), is_name_char))
    return std::nullopt;
  if (name == "." || name == "..") return std::nullopt;
  return std::pair{std::string(owner), std::string(name)};
}

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
    return req;
  }

  // Waits while a rate limit pauses every request.
  task<void> wait_gate() {
    for (;;) {
      steady::time_point until;
      {
        std::lock_guard lock(m_gate_mutex);
        until = m_pause_until;
      }
      if (until <= steady::now()) co_return;
      co_await sleep_until(until);
    }
  }

  void pause_all_until(steady::time_point until) {
    std::lock_guard lock(m_gate_mutex);
    m_pause_until = std::max(m_pause_until, until);
  }

  // Primary limit spent: every request waits until reset + 1 s (retrying at
  // the reset second itself is limited again).
  void pause_for_primary_limit(const http::headers& h) {
    const auto reset = header_int(h, "x-ratelimit-reset");
    milliseconds wait = m_opt.secondary_limit_floor;
    if (reset) {
      const auto reset_at = std::chrono::system_clock::time_point(seconds(*reset)) + seconds(1);
      wait = std::max<milliseconds>(
          std::chrono::duration_cast<milliseconds>(reset_at - std::chrono::system_clock::now()), seconds(1));
    }
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
      m_opt.notice("GitHub API rate limit exhausted; waiting " + seconds_text(wait) + " until it resets" +
                   (reset ? " (" + utc_clock_text(*reset) + ") plus 1 s" : std::string()) + ", then continuing");
    }
  }

  void report_progress() {
    if (!m_opt.on_progress) return;
    fetch_progress p;
    p.repos_total = m_repos_total.load();
    p.repos_done = m_repos_done.load();
    p.requests = m_requests.load();
    p.pages = m_pages.load();
    p.json_bytes = m_json_bytes.load();
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
  std::stop_source m_stop;
  std::atomic<bool> m_unauthorized{false};

  std::mutex m_gate_mutex;
  steady::time_point m_pause_until{};
  std::int64_t m_announced_reset = 0;

  std::atomic<std::uint64_t> m_requests{0}, m_not_modified{0}, m_retries{0}, m_malformed{0}, m_primary_waits{0},
      m_secondary{0}, m_redirects{0}, m_pages{0}, m_json_bytes{0}, m_parse_ns{0};
  std::atomic<std::size_t> m_repos_total{0}, m_repos_done{0};
};

task<result<fetched_page>> fetcher::state::get_page(std::string url, bool conditional, repo_counters& counters) {
  std::string current = std::move(url);
  std::size_t attempts = 0, secondary = 0, primary = 0;
  int redirects = 0;
  for (;;) {
    if (m_unauthorized.load(std::memory_order_acquire)) co_return stopped_error();
    co_await wait_gate();
    std::optional<etag_cache::entry> cached;
    if (m_cache && conditional) cached = m_cache->load(current);
    std::optional<http::result<http::response>> outcome;
    {
      auto permit = co_await m_limiter.acquire();
      ++m_requests;
      ++counters.requests;
      outcome.emplace(co_await m_http.send(make_request(current, cached), m_stop.get_token()));
    }
    if (!*outcome) {
      const http::error& e = outcome->error();
      if (e.what == http::error::kind::cancelled && m_unauthorized.load()) co_return stopped_error();
      if (e.what == http::error::kind::invalid || e.what == http::error::kind::cancelled)
        co_return error{0, e.to_string()};
      if (++attempts >= m_opt.max_attempts)
        co_return error{0, e.to_string() + " (gave up after " + std::to_string(attempts) + " attempts)"};
      ++m_retries;
      co_await sleep_for(with_jitter(doubled(m_opt.backoff_base, attempts - 1, m_opt.backoff_max)));
      continue;
    }
    http::response& resp = outcome->value();
    const long status = resp.status;
    auto message = [&] {
      std::string text = error_message(resp.body).value_or("HTTP " + std::to_string(status));
      if (m_opt.token) text = m_opt.token->redact(std::move(text));
      return text + " (GET " + current + ")";
    };

    if (status >= 200 && status < 300) {
      m_limiter.record_success();
      if (header_int(resp.headers, "x-ratelimit-remaining") == 0) pause_for_primary_limit(resp.headers);
      fetched_page page{current, std::move(resp.body), std::string(resp.headers.get("link").value_or("")),
                        std::string(resp.headers.get("etag").value_or("")), false};
      co_return page;
    }
    if (status == 304) {
      if (cached) {
        ++m_not_modified;
        m_limiter.record_success();
        co_return fetched_page{current, std::move(cached->body), std::move(cached->link), std::move(cached->etag),
                               true};
      }
      // 304 without a cached entry (removed meanwhile): ask unconditionally.
      conditional = false;
      if (++attempts >= m_opt.max_attempts) co_return error{304, "unexpected 304 Not Modified (GET " + current + ")"};
      continue;
    }
    if (status == 301 || status == 302 || status == 303 || status == 307 || status == 308) {
      const auto location = resp.headers.get("location");
      if (!location || location->empty()) co_return error{status, "redirect without Location (GET " + current + ")"};
      if (++redirects > m_opt.max_redirects) co_return error{status, "too many redirects (GET " + current + ")"};
      ++m_redirects;
      current = resolve_location(current, *location);
      continue;
    }
    if (status == 401) {
      if (!m_unauthorized.exchange(true)) {
        m_opt.notice("401 " + message() + ": the credentials are rejected, stopping the run");
        m_stop.request_stop();
      }
      co_return error{401, message()};
    }
    if (status == 403 || status == 429) {
      const auto remaining = header_int(resp.headers, "x-ratelimit-remaining");
      const auto retry_after_header = resp.headers.get("retry-after");
      const bool says_secondary = mentions_secondary_limit(resp.body);
      const bool secondary_limit = retry_after_header || status == 429 || says_secondary;
      if (remaining == 0 && !retry_after_header && !says_secondary) {
        if (++primary > m_opt.max_primary_waits) co_return error{status, message()};
        pause_for_primary_limit(resp.headers);
        continue;
      }
      if (secondary_limit) {
        ++m_secondary;
        if (++secondary > m_opt.max_secondary_retries) co_return error{status, message()};
        std::optional<milliseconds> wait;
        if (retry_after_header) wait = http::parse_retry_after(*retry_after_header);
        // No retry-after: at least the floor (a minute on GitHub), doubling on repeats.
        if (!wait)
          wait = doubled(m_opt.secondary_limit_floor, secondary - 1,
                         std::max(m_opt.backoff_max, m_opt.secondary_limit_floor * 8));
        m_limiter.decrease();
        pause_all_until(steady::now() + *wait);
        m_opt.notice("secondary rate limit (" + std::to_string(status) + "): pausing requests for " +
                     seconds_text(*wait) + " and lowering concurrency to " + std::to_string(m_limiter.limit()));
        continue;
      }
      co_return error{status, message()};
    }
    if (status >= 500) {
      if (++attempts >= m_opt.max_attempts)
        co_return error{status, "HTTP " + std::to_string(status) + " (GET " + current + "), gave up after " +
                                    std::to_string(attempts) + " attempts"};
      ++m_retries;
      std::optional<milliseconds> wait;
      if (auto ra = resp.headers.get("retry-after")) wait = http::parse_retry_after(*ra);
      if (!wait || *wait > m_opt.backoff_max)
        wait = with_jitter(doubled(m_opt.backoff_base, attempts - 1, m_opt.backoff_max));
      co_await sleep_for(*wait);
      continue;
    }
    // 404 missing or private, 409 empty, 410 gone/issues disabled, 422, 451
    // blocked, other 4xx: an answer about this repository, not worth a retry.
    co_return error{status, message()};
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
    if (attempt >= m_opt.max_attempts)
      co_return error{
          0, parsed.error().message + " in " + url + " (gave up after " + std::to_string(attempt) + " attempts)"};
    ++m_retries;
    page.reset();
    co_await sleep_for(with_jitter(doubled(m_opt.backoff_base, attempt - 1, m_opt.backoff_max)));
  }
}

template <typename Record>
task<result<std::vector<Record>>> fetcher::state::list_endpoint(std::string url, page_parser_fn<Record> parse,
                                                                repo_counters& counters) {
  auto first = co_await get_page(std::move(url), true, counters);
  if (!first) co_return first.error();
  const link_relations links = parse_link_header(first->link);
  std::vector<join_handle<result<std::vector<Record>>>> parts;
  std::optional<error> failure;
  const std::string first_url = first->url;
  parts.push_back(m_rt.spawn(page_records<Record>(first_url, std::move(first).value(), parse, counters)));

  const std::optional<int> next_page = links.next ? page_number(*links.next) : std::nullopt;
  const std::optional<int> last_page = links.last ? page_number(*links.last) : std::nullopt;
  if (m_opt.fan_out && next_page && last_page && *next_page <= *last_page && *last_page - *next_page < 100'000) {
    // rel="last" is page-numbered: fetch next..last concurrently (the
    // limiter bounds how many are in flight).
    for (int p = *next_page; p <= *last_page; ++p)
      parts.push_back(
          m_rt.spawn(page_records<Record>(with_page_number(*links.last, p), std::nullopt, parse, counters)));
  } else {
    // Walk rel="next" exactly as given; parse each page while fetching the next.
    std::unordered_set<std::string> seen{first_url};
    std::optional<std::string> next = links.next;
    while (next) {
      if (!seen.insert(*next).second) {
        failure = error{0, "pagination loop: rel=\"next\" repeats " + *next};
        break;
      }
      auto page = co_await get_page(*next, true, counters);
      if (!page) {
        failure = page.error();
        break;
      }
      next = parse_link_header(page->link).next;
      const std::string page_url = page->url;
      parts.push_back(m_rt.spawn(page_records<Record>(page_url, std::move(page).value(), parse, counters)));
    }
  }
  std::vector<Record> records;
  for (auto& part : parts) {
    auto r = co_await std::move(part);
    if (!r) {
      if (!failure) failure = r.error();
      continue;
    }
    if (records.empty()) {
      records = std::move(r).value();
    } else {
      records.insert(records.end(), std::make_move_iterator(r->begin()), std::make_move_iterator(r->end()));
    }
  }
  if (failure) co_return *failure;
  co_return records;
}

task<repo_report> fetcher::state::fetch_repo(std::string full_name) {
  repo_report report;
  report.repo = full_name;
  const auto names = split_repo_name(full_name);
  if (!names) {
    report.failure = error{0, "invalid repository name \"" + full_name + "\" (expected OWNER/REPO)"};
  } else if (m_unauthorized.load()) {
    report.failure = stopped_error();
  } else {
    repo_counters counters;
    const std::string repo_url = m_base + "/repos/" + names->first + "/" + names->second;
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
    } else {
      // Named captures: clang 14 cannot capture structured bindings (P1091).
      report.stats =
          co_await m_rt.offload([&issues = issues, &pulls = pulls] { return compute_repo_stats(*issues, *pulls); });
    }
    // A repository cut short by another's 401 reports the 401 too.
    if (report.failure && report.failure->status == 0 && m_unauthorized.load()) report.failure = stopped_error();
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
  co_await sluice::run_async(m_rt, std::move(pipeline));
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
