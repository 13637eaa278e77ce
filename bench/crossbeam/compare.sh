#!/usr/bin/env bash
# sluice's channels against crossbeam-channel, side by side: bounded(1024)
# against sluice's bounded channel, and unbounded() (crossbeam's list
# flavour, the design sluice's unbounded channel follows) against sluice's
# unbounded channel.
#
# Builds the Rust anchor (cargo, offline, against Debian's vendored crates:
# scripts/setup.sh --bench-anchors) and the release channel_bench, then runs
# them alternately ROUNDS times (default 5) so that load on a shared machine
# hits both alike. Each run is 5 iterations of 2^20 8-byte items through a
# channel (capacity 1024 when bounded), 1 producer x 1 consumer and 2 x 2,
# blocking threads on both sides, one item per send and per receive; each
# shape and flavour is its own process. Prints per flavour and shape, min-max
# over the rounds:
#   * crossbeam's and sluice's wall ns/item and the throughput ratio
#     sluice / crossbeam (>= 1.0: sluice is at least as fast), each round's
#     ratio from its own adjacent pair of runs;
#   * with perf installed, CPU ns/item (perf stat task-clock over the
#     process, every thread) for both and their ratio crossbeam / sluice
#     (>= 1.0: sluice spends no more CPU per item). On a loaded machine wall
#     time mostly measures the scheduler; CPU per item is the steadier figure.
#   * the coroutine row (sluice_coroutines, bounded) for reference;
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
# One sample line per run: "round row shape ns cpu-ns".
sluice_row() { # round bench shape-p shape-c
  local ns
  # CSV: plain numbers (the console format abbreviates 1000 as 1k).
  ns=$(measure "$build/bench/core/channel_bench" --benchmark_filter="^$2/P:$3/C:$4/" \
    --benchmark_format=csv 2>/dev/null |
    awk -F, '
      { gsub(/"/, "") }
      /^name,/ { for (i = 1; i <= NF; ++i) if ($i == "ns_per_item") col = i; next }
      /^sluice_/ { print $col }')
  echo "$1 $2 ${3}x$4 $ns $(cpu_ns_per_item)" >>"$samples"
}
crossbeam_row() { # round flavour shape-p shape-c
  local ns
  # crossbeam P=1 C=1 ns_per_item=...   ->  "r crossbeam_bounded 1x1 ns cpu"
  ns=$(measure "$anchor_target/release/crossbeam_anchor" 5 "$3" "$4" "$2" | sed -E 's/.*ns_per_item=([0-9.]+).*/\1/')
  echo "$1 crossbeam_$2 ${3}x$4 $ns $(cpu_ns_per_item)" >>"$samples"
}
for ((r = 1; r <= rounds; ++r)); do
  for shape in "1 1" "2 2"; do
    read -r p c <<<"$shape"
    crossbeam_row "$r" bounded "$p" "$c"
    sluice_row "$r" sluice_blocking_bounded "$p" "$c"
    sluice_row "$r" sluice_coroutines "$p" "$c"
    crossbeam_row "$r" unbounded "$p" "$c"
    sluice_row "$r" sluice_blocking_unbounded "$p" "$c"
    echo "$r line ${p}x$c $("$build/bench/line_transfer_probe" 2>/dev/null || echo -) -" >>"$samples"
  done
  echo "round $r/$rounds done" >&2
done


awk '
  { ns[$1, $2, $3] = $4; cpu[$1, $2, $3] = $5; shapes[$3] = 1; last = $1 }
  function span(lo, hi, fmt) { return lo > hi ? "-" : sprintf(fmt "-" fmt, lo, hi) }
  # One table row: crossbeam row `anchor` against sluice row `mine` in `shape`
  # (`extra`: a sluice row shown for reference, "" for none).
  function row(flavour, shape, anchor, mine, extra,    r, c, b, k, l, x, y, q, ratio) {
    cmin = bmin = rmin = kmin = xmin = ymin = qmin = lmin = 1e18; cmax = bmax = rmax = kmax = xmax = ymax = qmax = lmax = 0
    for (r = 1; r <= last; ++r) {
      c = ns[r, anchor, shape]; b = ns[r, mine, shape]; k = extra == "" ? "" : ns[r, extra, shape]
      l = ns[r, "line", shape]
      if (l != "" && l != "-") { if (l + 0 < lmin) lmin = l + 0; if (l + 0 > lmax) lmax = l + 0 }
      if (c == "" || b == "") continue
      ratio = c / b
      if (c < cmin) cmin = c; if (c > cmax) cmax = c
      if (b < bmin) bmin = b; if (b > bmax) bmax = b
      if (ratio < rmin) rmin = ratio; if (ratio > rmax) rmax = ratio
      if (k != "") { if (k < kmin) kmin = k; if (k > kmax) kmax = k }
      x = cpu[r, anchor, shape]; y = cpu[r, mine, shape]
      if (x != "-" && y != "-" && y > 0) {
        if (x < xmin) xmin = x; if (x > xmax) xmax = x
        if (y < ymin) ymin = y; if (y > ymax) ymax = y
        q = x / y; if (q < qmin) qmin = q; if (q > qmax) qmax = q
      }
    }
    printf "%-10s %-6s %-16s %-16s %-12s %-16s %-16s %-12s %-16s %-10s\n", flavour, shape, span(cmin, cmax, "%.1f"), \
      span(bmin, bmax, "%.1f"), span(rmin, rmax, "%.2f"), span(xmin, xmax, "%.1f"), span(ymin, ymax, "%.1f"), \
      span(qmin, qmax, "%.2f"), span(kmin, kmax, "%.1f"), span(lmin, lmax, "%.0f")
  }
  END {
    printf "%-10s %-6s %-16s %-16s %-12s %-16s %-16s %-12s %-16s %-10s\n", "flavour", "shape", "crossbeam ns", "sluice ns", \
      "ratio", "crossbeam cpu-ns", "sluice cpu-ns", "cpu ratio", "coroutines ns", "line ns"
    for (s in shapes) row("bounded", s, "crossbeam_bounded", "sluice_blocking_bounded", "sluice_coroutines")
    for (s in shapes) row("unbounded", s, "crossbeam_unbounded", "sluice_blocking_unbounded", "")
  }' "$samples"
echo "($rounds alternated rounds; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
