#!/bin/sh
# Runs inside a booted Debian container (test/integration/systemd-units.test.ts), as root, from
# the oneshot unit pairlink-check.service; pairlink is bind-mounted read-only at /opt/pairlink.
# Each check appends "ok <name>" or "FAIL <name>: <detail>" to /results/steps; the unit powers
# the container off when the script ends, however it ends.
set -u
exec >/results/check.log 2>&1
set -x
ok() { echo "ok $1" >>/results/steps; }
fail() { echo "FAIL $1: $2" >>/results/steps; }
check() { name=$1; shift; if "$@"; then ok "$name"; else fail "$name" "$* exited $?"; fi; }
. /check/env
ln -sf /opt/pairlink/dist/bin/pairlink.cjs /usr/local/bin/pairlink
useradd --create-home alice
mkdir -p /etc/pairlink && chmod 0700 /etc/pairlink
( umask 077; printf 'a passphrase for the system agent\n' >/etc/pairlink/passphrase; printf '%s\n' "$DISCORD_TOKEN" >/etc/pairlink/discord-token )
printf '{"discord":{"apiUrl":"%s","tokenFile":"/etc/pairlink/discord-token","healthPort":%s}}\n' "$DISCORD_API" "$HEALTH_PORT" >/etc/pairlink/discord.json
chmod 0600 /etc/pairlink/discord.json

# The relay and the system agent, as their units (install returns once each has started: the
# agent's once `pairlink service ready` saw it answer).
check relay-installed pairlink service install --relay-server -- --port "$RELAY_PORT"
check agent-installed pairlink service install --system --passphrase-file /etc/pairlink/passphrase --relay "http://127.0.0.1:$RELAY_PORT"
check agent-active test "$(systemctl is-active pairlink-agent.service)" = active
check socket-mode test "$(stat -c '%a %U %G' /run/pairlink/agent.sock)" = "660 pairlink pairlink"
check run-dir-mode test "$(stat -c '%a %U %G' /run/pairlink)" = "750 pairlink pairlink"
systemd-analyze security --no-pager pairlink-agent.service pairlink-relay.service >/results/security 2>&1

# A member of the pairlink group uses the system agent: found at /run/pairlink/agent.sock.
check refused-outside-group sh -c '! runuser -u alice -- pairlink whoami 2>/results/refused.txt'
usermod -aG pairlink alice
check alice-whoami sh -c 'runuser -u alice -- pairlink whoami --json >/results/did-before.json'
check root-whoami sh -c 'pairlink whoami --json >/results/did-root.json'

# A second agent, run by hand, accepts alice's invite.
( export PAIRLINK_HOME=/root/second PAIRLINK_SOCKET=/root/second.sock PAIRLINK_KEYSTORE=file PAIRLINK_PASSPHRASE=second
  exec pairlink agent --name second --relay "http://127.0.0.1:$RELAY_PORT" >/results/second.log 2>&1 ) &
check second-ready env PAIRLINK_SOCKET=/root/second.sock pairlink service ready
runuser -u alice -- pairlink invite --json >/results/invite.json
check invite-made test -s /results/invite.json
link=$(node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync("/results/invite.json","utf8")).url)')
check accepted sh -c "printf '%s' '$link' | PAIRLINK_SOCKET=/root/second.sock pairlink accept - --json >/results/accept.json"
check alice-peers sh -c 'runuser -u alice -- pairlink peers --json >/results/peers-before.json'

# A bot unit: after the agent, in its group, its token a credential; healthy means it reached
# both the agent's socket and (the fake) Discord.
check bot-installed pairlink service install --bot discord --config /etc/pairlink/discord.json
check bot-healthy node -e '
  const url = "http://127.0.0.1:" + process.env.HEALTH_PORT + "/healthz";
  (async () => {
    for (let i = 0; i < 300; i++) {
      const body = await fetch(url).then((r) => r.json()).catch(() => null);
      if (body && body.status === "ok") return;
      await new Promise((r) => setTimeout(r, 100));
    }
    process.exit(1);
  })();'
systemctl show pairlink-discord-bot.service -p After -p SupplementaryGroups -p LoadCredential >/results/bot-unit
agent_up=$(systemctl show -P ActiveEnterTimestampMonotonic pairlink-agent.service)
bot_start=$(systemctl show -P ExecMainStartTimestampMonotonic pairlink-discord-bot.service)
check bot-after-agent test "$bot_start" -gt "$agent_up"

# Stop loses nothing; a restart keeps the identity and the peer.
check agent-stopped systemctl stop pairlink-agent.service
check agent-started systemctl start pairlink-agent.service
check alice-whoami-after sh -c 'runuser -u alice -- pairlink whoami --json >/results/did-after.json'
check alice-peers-after sh -c 'runuser -u alice -- pairlink peers --json >/results/peers-after.json'
journalctl --no-pager -u pairlink-agent -u pairlink-relay -u pairlink-discord-bot >/results/journal 2>&1
echo done >>/results/steps
