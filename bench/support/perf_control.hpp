// perf's control fifo, for profiling one phase of a benchmark:
//
//   mkfifo ctl ack
//   export SLUICE_PERF_CTL=ctl SLUICE_PERF_ACK=ack
//   perf record --control=fifo:ctl,ack -D -1 -- build/release/bench/...
//
// perf_control("enable") / perf_control("disable") around the phase write the
// command and wait for perf's acknowledgement, so sampling starts and stops
// exactly there. Nothing happens while either variable is unset.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace sluice_bench {

inline void perf_control(const char* command) {
  const char* ctl = std::getenv("SLUICE_PERF_CTL");
  const char* ack = std::getenv("SLUICE_PERF_ACK");
  if (!ctl || !ack) return;
  if (FILE* f = std::fopen(ctl, "w")) {
    std::fprintf(f, "%s\n", command);
    std::fclose(f);
  }
  if (FILE* f = std::fopen(ack, "r")) {
    char buf[16];
    (void)std::fgets(buf, sizeof buf, f);
    std::fclose(f);
  }
}

}  // namespace sluice_bench
