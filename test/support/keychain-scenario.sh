#!/bin/sh
# Inside a Secret Service session: start an agent with PAIRLINK_KEYSTORE=keychain, ask it who it
# is, look its identity up with secret-tool, stop it. Prints one JSON object for the test to check.
set -eu
bin="$1"
node "$bin" agent --name keyed --relay "$RELAY" > "$PAIRLINK_HOME.log" 2>&1 &
agent=$!
i=0
until [ -S "$PAIRLINK_SOCKET" ] || [ $i -ge 200 ]; do sleep 0.05; i=$((i + 1)); done
info=$(node "$bin" rpc agent.info)
secrets=$(secret-tool search --all service pairlink 2>&1 || true)
identity=$(secret-tool lookup service pairlink account "$ACCOUNT" || true)
kill -TERM $agent
wait $agent || true
node -e 'console.log(JSON.stringify({ info: JSON.parse(process.argv[1]), search: process.argv[2], identity: process.argv[3] }))' "$info" "$secrets" "$identity"
