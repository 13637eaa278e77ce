#!/usr/bin/env bash
# Installs the dependencies, builds repo-fetcher and runs it on its built-in
# offline demo: a fake GitHub API on loopback serving a dozen repositories.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)" --target repo-fetcher
exec build/release/apps/repo-fetcher/repo-fetcher --demo "$@"
