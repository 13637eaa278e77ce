#!/usr/bin/env bash
# Runs the log-analytics job distributed over Redis Streams on this machine
# (a local redis-server on a unix socket, 1 producer + 3 workers + 1
# collector, each its own process) and checks its result equals the
# single-process run. With --kill-one, one worker is killed with SIGKILL
# mid-run and restarted under the same name: the result must not change.
#
#   scripts/distributed-demo.sh [--preset debug|release] [--lines N] [--kill-one]
set -euo pipefail

preset=release
lines=200000
kill_one=0
while (($#)); do
  case "$1" in
    --preset) preset=$2; shift 2 ;;
    --lines) lines=$2; shift 2 ;;
    --kill-one) kill_one=1; shift ;;
    *) echo "usage: $0 [--preset debug|release] [--lines N] [--kill-one]" >&2; exit 2 ;;
  esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/build/$preset/examples/example_distributed_log_analytics"
if [[ ! -x $bin ]]; then
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" --target example_distributed_log_analytics -j2
fi

tmp=$(mktemp -d /tmp/sluice-demo-XXXXXX)
redis_pid=
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [[ -n $redis_pid ]]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

redis-server --port 0 --unixsocket "$tmp/r.sock" --unixsocketperm 700 --save '' --appendonly no \
  --dir "$tmp" --daemonize no --loglevel warning --logfile "$tmp/redis.log" &
redis_pid=$!
for _ in $(seq 1 200); do
  redis-cli -s "$tmp/r.sock" ping 2>/dev/null | grep -q PONG && break
  sleep 0.02
done
url="unix://$tmp/r.sock"

echo "single process: $lines lines"
start=$(date +%s%N)
"$bin" single --lines "$lines" >"$tmp/single.json"
echo "  $(( ($(date +%s%N) - start) / 1000000 )) ms"

echo "distributed: 1 producer, 3 workers, 1 collector"
start=$(date +%s%N)
"$bin" collect --redis "$url" --workers 3 >"$tmp/distributed.json" 2>"$tmp/collector.log" &
collector=$!
pids+=("$collector")
workers=()
for i in 1 2 3; do
  "$bin" work --redis "$url" --consumer "worker-$i" 2>"$tmp/worker-$i.log" &
  workers+=($!)
  pids+=($!)
done
"$bin" produce --redis "$url" --lines "$lines" 2>"$tmp/producer.log" &
producer=$!
pids+=("$producer")
if ((kill_one)); then
  sleep 0.3
  echo "  kill -9 worker-2 (pid ${workers[1]}), then restart it"
  kill -9 "${workers[1]}" || true
  wait "${workers[1]}" 2>/dev/null || true
  "$bin" work --redis "$url" --consumer "worker-2" 2>"$tmp/worker-2b.log" &
  workers[1]=$!
  pids+=($!)
fi
wait "$producer"
for w in "${workers[@]}"; do wait "$w"; done
wait "$collector"
echo "  $(( ($(date +%s%N) - start) / 1000000 )) ms"
for f in producer worker-1 worker-2 worker-2b worker-3 collector; do
  [[ -f $tmp/$f.log ]] || continue
  echo "  $f: $(grep -E '^stream ' "$tmp/$f.log" | tail -n 2 | tr '\n' ' ')"
done

# Counters (docs/distributed.md, Counters): a consumer never acknowledges
# more entries than it was delivered (end markers are counted apart).
for f in "$tmp"/worker-*.log "$tmp/collector.log"; do
  while read -r delivered acked; do
    if ((acked > delivered)); then
      echo "COUNTERS: $(basename "$f" .log) acked $acked entries but was delivered $delivered" >&2
      exit 1
    fi
  done < <(grep -E '^stream ' "$f" | sed -nE 's/.*delivered ([0-9]+) entries.*acked ([0-9]+),.*/\1 \2/p')
done

if cmp -s "$tmp/single.json" "$tmp/distributed.json"; then
  echo "OK: the distributed result equals the single-process result"
  cat "$tmp/single.json"
else
  echo "MISMATCH" >&2
  diff <(tr ',' '\n' <"$tmp/single.json") <(tr ',' '\n' <"$tmp/distributed.json") >&2 || true
  exit 1
fi
