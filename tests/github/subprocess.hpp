// A child process for the repo-fetcher tests: spawned with posix_spawn, its
// standard output and error captured in files, stopped by pid.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../process_support.hpp"

extern char** environ;

namespace sluice::testing {

inline std::filesystem::path temp_path(const std::string& tag) {
  return std::filesystem::temp_directory_path() / ("sluice-rf-" + tag + "-" + std::to_string(std::random_device{}()));
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class child_process {
 public:
  /// Starts `argv` with the environment minus GITHUB_TOKEN/GH_TOKEN plus
  /// `env`. stdout goes to `stdout_fd` when given (the caller keeps it),
  /// else to a temporary file; stderr always to a temporary file.
  child_process(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                std::optional<int> stdout_fd = std::nullopt)
      : m_out(temp_path("out")), m_err(temp_path("err")) {
    std::vector<std::string> envs;
    for (char** e = environ; *e; ++e) {
      const std::string_view v(*e);
      if (!v.starts_with("GITHUB_TOKEN=") && !v.starts_with("GH_TOKEN=")) envs.emplace_back(v);
    }
    envs.insert(envs.end(), env.begin(), env.end());
    std::vector<char*> cargv, cenv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    for (const auto& e : envs) cenv.push_back(const_cast<char*>(e.c_str()));
    cenv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (stdout_fd) {
      posix_spawn_file_actions_adddup2(&actions, *stdout_fd, 1);
    } else {
      posix_spawn_file_actions_addopen(&actions, 1, m_out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    }
    posix_spawn_file_actions_addopen(&actions, 2, m_err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    // The child starts with default dispositions (the test runner may ignore some).
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t all;
    sigfillset(&all);
    posix_spawnattr_setsigdefault(&attr, &all);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    if (posix_spawn(&m_pid, cargv[0], &actions, &attr, cargv.data(), cenv.data()) != 0) m_pid = -1;
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  ~child_process() {
    if (m_pid > 0 && !m_status) {
      ::kill(m_pid, SIGKILL);
      int raw = 0;
      ::waitpid(m_pid, &raw, 0);
    }
    std::error_code ec;
    std::filesystem::remove(m_out, ec);
    std::filesystem::remove(m_err, ec);
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  [[nodiscard]] bool started() const { return m_pid > 0; }
  void signal(int sig) const { ::kill(m_pid, sig); }

  /// Exit status (128 + signal when killed by one), or nullopt if it is still
  /// running after `limit` (a generous liveness bound, not a timing assertion).
  std::optional<int> wait(std::chrono::seconds limit) {
    if (!m_status) m_status = wait_child(m_pid, limit);
    return m_status;
  }

  /// Polls stderr until it contains `text` (or the process ended / `limit`).
  bool wait_for_stderr(const std::string& text, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (stderr_text().find(text) != std::string::npos) return true;
      int raw = 0;
      if (!m_status && ::waitpid(m_pid, &raw, WNOHANG) == m_pid)
        m_status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
      if (m_status) return stderr_text().find(text) != std::string::npos;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

  [[nodiscard]] std::string stdout_text() const { return read_file(m_out); }
  [[nodiscard]] std::string stderr_text() const { return read_file(m_err); }

 private:
  pid_t m_pid = -1;
  std::optional<int> m_status;
  std::filesystem::path m_out, m_err;
};

}  // namespace sluice::testing
