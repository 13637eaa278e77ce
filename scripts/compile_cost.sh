#!/usr/bin/env bash
# Compile cost of a typical 30-line pipeline program, the yardstick of
# docs/architecture.md ("Header cost"), beside its anchor: the same program
# written by hand with tbb::parallel_pipeline (compile_cost/parallel_pipeline30.cpp).
# For each: preprocessed lines, then user+sys CPU seconds for -fsyntax-only,
# -O0 and -O2 (g++ by default; CXX=clang++ for clang), and sluice's ratio to
# the anchor. CPU time rather than wall time, so a loaded machine still gives
# comparable figures; the two programs alternate run by run, so a change of
# load hits both. Usage: scripts/compile_cost.sh [runs] (default 1; the
# minimum over runs is printed).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cxx=${CXX:-g++}
runs=${1:-1}
sluice_src=$root/scripts/compile_cost/pipeline30.cpp
anchor_src=$root/scripts/compile_cost/parallel_pipeline30.cpp
flags=(-std=c++20 -I"$root/core/include" -I"$root/stages/include")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

cpu_seconds() {  # runs "$@" and prints its user+sys CPU seconds
  /usr/bin/time -f '%U %S' -o "$out/time" "$@" >/dev/null
  awk '{printf "%.2f", $1 + $2}' "$out/time"
}

compile() {  # compile <source> <mode>: CPU seconds of one compile
  if [[ $2 == -fsyntax-only ]]; then
    cpu_seconds "$cxx" "${flags[@]}" -fsyntax-only "$1"
  else
    cpu_seconds "$cxx" "${flags[@]}" "$2" -c "$1" -o "$out/p.o"
  fi
}

smaller() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

echo "preprocessed lines: $("$cxx" "${flags[@]}" -E "$sluice_src" | wc -l)" \
  "(anchor $("$cxx" "${flags[@]}" -E "$anchor_src" | wc -l))"
for mode in -fsyntax-only -O0 -O2; do
  best="" anchor=""
  for ((i = 0; i < runs; ++i)); do
    t=$(compile "$sluice_src" "$mode")
    text=$([[ $mode == -fsyntax-only ]] || size "$out/p.o" | awk 'NR == 2 { print $1 }')
    if [[ -z $best ]] || smaller "$t" "$best"; then best=$t; fi
    a=$(compile "$anchor_src" "$mode")
    if [[ -z $anchor ]] || smaller "$a" "$anchor"; then anchor=$a; fi
  done
  ratio=$(awk -v s="$best" -v a="$anchor" 'BEGIN { printf "%.2f", s / a }')
  echo "$mode: ${best} s CPU${text:+, text $text bytes}; anchor ${anchor} s; sluice/anchor ${ratio}"
done
