#include "sluice/fake_github/server.hpp"

#include <sys/socket.h>

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <unordered_map>

#include "random.hpp"
#include "sluice/core/json.hpp"
#include "sluice/testing/serve_in_background.hpp"

namespace sluice::fake_github {
namespace {

using detail::splitmix64;
using sluice::json_writer;

constexpr std::size_t k_log_capacity = 100000;
constexpr int k_max_per_page = 100;
constexpr int k_default_per_page = 30;

// cpp-httplib listens with a backlog of 5 (a compile-time constant of the
// Debian library): a burst of 100+ connections would overflow it and clients
// would see SYN retransmits (1 s stalls). Linux lets a second listen() on the
// bound socket raise the backlog, which needs the protected socket member.
class http_server : public httplib::Server {
 public:
  void raise_backlog(int backlog) { ::listen(svr_sock_, backlog); }
};

std::string lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::uint64_t fnv1a(std::string_view text, std::uint64_t basis) {
  std::uint64_t h = basis;
  for (char c : text) {
    h ^= static_cast<std::uint8_t>(c);
    h *= 1099511628211ull;
  }
  return h;
}

std::string hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// Word-at-a-time hash for ETags: pages reach megabytes, and a byte-wise hash
// would cost more CPU than serving them (the benchmark shares the machine).
std::uint64_t body_hash(std::string_view body, std::uint64_t seed) {
  std::uint64_t h = seed ^ (body.size() * 0x9E3779B97F4A7C15ull);
  std::size_t i = 0;
  for (; i + 8 <= body.size(); i += 8) {
    std::uint64_t word = 0;
    std::memcpy(&word, body.data() + i, 8);
    h = (h ^ word) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
  }
  for (; i < body.size(); ++i) h = (h ^ static_cast<std::uint8_t>(body[i])) * 0x94D049BB133111EBull;
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ull;
  return h ^ (h >> 32);
}

// Weak ETag over the body, like GitHub's W/"<64 hex>" (ours has 32).
std::string etag_of(std::string_view body) {
  return "W/\"" + hex64(body_hash(body, 0x243F6A8885A308D3ull)) + hex64(body_hash(body, 0x13198A2E03707344ull)) + "\"";
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// If-None-Match uses the weak comparison: W/ prefixes are ignored.
bool etag_matches(std::string_view header, std::string_view etag) {
  const auto strip = [](std::string_view tag) {
    tag = trim(tag);
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    return tag;
  };
  const std::string_view ours = strip(etag);
  while (!header.empty()) {
    const auto comma = header.find(',');
    const std::string_view candidate = strip(header.substr(0, comma));
    if (candidate == "*" || candidate == ours) return true;
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return false;
}

std::string http_date(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

std::string base64url(std::string_view in) {
  static constexpr char k_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : in) {
    buffer = (buffer << 8) | static_cast<std::uint8_t>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += k_chars[(buffer >> bits) & 0x3F];
    }
  }
  if (bits > 0) out += k_chars[(buffer << (6 - bits)) & 0x3F];
  return out;
}

std::optional<std::string> base64url_decode(std::string_view in) {
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : in) {
    int v = -1;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    if (c >= '0' && c <= '9') v = c - '0' + 52;
    if (c == '-') v = 62;
    if (c == '_') v = 63;
    if (v < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  return out;
}

// Opaque cursors, GitHub style ("Y3Vyc29yOnYyOpK..."): they encode the
// repository and an offset into the filtered, newest-first list.
std::string make_cursor(std::int64_t repo_id, std::size_t offset) {
  return base64url("cursor:v2:" + std::to_string(repo_id) + ":" + std::to_string(offset));
}

std::optional<std::size_t> read_cursor(std::string_view cursor, std::int64_t repo_id) {
  const auto decoded = base64url_decode(cursor);
  const std::string prefix = "cursor:v2:" + std::to_string(repo_id) + ":";
  if (!decoded || !decoded->starts_with(prefix)) return std::nullopt;
  const std::string digits = decoded->substr(prefix.size());
  if (digits.empty() || digits.size() > 12 || digits.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  return static_cast<std::size_t>(std::stoull(digits));
}

std::optional<long long> parse_int(const std::string& text) {
  if (text.empty() || text.size() > 12) return std::nullopt;
  std::size_t start = text.front() == '-' ? 1 : 0;
  if (start == text.size() || text.find_first_not_of("0123456789", start) != std::string::npos) return std::nullopt;
  return std::stoll(text);
}

std::string message_body(std::string_view message, std::string_view doc, int status) {
  std::string out;
  json_writer w(out);
  w.begin_object();
  w.field("message", message);
  w.field("documentation_url", doc);
  w.field("status", std::to_string(status));
  w.end_object();
  return out;
}

// --------------------------------------------------------------- server state

struct cached_page {
  std::string body;
  std::string etag;
};

// Bounds the page cache of one repository (distinct `since` values could
// otherwise grow it without limit); past it pages are built per request.
constexpr std::size_t k_max_cached_pages = 1024;

struct repo_state {
  generated_repo data;
  std::string key;  // lower-case "owner/name"
  std::atomic<int> error_status{0};
  std::once_flag rendered;
  std::vector<std::string> issue_json;  // index: number - 1
  std::vector<std::string> pull_json;   // index: number - 1; empty for issues
  std::string repo_json;
  // Assembled list pages with their ETags, by query. The data never changes
  // once generated, so a page is built and hashed once and then sent without
  // a copy: at benchmark scale the server would otherwise spend more CPU
  // copying and hashing megabytes per page than the client spends parsing.
  std::mutex page_mutex;
  std::unordered_map<std::string, std::shared_ptr<const cached_page>> pages;
};

struct budget {
  std::int64_t used = 0;
  std::int64_t reset = 0;
};

enum class endpoint { repository, issues, pulls, rate_limit };

struct route {
  endpoint kind = endpoint::repository;
  repo_state* repo = nullptr;  // null for rate_limit
  std::string suffix;          // path after the repository part, for redirects
  bool found = false;
};

struct reply {
  int status = 200;
  std::string body;                         // unless `page` is set
  std::shared_ptr<const cached_page> page;  // a shared list page, sent without a copy
  std::string content_type = "application/json; charset=utf-8";
  std::vector<std::pair<std::string, std::string>> headers;
  bool rate_headers = true;  // add x-ratelimit-*
  bool charge = true;        // spends one unit of the primary budget
  bool list_page = false;    // a 200 list page: eligible for malformed bodies
  bool cacheable = false;    // gets an ETag; If-None-Match may answer 304

  [[nodiscard]] std::string_view content() const noexcept { return page ? std::string_view(page->body) : body; }
};

}  // namespace

struct server::impl {
  explicit impl(server_options o) : opts(std::move(o)), faults(opts.faults), fault_rng(opts.fault_seed) {}

  server_options opts;
  http_server http;
  std::thread listener;
  int bound_port = 0;
  std::string origin;  // http://host:port
  std::string base;    // origin + prefix

  std::vector<std::unique_ptr<repo_state>> repos;
  std::unordered_map<std::string, repo_state*> by_name;
  std::unordered_map<std::int64_t, repo_state*> by_id;

  mutable std::mutex fault_mutex;
  fault_options faults;
  std::map<std::string, fault_options> repo_faults;  // key: lower-case full name
  splitmix64 fault_rng;
  std::uint64_t secondary_served = 0;
  std::uint64_t malformed_served = 0;

  std::mutex budget_mutex;
  std::unordered_map<std::string, budget> budgets;  // key: identity (never a raw token)
  std::int64_t exhausted_until = 0;

  mutable std::mutex stats_mutex;
  server_stats counters;
  std::deque<request_record> log;
  std::atomic<std::uint64_t> in_flight{0};
  std::atomic<std::uint64_t> request_ids{0};

  std::mutex stop_mutex;
  std::condition_variable stop_cv;
  bool stopping = false;
  bool stopped = false;

  // ------------------------------------------------------------ setup
  void load_repos() {
    for (const auto& spec : opts.repos) {
      auto state = std::make_unique<repo_state>();
      state->data = generate(spec);
      state->key = lower(spec.full_name());
      if (spec.owner.empty() || spec.name.empty())
        throw std::runtime_error("fake_github: repo_spec without owner/name");
      if (!by_name.emplace(state->key, state.get()).second) {
        throw std::runtime_error("fake_github: repository served twice: " + spec.full_name());
      }
      if (!by_id.emplace(state->data.id, state.get()).second) {
        throw std::runtime_error("fake_github: repository id used twice: " + std::to_string(state->data.id));
      }
      state->error_status = spec.error_status;
      repos.push_back(std::move(state));
    }
    for (const auto& r : repos) {
      const auto& target = r->data.spec.renamed_to;
      if (!target.empty() && !by_name.contains(lower(target))) {
        throw std::runtime_error("fake_github: rename target not served: " + target);
      }
    }
  }

  void render(repo_state& r) {
    std::call_once(r.rendered, [&] {
      const render_context ctx{.api_base = base};
      r.issue_json.reserve(r.data.items.size());
      r.pull_json.reserve(r.data.items.size());
      for (const auto& item : r.data.items) {
        r.issue_json.push_back(render_issue(r.data, item, ctx));
        r.pull_json.push_back(item.is_pull ? render_pull(r.data, item, ctx) : std::string());
      }
      r.repo_json = render_repository(r.data, ctx);
    });
  }

  void start() {
    load_repos();
    const int threads = std::max(opts.threads, 4);
    http.set_keep_alive_max_count(100000);
    http.set_keep_alive_timeout(opts.keep_alive_timeout.count());
    http.set_tcp_nodelay(true);
    http.Get(".*", [this](const httplib::Request& req, httplib::Response& res) { handle(req, res); });
    if (opts.port == 0) {
      bound_port = http.bind_to_any_port(opts.host);
    } else {
      bound_port = http.bind_to_port(opts.host, opts.port) ? opts.port : -1;
    }
    if (bound_port <= 0) {
      throw std::runtime_error("fake_github: cannot bind " + opts.host + ":" + std::to_string(opts.port));
    }
    http.raise_backlog(1024);
    const std::string host = opts.host == "0.0.0.0" ? "127.0.0.1" : opts.host;
    origin = "http://" + host + ":" + std::to_string(bound_port);
    std::string prefix = opts.path_prefix;
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    if (!prefix.empty() && prefix.front() != '/') prefix.insert(prefix.begin(), '/');
    opts.path_prefix = prefix;
    base = origin + prefix;
    listener = sluice::testing::serve_in_background(http, static_cast<std::size_t>(threads));
  }

  void stop() {
    {
      std::lock_guard lock(stop_mutex);
      if (stopped) return;
      stopped = true;
      stopping = true;
    }
    stop_cv.notify_all();
    http.stop();
    if (listener.joinable()) listener.join();
  }

  // ------------------------------------------------------------ routing
  route resolve(std::string_view path) const {
    route out;
    if (!opts.path_prefix.empty()) {
      if (!path.starts_with(opts.path_prefix)) return out;
      path.remove_prefix(opts.path_prefix.size());
    }
    std::vector<std::string_view> parts;
    while (!path.empty()) {
      if (path.front() == '/') {
        path.remove_prefix(1);
        continue;
      }
      const auto slash = path.find('/');
      parts.push_back(path.substr(0, slash));
      if (slash == std::string_view::npos) break;
      path.remove_prefix(slash);
    }
    if (parts.size() == 1 && parts[0] == "rate_limit") {
      out.kind = endpoint::rate_limit;
      out.found = true;
      return out;
    }
    std::size_t rest = 0;
    if (parts.size() >= 3 && parts[0] == "repos") {
      const auto it = by_name.find(lower(std::string(parts[1]) + "/" + std::string(parts[2])));
      if (it == by_name.end()) return out;
      out.repo = it->second;
      rest = 3;
    } else if (parts.size() >= 2 && parts[0] == "repositories") {
      const auto id = parse_int(std::string(parts[1]));
      const auto it = id ? by_id.find(*id) : by_id.end();
      if (it == by_id.end()) return out;
      out.repo = it->second;
      rest = 2;
    } else {
      return out;
    }
    if (parts.size() == rest) {
      out.kind = endpoint::repository;
    } else if (parts.size() == rest + 1 && parts[rest] == "issues") {
      out.kind = endpoint::issues;
      out.suffix = "/issues";
    } else if (parts.size() == rest + 1 && parts[rest] == "pulls") {
      out.kind = endpoint::pulls;
      out.suffix = "/pulls";
    } else {
      return out;
    }
    out.found = true;
    return out;
  }

  // ------------------------------------------------------------ faults
  // Runs `f` on the fault set that governs `repo` (its own, else the server's).
  template <class F>
  auto with_faults(const repo_state* repo, F&& f) {
    std::lock_guard lock(fault_mutex);
    if (repo != nullptr) {
      auto it = repo_faults.find(repo->key);
      if (it != repo_faults.end()) return f(it->second);
    }
    return f(faults);
  }

  bool take_502(const repo_state* repo) {
    return with_faults(repo, [&](fault_options& f) {
      if (f.error_502_count > 0) {
        --f.error_502_count;
        return true;
      }
      return f.error_502_rate > 0 && fault_rng.chance(f.error_502_rate);
    });
  }

  // 0: no; 1: truncated; 2: invalid syntax.
  int take_malformed(const repo_state* repo) {
    return with_faults(repo, [&](fault_options& f) {
      bool hit = false;
      if (f.malformed_count > 0) {
        --f.malformed_count;
        hit = true;
      } else {
        hit = f.malformed_rate > 0 && fault_rng.chance(f.malformed_rate);
      }
      return hit ? static_cast<int>(1 + (malformed_served++ % 2)) : 0;
    });
  }

  // Returns the secondary-limit reply when this request trips it.
  std::optional<reply> take_secondary(const repo_state* repo, std::uint64_t concurrent) {
    return with_faults(repo, [&](fault_options& f) -> std::optional<reply> {
      bool hit = false;
      if (f.secondary_limit_count > 0) {
        --f.secondary_limit_count;
        hit = true;
      } else if (f.secondary_limit_concurrency > 0 &&
                 concurrent > static_cast<std::uint64_t>(f.secondary_limit_concurrency)) {
        hit = true;
      }
      if (!hit) return std::nullopt;
      reply r;
      r.status = (f.secondary_alternate_429 && secondary_served++ % 2 == 1) ? 429 : 403;
      r.charge = false;
      r.body = message_body(
          "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach "
          "out to GitHub Support for help, please include the request ID F0B5:1234:5678:9ABC:DEF0.",
          "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits", r.status);
      const bool omit = f.secondary_omit_retry_after_rate > 0 && fault_rng.chance(f.secondary_omit_retry_after_rate);
      if (!f.retry_after_value.empty()) {
        r.headers.emplace_back("retry-after", f.retry_after_value);
      } else if (!omit) {
        r.headers.emplace_back("retry-after", std::to_string(std::max(f.secondary_retry_after_s, 0)));
      }
      return r;
    });
  }

  std::chrono::milliseconds latency_for(const repo_state* repo) {
    return with_faults(repo, [](fault_options& f) { return f.latency; });
  }

  // ------------------------------------------------------------ budget
  struct budget_view {
    std::int64_t limit, used, reset;
    bool exhausted;
  };

  // Looks at (and with `charge`, spends from) the identity's budget.
  budget_view check_budget(const std::string& identity, bool charge) {
    std::lock_guard lock(budget_mutex);
    const std::int64_t now = std::time(nullptr);
    if (exhausted_until != 0 && now >= exhausted_until) {
      budgets.clear();  // the forced exhaustion is over: budgets start afresh
      exhausted_until = 0;
    }
    budget& b = budgets[identity];
    if (b.reset == 0 || now >= b.reset) {
      b.used = 0;
      b.reset = now + opts.rate_limit_window.count();
    }
    const std::int64_t limit = opts.rate_limit;
    if (exhausted_until > now) return {limit, limit, exhausted_until, true};
    if (b.used >= limit) return {limit, limit, b.reset, true};
    if (charge) ++b.used;
    return {limit, b.used, b.reset, false};
  }

  // ------------------------------------------------------------ pages
  reply list_page(const httplib::Request& req, repo_state& repo, endpoint kind) {
    if (auto synthetic = synthetic_page(req, repo, kind)) return std::move(*synthetic);
    reply r;
    const std::string state = req.has_param("state") ? req.get_param_value("state") : "open";
    if (state != "open" && state != "closed" && state != "all") {
      r.status = 422;
      r.body =
          message_body("Validation Failed", "https://docs.github.com/rest/issues/issues#list-repository-issues", 422);
      return r;
    }
    int per_page = k_default_per_page;
    if (req.has_param("per_page")) {
      const auto v = parse_int(req.get_param_value("per_page"));
      if (v && *v > 0) per_page = static_cast<int>(std::min<long long>(*v, k_max_per_page));
    }
    std::optional<std::int64_t> since;
    if (kind == endpoint::issues && req.has_param("since")) {
      since = parse_iso8601(req.get_param_value("since"));
      if (!since) {
        r.status = 422;
        r.body = message_body("Invalid value for parameter 'since'", "https://docs.github.com/rest/issues/issues", 422);
        return r;
      }
    }

    render(repo);
    std::vector<std::size_t> selected;  // item indexes, newest first
    const auto& items = repo.data.items;
    for (std::size_t i = items.size(); i-- > 0;) {
      const auto& item = items[i];
      if (kind == endpoint::pulls && !item.is_pull) continue;
      if (state == "open" && item.closed) continue;
      if (state == "closed" && !item.closed) continue;
      if (since && item.updated_at < *since) continue;
      selected.push_back(i);
    }
    const std::size_t n = selected.size();
    const auto pp = static_cast<std::size_t>(per_page);
    const pagination_mode mode = repo.data.spec.pagination;

    // Where this page starts.
    std::size_t offset = 0;
    long long page = 1;
    const bool has_page = req.has_param("page");
    if (has_page) {
      const auto v = parse_int(req.get_param_value("page"));
      page = (v && *v > 0) ? *v : 1;
    }
    if (mode == pagination_mode::cursor && (req.has_param("after") || req.has_param("before"))) {
      const bool after = req.has_param("after");
      const auto cursor = read_cursor(req.get_param_value(after ? "after" : "before"), repo.data.id);
      if (!cursor) {
        r.status = 422;
        r.body = message_body("Invalid cursor",
                              "https://docs.github.com/rest/using-the-rest-api/using-pagination-in-the-rest-api", 422);
        return r;
      }
      offset = after ? *cursor : (*cursor > pp ? *cursor - pp : 0);
    } else {
      if (mode == pagination_mode::cursor && has_page && page > opts.cursor_max_page) {
        r.status = 422;
        r.body = message_body(
            "Pagination with the page parameter is not supported for large datasets, please use cursor based "
            "pagination (after/before)",
            "https://docs.github.com/rest/issues/issues#list-repository-issues", 422);
        return r;
      }
      offset = static_cast<std::size_t>(std::min<long long>(page - 1, 1LL << 40)) * pp;
    }

    const std::size_t end = std::min(n, offset + pp);
    const auto& rendered = kind == endpoint::pulls ? repo.pull_json : repo.issue_json;
    std::string key = std::to_string(static_cast<int>(kind)) + '|' + state + '|' +
                      (since ? std::to_string(*since) : std::string("-")) + '|' + std::to_string(offset) + '|' +
                      std::to_string(end);
    r.page = shared_page(repo, std::move(key), rendered, selected, offset, end);

    const std::string link = link_header(req, repo, kind, mode, n, pp, offset, page);
    if (!link.empty()) r.headers.emplace_back("Link", link);
    r.list_page = true;
    r.cacheable = true;
    return r;
  }

  // faults.synthetic_pages: one-item pages numbered 1..N (or endless).
  std::optional<reply> synthetic_page(const httplib::Request& req, const repo_state& repo, endpoint kind) {
    const auto [pages, item, suffix] = with_faults(&repo, [](fault_options& f) {
      return std::tuple{f.synthetic_pages, f.synthetic_item, f.link_suffix};
    });
    if (pages == 0) return std::nullopt;
    long long page = 1;
    if (req.has_param("page")) {
      const auto v = parse_int(req.get_param_value("page"));
      page = (v && *v > 0) ? *v : 1;
    }
    reply r;
    r.charge = false;
    r.body = (pages > 0 && page > pages) ? "[]" : "[" + item + "]";
    const std::string endpoint_name = kind == endpoint::pulls ? "/pulls" : "/issues";
    const std::string url = base + "/repos/" + repo.data.full_name() + endpoint_name + "?state=all&per_page=1&page=";
    std::string link;
    if (pages < 0 || page < pages) link = "<" + url + std::to_string(page + 1) + suffix + ">; rel=\"next\"";
    if (pages > 0 && page < pages) link += ", <" + url + std::to_string(pages) + suffix + ">; rel=\"last\"";
    if (!link.empty()) r.headers.emplace_back("Link", link);
    return r;
  }

  // The page of items selected[offset, end), assembled and hashed once per
  // distinct query and then shared by every request for it.
  static std::shared_ptr<const cached_page> shared_page(repo_state& repo, std::string key,
                                                        const std::vector<std::string>& rendered,
                                                        const std::vector<std::size_t>& selected, std::size_t offset,
                                                        std::size_t end) {
    {
      std::lock_guard lock(repo.page_mutex);
      if (auto it = repo.pages.find(key); it != repo.pages.end()) return it->second;
    }
    auto built = std::make_shared<cached_page>();
    std::size_t bytes = 2;
    for (std::size_t i = offset; i < end; ++i) bytes += rendered[selected[i]].size() + 1;
    built->body.reserve(bytes);
    built->body += '[';
    for (std::size_t i = offset; i < end; ++i) {
      if (i > offset) built->body += ',';
      built->body += rendered[selected[i]];
    }
    built->body += ']';
    built->etag = etag_of(built->body);
    std::lock_guard lock(repo.page_mutex);
    if (repo.pages.size() < k_max_cached_pages) repo.pages.emplace(std::move(key), built);
    return built;
  }

  std::string link_header(const httplib::Request& req, const repo_state& repo, endpoint kind, pagination_mode mode,
                          std::size_t n, std::size_t pp, std::size_t offset, long long page) {
    // Keep the caller's query (raw, in order) minus the position parameters.
    std::string kept;
    const auto q = req.target.find('?');
    if (q != std::string::npos) {
      std::string_view query(req.target);
      query.remove_prefix(q + 1);
      while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        const std::string_view name = pair.substr(0, pair.find('='));
        if (!pair.empty() && name != "page" && name != "after" && name != "before") {
          kept += pair;
          kept += '&';
        }
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
      }
    }
    const std::string endpoint_name = kind == endpoint::pulls ? "/pulls" : "/issues";
    const std::string url = opts.repository_id_links
                                ? base + "/repositories/" + std::to_string(repo.data.id) + endpoint_name
                                : base + "/repos/" + repo.data.full_name() + endpoint_name;
    std::vector<std::string> parts;
    const auto [fake_last, suffix] = with_faults(&repo, [](fault_options& f) {
      return std::pair{f.fake_last_page, f.link_suffix};
    });
    const auto add = [&, suffix = suffix](const std::string& position, std::string_view rel) {
      parts.push_back("<" + url + "?" + kept + position + suffix + ">; rel=\"" + std::string(rel) + "\"");
    };
    if (mode == pagination_mode::cursor) {
      if (offset + pp < n) add("after=" + make_cursor(repo.data.id, offset + pp), "next");
      if (offset > 0) add("before=" + make_cursor(repo.data.id, std::min(offset, n)), "prev");
    } else {
      const long long last = fake_last > 0 ? fake_last : static_cast<long long>((n + pp - 1) / pp);
      if (last <= 1 && page == 1) return {};
      const auto page_str = [](long long p) { return "page=" + std::to_string(p); };
      if (page > 1) add(page_str(std::min(page - 1, std::max(last, 1LL))), "prev");
      if (page < last) {
        add(page_str(page + 1), "next");
        if (mode != pagination_mode::numbered_no_last) add(page_str(last), "last");
      }
      if (page > 1) add(page_str(1), "first");
    }
    std::string out;
    for (const auto& p : parts) {
      if (!out.empty()) out += ", ";
      out += p;
    }
    return out;
  }

  reply repo_error(const repo_state& repo, endpoint kind) {
    reply r;
    const int status = repo.error_status.load();
    if (status == 0) {
      r.status = 0;
      return r;
    }
    // An empty repository or disabled issues still has a repository object.
    if (kind == endpoint::repository && (status == 409 || status == 410)) {
      r.status = 0;
      return r;
    }
    r.status = status;
    switch (status) {
      case 404:
        r.body = message_body("Not Found", "https://docs.github.com/rest/issues/issues#list-repository-issues", 404);
        break;
      case 409:
        r.body = message_body("Git Repository is empty.", "https://docs.github.com/rest/issues/issues", 409);
        break;
      case 410:
        r.body = message_body("Issues are disabled for this repo", "https://docs.github.com/v3/issues/", 410);
        break;
      case 451: {
        json_writer w(r.body);
        w.begin_object();
        w.field("message", "Repository access blocked");
        w.key("block");
        w.begin_object();
        w.field("reason", "dmca");
        w.field("created_at", "2021-06-01T12:00:00Z");
        w.field("html_url", "https://github.com/github/dmca/blob/master/2021/06/2021-06-01-example.md");
        w.end_object();
        w.field("status", "451");
        w.end_object();
        break;
      }
      case 403:
        r.body = message_body("Resource not accessible by integration", "https://docs.github.com/rest", 403);
        break;
      default:
        r.body = message_body("Server Error", "https://docs.github.com/rest", status);
    }
    return r;
  }

  reply rate_limit_body(const budget_view& b) {
    reply r;
    r.charge = false;
    json_writer w(r.body);
    const auto resource = [&](std::string_view name, std::int64_t limit, std::int64_t used, std::int64_t reset) {
      w.key(name);
      w.begin_object();
      w.field_num("limit", limit);
      w.field_num("used", used);
      w.field_num("remaining", limit - used);
      w.field_num("reset", reset);
      w.end_object();
    };
    w.begin_object();
    w.key("resources");
    w.begin_object();
    resource("core", b.limit, b.used, b.reset);
    resource("search", 30, 0, std::time(nullptr) + 60);
    resource("graphql", 5000, 0, std::time(nullptr) + 3600);
    w.end_object();
    resource("rate", b.limit, b.used, b.reset);
    w.end_object();
    return r;
  }

  // ------------------------------------------------------------ handler
  void handle(const httplib::Request& req, httplib::Response& res) {
    const std::uint64_t concurrent = ++in_flight;
    // Decrements even if answering throws (httplib then sends a 500).
    const std::unique_ptr<std::atomic<std::uint64_t>, void (*)(std::atomic<std::uint64_t>*)> leave(
        &in_flight, [](std::atomic<std::uint64_t>* n) { --*n; });
    {
      std::lock_guard lock(stats_mutex);
      counters.peak_concurrency = std::max(counters.peak_concurrency, concurrent);
    }
    const route rt = resolve(req.path);
    const std::string auth = req.get_header_value("Authorization");
    const bool has_auth = req.has_header("Authorization");
    const bool has_inm = req.has_header("If-None-Match");

    const auto latency = latency_for(rt.repo);
    if (latency.count() > 0) {
      std::unique_lock lock(stop_mutex);
      stop_cv.wait_for(lock, latency, [this] { return stopping; });
    }

    reply r = answer(req, rt, auth, has_auth, concurrent);
    const std::string reset_value = with_faults(rt.repo, [](fault_options& f) { return f.ratelimit_reset_value; });
    if (!reset_value.empty())
      for (auto& [name, value] : r.headers)
        if (name == "x-ratelimit-reset") value = reset_value;
    send(r, res);
    record(req, r.status, has_auth, has_inm, r.content().size());
  }

  reply answer(const httplib::Request& req, const route& rt, const std::string& auth, bool has_auth,
               std::uint64_t concurrent) {
    reply r;
    if (req.get_header_value("User-Agent").empty()) {
      r.status = 403;
      r.rate_headers = false;
      r.body =
          "Request forbidden by administrative rules. Please make sure your request has a User-Agent header "
          "(https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). Check "
          "https://developer.github.com for other possible causes.\n";
      r.content_type = "text/plain; charset=utf-8";
      return r;
    }

    // Credentials: "Bearer T" or "token T".
    std::string identity = "anonymous";
    if (has_auth) {
      std::string_view value = trim(auth);
      const auto space = value.find(' ');
      const std::string scheme = lower(value.substr(0, space));
      const std::string_view token = space == std::string_view::npos ? std::string_view{} : trim(value.substr(space));
      const bool well_formed = (scheme == "bearer" || scheme == "token") && !token.empty();
      if (!well_formed || (opts.token && token != *opts.token)) {
        r.status = 401;
        r.rate_headers = false;
        r.body = message_body("Bad credentials", "https://docs.github.com/rest", 401);
        return r;
      }
      identity = "token:" + hex64(fnv1a(token, 1469598103934665603ull));
    } else if (opts.require_token) {
      r.status = 401;
      r.rate_headers = false;
      r.body = message_body("Requires authentication", "https://docs.github.com/rest", 401);
      return r;
    }

    if (auto secondary = take_secondary(rt.repo, concurrent)) {
      add_rate_headers(*secondary, check_budget(identity, false));
      return std::move(*secondary);
    }

    if (!rt.found) {
      r.status = 404;
      r.body = message_body("Not Found", "https://docs.github.com/rest", 404);
      return finish(req, std::move(r), identity, rt.repo);
    }
    if (rt.kind == endpoint::rate_limit) {
      r = rate_limit_body(check_budget(identity, false));
      r.rate_headers = true;
      add_rate_headers(r, check_budget(identity, false));
      return r;
    }

    repo_state& repo = *rt.repo;
    if (const auto& target = repo.data.spec.renamed_to; !target.empty()) {
      const repo_state& moved = *by_name.at(lower(target));
      std::string location = base + "/repositories/" + std::to_string(moved.data.id) + rt.suffix;
      if (const auto q = req.target.find('?'); q != std::string::npos) location += req.target.substr(q);
      r.status = 301;
      json_writer w(r.body);
      w.begin_object();
      w.field("message", "Moved Permanently");
      w.field("url", location);
      w.field("documentation_url",
              "https://docs.github.com/rest/guides/best-practices-for-using-the-rest-api#follow-redirects");
      w.end_object();
      r.headers.emplace_back("Location", location);
      return finish(req, std::move(r), identity, rt.repo);
    }
    if (reply e = repo_error(repo, rt.kind); e.status != 0) return finish(req, std::move(e), identity, rt.repo);

    if (take_502(rt.repo)) {
      r.status = 502;
      r.rate_headers = false;
      r.charge = false;
      r.content_type = "text/html";
      r.body =
          "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad "
          "Gateway</h1></center>\r\n<hr><center>github.com</center>\r\n</body>\r\n</html>\r\n";
      return r;
    }

    if (rt.kind == endpoint::repository) {
      render(repo);
      r.body = repo.repo_json;
      r.cacheable = true;
    } else {
      r = list_page(req, repo, rt.kind);
    }
    return finish(req, std::move(r), identity, rt.repo);
  }

  // Malformed-body injection, conditional requests and the primary budget.
  reply finish(const httplib::Request& req, reply r, const std::string& identity, const repo_state* repo) {
    if (r.status == 200 && r.list_page) {
      if (const int kind = take_malformed(repo); kind != 0) {
        if (r.page) r.body = std::exchange(r.page, nullptr)->body;  // corrupt a copy, never the shared page
        corrupt(r.body, kind);
      }
    }
    if (r.status == 200 && r.cacheable) {
      // The ETag hashes what is sent, so a corrupted page never matches a good one.
      const std::string etag = r.page ? r.page->etag : etag_of(r.body);
      r.headers.emplace_back("ETag", etag);
      r.headers.emplace_back("Cache-Control", "private, max-age=60, s-maxage=60");
      if (req.has_header("If-None-Match") && etag_matches(req.get_header_value("If-None-Match"), etag)) {
        r.status = 304;
        r.body.clear();
        r.page.reset();
        r.charge = false;
        add_rate_headers(r, check_budget(identity, false));
        return r;
      }
    }
    const budget_view b = check_budget(identity, r.charge);
    if (b.exhausted) {
      reply limited;
      limited.status = 403;
      const std::string who = identity == "anonymous"
                                  ? req.remote_addr +
                                        ". (But here's the good news: Authenticated requests get a "
                                        "higher rate limit. Check out the documentation for more details.)"
                                  : "user ID " + std::to_string(1000 + fnv1a(identity, 7) % 90000000) + ".";
      limited.body = message_body("API rate limit exceeded for " + who,
                                  "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting", 403);
      add_rate_headers(limited, b);
      return limited;
    }
    add_rate_headers(r, b);
    return r;
  }

  // Breaks a JSON page while keeping the HTTP framing intact.
  static void corrupt(std::string& body, int kind) {
    if (kind == 1 || body.size() < 4) {
      body.resize(std::max<std::size_t>(body.size() / 2, 1));  // truncated mid-document
      return;
    }
    const auto colon = body.find("\"number\":");
    if (colon != std::string::npos) {
      body[colon + 8] = ' ';  // "number" 12 -- a missing colon
    } else {
      body.insert(body.size() - 1, ",,");
    }
  }

  void add_rate_headers(reply& r, const budget_view& b) const {
    r.headers.emplace_back("x-ratelimit-limit", std::to_string(b.limit));
    r.headers.emplace_back("x-ratelimit-remaining", std::to_string(b.limit - b.used));
    r.headers.emplace_back("x-ratelimit-used", std::to_string(b.used));
    r.headers.emplace_back("x-ratelimit-reset", std::to_string(b.reset));
    r.headers.emplace_back("x-ratelimit-resource", "core");
  }

  void send(const reply& r, httplib::Response& res) {
    res.status = r.status;
    const std::uint64_t id = ++request_ids;
    char request_id[64];
    std::snprintf(request_id, sizeof request_id, "F0B5:%llX:%llX:%X", static_cast<unsigned long long>(bound_port),
                  static_cast<unsigned long long>(id), static_cast<unsigned>(id * 2654435761u));
    res.set_header("Server", "github.com");
    res.set_header("Date", http_date(std::time(nullptr)));
    res.set_header("x-github-request-id", request_id);
    res.set_header("x-github-api-version-selected", "2022-11-28");
    res.set_header("X-GitHub-Media-Type", "github.v3; format=json");
    res.set_header("Vary", "Accept, Authorization, Cookie, X-GitHub-OTP, Accept-Encoding");
    res.set_header("Access-Control-Expose-Headers",
                   "ETag, Link, Location, Retry-After, X-GitHub-OTP, X-RateLimit-Limit, X-RateLimit-Remaining, "
                   "X-RateLimit-Used, X-RateLimit-Resource, X-RateLimit-Reset");
    for (const auto& [name, value] : r.headers) res.set_header(name, value);
    if (r.status == 304) return;
    if (r.page) {
      // Streams the shared page straight from the cache: no per-request copy.
      res.set_content_provider(r.page->body.size(), r.content_type,
                               [page = r.page](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
                                 return sink.write(page->body.data() + offset, length);
                               });
      return;
    }
    res.set_content(r.body, r.content_type);
  }

  void record(const httplib::Request& req, int status, bool has_auth, bool has_inm, std::size_t body_bytes) {
    request_record rec;
    rec.path = req.path;
    if (const auto q = req.target.find('?'); q != std::string::npos) rec.query = req.target.substr(q + 1);
    rec.status = status;
    rec.had_authorization = has_auth;
    rec.had_if_none_match = has_inm;
    std::vector<std::pair<std::string, std::string>> headers;
    for (const auto& [name, value] : req.headers) {
      if (lower(name) == "authorization") {
        const auto space = value.find(' ');
        headers.emplace_back(name,
                             (space == std::string::npos ? std::string() : value.substr(0, space + 1)) + "<redacted>");
      } else {
        headers.emplace_back(name, value);
      }
    }
    std::lock_guard lock(stats_mutex);
    ++counters.requests;
    ++counters.by_status[status];
    if (status == 304) ++counters.not_modified;
    if (has_auth) ++counters.with_authorization;
    counters.body_bytes += status == 304 ? 0 : body_bytes;
    counters.last_headers = std::move(headers);
    log.push_back(std::move(rec));
    if (log.size() > k_log_capacity) log.pop_front();
  }
};

}  // namespace sluice::fake_github

namespace sluice::fake_github {

server::server(server_options options) : m_impl(std::make_unique<impl>(std::move(options))) { m_impl->start(); }

server::~server() { stop(); }

int server::port() const { return m_impl->bound_port; }

std::string server::base_url() const { return m_impl->base; }

void server::stop() { m_impl->stop(); }

void server::render_all() {
  for (const auto& r : m_impl->repos) m_impl->render(*r);
}

const generated_repo* server::repo(std::string_view full_name) const {
  const auto it = m_impl->by_name.find(lower(full_name));
  return it == m_impl->by_name.end() ? nullptr : &it->second->data;
}

std::vector<const generated_repo*> server::repos() const {
  std::vector<const generated_repo*> out;
  for (const auto& r : m_impl->repos) out.push_back(&r->data);
  return out;
}

void server::set_faults(const fault_options& faults) {
  std::lock_guard lock(m_impl->fault_mutex);
  m_impl->faults = faults;
}

fault_options server::faults() const {
  std::lock_guard lock(m_impl->fault_mutex);
  return m_impl->faults;
}

void server::set_repo_faults(std::string_view full_name, const fault_options& faults) {
  std::lock_guard lock(m_impl->fault_mutex);
  m_impl->repo_faults[lower(full_name)] = faults;
}

void server::clear_repo_faults(std::string_view full_name) {
  std::lock_guard lock(m_impl->fault_mutex);
  m_impl->repo_faults.erase(lower(full_name));
}

void server::exhaust_rate_limit(std::chrono::seconds reset_in) {
  std::lock_guard lock(m_impl->budget_mutex);
  // Round up: a reset "2 s ahead" must not already have passed when the
  // header says it (the header has whole seconds).
  m_impl->exhausted_until = std::time(nullptr) + std::max<std::int64_t>(reset_in.count(), 0) + 1;
}

void server::set_repo_error(std::string_view full_name, int status) {
  const auto it = m_impl->by_name.find(lower(full_name));
  if (it == m_impl->by_name.end()) throw std::invalid_argument("fake_github: no such repository");
  it->second->error_status = status;
}

server_stats server::stats() const {
  std::lock_guard lock(m_impl->stats_mutex);
  return m_impl->counters;
}

std::vector<request_record> server::request_log() const {
  std::lock_guard lock(m_impl->stats_mutex);
  return {m_impl->log.begin(), m_impl->log.end()};
}

void server::reset_stats() {
  std::lock_guard lock(m_impl->stats_mutex);
  m_impl->counters = {};
  m_impl->log.clear();
}

}  // namespace sluice::fake_github
