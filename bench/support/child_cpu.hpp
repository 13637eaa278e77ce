// CPU time of another process (a benchmark's forked server), for the
// benchmarks that report what their server spent beside their own figures.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace sluice_bench {

/// CPU seconds (user + system, every thread) that process `pid` has used so
/// far, from /proc/<pid>/stat, in clock ticks (10 ms): coarse, so compare
/// medians or sums over many requests. 0 if it cannot be read.
inline double child_cpu_seconds(pid_t pid) {
  if (pid <= 0) return 0;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  std::FILE* f = std::fopen(path, "r");
  if (!f) return 0;
  char buf[1024];
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = 0;
  // The fields after the command name (which may hold spaces and parentheses)
  // start past its last ')': state is field 3, utime and stime fields 14, 15.
  const char* p = std::strrchr(buf, ')');
  unsigned long utime = 0, stime = 0;
  if (!p || std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2) return 0;
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

}  // namespace sluice_bench
