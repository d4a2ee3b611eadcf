#!/bin/sh
# Mint an invite, hand it on, wait until a second agent has paired, list the peers.
# Needs only a POSIX shell, no jq. PAIRLINK_SOCKET selects the agent. Runs `pairlink` from PATH,
# else the CLI beside this script: dist/bin/pairlink.cjs of its clone (npm ci builds it) or of the
# installed package it came with.
set -eu

if ! command -v pairlink >/dev/null 2>&1; then
  built="$(cd "$(dirname "$0")/.." && pwd)/dist/bin/pairlink.cjs"
  if [ ! -f "$built" ]; then
    echo "pair.sh: pairlink is not on PATH, and $built is not built (npm ci or npm run build)" >&2
    exit 127
  fi
  pairlink() { node "$built" "$@"; }
fi

created=$(pairlink invite --json --no-qr --label "shell example")
# One JSON object on one line: pick the fields with sed.
id=$(printf '%s\n' "$created" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
url=$(printf '%s\n' "$created" | sed -n 's/.*"url":"\([^"]*\)".*/\1/p')
printf 'invite %s\n' "$url"   # hand this to the other side

# Exit 0 when paired, 1 when the invite ended otherwise, 4 on timeout.
result=$(pairlink wait "$id" --timeout 60s --json)
peer=$(printf '%s\n' "$result" | sed -n 's/.*"peer":"\([^"]*\)".*/\1/p')
printf 'paired with %s\n' "$peer"
pairlink peers --json
