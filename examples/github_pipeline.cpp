// The seed's GitHub pipeline (Tokio fetches + Rayon processing + Crossbeam
// queues and threads), written as one sluice pipeline.
//
// For every repository: fetch its issues and its pull requests concurrently
// (simulated with sleeps that hold no thread), process the combined list in
// parallel on TBB, print the results. At most 32 repositories are fetched at
// once, and a slow printer slows the fetching down instead of filling memory.
#include <sluice/sluice.hpp>

#include <chrono>
#include <iostream>
#include <string>
#include <vector>

using namespace std::chrono_literals;

// Simulated async fetches (the network delay is a timer, not a blocked thread).
sluice::task<std::vector<std::string>> fetch_issues(std::string repo) {
  co_await sluice::sleep_for(100ms);
  co_return std::vector<std::string>{"Issue 1 in " + repo, "Issue 2 in " + repo};
}

sluice::task<std::vector<std::string>> fetch_pull_requests(std::string repo) {
  co_await sluice::sleep_for(100ms);
  co_return std::vector<std::string>{"PR 1 in " + repo, "PR 2 in " + repo};
}

// Both fetches of one repository run at the same time.
sluice::task<std::vector<std::string>> fetch_repo(std::string repo) {
  auto issues = fetch_issues(repo);
  auto pulls = fetch_pull_requests(repo);
  auto [i, p] = co_await sluice::when_all(std::move(issues), std::move(pulls));
  i.insert(i.end(), p.begin(), p.end());
  co_return i;
}

// CPU-bound processing of one repository's data (runs on TBB threads).
std::vector<std::string> process_data(std::vector<std::string> data) {
  for (auto& item : data) item = "Processed: " + item;
  return data;
}

int main() {
  sluice::runtime rt;
  std::vector<std::string> repos;
  for (int i = 0; i < 100; ++i) repos.push_back("org/repo-" + std::to_string(i));

  auto report = sluice::run(rt, sluice::from(repos)                                            //
                                    | sluice::async_map(fetch_repo, {.concurrency = 32})       //
                                    | sluice::parallel_map(process_data, {.name = "process"})  //
                                    | sluice::for_each([](const std::vector<std::string>& results) {
                                        std::cout << "Final result: " << results.front() << " (+" << results.size() - 1
                                                  << " more)\n";
                                      }));

  // 100 repositories x 2 fetches of 100 ms, 32 at a time: about 0.4 s, not 20 s.
  std::cout << report.describe();
  return report.balanced() ? 0 : 1;
}
