#!/usr/bin/env bash
# Installs every Debian package sluice's build, tests, benchmarks and demo need.
# Idempotent: checks each package with `dpkg -s` first and runs
# `apt-get update` only when something is missing.
#
#   scripts/setup.sh                  what the build, tests and demo need
#   scripts/setup.sh --bench-anchors  also the Rust anchors of the benchmarks
#                                     (bench/crossbeam: cargo + crossbeam-channel)
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  ccache                # CI reuses objects across runs on one machine
  libtbb-dev            # oneTBB: task_arena, parallel_for, parallel_pipeline, flow graph
  libcurl4-openssl-dev  # async HTTP through the curl multi interface
  libsimdjson-dev       # On-Demand JSON parsing of GitHub pages
  libconcurrentqueue-dev # moodycamel::ConcurrentQueue: benchmark anchor (bench/)
  libcpp-httplib-dev    # the fake GitHub server and HTTP test servers
  nghttp2-server        # nghttpd: an HTTP/2 server for the client's multiplexing test
  zlib1g-dev            # gzip for the test servers and the files connector (.gz input)
  liburing-dev          # io_uring reads in the files connector
  libgtest-dev libgmock-dev
  libbenchmark-dev
  clang                 # the second supported compiler (clang 14) and the fuzz preset
  libfuzzer-14-dev libclang-rt-14-dev  # libFuzzer and clang's sanitizer runtimes
  redis-server          # Redis Streams: the distributed channel's tests, demo and benchmark
  libhiredis-dev        # hiredis async client under sluice::redis
)

for arg in "$@"; do
  case "$arg" in
    --bench-anchors) packages+=(cargo librust-crossbeam-channel-dev) ;;
    *) echo "setup: unknown option $arg (known: --bench-anchors)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
echo "setup: installing ${missing[*]}"
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
