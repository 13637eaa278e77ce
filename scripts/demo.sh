#!/usr/bin/env bash
# Installs the dependencies, builds repo-fetcher and the fake GitHub server,
# starts the server on loopback (a dozen generated repositories), runs
# repo-fetcher against it with --api-url, and stops the server by its pid.
# No network, no token: a token in the environment is not passed on.
# Extra arguments go to repo-fetcher (e.g. --format jsonl, or more
# OWNER/REPO names such as acme/does-not-exist to see an error row).
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${SLUICE_DEMO_PRESET:-release}  # any preset that builds apps (release, debug)
bash scripts/setup.sh
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j"$(nproc)" --target repo-fetcher fake-github-server

server_bin=build/$preset/testing/fake_github/fake-github-server
fetcher_bin=build/$preset/apps/repo-fetcher/repo-fetcher
url_file=$(mktemp)
server=
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -f "$url_file"
}
trap cleanup EXIT INT TERM

"$server_bin" --demo >"$url_file" 2>/dev/null &
server=$!
for _ in $(seq 1 200); do
  [ -s "$url_file" ] && break
  kill -0 "$server" 2>/dev/null || { echo "demo: the fake GitHub server did not start" >&2; exit 1; }
  sleep 0.05
done
url=$(head -n 1 "$url_file")
[ -n "$url" ] || { echo "demo: the fake GitHub server printed no URL" >&2; exit 1; }

echo "OFFLINE DEMO: generated repositories served by the fake GitHub server at $url"
echo "(no network, no token; real runs use https://api.github.com)"
echo
format=(--format table)
for arg in "$@"; do [[ $arg == --format* ]] && format=(); done
# shellcheck disable=SC2046  # one repository name per line
env -u GITHUB_TOKEN -u GH_TOKEN "$fetcher_bin" --api-url "$url" "${format[@]}" "$@" $("$server_bin" --list-demo)
