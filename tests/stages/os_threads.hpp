// This process's threads as the operating system names them
// (/proc/self/task/*/comm): how the tests check that sluice's own threads
// (sluice-trace, sluice-watchdog, ...) carry a name a user sees in top -H,
// perf or gdb.
#pragma once

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

namespace sluice_test {

/// Calls f(task directory, name) for each of this process's threads.
template <typename F>
void for_each_os_thread(F&& f) {
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    if (std::getline(comm, name)) f(task.path(), name);
  }
}

/// The names of this process's threads, one entry per thread.
inline std::multiset<std::string> os_thread_names() {
  std::multiset<std::string> names;
  for_each_os_thread([&](const std::filesystem::path&, const std::string& name) { names.insert(name); });
  return names;
}

}  // namespace sluice_test
