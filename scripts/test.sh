#!/usr/bin/env bash
# Installs the dependencies, builds everything (library, tests, examples,
# benchmarks, apps) with warnings as errors, and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --preset debug
cmake --build --preset debug -j"$(nproc)"
ctest --preset debug -j2
