// repo-fetcher: statistics over the issues and pull requests of many GitHub
// repositories. See docs/repo-fetcher.md and `repo-fetcher --help`.

#include <csignal>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "sluice/core/status_display.hpp"
#include "sluice/github/display_text.hpp"
#include "sluice/repo_fetcher/cli.hpp"

int main(int argc, char** argv) {
  // A closed stdout (`repo-fetcher | head`) must not kill the process in the
  // middle of committing --out or a socket write: writes fail with EPIPE
  // instead, and run() turns that into a quiet exit.
  std::signal(SIGPIPE, SIG_IGN);
  std::ios::sync_with_stdio(false);
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    return sluice::repo_fetcher::run(args, std::cout, std::cerr, sluice::stderr_is_terminal());
  } catch (const std::exception& e) {
    std::cerr << "repo-fetcher: " << sluice::github::escape_for_display(e.what()) << "\n";
    return sluice::repo_fetcher::exit_some_failed;
  }
}
