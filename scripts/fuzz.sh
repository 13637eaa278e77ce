#!/usr/bin/env bash
# Runs sluice's libFuzzer harnesses (tests/fuzz) for a bounded time each and
# fails on any crash, leak, timeout, out-of-memory or sanitizer report.
#
# usage: scripts/fuzz.sh [HARNESS...]     (default: all; names as in tests/fuzz/corpus/)
# env:   FUZZ_SECONDS  seconds per harness (default 60)
#        FUZZ_JOBS     harnesses run at once (default 2)
#
# Builds with the `fuzz` preset (clang, ASan+UBSan, build/fuzz). Each harness
# starts from its committed seeds (tests/fuzz/corpus/<harness>), the inputs it
# once failed on (tests/fuzz/regressions/<harness>, each also a GoogleTest
# regression test) and what earlier runs found (build/fuzz/runs/<harness>/corpus). A failing input is
# saved as build/fuzz/runs/<harness>/crash-* (or leak-*, timeout-*, oom-*);
# reproduce it with: build/fuzz/tests/fuzz/fuzz_<harness> <that file>
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-2}
bin=build/fuzz/tests/fuzz
runs=build/fuzz/runs

# Inputs longer than real traffic only slow the search: header values and
# names are short, a page body is at most a few hundred KiB (64 KiB covers
# every structure the parser has).
declare -A max_len=(
  [cli]=1024 [csv]=4096 [json_string]=4096 [link_header]=4096
  [page_parser]=65536 [rate_limit]=256 [repo_name]=256 [retry_after]=256
)

harnesses=("$@")
if ((${#harnesses[@]} == 0)); then
  mapfile -t harnesses < <(printf '%s\n' "${!max_len[@]}" | sort)
fi
for h in "${harnesses[@]}"; do
  [[ -n ${max_len[$h]:-} ]] || { echo "fuzz: unknown harness $h (known: ${!max_len[*]})" >&2; exit 2; }
done

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j"$(nproc)"

run_one() {
  local h=$1 dir=$runs/$1
  mkdir -p "$dir/corpus"
  rm -f "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-*
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=0 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$bin/fuzz_$h" -max_total_time="$seconds" -max_len="${max_len[$h]}" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$dir/" "$dir/corpus" "tests/fuzz/corpus/$h" \
    $([[ -d tests/fuzz/regressions/$h ]] && echo "tests/fuzz/regressions/$h") >"$dir/log" 2>&1
}

status=0
report() {
  local h=$1 rc=$2 dir=$runs/$1
  local execs artifacts
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
  artifacts=$(ls "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-* 2>/dev/null || true)
  if ((rc != 0)) || [[ -n $artifacts ]] || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$dir/log"; then
    status=1
    printf 'fuzz: %-12s FAILED (exit %d, %s runs)\n' "$h" "$rc" "${execs:-?}"
    grep -E 'ERROR:|runtime error:|fuzz property violated|SUMMARY:' "$dir/log" | head -n 5 | sed 's/^/    /'
    for a in $artifacts; do echo "    input: $a  (reproduce: $bin/fuzz_$h $a)"; done
  else
    printf 'fuzz: %-12s ok (%ss, %s runs, corpus %s)\n' "$h" "$seconds" "${execs:-?}" "$(ls "$dir/corpus" | wc -l)"
  fi
}

# Run up to $jobs harnesses at once; report each as it ends.
declare -A pid_of=()
for h in "${harnesses[@]}"; do
  while ((${#pid_of[@]} >= jobs)); do
    for done_h in "${!pid_of[@]}"; do
      if ! kill -0 "${pid_of[$done_h]}" 2>/dev/null; then
        rc=0; wait "${pid_of[$done_h]}" || rc=$?
        report "$done_h" "$rc"; unset "pid_of[$done_h]"
      fi
    done
    ((${#pid_of[@]} >= jobs)) && sleep 1
  done
  run_one "$h" &
  pid_of[$h]=$!
done
for h in "${!pid_of[@]}"; do
  rc=0; wait "${pid_of[$h]}" || rc=$?
  report "$h" "$rc"
done
exit "$status"
