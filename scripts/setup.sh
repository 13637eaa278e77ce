#!/usr/bin/env bash
# Installs every Debian package sluice's build, tests, benchmarks and demo need.
# Idempotent: checks each package with `dpkg -s` first and runs
# `apt-get update` only when something is missing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libtbb-dev            # oneTBB: task_arena, parallel_for, parallel_pipeline, flow graph
  libcurl4-openssl-dev  # async HTTP through the curl multi interface
  libsimdjson-dev       # On-Demand JSON parsing of GitHub pages
  libconcurrentqueue-dev # moodycamel::ConcurrentQueue under the channels
  libcpp-httplib-dev    # the fake GitHub server and HTTP test servers
  nghttp2-server        # nghttpd: an HTTP/2 server for the client's multiplexing test
  zlib1g-dev            # gzip for the test servers
  libgtest-dev libgmock-dev
  libbenchmark-dev
  redis-server          # Redis Streams: the distributed channel's tests, demo and benchmark
  libhiredis-dev        # hiredis async client under sluice::redis
)

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
