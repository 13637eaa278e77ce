#include "sluice/fake_github/generator.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <ctime>
#include <string_view>

#include "random.hpp"
#include "sluice/core/json.hpp"

namespace sluice::fake_github {
namespace {

using detail::splitmix64;
using sluice::json_writer;

// ---------------------------------------------------------------- vocabulary

struct label_def {
  std::string_view name;
  std::string_view color;
  std::string_view description;  // empty: null
  bool is_default;
};

// Names and descriptions exercise escapes: quotes, a backslash, emoji, accents.
constexpr std::array<label_def, 14> k_labels{{
    {"bug", "d73a4a", "Something isn't working", true},
    {"enhancement", "a2eeef", "New feature or request", true},
    {"documentation", "0075ca", "Improvements or additions to documentation", true},
    {"good first issue", "7057ff", "Good for newcomers", true},
    {"help wanted", "008672", "Extra attention is needed", true},
    {"question", "d876e3", "Further information is requested", true},
    {"area: parser", "1d76db", "Touches the \"parser\" module", false},
    {"priority/high", "b60205", "", false},
    {"needs triage \xF0\x9F\x9A\xA6", "fbca04",
     "Waiting for a maintainer's first look \xE2\x80\x94 \xC3\xA7"
     "a va?",
     false},
    {"dependencies", "0366d6", "Pull requests that update a dependency file", false},
    {"performance", "5319e7", "Slow paths (see docs\\perf.md)", false},
    {"wontfix", "ffffff", "This will not be worked on", true},
    {"duplicate", "cfd3d7", "This issue or pull request already exists", true},
    {"invalid", "e4e669", "This doesn't seem right", true},
}};

// GitHub logins are ASCII letters, digits and hyphens; apps end in "[bot]".
constexpr std::array<std::string_view, 32> k_logins{
    "octocat",  "monalisa",      "hubot",     "dependabot[bot]", "alice-dev", "bob-builder", "carol-ng", "dmitri-k",
    "eve-sec",  "renovate[bot]", "frank-ops", "grace-h",         "heidi-ux",  "ivan-petrov", "judy-ml",  "mallory",
    "niaj",     "olivia-w",      "peggy-p",   "rupert",          "sybil-q",   "trent-ci",    "victor-v", "walter-w",
    "xavier-x", "yuki-tanaka",   "zoe-z",     "aaron-a",         "bea-b",     "chen-li",     "dana-d",   "emil-e",
};

constexpr std::array<std::string_view, 12> k_topics{
    "the parser",  "pagination",    "the CLI",       "rate limiting", "the cache",  "TLS handshakes",
    "JSON output", "the scheduler", "Windows paths", "the docs site", "CSV export", "retries",
};

constexpr std::array<std::string_view, 10> k_issue_titles{
    "Crash when parsing \"%\" with a trailing comma",
    "Support for % is missing",
    "Docs: typo in the section on %",
    "\xC3\x9C"
    "bersetzung f\xC3\xBCr % aktualisieren",
    "\xE6\x80\xA7\xE8\x83\xBD: % is slow on large inputs",
    "\xF0\x9F\x90\x9B % regressed in 2.3",
    "Path C:\\Users\\dev breaks %",
    "% hangs forever \xE2\x80\x94 no timeout?",
    "Feature request: configurable %",
    "Unexpected 'null' from %",
};

constexpr std::array<std::string_view, 8> k_pull_titles{
    "Fix % edge case",
    "Add tests for %",
    "Refactor %",
    "\xF0\x9F\x9A\x80 Speed up % by 2\xC3\x97",
    "Bump % from 1.2.3 to 1.2.4",
    "docs: explain \"%\" better",
    "WIP: rewrite %",
    "Revert \"Refactor %\"",
};

constexpr std::array<std::string_view, 30> k_sentences{
    "The pipeline stalls when the upstream closes early.",
    "Steps to reproduce:\n1. Run `sluice --fast`\n2. See the \"boom\" message",
    "Path was C:\\Users\\dev\\sluice\\build \xE2\x80\x94 note the backslashes.",
    "Works on Linux \xF0\x9F\x90\xA7 but not on macOS \xF0\x9F\x8D\x8E.",
    "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88\xE3\x82\x82"
    "\xE8\xA1\xA8\xE7\xA4\xBA\xE3\x81\x95\xE3\x82\x8C\xE3\x82\x8B\xE3\x81\xB9\xE3\x81\x8D\xE3\x81\xA7\xE3\x81\x99\xE3"
    "\x80\x82",
    "\xC3\x87"
    "a plante avec \xC2\xAB guillemets \xC2\xBB et des accents: \xC3\xA9 \xC3\xA8 \xC3\xAA \xC3\xAB.",
    "Emoji test: \xF0\x9F\x9A\x80\xF0\x9F\x94\xA5\xE2\x9C\xA8 \xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x92\xBB (ZWJ) and "
    "a flag \xF0\x9F\x87\xA9\xF0\x9F\x87\xAA.",
    "```json\n{\"key\": \"value\", \"nested\": {\"a\": [1, 2, 3]}, \"esc\": \"\\\"\"}\n```",
    "Tab\tseparated\tvalues\tshow up here.",
    "Quote: \"It's not a bug, it's a feature\" \xE2\x80\x94 someone, 2019.",
    "Regex `^\\d{3}-\\d{4}$` fails on input '555-1234'.",
    "Na\xC3\xAFve caf\xC3\xA9 r\xC3\xA9sum\xC3\xA9 fa\xC3\xA7"
    "ade.",
    "\xD0\xA0\xD1\x83\xD1\x81\xD1\x81\xD0\xBA\xD0\xB8\xD0\xB9 \xD1\x82\xD0\xB5\xD0\xBA\xD1\x81\xD1\x82: "
    "\xD0\xBE\xD1\x88\xD0\xB8\xD0\xB1\xD0\xBA\xD0\xB0.",
    "Math: \xE2\x88\x91 x\xC2\xB2 \xE2\x89\xA4 \xE2\x88\x9E for all \xCE\xB5 > 0.",
    "<script>alert('xss')</script> must stay escaped in the UI.",
    "Stack trace:\n    at parse (parser.cpp:123)\n    at main (main.cpp:45)",
    "Windows line endings follow.\r\nSecond line after CRLF.",
    "I expected the retry to back off, but it hammered the server.",
    "This started after upgrading to the latest release.",
    "Happy to send a PR if the approach sounds right.",
    "The log says: `error: unexpected token '}' at 1:42`.",
    "Memory grows without bound when the consumer is slow.",
    "Related to #12 and maybe #345.",
    "cc @octocat @monalisa",
    "- [x] tests\n- [ ] docs\n- [ ] changelog",
    "> quoted reply\n> spanning two lines",
    "Setting `per_page=100` did not change anything.",
    "Null byte? No, just the text \\u0000 written out.",
    "See https://example.com/a?b=1&c=\"2\" for details.",
    "Thanks for the great library!",
};

// ------------------------------------------------------------------ helpers

std::uint64_t hash_string(std::string_view text, std::uint64_t basis = 1469598103934665603ull) {
  std::uint64_t h = basis;
  for (char c : text) {
    h ^= static_cast<std::uint8_t>(std::tolower(static_cast<unsigned char>(c)));
    h *= 1099511628211ull;
  }
  return h;
}

std::int64_t login_id(std::string_view login) {
  return 1000 + static_cast<std::int64_t>(hash_string(login) % 150000000ull);
}

bool is_bot(std::string_view login) { return login.ends_with("[bot]"); }

// Picks an index in [0, n) with weights 1/(i+1): a few names dominate, as on
// real trackers, so "top 5" lists are meaningful.
std::size_t zipf_pick(splitmix64& rng, std::size_t n) {
  double total = 0;
  for (std::size_t i = 0; i < n; ++i) total += 1.0 / static_cast<double>(i + 1);
  double x = rng.unit() * total;
  for (std::size_t i = 0; i < n; ++i) {
    x -= 1.0 / static_cast<double>(i + 1);
    if (x < 0) return i;
  }
  return n - 1;
}

std::string fill_template(std::string_view tmpl, std::string_view word) {
  std::string out;
  for (char c : tmpl) {
    if (c == '%') {
      out += word;
    } else {
      out += c;
    }
  }
  return out;
}

std::string hex_string(splitmix64& rng, std::size_t length) {
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length);
  for (std::size_t i = 0; i < length; ++i) out += k_hex[rng.next() & 0xF];
  return out;
}

std::string node_id(std::string_view prefix, std::int64_t id) {
  static constexpr char k_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out(prefix);
  auto v = static_cast<std::uint64_t>(id) * 2654435761ull + 0x5bd1e995ull;
  for (int i = 0; i < 11; ++i) {
    out += k_b64[v & 63];
    v >>= 6;
  }
  return out;
}

// Logins such as "dependabot[bot]" are percent-encoded in API URLs.
std::string url_login(std::string_view login) {
  std::string out;
  for (char c : login) {
    if (c == '[') {
      out += "%5B";
    } else if (c == ']') {
      out += "%5D";
    } else {
      out += c;
    }
  }
  return out;
}

std::string pick_body(splitmix64& rng, std::uint64_t max_sentences) {
  const std::uint64_t kind = rng.uniform(100);
  if (kind < 5) return "";
  const int sentences = static_cast<int>(rng.range(1, max_sentences));
  std::string body;
  for (int i = 0; i < sentences; ++i) {
    if (i > 0) body += rng.uniform(4) == 0 ? "\n\n" : " ";
    body += k_sentences[rng.uniform(k_sentences.size())];
  }
  return body;
}

// ---------------------------------------------------------------- rendering

void write_user(json_writer& w, const render_context& ctx, std::string_view login, std::string_view type = {}) {
  const std::int64_t id = login_id(login);
  const bool bot = is_bot(login);
  const std::string api = ctx.api_base + "/users/" + url_login(login);
  w.begin_object();
  w.field("login", login);
  w.field_num("id", id);
  w.field("node_id", node_id(bot ? "BOT_kgDO" : "MDQ6VXNlcj", id));
  w.field("avatar_url", bot ? "https://avatars.githubusercontent.com/in/29110?v=4"
                            : "https://avatars.githubusercontent.com/u/" + std::to_string(id) + "?v=4");
  w.field("gravatar_id", "");
  w.field("url", api);
  w.field("html_url", bot ? ctx.web_base + "/apps/" + std::string(login.substr(0, login.size() - 5))
                          : ctx.web_base + "/" + std::string(login));
  w.field("followers_url", api + "/followers");
  w.field("following_url", api + "/following{/other_user}");
  w.field("gists_url", api + "/gists{/gist_id}");
  w.field("starred_url", api + "/starred{/owner}{/repo}");
  w.field("subscriptions_url", api + "/subscriptions");
  w.field("organizations_url", api + "/orgs");
  w.field("repos_url", api + "/repos");
  w.field("events_url", api + "/events{/privacy}");
  w.field("received_events_url", api + "/received_events");
  w.field("type", !type.empty() ? type : (bot ? "Bot" : "User"));
  w.field("user_view_type", "public");
  w.field_bool("site_admin", false);
  w.end_object();
}

struct repo_identity {
  std::string owner;
  std::string name;
  std::int64_t id;
  std::int64_t created_at;
  bool fork;
  std::string owner_type;
};

void write_repository(json_writer& w, const render_context& ctx, const repo_identity& r, int open_issues,
                      bool detailed) {
  const std::string full = r.owner + "/" + r.name;
  const std::string api = ctx.api_base + "/repos/" + full;
  splitmix64 rng(static_cast<std::uint64_t>(r.id) * 31 + 7);
  w.begin_object();
  w.field_num("id", r.id);
  w.field("node_id", node_id("R_kgDO", r.id));
  w.field("name", r.name);
  w.field("full_name", full);
  w.field_bool("private", false);
  w.key("owner");
  write_user(w, ctx, r.owner, r.owner_type);
  w.field("html_url", ctx.web_base + "/" + full);
  w.field("description",
          "Generated repository \xE2\x80\x94 \"" + r.name + "\" for sluice's fake GitHub \xF0\x9F\xA7\xAA");
  w.field_bool("fork", r.fork);
  w.field("url", api);
  static constexpr std::pair<std::string_view, std::string_view> k_urls[] = {
      {"forks_url", "/forks"},
      {"keys_url", "/keys{/key_id}"},
      {"collaborators_url", "/collaborators{/collaborator}"},
      {"teams_url", "/teams"},
      {"hooks_url", "/hooks"},
      {"issue_events_url", "/issues/events{/number}"},
      {"events_url", "/events"},
      {"assignees_url", "/assignees{/user}"},
      {"branches_url", "/branches{/branch}"},
      {"tags_url", "/tags"},
      {"blobs_url", "/git/blobs{/sha}"},
      {"git_tags_url", "/git/tags{/sha}"},
      {"git_refs_url", "/git/refs{/sha}"},
      {"trees_url", "/git/trees{/sha}"},
      {"statuses_url", "/statuses/{sha}"},
      {"languages_url", "/languages"},
      {"stargazers_url", "/stargazers"},
      {"contributors_url", "/contributors"},
      {"subscribers_url", "/subscribers"},
      {"subscription_url", "/subscription"},
      {"commits_url", "/commits{/sha}"},
      {"git_commits_url", "/git/commits{/sha}"},
      {"comments_url", "/comments{/number}"},
      {"issue_comment_url", "/issues/comments{/number}"},
      {"contents_url", "/contents/{+path}"},
      {"compare_url", "/compare/{base}...{head}"},
      {"merges_url", "/merges"},
      {"archive_url", "/{archive_format}{/ref}"},
      {"downloads_url", "/downloads"},
      {"issues_url", "/issues{/number}"},
      {"pulls_url", "/pulls{/number}"},
      {"milestones_url", "/milestones{/number}"},
      {"notifications_url", "/notifications{?since,all,participating}"},
      {"labels_url", "/labels{/name}"},
      {"releases_url", "/releases{/id}"},
      {"deployments_url", "/deployments"},
  };
  for (const auto& [key, suffix] : k_urls) w.field(key, api + std::string(suffix));
  w.field("created_at", iso8601(r.created_at));
  w.field("updated_at", iso8601(r.created_at + static_cast<std::int64_t>(rng.range(86400, 86400 * 900))));
  w.field("pushed_at", iso8601(r.created_at + static_cast<std::int64_t>(rng.range(86400, 86400 * 900))));
  w.field("git_url", "git://github.com/" + full + ".git");
  w.field("ssh_url", "git@github.com:" + full + ".git");
  w.field("clone_url", ctx.web_base + "/" + full + ".git");
  w.field("svn_url", ctx.web_base + "/" + full);
  if (rng.uniform(2) == 0) {
    w.field("homepage", "https://" + r.owner + ".example.org/" + r.name);
  } else {
    w.field_null("homepage");
  }
  w.field_num("size", static_cast<std::int64_t>(rng.range(100, 90000)));
  const auto stars = static_cast<std::int64_t>(rng.range(0, 20000));
  const auto forks = static_cast<std::int64_t>(rng.range(0, 3000));
  w.field_num("stargazers_count", stars);
  w.field_num("watchers_count", stars);
  w.field("language", rng.uniform(2) == 0 ? "C++" : "Python");
  w.field_bool("has_issues", true);
  w.field_bool("has_projects", true);
  w.field_bool("has_downloads", true);
  w.field_bool("has_wiki", rng.uniform(2) == 0);
  w.field_bool("has_pages", false);
  w.field_bool("has_discussions", rng.uniform(3) == 0);
  w.field_num("forks_count", forks);
  w.field_null("mirror_url");
  w.field_bool("archived", false);
  w.field_bool("disabled", false);
  w.field_num("open_issues_count", open_issues);
  w.key("license");
  w.begin_object();
  w.field("key", "mit");
  w.field("name", "MIT License");
  w.field("spdx_id", "MIT");
  w.field("url", ctx.api_base + "/licenses/mit");
  w.field("node_id", "MDc6TGljZW5zZTEz");
  w.end_object();
  w.field_bool("allow_forking", true);
  w.field_bool("is_template", false);
  w.field_bool("web_commit_signoff_required", false);
  w.key("topics");
  w.begin_array();
  w.str("cpp");
  w.str("github-api");
  if (rng.uniform(2) == 0) w.str("pipelines");
  w.end_array();
  w.field("visibility", "public");
  w.field_num("forks", forks);
  w.field_num("open_issues", open_issues);
  w.field_num("watchers", stars);
  w.field("default_branch", "main");
  if (detailed) {
    w.key("permissions");
    w.begin_object();
    w.field_bool("admin", false);
    w.field_bool("maintain", false);
    w.field_bool("push", false);
    w.field_bool("triage", false);
    w.field_bool("pull", true);
    w.end_object();
    w.field_bool("allow_squash_merge", true);
    w.field_bool("allow_merge_commit", true);
    w.field_bool("allow_rebase_merge", true);
    w.field_bool("delete_branch_on_merge", false);
    w.field_num("network_count", forks);
    w.field_num("subscribers_count", static_cast<std::int64_t>(rng.range(0, 500)));
  }
  w.end_object();
}

repo_identity identity_of(const generated_repo& repo) {
  return {repo.spec.owner, repo.spec.name, repo.id,
          repo.created_at, false,          repo.spec.owner.size() % 2 == 0 ? "Organization" : "User"};
}

int open_issue_count(const generated_repo& repo) {
  int open = 0;
  for (const auto& item : repo.items) open += item.closed ? 0 : 1;
  return open;
}

void write_labels(json_writer& w, const generated_repo& repo, const generated_item& item, const render_context& ctx) {
  w.key("labels");
  w.begin_array();
  for (const auto& name : item.labels) {
    const auto def = std::find_if(k_labels.begin(), k_labels.end(), [&](const label_def& d) { return d.name == name; });
    const auto label_id =
        static_cast<std::int64_t>(hash_string(name, static_cast<std::uint64_t>(repo.id)) % 9000000000ull);
    w.begin_object();
    w.field_num("id", label_id);
    w.field("node_id", node_id("LA_kwDO", label_id));
    std::string encoded;
    for (char c : name) {
      if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') {
        encoded += c;
      } else {
        static constexpr char k_hex[] = "0123456789ABCDEF";
        encoded += '%';
        encoded += k_hex[(static_cast<std::uint8_t>(c) >> 4) & 0xF];
        encoded += k_hex[static_cast<std::uint8_t>(c) & 0xF];
      }
    }
    w.field("url", ctx.api_base + "/repos/" + repo.full_name() + "/labels/" + encoded);
    w.field("name", name);
    w.field("color", def->color);
    w.field_bool("default", def->is_default);
    if (def->description.empty()) {
      w.field_null("description");
    } else {
      w.field("description", def->description);
    }
    w.end_object();
  }
  w.end_array();
}

// Assignees and milestone are decoration (not ground truth): derived from the
// item so that rendering stays deterministic.
std::vector<std::string> assignees_of(const generated_repo& repo, const generated_item& item) {
  splitmix64 rng(repo.spec.seed * 1315423911ull + static_cast<std::uint64_t>(item.number) * 77ull);
  std::vector<std::string> out;
  const auto n = rng.uniform(10);
  if (n >= 3) return out;
  const auto pool = static_cast<std::size_t>(std::clamp(repo.spec.author_pool, 1, 32));
  out.emplace_back(k_logins[rng.uniform(pool)]);
  if (n == 0) {
    std::string second(k_logins[rng.uniform(pool)]);
    if (second != out.front()) out.push_back(second);
  }
  return out;
}

void write_milestone(json_writer& w, const generated_repo& repo, const generated_item& item,
                     const render_context& ctx) {
  splitmix64 rng(repo.spec.seed * 2246822519ull + static_cast<std::uint64_t>(item.number) * 13ull);
  w.key("milestone");
  if (rng.uniform(5) != 0) {
    w.null();
    return;
  }
  const auto number = static_cast<std::int64_t>(1 + item.number / 50);
  const std::string api = ctx.api_base + "/repos/" + repo.full_name() + "/milestones/" + std::to_string(number);
  const std::int64_t id = repo.id * 100 + number;
  w.begin_object();
  w.field("url", api);
  w.field("html_url", ctx.web_base + "/" + repo.full_name() + "/milestone/" + std::to_string(number));
  w.field("labels_url", api + "/labels");
  w.field_num("id", id);
  w.field("node_id", node_id("MI_kwDO", id));
  w.field_num("number", number);
  w.field("title", "v" + std::to_string(number) + ".0");
  w.field("description", "Release " + std::to_string(number) + ".0 \xE2\x80\x94 \"the big one\"");
  w.key("creator");
  write_user(w, ctx, k_logins[0]);
  w.field_num("open_issues", static_cast<std::int64_t>(rng.range(0, 40)));
  w.field_num("closed_issues", static_cast<std::int64_t>(rng.range(0, 90)));
  w.field("state", "open");
  w.field("created_at", iso8601(repo.created_at + number * 86400));
  w.field("updated_at", iso8601(item.updated_at));
  w.field_null("due_on");
  w.field_null("closed_at");
  w.end_object();
}

void write_assignees(json_writer& w, const generated_repo& repo, const generated_item& item,
                     const render_context& ctx) {
  const auto assignees = assignees_of(repo, item);
  w.key("assignee");
  if (assignees.empty()) {
    w.null();
  } else {
    write_user(w, ctx, assignees.front());
  }
  w.key("assignees");
  w.begin_array();
  for (const auto& login : assignees) write_user(w, ctx, login);
  w.end_array();
}

// Title and body are where unicode lives; some items escape it as \uXXXX.
void write_title(json_writer& w, const generated_item& item) {
  w.set_ascii_only(item.ascii_escaped);
  w.field("title", item.title);
  w.set_ascii_only(false);
}

void write_body(json_writer& w, const generated_item& item) {
  w.set_ascii_only(item.ascii_escaped);
  if (item.body) {
    w.field("body", *item.body);
  } else {
    w.field_null("body");
  }
  w.set_ascii_only(false);
}

void write_reactions(json_writer& w, const generated_repo& repo, const generated_item& item, const std::string& api) {
  splitmix64 rng(repo.spec.seed * 40503ull + static_cast<std::uint64_t>(item.number) * 7919ull);
  static constexpr std::array<std::string_view, 8> k_kinds{"+1",       "-1",    "laugh",  "hooray",
                                                           "confused", "heart", "rocket", "eyes"};
  std::array<std::int64_t, 8> counts{};
  std::int64_t total = 0;
  for (auto& c : counts) {
    c = rng.uniform(3) == 0 ? static_cast<std::int64_t>(rng.range(0, 12)) : 0;
    total += c;
  }
  w.key("reactions");
  w.begin_object();
  w.field("url", api + "/reactions");
  w.field_num("total_count", total);
  for (std::size_t i = 0; i < k_kinds.size(); ++i) w.field_num(k_kinds[i], counts[i]);
  w.end_object();
}

void write_optional_time(json_writer& w, std::string_view key, const std::optional<std::int64_t>& t) {
  if (t) {
    w.field(key, iso8601(*t));
  } else {
    w.field_null(key);
  }
}

}  // namespace

// ------------------------------------------------------------------ public

std::string iso8601(std::int64_t epoch_seconds) {
  const auto t = static_cast<std::time_t>(epoch_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::optional<std::int64_t> parse_iso8601(const std::string& text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &consumed) != 6) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return std::nullopt;
  std::string_view rest(text.c_str() + consumed);
  if (!rest.empty() && rest.front() == '.') {
    rest.remove_prefix(1);
    while (!rest.empty() && std::isdigit(static_cast<unsigned char>(rest.front()))) rest.remove_prefix(1);
  }
  std::int64_t offset = 0;
  if (rest == "Z" || rest.empty()) {
    offset = 0;
  } else if ((rest.front() == '+' || rest.front() == '-') && rest.size() == 6 && rest[3] == ':') {
    const int oh = (rest[1] - '0') * 10 + (rest[2] - '0');
    const int om = (rest[4] - '0') * 10 + (rest[5] - '0');
    offset = (rest.front() == '+' ? 1 : -1) * (oh * 3600 + om * 60);
  } else {
    return std::nullopt;
  }
  // Days from civil (Howard Hinnant's algorithm).
  const int yy = y - (mo <= 2 ? 1 : 0);
  const int era = (yy >= 0 ? yy : yy - 399) / 400;
  const int yoe = yy - era * 400;
  const int doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const std::int64_t days = static_cast<std::int64_t>(era) * 146097 + doe - 719468;
  return days * 86400 + h * 3600 + mi * 60 + s - offset;
}

const generated_item* generated_repo::find(std::int64_t number) const {
  if (number < 1 || number > static_cast<std::int64_t>(items.size())) return nullptr;
  return &items[static_cast<std::size_t>(number - 1)];
}

std::int64_t derived_repo_id(const repo_spec& spec) {
  if (spec.id != 0) return spec.id;
  return 100000000 + static_cast<std::int64_t>(hash_string(spec.full_name()) % 800000000ull);
}

generated_repo generate(const repo_spec& spec) {
  generated_repo repo;
  repo.spec = spec;
  repo.id = derived_repo_id(spec);
  repo.owner_id = login_id(spec.owner);
  splitmix64 rng(spec.seed ^ (static_cast<std::uint64_t>(repo.id) * 0x9E3779B97F4A7C15ull));
  // 2016-01-01 plus up to ~2 years.
  repo.created_at = 1451606400 + static_cast<std::int64_t>(rng.range(0, 86400 * 700));

  const int issues = std::max(spec.issues, 0);
  const int pulls = std::max(spec.pulls, 0);
  const auto total = static_cast<std::size_t>(issues + pulls);
  std::vector<bool> kinds(total, false);
  for (std::size_t i = 0; i < static_cast<std::size_t>(pulls); ++i) kinds[i] = true;
  for (std::size_t i = total; i > 1; --i) {
    const auto j = static_cast<std::size_t>(rng.uniform(i));
    const bool tmp = kinds[i - 1];
    kinds[i - 1] = kinds[j];
    kinds[j] = tmp;
  }

  const auto label_pool = static_cast<std::size_t>(std::clamp(spec.label_pool, 1, static_cast<int>(k_labels.size())));
  const auto author_pool = static_cast<std::size_t>(std::clamp(spec.author_pool, 1, static_cast<int>(k_logins.size())));
  // Each repository ranks the shared vocabularies differently.
  const auto label_shift = static_cast<std::size_t>(spec.seed % label_pool);
  const auto author_shift = static_cast<std::size_t>((spec.seed / 7) % k_logins.size());

  std::int64_t t = repo.created_at + 86400 * 20;
  repo.items.reserve(total);
  for (std::size_t k = 0; k < total; ++k) {
    generated_item item;
    item.number = static_cast<std::int64_t>(k + 1);
    item.is_pull = kinds[k];
    splitmix64 r(spec.seed * 0xD1B54A32D192ED03ull + static_cast<std::uint64_t>(item.number) * 0x8CB92BA72F3D8DD7ull +
                 static_cast<std::uint64_t>(repo.id));
    item.id = 500000000 + repo.id % 1000000 * 1000 + item.number;
    item.pull_id = item.is_pull ? 900000000 + repo.id % 1000000 * 1000 + item.number : 0;
    t += static_cast<std::int64_t>(r.range(300, 86400 * 2));
    item.created_at = t;

    // Author: Zipf over a pool rotated per repository; pull requests come from
    // bots a fifth of the time.
    std::string_view login = k_logins[(author_shift + zipf_pick(r, author_pool)) % k_logins.size()];
    if (item.is_pull && r.uniform(5) == 0) login = r.uniform(2) == 0 ? "dependabot[bot]" : "renovate[bot]";
    if (!item.is_pull && is_bot(login)) login = k_logins[0];
    item.author = std::string(login);
    item.author_id = login_id(login);
    static constexpr std::array<std::string_view, 6> k_assoc{"OWNER",       "MEMBER", "COLLABORATOR",
                                                             "CONTRIBUTOR", "NONE",   "FIRST_TIME_CONTRIBUTOR"};
    item.author_association = is_bot(login) ? "NONE" : std::string(k_assoc[hash_string(login) % k_assoc.size()]);

    const auto topic = k_topics[r.uniform(k_topics.size())];
    item.title = item.is_pull ? fill_template(k_pull_titles[r.uniform(k_pull_titles.size())], topic)
                              : fill_template(k_issue_titles[r.uniform(k_issue_titles.size())], topic);

    // Labels: 0-3 distinct, Zipf-weighted within the repository's pool.
    const auto label_roll = r.uniform(10);
    const std::size_t label_count = label_roll < 3 ? 0 : label_roll < 7 ? 1 : label_roll < 9 ? 2 : 3;
    for (std::size_t attempt = 0; item.labels.size() < std::min(label_count, label_pool) && attempt < 20; ++attempt) {
      const std::string name(k_labels[(label_shift + zipf_pick(r, label_pool)) % label_pool].name);
      if (std::find(item.labels.begin(), item.labels.end(), name) == item.labels.end()) item.labels.push_back(name);
    }

    item.comments = r.uniform(4) == 0 ? static_cast<int>(r.range(5, 60)) : static_cast<int>(r.range(0, 4));

    // State and times. Close durations are log-uniform from ~1 minute to ~4 months.
    const double hours = std::exp(std::log(0.02) + r.unit() * (std::log(3000.0) - std::log(0.02)));
    const std::int64_t duration = 60 + static_cast<std::int64_t>(hours * 3600.0);
    if (item.is_pull) {
      item.closed = r.uniform(10) < 7;
      if (item.closed) {
        item.closed_at = item.created_at + duration;
        if (r.uniform(10) < 8) item.merged_at = item.closed_at;
      }
      item.draft = item.closed ? (!item.merged_at && r.uniform(20) == 0) : r.uniform(4) == 0;
    } else {
      item.closed = r.uniform(10) < 6;
      if (item.closed) {
        item.closed_at = item.created_at + duration;
        item.state_reason = r.uniform(5) == 0 ? "not_planned" : "completed";
      } else if (r.uniform(12) == 0) {
        item.state_reason = "reopened";
      }
    }
    const std::int64_t last_event = item.closed_at.value_or(item.created_at);
    item.updated_at = last_event + (r.uniform(3) == 0 ? static_cast<std::int64_t>(r.range(1, 86400 * 10)) : 0);

    const auto body_roll = r.uniform(100);
    // Pull request items are already large (two repository objects): shorter bodies.
    if (body_roll >= 12) item.body = pick_body(r, item.is_pull ? 14 : 36);
    item.ascii_escaped = r.uniform(7) == 0;
    repo.items.push_back(std::move(item));
  }
  return repo;
}

std::string render_issue(const generated_repo& repo, const generated_item& item, const render_context& ctx) {
  const std::string api = ctx.api_base + "/repos/" + repo.full_name() + "/issues/" + std::to_string(item.number);
  const std::string num = std::to_string(item.number);
  std::string out;
  out.reserve(4096);
  json_writer w(out);
  w.begin_object();
  w.field("url", api);
  w.field("repository_url", ctx.api_base + "/repos/" + repo.full_name());
  w.field("labels_url", api + "/labels{/name}");
  w.field("comments_url", api + "/comments");
  w.field("events_url", api + "/events");
  w.field("html_url", ctx.web_base + "/" + repo.full_name() + (item.is_pull ? "/pull/" : "/issues/") + num);
  w.field_num("id", item.id);
  w.field("node_id", node_id(item.is_pull ? "PR_kwDO" : "I_kwDO", item.id));
  w.field_num("number", item.number);
  write_title(w, item);
  w.key("user");
  write_user(w, ctx, item.author);
  write_labels(w, repo, item, ctx);
  w.field("state", item.closed ? "closed" : "open");
  w.field_bool("locked", false);
  write_assignees(w, repo, item, ctx);
  write_milestone(w, repo, item, ctx);
  w.field_num("comments", item.comments);
  w.field("created_at", iso8601(item.created_at));
  w.field("updated_at", iso8601(item.updated_at));
  write_optional_time(w, "closed_at", item.closed_at);
  w.field("author_association", item.author_association);
  w.field_null("active_lock_reason");
  if (item.is_pull) {
    w.field_bool("draft", item.draft);
    w.key("pull_request");
    w.begin_object();
    const std::string pr_api = ctx.api_base + "/repos/" + repo.full_name() + "/pulls/" + num;
    const std::string pr_web = ctx.web_base + "/" + repo.full_name() + "/pull/" + num;
    w.field("url", pr_api);
    w.field("html_url", pr_web);
    w.field("diff_url", pr_web + ".diff");
    w.field("patch_url", pr_web + ".patch");
    write_optional_time(w, "merged_at", item.merged_at);
    w.end_object();
  } else {
    w.key("sub_issues_summary");
    w.begin_object();
    w.field_num("total", 0);
    w.field_num("completed", 0);
    w.field_num("percent_completed", 0);
    w.end_object();
  }
  write_body(w, item);
  w.field_null("closed_by");
  write_reactions(w, repo, item, api);
  w.field("timeline_url", api + "/timeline");
  w.field_null("performed_via_github_app");
  if (item.state_reason.empty()) {
    w.field_null("state_reason");
  } else {
    w.field("state_reason", item.state_reason);
  }
  w.end_object();
  return out;
}

std::string render_pull(const generated_repo& repo, const generated_item& item, const render_context& ctx) {
  const std::string num = std::to_string(item.number);
  const std::string repo_api = ctx.api_base + "/repos/" + repo.full_name();
  const std::string api = repo_api + "/pulls/" + num;
  const std::string web = ctx.web_base + "/" + repo.full_name() + "/pull/" + num;
  const std::string issue_api = repo_api + "/issues/" + num;
  splitmix64 rng(repo.spec.seed * 6364136223846793005ull +
                 static_cast<std::uint64_t>(item.number) * 1442695040888963407ull);
  const std::string head_sha = hex_string(rng, 40);
  const std::string base_sha = hex_string(rng, 40);
  const std::string merge_sha = hex_string(rng, 40);
  std::string out;
  out.reserve(16384);
  json_writer w(out);
  w.begin_object();
  w.field("url", api);
  w.field_num("id", item.pull_id);
  w.field("node_id", node_id("PR_kwDO", item.pull_id));
  w.field("html_url", web);
  w.field("diff_url", web + ".diff");
  w.field("patch_url", web + ".patch");
  w.field("issue_url", issue_api);
  w.field_num("number", item.number);
  w.field("state", item.closed ? "closed" : "open");
  w.field_bool("locked", false);
  write_title(w, item);
  w.key("user");
  write_user(w, ctx, item.author);
  write_body(w, item);
  w.field("created_at", iso8601(item.created_at));
  w.field("updated_at", iso8601(item.updated_at));
  write_optional_time(w, "closed_at", item.closed_at);
  write_optional_time(w, "merged_at", item.merged_at);
  if (item.closed && !item.merged_at) {
    w.field_null("merge_commit_sha");
  } else {
    w.field("merge_commit_sha", merge_sha);
  }
  write_assignees(w, repo, item, ctx);
  w.key("requested_reviewers");
  w.begin_array();
  if (!item.closed && rng.uniform(2) == 0) write_user(w, ctx, k_logins[1]);
  w.end_array();
  w.key("requested_teams");
  w.begin_array();
  w.end_array();
  write_labels(w, repo, item, ctx);
  write_milestone(w, repo, item, ctx);
  w.field_bool("draft", item.draft);
  w.field("commits_url", api + "/commits");
  w.field("review_comments_url", api + "/comments");
  w.field("review_comment_url", repo_api + "/pulls/comments{/number}");
  w.field("comments_url", issue_api + "/comments");
  w.field("statuses_url", repo_api + "/statuses/" + head_sha);

  // head: a branch of the author's fork (or of the repository itself for
  // bots and a third of humans); base: the repository's main branch.
  const bool from_fork = !is_bot(item.author) && rng.uniform(3) != 0;
  repo_identity base_repo = identity_of(repo);
  repo_identity head_repo = base_repo;
  if (from_fork) {
    head_repo = {item.author,
                 repo.spec.name,
                 200000000 + static_cast<std::int64_t>(hash_string(item.author + repo.full_name()) % 700000000ull),
                 item.created_at - 86400,
                 true,
                 "User"};
  }
  const int open_issues = open_issue_count(repo);
  const std::string branch =
      (is_bot(item.author) ? "dependabot/npm/" : "feature/") + std::to_string(item.number) + "-" + hex_string(rng, 6);
  w.key("head");
  w.begin_object();
  w.field("label", head_repo.owner + ":" + branch);
  w.field("ref", branch);
  w.field("sha", head_sha);
  w.key("user");
  write_user(w, ctx, head_repo.owner, head_repo.owner_type);
  w.key("repo");
  write_repository(w, ctx, head_repo, from_fork ? 0 : open_issues, false);
  w.end_object();
  w.key("base");
  w.begin_object();
  w.field("label", base_repo.owner + ":main");
  w.field("ref", "main");
  w.field("sha", base_sha);
  w.key("user");
  write_user(w, ctx, base_repo.owner, base_repo.owner_type);
  w.key("repo");
  write_repository(w, ctx, base_repo, open_issues, false);
  w.end_object();

  w.key("_links");
  w.begin_object();
  const auto link = [&](std::string_view name, const std::string& href) {
    w.key(name);
    w.begin_object();
    w.field("href", href);
    w.end_object();
  };
  link("self", api);
  link("html", web);
  link("issue", issue_api);
  link("comments", issue_api + "/comments");
  link("review_comments", api + "/comments");
  link("review_comment", repo_api + "/pulls/comments{/number}");
  link("commits", api + "/commits");
  link("statuses", repo_api + "/statuses/" + head_sha);
  w.end_object();
  w.field("author_association", item.author_association);
  w.field_null("auto_merge");
  w.field_null("active_lock_reason");
  w.end_object();
  return out;
}

std::string render_repository(const generated_repo& repo, const render_context& ctx) {
  std::string out;
  out.reserve(8192);
  json_writer w(out);
  write_repository(w, ctx, identity_of(repo), open_issue_count(repo), true);
  return out;
}

}  // namespace sluice::fake_github
