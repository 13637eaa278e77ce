#!/usr/bin/env bash
# sluice's bounded channel against crossbeam-channel, side by side.
#
# Builds the Rust anchor (cargo, offline, against Debian's vendored crates:
# scripts/setup.sh --bench-anchors) and the release channel_bench, then runs
# them alternately ROUNDS times (default 5) so that load on a shared machine
# hits both alike. Each run is 5 iterations of 2^20 8-byte items through a
# channel of capacity 1024, 1 producer x 1 consumer and 2 x 2, blocking threads
# on both sides. Prints per shape: crossbeam's and sluice's ns/item (min-max
# over rounds) and the throughput ratio sluice / crossbeam (>= 1.0: sluice is
# at least as fast), min-max over the rounds, each round's ratio taken from
# its own adjacent pair of runs. The coroutine row (sluice_coroutines) is
# printed beside them for reference.
#
#   bench/crossbeam/compare.sh [ROUNDS]
set -euo pipefail

rounds=${1:-5}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${SLUICE_BENCH_BUILD:-$root/build/release}
anchor_target=$root/build/crossbeam

command -v cargo >/dev/null || {
  echo "compare.sh: cargo missing; run scripts/setup.sh --bench-anchors" >&2
  exit 2
}
(cd "$root/bench/crossbeam" && CARGO_TARGET_DIR=$anchor_target cargo build --release --offline --quiet)
if [[ ! -x $build/bench/core/channel_bench ]]; then
  cmake --preset release -S "$root" >/dev/null
  cmake --build "$build" --target channel_bench -j2 >/dev/null
fi

samples=$(mktemp)
trap 'rm -f "$samples"' EXIT
for ((r = 1; r <= rounds; ++r)); do
  # crossbeam P=1 C=1 ns_per_item=...   ->  "r crossbeam 1x1 ns"
  "$anchor_target/release/crossbeam_anchor" 5 |
    awk -v r="$r" '{split($2, p, "="); split($3, c, "="); split($4, n, "="); print r, "crossbeam", p[2] "x" c[2], n[2]}' >>"$samples"
  # CSV: plain numbers (the console format abbreviates 1000 as 1k).
  "$build/bench/core/channel_bench" --benchmark_filter='sluice_blocking_bounded|sluice_coroutines' \
    --benchmark_format=csv 2>/dev/null |
    awk -F, -v r="$r" '
      { gsub(/"/, "") }
      /^name,/ { for (i = 1; i <= NF; ++i) if ($i == "ns_per_item") col = i; next }
      /^sluice_/ {
        split($1, parts, "/"); sub(/^P:/, "", parts[2]); sub(/^C:/, "", parts[3]);
        print r, parts[1], parts[2] "x" parts[3], $col }' >>"$samples"
  echo "round $r/$rounds done" >&2
done

awk '
  { ns[$1, $2, $3] = $4; seen[$2] = 1; shapes[$3] = 1; last = $1 }
  function span(lo, hi, fmt) { return sprintf(fmt "-" fmt, lo, hi) }
  END {
    printf "%-6s %-22s %-22s %-22s %-26s\n", "shape", "crossbeam ns/item", "sluice blocking ns/item", "ratio (sluice/crossbeam)", "sluice coroutines ns/item"
    for (s in shapes) {
      cmin = bmin = rmin = kmin = 1e18; cmax = bmax = rmax = kmax = 0
      for (r = 1; r <= last; ++r) {
        c = ns[r, "crossbeam", s]; b = ns[r, "sluice_blocking_bounded", s]; k = ns[r, "sluice_coroutines", s]
        if (c == "" || b == "") continue
        ratio = c / b
        if (c < cmin) cmin = c; if (c > cmax) cmax = c
        if (b < bmin) bmin = b; if (b > bmax) bmax = b
        if (ratio < rmin) rmin = ratio; if (ratio > rmax) rmax = ratio
        if (k != "") { if (k < kmin) kmin = k; if (k > kmax) kmax = k }
      }
      printf "%-6s %-22s %-22s %-22s %-26s\n", s, span(cmin, cmax, "%.1f"), span(bmin, bmax, "%.1f"), span(rmin, rmax, "%.2f"), span(kmin, kmax, "%.1f")
    }
  }' "$samples"
echo "($rounds alternated rounds; load average now: $(cut -d' ' -f1-3 /proc/loadavg))"
