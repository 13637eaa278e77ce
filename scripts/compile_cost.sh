#!/usr/bin/env bash
# Compile cost of a typical 30-line pipeline program, the yardstick of
# docs/architecture.md ("Header cost"): preprocessed lines, then user+sys CPU
# seconds for -fsyntax-only, -O0 and -O2 (g++ by default; CXX=clang++ for
# clang). CPU time rather than wall time, so a loaded machine still gives
# comparable figures. Usage: scripts/compile_cost.sh [runs] (default 1; the
# minimum over runs is printed).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cxx=${CXX:-g++}
runs=${1:-1}
src=$root/scripts/compile_cost/pipeline30.cpp
flags=(-std=c++20 -I"$root/core/include" -I"$root/stages/include")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

cpu_seconds() {  # runs "$@" and prints its user+sys CPU seconds
  /usr/bin/time -f '%U %S' -o "$out/time" "$@" >/dev/null
  awk '{printf "%.2f", $1 + $2}' "$out/time"
}

lines=$("$cxx" "${flags[@]}" -E "$src" | wc -l)
echo "preprocessed lines: $lines"
for mode in -fsyntax-only -O0 -O2; do
  best=""
  for ((i = 0; i < runs; ++i)); do
    if [[ $mode == -fsyntax-only ]]; then
      t=$(cpu_seconds "$cxx" "${flags[@]}" -fsyntax-only "$src")
    else
      t=$(cpu_seconds "$cxx" "${flags[@]}" "$mode" -c "$src" -o "$out/p.o")
    fi
    if [[ -z $best ]] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$t; fi
  done
  if [[ $mode == -fsyntax-only ]]; then
    echo "$mode: ${best} s CPU"
  else
    echo "$mode: ${best} s CPU, text $(size "$out/p.o" | awk 'NR == 2 { print $1 }') bytes"
  fi
done
