#!/usr/bin/env bash
# sluice's bounded channel against crossbeam-channel, side by side.
#
# Builds the Rust anchor (cargo, offline, against Debian's vendored crates:
# scripts/setup.sh --bench-anchors) and the release channel_bench, then runs
# them alternately ROUNDS times (default 5) so that load on a shared machine
# hits both alike. Each run is 5 iterations of 2^20 8-byte items through a
# channel of capacity 1024, 1 producer x 1 consumer and 2 x 2, blocking threads
# on both sides; each shape is its own process. Prints per shape, min-max over
# the rounds:
#   * crossbeam's and sluice's wall ns/item and the throughput ratio
#     sluice / crossbeam (>= 1.0: sluice is at least as fast), each round's
#     ratio from its own adjacent pair of runs;
#   * with perf installed, CPU ns/item (perf stat task-clock over the
#     process, every thread) for both and their ratio crossbeam / sluice
#     (>= 1.0: sluice spends no more CPU per item). On a loaded machine wall
#     time mostly measures the scheduler; CPU per item is the steadier figure.
#   * the coroutine row (sluice_coroutines) for reference;
#   * `line ns`, the machine's one-way cache-line transfer time, probed after
#     each shape's runs (bench/support/line_transfer.hpp): it changes while
#     the script runs on a shared VM, and every figure here moves with it.
# The load average is printed at the start and the end.
#
#   bench/crossbeam/compare.sh [ROUNDS]
set -euo pipefail

rounds=${1:-5}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${SLUICE_BENCH_BUILD:-$root/build/release}
anchor_target=$root/build/crossbeam
items=$((5 * (1 << 20))) # per process: 5 iterations of 2^20

command -v cargo >/dev/null || {
  echo "compare.sh: cargo missing; run scripts/setup.sh --bench-anchors" >&2
  exit 2
}
(cd "$root/bench/crossbeam" && CARGO_TARGET_DIR=$anchor_target cargo build --release --offline --quiet)
if [[ ! -x $build/bench/core/channel_bench || ! -x $build/bench/line_transfer_probe ]]; then
  cmake --preset release -S "$root" >/dev/null
  cmake --build "$build" --target channel_bench line_transfer_probe -j2 >/dev/null
fi

samples=$(mktemp)
stat_out=$(mktemp)
trap 'rm -f "$samples" "$stat_out"' EXIT
have_perf=0
if command -v perf >/dev/null && perf stat -x, -e task-clock true 2>/dev/null >/dev/null; then have_perf=1; fi

# Runs "$@" (under perf stat when available); stdout to stdout, CPU ms to $stat_out.
measure() {
  if ((have_perf)); then
    perf stat -x, -e task-clock -o "$stat_out" "$@"
  else
    echo "" >"$stat_out"
    "$@"
  fi
}
cpu_ns_per_item() {
  awk -F, -v n="$items" '/task-clock/ { printf "%.1f", $1 * 1e6 / n; found = 1 } END { if (!found) print "-" }' "$stat_out"
}

echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= rounds; ++r)); do
  for shape in "1 1" "2 2"; do
    read -r p c <<<"$shape"
    # crossbeam P=1 C=1 ns_per_item=...   ->  "r crossbeam 1x1 ns cpu"
    ns=$(measure "$anchor_target/release/crossbeam_anchor" 5 "$p" "$c" | sed -E 's/.*ns_per_item=([0-9.]+).*/\1/')
    echo "$r crossbeam ${p}x$c $ns $(cpu_ns_per_item)" >>"$samples"
    for bench in sluice_blocking_bounded sluice_coroutines; do
      # CSV: plain numbers (the console format abbreviates 1000 as 1k).
      ns=$(measure "$build/bench/core/channel_bench" --benchmark_filter="^$bench/P:$p/C:$c/" \
        --benchmark_format=csv 2>/dev/null |
        awk -F, '
          { gsub(/"/, "") }
          /^name,/ { for (i = 1; i <= NF; ++i) if ($i == "ns_per_item") col = i; next }
          /^sluice_/ { print $col }')
      echo "$r $bench ${p}x$c $ns $(cpu_ns_per_item)" >>"$samples"
    done
    echo "$r line ${p}x$c $("$build/bench/line_transfer_probe" 2>/dev/null || echo -) -" >>"$samples"
  done
  echo "round $r/$rounds done" >&2
done

awk '
  { ns[$1, $2, $3] = $4; cpu[$1, $2, $3] = $5; shapes[$3] = 1; last = $1 }
  function span(lo, hi, fmt) { return lo > hi ? "-" : sprintf(fmt "-" fmt, lo, hi) }
  END {
    printf "%-6s %-16s %-16s %-12s %-16s %-16s %-12s %-16s %-10s\n", "shape", "crossbeam ns", "sluice ns", "ratio", \
      "crossbeam cpu-ns", "sluice cpu-ns", "cpu ratio", "coroutines ns", "line ns"
    for (s in shapes) {
      cmin = bmin = rmin = kmin = xmin = ymin = qmin = lmin = 1e18; cmax = bmax = rmax = kmax = xmax = ymax = qmax = lmax = 0
      for (r = 1; r <= last; ++r) {
        c = ns[r, "crossbeam", s]; b = ns[r, "sluice_blocking_bounded", s]; k = ns[r, "sluice_coroutines", s]
        l = ns[r, "line", s]
        if (l != "" && l != "-") { if (l + 0 < lmin) lmin = l + 0; if (l + 0 > lmax) lmax = l + 0 }
        if (c == "" || b == "") continue
        ratio = c / b
        if (c < cmin) cmin = c; if (c > cmax) cmax = c
        if (b < bmin) bmin = b; if (b > bmax) bmax = b
        if (ratio < rmin) rmin = ratio; if (ratio > rmax) rmax = ratio
        if (k != "") { if (k < kmin) kmin = k; if (k > kmax) kmax = k }
        x = cpu[r, "crossbeam", s]; y = cpu[r, "sluice_blocking_bounded", s]
        if (x != "-" && y != "-" && y > 0) {
          if (x < xmin) xmin = x; if (x > xmax) xmax = x
          if (y < ymin) ymin = y; if (y > ymax) ymax = y
          q = x / y; if (q < qmin) qmin = q; if (q > qmax) qmax = q
        }
      }
      printf "%-6s %-16s %-16s %-12s %-16s %-16s %-12s %-16s %-10s\n", s, span(cmin, cmax, "%.1f"), span(bmin, bmax, "%.1f"), \
        span(rmin, rmax, "%.2f"), span(xmin, xmax, "%.1f"), span(ymin, ymax, "%.1f"), span(qmin, qmax, "%.2f"), span(kmin, kmax, "%.1f"), \
        span(lmin, lmax, "%.0f")
    }
  }' "$samples"
echo "($rounds alternated rounds; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
