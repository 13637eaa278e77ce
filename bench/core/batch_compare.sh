#!/usr/bin/env bash
# sluice's channel rows of channel_bench against their moodycamel anchors,
# each row in its own process under `perf stat`, alternated ROUNDS times
# (default 5) so that load on a shared machine hits both alike:
#   * raw_moodycamel_bulk   vs sluice_recv_batch_bounded, sluice_recv_batch_unbounded,
#     sluice_recv_batch_per_sender (unbounded with channel_order::per_sender, a
#     lane per producer: the order moodycamel's token producers keep)
#   * raw_moodycamel        vs sluice_blocking_unbounded
#   * raw_moodycamel_bulk_both vs sluice_send_batch_bounded, sluice_send_batch_unbounded
#     (producers with runs of 256 items at hand: enqueue_bulk with a token
#     against send_batch_blocking; consumers in batches on both sides)
#   * the bounded sluice rows also against raw_moodycamel_bulk_bounded and
#     raw_moodycamel_bulk_both_bounded: the same anchors held to the channel's
#     1024 slots (try_enqueue, producers wait for room; 1x1 only), printed as the row's
#     second line (the `vs` column names each line's anchor: moodycamel's
#     `bulk`, `bulk_bounded`, `bulk_both`, `bulk_both_bounded`, or `one`,
#     try_dequeue one item at a time)
# for 1 producer x 1 consumer and 2 x 2 (2^20 8-byte items, 5 iterations a
# process). Prints per row and shape, min-max over the rounds: wall ns/item
# of anchor and sluice and the throughput ratio sluice / anchor (each round's
# from its own adjacent pair), CPU ns/item (task-clock, every thread) and
# the CPU ratio anchor / sluice (>= 1.0: sluice spends no more CPU per item),
# and `line ns`, the machine's one-way cache-line transfer time measured right
# after each of the row's runs (bench/support/line_transfer.hpp): it changes
# while the script runs on a shared VM, and the ratios move with it. `flt`:
# page faults of the row's whole process (the binary alone takes about 170),
# which a growing backlog of fresh memory costs (docs/architecture.md,
# "Blocks outlive their channel").
# The anchors' consumers spin on an empty queue and never sleep, so their
# CPU figures include that spinning. Load average printed at start and end.
#
#   bench/core/batch_compare.sh [ROUNDS] [BENCH_BINARY]
set -euo pipefail

rounds=${1:-5}
root=$(cd "$(dirname "$0")/../.." && pwd)
binary=${2:-$root/build/release/bench/core/channel_bench}
probe=$(dirname "$binary")/../line_transfer_probe
[[ -x $probe ]] || probe=$root/build/release/bench/line_transfer_probe
items=$((5 * (1 << 20)))
[[ -x $binary && -x $probe ]] || {
  echo "batch_compare.sh: build channel_bench and line_transfer_probe first (cmake --preset release; --target channel_bench line_transfer_probe)" >&2
  exit 2
}
command -v perf >/dev/null || {
  echo "batch_compare.sh: needs perf" >&2
  exit 2
}

samples=$(mktemp)
stat_out=$(mktemp)
trap 'rm -f "$samples" "$stat_out"' EXIT

run_row() { # row shape round
  local row=$1 p=${2%x*} c=${2#*x} ns cpu line faults
  ns=$(perf stat -x, -e task-clock,page-faults -o "$stat_out" "$binary" --benchmark_filter="^$row/P:$p/C:$c/" \
    --benchmark_format=csv 2>/dev/null |
    awk -F, '{ gsub(/"/, "") } /^name,/ { for (i = 1; i <= NF; ++i) if ($i == "ns_per_item") col = i; next }
             /^[a-z_]+\/P/ { print $col }')
  cpu=$(awk -F, -v n="$items" '/task-clock/ { printf "%.1f", $1 * 1e6 / n }' "$stat_out")
  faults=$(awk -F, '/page-faults/ { print $1 + 0 }' "$stat_out")
  line=$("$probe" 2>/dev/null || echo -)
  echo "$3 $row $2 $ns $cpu $line ${faults:-0}" >>"$samples"
}

echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= rounds; ++r)); do
  for shape in 1x1 2x2; do
    for row in raw_moodycamel_bulk raw_moodycamel_bulk_bounded sluice_recv_batch_bounded sluice_recv_batch_unbounded \
      sluice_recv_batch_per_sender raw_moodycamel sluice_blocking_unbounded raw_moodycamel_bulk_both \
      raw_moodycamel_bulk_both_bounded sluice_send_batch_bounded sluice_send_batch_unbounded; do
      [[ $row == *_bounded && $row == raw_* && $shape != 1x1 ]] && continue # one producer only (channel_bench.cpp)
      run_row "$row" "$shape" "$r"
    done
  done
  echo "round $r/$rounds done" >&2
done

awk '
  { ns[$1, $2, $3] = $4; cpu[$1, $2, $3] = $5; line[$1, $2, $3] = $6; flt[$1, $2, $3] = $7; last = $1 }
  function span(lo, hi, fmt) { return lo > hi ? "-" : sprintf(fmt "-" fmt, lo, hi) }
  function row(cand, anchor, shape,   r, a, b, q, x, y, k, l, j, f, g, amin, amax, bmin, bmax, qmin, qmax, xmin, xmax, ymin, ymax, kmin, kmax, lmin, lmax, fmin, fmax, gmin, gmax) {
    amin = bmin = qmin = xmin = ymin = kmin = lmin = fmin = gmin = 1e18; amax = bmax = qmax = xmax = ymax = kmax = lmax = fmax = gmax = 0
    for (r = 1; r <= last; ++r) {
      a = ns[r, anchor, shape]; b = ns[r, cand, shape]; x = cpu[r, anchor, shape]; y = cpu[r, cand, shape]
      if (a == "" || b == "" || b == 0 || y == 0) continue
      q = a / b; k = x / y
      if (a < amin) amin = a; if (a > amax) amax = a; if (b < bmin) bmin = b; if (b > bmax) bmax = b
      if (q < qmin) qmin = q; if (q > qmax) qmax = q
      if (x < xmin) xmin = x; if (x > xmax) xmax = x; if (y < ymin) ymin = y; if (y > ymax) ymax = y
      if (k < kmin) kmin = k; if (k > kmax) kmax = k
      f = flt[r, anchor, shape] + 0; g = flt[r, cand, shape] + 0
      if (f < fmin) fmin = f; if (f > fmax) fmax = f; if (g < gmin) gmin = g; if (g > gmax) gmax = g
      for (j = 0; j < 2; ++j) {
        l = line[r, j ? cand : anchor, shape]
        if (l != "" && l != "-") { if (l + 0 < lmin) lmin = l + 0; if (l + 0 > lmax) lmax = l + 0 }
      }
    }
    vs = anchor; sub(/^raw_moodycamel_?/, "", vs); if (vs == "") vs = "one"
    printf "%-28s %-5s %-17s %-13s %-13s %-11s %-13s %-13s %-11s %-11s %-11s %-11s\n", cand, shape, vs, span(amin, amax, "%.1f"), span(bmin, bmax, "%.1f"), \
      span(qmin, qmax, "%.2f"), span(xmin, xmax, "%.1f"), span(ymin, ymax, "%.1f"), span(kmin, kmax, "%.2f"), span(lmin, lmax, "%.0f"), \
      span(fmin, fmax, "%.0f"), span(gmin, gmax, "%.0f")
  }
  END {
    printf "%-28s %-5s %-17s %-13s %-13s %-11s %-13s %-13s %-11s %-11s %-11s %-11s\n", "sluice row", "shape", "vs", "anchor ns", "sluice ns", \
      "ratio", "anchor cpu", "sluice cpu", "cpu ratio", "line ns", "anchor flt", "sluice flt"
    split("1x1 2x2", shapes, " ")
    for (i = 1; i <= 2; ++i) {
      row("sluice_recv_batch_bounded", "raw_moodycamel_bulk", shapes[i])
      if (i == 1) row("sluice_recv_batch_bounded", "raw_moodycamel_bulk_bounded", shapes[i])
      row("sluice_recv_batch_unbounded", "raw_moodycamel_bulk", shapes[i])
      row("sluice_recv_batch_per_sender", "raw_moodycamel_bulk", shapes[i])
      row("sluice_blocking_unbounded", "raw_moodycamel", shapes[i])
      row("sluice_send_batch_bounded", "raw_moodycamel_bulk_both", shapes[i])
      if (i == 1) row("sluice_send_batch_bounded", "raw_moodycamel_bulk_both_bounded", shapes[i])
      row("sluice_send_batch_unbounded", "raw_moodycamel_bulk_both", shapes[i])
    }
  }' "$samples"
echo "($rounds alternated rounds; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
