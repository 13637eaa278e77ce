// repo-fetcher against a hostile environment, a hostile server and
// interruption (issue 9, the app's side): tokens, names, URLs and files from
// the user; strings from the network in every output format; signals,
// --timeout, --out atomicity and a closed stdout. The real binary runs as a
// subprocess where the process boundary matters (signals, exit statuses).
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "github_test_support.hpp"
#include "sluice/core/json.hpp"
#include "sluice/repo_fetcher/cli.hpp"
#include "sluice/testing/serve_in_background.hpp"
#include "subprocess.hpp"

namespace rf = sluice::repo_fetcher;
namespace fg = sluice::fake_github;
namespace gh = sluice::github;
using sluice::testing::child_process;
using sluice::testing::read_file;
using sluice::testing::temp_path;
using namespace std::chrono_literals;

namespace {

const std::string k_binary = SLUICE_REPO_FETCHER_BINARY;

std::string usage_error_of(const std::vector<std::string>& args) {
  auto parsed = rf::parse_command_line(args);
  auto* e = std::get_if<rf::usage_error>(&parsed);
  return e ? e->message : std::string();
}

bool has_control_bytes(std::string_view s, bool allow_newlines) {
  for (char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if (allow_newlines && c == '\n') continue;
    if (b < 0x20 || b == 0x7f) return true;
  }
  return false;
}

// Sets an environment variable for one scope (tests run one at a time).
class scoped_env {
 public:
  scoped_env(const char* name, const std::string& value) : m_name(name) {
    if (const char* old = std::getenv(name)) m_old = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~scoped_env() {
    if (m_old) {
      ::setenv(m_name, m_old->c_str(), 1);
    } else {
      ::unsetenv(m_name);
    }
  }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;

 private:
  const char* m_name;
  std::optional<std::string> m_old;
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// A small loopback GitHub that answers from a table: path -> (status, body).
// It can reflect the request's Authorization header into bodies ("{{auth}}").
class scripted_github {
 public:
  explicit scripted_github(std::map<std::string, std::pair<int, std::string>> routes) : m_routes(std::move(routes)) {
    m_server.Get(R"(.*)", [this](const httplib::Request& req, httplib::Response& res) {
      auto it = m_routes.find(req.path);
      if (it == m_routes.end()) {
        res.status = 404;
        res.set_content(R"({"message": "Not Found"})", "application/json");
        return;
      }
      std::string body = it->second.second;
      for (auto at = body.find("{{auth}}"); at != std::string::npos; at = body.find("{{auth}}"))
        body.replace(at, 8, req.get_header_value("Authorization"));
      res.status = it->second.first;
      res.set_content(body, "application/json");
    });
    m_port = m_server.bind_to_any_port("127.0.0.1");
    m_thread = sluice::testing::serve_in_background(m_server);
  }
  ~scripted_github() {
    m_server.stop();
    m_thread.join();
  }
  [[nodiscard]] std::string base_url() const { return "http://127.0.0.1:" + std::to_string(m_port); }

 private:
  std::map<std::string, std::pair<int, std::string>> m_routes;
  httplib::Server m_server;
  int m_port = 0;
  std::thread m_thread;
};

}  // namespace

// --- 1. the token ---------------------------------------------------------

TEST(RepoFetcherHardening, ATokenWithATrailingCarriageReturnIsRefusedAndSaysSo) {
  fg::server srv({.repos = {{.owner = "a", .name = "one", .issues = 3, .seed = 1}}});
  const std::string secret = "ghp_TrailingCrSecret0123456789";
  scoped_env token("GITHUB_TOKEN", secret + "\r");
  std::ostringstream out, err;
  EXPECT_EQ(rf::run({"--api-url", srv.base_url(), "a/one"}, out, err, false), rf::exit_usage);
  EXPECT_NE(err.str().find("carriage return"), std::string::npos) << err.str();
  EXPECT_NE(err.str().find("GITHUB_TOKEN"), std::string::npos) << err.str();
  EXPECT_EQ(err.str().find(secret), std::string::npos) << err.str();
  EXPECT_TRUE(out.str().empty());
  EXPECT_EQ(srv.stats().requests, 0u);  // refused before any request
}

TEST(RepoFetcherHardening, ATokenWithWhitespaceOrControlCharactersIsRefusedWithoutPrintingIt) {
  fg::server srv({.repos = {{.owner = "a", .name = "one", .issues = 3, .seed = 1}}});
  for (const std::string bad : {"ghp_Secret one", "ghp_Secret\tone", "ghp_Secret\none", "ghp_Secret\x01one",
                                "ghp_Secret\r\nX-Injected: yes", "ghp_Secret\n"}) {
    scoped_env token("GH_TOKEN", bad);
    scoped_env empty("GITHUB_TOKEN", "");
    std::ostringstream out, err;
    EXPECT_EQ(rf::run({"--api-url", srv.base_url(), "a/one"}, out, err, false), rf::exit_usage) << bad;
    EXPECT_NE(err.str().find("GH_TOKEN"), std::string::npos) << err.str();
    EXPECT_EQ(err.str().find("ghp_Secret"), std::string::npos) << err.str();
  }
  EXPECT_EQ(srv.stats().requests, 0u);
}

TEST(RepoFetcherHardening, TheBinaryExitsTwoOnABadTokenAndNeverEchoesIt) {
  child_process p({k_binary, "--api-url", "http://127.0.0.1:9", "a/b"}, {"GITHUB_TOKEN=ghp_FromAWindowsFile\r"});
  ASSERT_TRUE(p.started());
  EXPECT_EQ(p.wait(60s), 2);
  EXPECT_NE(p.stderr_text().find("carriage return"), std::string::npos) << p.stderr_text();
  EXPECT_EQ(p.stderr_text().find("ghp_FromAWindowsFile"), std::string::npos);
}

// --- 2. repository names ----------------------------------------------------

TEST(RepoFetcherHardening, RepositoryNamesAreValidatedAsGitHubDoesBeforeAnyRequest) {
  fg::server srv({.repos = {{.owner = "a", .name = "one", .issues = 3, .seed = 1}}});
  for (const std::string& bad :
       std::vector<std::string>{"a/..", "a/.", "../x", "a/b/c", "a/b%2F..%2F..", "a/b?x", "a b/c",
                                std::string(40, 'o') + "/x", "a/" + std::string(101, 'r'), "a_b/c"}) {
    std::ostringstream out, err;
    EXPECT_EQ(rf::run({"--api-url", srv.base_url(), "a/one", bad}, out, err, false), rf::exit_usage) << bad;
    EXPECT_NE(err.str().find("OWNER/REPO"), std::string::npos) << err.str();
  }
  EXPECT_EQ(srv.stats().requests, 0u);
  const auto file = temp_path("repos");
  std::ofstream(file) << "a/one\nx/..\n";
  EXPECT_NE(usage_error_of({"--repos-file", file.string()}).find(":2: "), std::string::npos);
  std::filesystem::remove(file);
}

// --- 11. arguments ------------------------------------------------------------

TEST(RepoFetcherHardening, ApiUrlMustBeHttpWithAHostAndNothingElse) {
  for (const char* good : {"http://127.0.0.1:8080", "https://github.example.com/api/v3/", "http://[::1]:80/x"})
    EXPECT_TRUE(std::holds_alternative<rf::cli_options>(rf::parse_command_line({"--api-url", good, "a/b"}))) << good;
  struct bad {
    const char* url;
    const char* says;
  };
  for (const bad& b :
       {bad{"ftp://h", "http"}, bad{"http://", "no host"}, bad{"http:///path", "no host"},
        bad{"https://user:pw@h", "user:password@"}, bad{"https://tok@h/", "user:password@"},
        bad{"https://h/?x=1", "query"}, bad{"https://h/#f", "fragment"}, bad{"https://h:99999", "port"},
        bad{"https://h:x", "port"}, bad{"https://h/\r\nX: y", "control"}, bad{"https://h /", "spaces"}}) {
    const auto message = usage_error_of({"--api-url", b.url, "a/b"});
    EXPECT_NE(message.find(b.says), std::string::npos) << b.url << " -> " << message;
    EXPECT_FALSE(has_control_bytes(message, false)) << message;
  }
  // A password in the URL is a secret: the message names the rule, not the URL.
  EXPECT_EQ(usage_error_of({"--api-url", "https://user:hunter2@h", "a/b"}).find("hunter2"), std::string::npos);
}

TEST(RepoFetcherHardening, ADirectoryOrUnreadableReposFileIsAUsageError) {
  const auto dir = temp_path("dir");
  std::filesystem::create_directories(dir);
  EXPECT_NE(usage_error_of({"--repos-file", dir.string()}).find("is a directory"), std::string::npos);
  EXPECT_NE(usage_error_of({"--repos-file", (dir / "missing").string()}).find("cannot read"), std::string::npos);
  EXPECT_NE(usage_error_of({"--repos-file", "/dev/null/x"}).find("cannot read"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(RepoFetcherHardening, ControlCharactersInEchoedInputAreEscaped) {
  for (const std::vector<std::string>& args : {std::vector<std::string>{"--frob\x1b[2J"},
                                               {"a/b", "--format", "x\x1b]0;pwned\x07"},
                                               {"a/b\x1b[31m"},
                                               {"a/b", "--concurrency", "1\r\n2"},
                                               {"--repos-file", "/nonexistent/\x1b[1m"}}) {
    const auto message = usage_error_of(args);
    ASSERT_FALSE(message.empty());
    EXPECT_FALSE(has_control_bytes(message, false)) << message;
    EXPECT_NE(message.find("\\x"), std::string::npos) << message;
  }
}

TEST(RepoFetcherHardening, LimitFlagsParseAndAreChecked) {
  auto parsed =
      rf::parse_command_line({"a/b", "--timeout", "10m", "--max-wait", "90", "--max-body", "8M", "--max-pages", "50"});
  ASSERT_TRUE(std::holds_alternative<rf::cli_options>(parsed)) << std::get<rf::usage_error>(parsed).message;
  const auto& o = std::get<rf::cli_options>(parsed);
  EXPECT_EQ(o.timeout, std::chrono::seconds(600));
  EXPECT_EQ(o.max_wait, std::chrono::seconds(90));
  EXPECT_EQ(o.max_body, std::size_t{8} << 20);
  EXPECT_EQ(o.max_pages, 50u);
  EXPECT_NE(usage_error_of({"a/b", "--timeout", "0"}).find("--timeout"), std::string::npos);
  EXPECT_NE(usage_error_of({"a/b", "--timeout", "99999999999999999999h"}).find("--timeout"), std::string::npos);
  EXPECT_NE(usage_error_of({"a/b", "--max-body", "18446744073709551615G"}).find("--max-body"), std::string::npos);
  EXPECT_NE(usage_error_of({"a/b", "--max-pages", "-1"}).find("--max-pages"), std::string::npos);
  std::ostringstream out, err;
  rf::run({"--help"}, out, err, false);
  for (const char* flag : {"--timeout", "--max-wait", "--max-body", "--max-pages"})
    EXPECT_NE(out.str().find(flag), std::string::npos) << flag;
}

// --- 10. the cache directory ------------------------------------------------

TEST(RepoFetcherHardening, AnUnusableCacheDirIsAClearUsageError) {
  const auto file = temp_path("cachefile");
  std::ofstream(file) << "not a directory";
  std::ostringstream out, err;
  EXPECT_EQ(rf::run({"--cache-dir", file.string(), "a/b"}, out, err, false), rf::exit_usage);
  EXPECT_NE(err.str().find("--cache-dir"), std::string::npos) << err.str();
  EXPECT_NE(err.str().find("not a directory"), std::string::npos) << err.str();
  std::filesystem::remove(file);
}

// --- 5/6. hostile strings from the server, a token reflected back -------------

TEST(RepoFetcherHardening, HostileStringsFromTheServerGiveValidOutputInEveryFormat) {
  const std::string issues = R"([
    {"number": 1, "state": "closed", "user": {"login": "evil\r\nX-Injected: 1\u001b[2J"}, "comments": 2,
     "labels": [{"name": "\u001b]0;pwned\u0007"}, {"name": "a;b=c"}, {"name": "\u009b31m"}],
     "created_at": "2024-01-01T10:00:00Z", "closed_at": "2024-01-01T08:00:00Z"},
    {"number": 2, "state": "closed", "user": {"login": "\ud83d\ude80rocket"}, "comments": 1,
     "labels": [{"name": "\u4e2d\u6587"}],
     "created_at": "2024-01-01T00:00:00Z", "closed_at": "2024-01-01T03:00:00Z"}])";
  scripted_github srv({{"/repos/o/r/issues", {200, issues}}, {"/repos/o/r/pulls", {200, "[]"}}});
  for (const char* format : {"jsonl", "csv", "table"}) {
    std::ostringstream out, err;
    EXPECT_EQ(rf::run({"--api-url", srv.base_url(), "--format", format, "o/r"}, out, err, false), rf::exit_ok)
        << err.str();
    EXPECT_FALSE(has_control_bytes(out.str(), true)) << format << ":\n" << out.str();
    if (std::string_view(format) != "jsonl") {
      EXPECT_EQ(out.str().find("\xc2\x9b"), std::string::npos) << format;  // no raw C1 CSI (valid in JSON)
    } else {
      // The backwards interval (closed before created) is not a median value.
      EXPECT_NE(out.str().find("\"issue_close_hours_median\": 3,"), std::string::npos) << out.str();
      EXPECT_NE(out.str().find("\"comments_total\": 3"), std::string::npos) << out.str();
    }
  }
}

TEST(RepoFetcherHardening, ATokenReflectedInAResponseBodyIsNeverPrinted) {
  const std::string secret = "ghp_ReflectedSecret0123456789abcdef";
  scripted_github srv({{"/repos/o/r/issues", {404, R"({"message": "no such repo for {{auth}}"})"}},
                       {"/repos/o/r/pulls", {200, "[]"}},
                       {"/repos/o/s/issues", {422, R"({"message": "Validation Failed: {{auth}}"})"}},
                       {"/repos/o/s/pulls", {200, "[]"}}});
  for (const char* format : {"jsonl", "csv", "table"}) {
    child_process p({k_binary, "--api-url", srv.base_url(), "--format", format, "--progress", "o/r", "o/s"},
                    {"GITHUB_TOKEN=" + secret});
    ASSERT_TRUE(p.started());
    EXPECT_EQ(p.wait(120s), 1);
    EXPECT_EQ(p.stdout_text().find(secret), std::string::npos) << p.stdout_text();
    EXPECT_EQ(p.stderr_text().find(secret), std::string::npos) << p.stderr_text();
    EXPECT_NE(p.stdout_text().find("404"), std::string::npos) << p.stdout_text();
  }
}

// --- 9. interruption, --timeout, --out, SIGPIPE ------------------------------

namespace {

// One repository answers at once, the other never within the test.
struct half_stuck_server {
  fg::server srv{{.repos = {{.owner = "f", .name = "fast", .issues = 30, .pulls = 5, .seed = 1},
                            {.owner = "s", .name = "slow", .issues = 30, .pulls = 5, .seed = 2}}}};
  half_stuck_server() { srv.set_repo_faults("s/slow", {.latency = std::chrono::milliseconds(600'000)}); }
};

void expect_fast_done_slow_failed(const std::string& jsonl, const fg::server& srv, const std::string& message) {
  const auto rows = lines_of(jsonl);
  ASSERT_EQ(rows.size(), 2u) << jsonl;
  std::ostringstream fast;
  gh::write_jsonl(fast, {.repo = "f/fast", .stats = gh::testing::expected_stats(*srv.repo("f/fast")), .failure = {}});
  EXPECT_EQ(rows[0] + "\n", fast.str());
  EXPECT_EQ(rows[1].rfind("{\"repo\": \"s/slow\", \"issues\": null", 0), 0u) << rows[1];
  EXPECT_NE(rows[1].find("\"error\": {\"status\": 0, \"message\": \"" + message + "\"}"), std::string::npos) << rows[1];
}

}  // namespace

TEST(RepoFetcherHardening, SigintStopsTheRunKeepsFinishedRowsAndMarksTheRestCancelled) {
  half_stuck_server s;
  child_process p({k_binary, "--progress", "--api-url", s.srv.base_url(), "f/fast", "s/slow"}, {});
  ASSERT_TRUE(p.started());
  ASSERT_TRUE(p.wait_for_stderr("1/2 repositories", 120s)) << p.stderr_text();
  p.signal(SIGINT);
  // Without the stop the slow repository would hold the run for 10 minutes.
  EXPECT_EQ(p.wait(60s), rf::exit_sigint) << p.stderr_text();
  expect_fast_done_slow_failed(p.stdout_text(), s.srv, "cancelled");
  EXPECT_NE(p.stderr_text().find("cancelled; 1 of 2 repositories finished"), std::string::npos) << p.stderr_text();
}

TEST(RepoFetcherHardening, SigquitPrintsThePipelineDumpAndTheRunGoesOn) {
  half_stuck_server s;
  child_process p({k_binary, "--progress", "--api-url", s.srv.base_url(), "f/fast", "s/slow"}, {});
  ASSERT_TRUE(p.started());
  ASSERT_TRUE(p.wait_for_stderr("1/2 repositories", 120s)) << p.stderr_text();
  p.signal(SIGQUIT);
  // The dump names the stage, the in-flight item (the slow repository, item
  // 1) and the request it awaits; its last section is the thread list.
  ASSERT_TRUE(p.wait_for_stderr("threads of this runtime", 60s)) << p.stderr_text();
  const std::string err = p.stderr_text();
  SCOPED_TRACE(err);
  EXPECT_NE(err.find("sluice pipeline dump"), std::string::npos);
  EXPECT_NE(err.find("#1 \"fetch repository\" (\"async_map\"): in "), std::string::npos);
  const auto item = err.find("#1 \"fetch repository\" item 1, started ");
  ASSERT_NE(item, std::string::npos);
  const auto section_end = std::min(err.find("other waits", item), err.find("threads of this runtime", item));
  const std::string under_item = err.substr(item, section_end - item);
  EXPECT_NE(under_item.find("HTTP \"GET 127.0.0.1:"), std::string::npos) << under_item;
  // The run goes on (the slow repository would hold it for ten minutes)...
  EXPECT_FALSE(p.wait(2s).has_value()) << "SIGQUIT ended the run";
  // ...until SIGINT stops it.
  p.signal(SIGINT);
  EXPECT_EQ(p.wait(60s), rf::exit_sigint) << p.stderr_text();
  expect_fast_done_slow_failed(p.stdout_text(), s.srv, "cancelled");
}

TEST(RepoFetcherHardening, SigtermLeavesThePreviousOutUntouchedUntilTheNewOneIsComplete) {
  half_stuck_server s;
  const auto dir = temp_path("outdir");
  std::filesystem::create_directories(dir);
  const auto out = dir / "report.jsonl";
  std::ofstream(out) << "previous run\n";
  child_process p({k_binary, "--progress", "--out", out.string(), "--api-url", s.srv.base_url(), "f/fast", "s/slow"},
                  {});
  ASSERT_TRUE(p.started());
  ASSERT_TRUE(p.wait_for_stderr("1/2 repositories", 120s)) << p.stderr_text();
  EXPECT_EQ(read_file(out), "previous run\n");  // not truncated while the run is under way
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(60s), rf::exit_sigterm) << p.stderr_text();
  expect_fast_done_slow_failed(read_file(out), s.srv, "cancelled");
  EXPECT_TRUE(p.stdout_text().empty());
  int entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++entries;
  EXPECT_EQ(entries, 1);  // no temporary left behind
  std::filesystem::remove_all(dir);
}

TEST(RepoFetcherHardening, TimeoutEndsTheRunLikeACancelButSaysTimeout) {
  half_stuck_server s;
  // 8 s: generous, so the fast repository finishes first even on a loaded machine.
  child_process p({k_binary, "--timeout", "8", "--api-url", s.srv.base_url(), "f/fast", "s/slow"}, {});
  ASSERT_TRUE(p.started());
  EXPECT_EQ(p.wait(120s), rf::exit_some_failed) << p.stderr_text();
  expect_fast_done_slow_failed(p.stdout_text(), s.srv, "timeout");
}

TEST(RepoFetcherHardening, AFailedRunNeverEmptiesThePreviousOut) {
  const auto dir = temp_path("outdir");
  std::filesystem::create_directories(dir);
  const auto out = dir / "report.jsonl";
  std::ofstream(out) << "previous run\n";
  child_process p({k_binary, "--out", out.string(), "--api-url", "http://127.0.0.1:9", "a/b"},
                  {"GITHUB_TOKEN=bad token"});
  ASSERT_TRUE(p.started());
  EXPECT_EQ(p.wait(60s), rf::exit_usage);
  EXPECT_EQ(read_file(out), "previous run\n");
  std::ostringstream o, e;
  EXPECT_EQ(rf::run({"--out", (dir / "missing" / "x.jsonl").string(), "a/b"}, o, e, false), rf::exit_usage);
  EXPECT_NE(e.str().find("cannot write --out"), std::string::npos) << e.str();
  std::filesystem::remove_all(dir);
}

TEST(RepoFetcherHardening, AClosedStdoutIsAQuietExit) {
  fg::server srv({.repos = {{.owner = "a", .name = "one", .issues = 50, .pulls = 5, .seed = 1}}});
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ::close(fds[0]);  // nobody will ever read: the first write gets EPIPE (or SIGPIPE)
  child_process p({k_binary, "--api-url", srv.base_url(), "a/one"}, {}, fds[1]);
  ::close(fds[1]);
  ASSERT_TRUE(p.started());
  EXPECT_EQ(p.wait(120s), 128 + SIGPIPE);
  EXPECT_EQ(p.stderr_text(), "");
}

// --- 14.5: the shipped program links no test double --------------------------

TEST(RepoFetcherHardening, TheShippedBinaryDoesNotContainTheFakeServer) {
  const std::string binary = read_file(k_binary);
  ASSERT_GT(binary.size(), 0u);
  EXPECT_EQ(binary.find("fake_github"), std::string::npos);
  EXPECT_EQ(binary.find("httplib"), std::string::npos);
}
