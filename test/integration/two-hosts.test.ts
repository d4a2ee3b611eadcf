import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { beforeAll, expect, it } from 'vitest';
import { spawnAccept } from '../support/accept-process.js';
import type { AgentProcess } from '../support/agent-process.js';
import { NETNS_PREFIX, sweepStaleNamespaces } from '../support/netns.js';
import { describeTwoHosts, type HostFleet } from '../support/netns-fleet.js';
import type { RelayProcess } from '../support/relay-process.js';
import { waitFor } from '../support/wait-for.js';

// Pairing between two hosts: each a network namespace with its own relay and agent, real
// processes, reaching the other only over the veth between them (192.0.2.1 and 192.0.2.2).
// The CLI runs in the test's own namespace: it talks to each agent over its Unix socket.

const run = promisify(execFile);
const namespaces = async () => (await run('ip', ['netns', 'list'])).stdout;

/** What an acceptor opts into for a plain-http relay on another host (docs/SECURITY.md). */
const INSECURE = { PAIRLINK_ALLOW_INSECURE_RELAYS: '1' };

interface Accepted {
  code: number | null;
  status?: string;
  acceptId?: string;
  error?: { code: string; message: string };
  output: string;
}

/** `pairlink accept --json ARGS` against `agent`, the invite on stdin (never in argv). */
async function accept(agent: AgentProcess, invite: string, args: string[] = []): Promise<Accepted> {
  const run = spawnAccept(agent.env, ['--json', ...args], { stdin: invite });
  const code = await run.exited;
  const { stdout, stderr } = run.output();
  let parsed: Omit<Accepted, 'code' | 'output'> = {};
  try {
    parsed = JSON.parse(stdout) as typeof parsed;
  } catch {
    // not JSON: the output says why
  }
  return { code, ...parsed, output: `${stdout}${stderr}` };
}

const didOf = async (agent: AgentProcess) => (await agent.json<{ did: string }>(['whoami'])).value.did;
const peerDids = async (agent: AgentProcess) =>
  (await agent.json<{ did: string }[]>(['peers'])).value.map((peer) => peer.did);

/** Waits until each of the two agents lists the other as a peer (`pairlink peers` on each side). */
async function bothPinned(x: AgentProcess, y: AgentProcess): Promise<void> {
  const [dx, dy] = await Promise.all([didOf(x), didOf(y)]);
  await waitFor(
    async () => (await peerDids(x)).includes(dy) && (await peerDids(y)).includes(dx),
    `${x.name} and ${y.name} pinning each other`,
    { everyMs: 200 },
  );
}

/** Mints a link on `issuer` and accepts it on `acceptor`: it ends paired, both pinned. */
async function pairByLink(issuer: AgentProcess, acceptor: AgentProcess): Promise<void> {
  const { url } = (await issuer.json<{ url: string }>(['invite'])).value;
  const accepted = await accept(acceptor, url);
  expect(accepted.status, accepted.output).toBe('paired');
  await bothPinned(issuer, acceptor);
}

/**
 * Relay A restarts (in memory: it loses every mailbox and message) while B's accept of A's link
 * is pending; A's agent is down meanwhile, so the accept cannot finish before the restart. Once
 * A's agent is back, the pairing completes: both pinned.
 */
async function pairAcrossRelayRestart(
  fleet: HostFleet,
  relayA: RelayProcess,
  alice: AgentProcess,
  bob: AgentProcess,
): Promise<RelayProcess> {
  const { url } = (await alice.json<{ url: string }>(['invite'])).value;
  await alice.stop();
  const pending = await accept(bob, url, ['--wait', '1s']);
  expect(pending.status, pending.output).toBe('pending');
  await relayA.stop();
  const restarted = await fleet.relay(fleet.hosts.a, Number(new URL(relayA.url).port));
  expect(restarted.url).toBe(relayA.url);
  await alice.restart();
  const waited = await bob.json<{ status: string }>(['wait', pending.acceptId!, '--timeout', '120s']);
  expect(waited.value.status).toBe('paired');
  await bothPinned(alice, bob);
  return restarted;
}

await describeTwoHosts('two hosts in network namespaces, a veth between them', (fleet) => {
  let relayA: RelayProcess;
  let relayB: RelayProcess;
  beforeAll(async () => {
    [relayA, relayB] = await Promise.all([fleet.relay(fleet.hosts.a), fleet.relay(fleet.hosts.b)]);
  });
  const onA = (name: string, relayUrl: string, env: NodeJS.ProcessEnv = {}) =>
    fleet.agent(fleet.hosts.a, name, relayUrl, env);
  const onB = (name: string, relayUrl: string, env: NodeJS.ProcessEnv = {}) =>
    fleet.agent(fleet.hosts.b, name, relayUrl, env);

  it("a killed run's namespaces are swept (what ran in them killed); a live run's are kept", async () => {
    // A test process that is gone: its pid names the namespaces it left.
    const gone = spawn(process.execPath, ['-e', '0']);
    const [exitCode] = await once(gone, 'exit');
    expect(exitCode).toBe(0);
    const stale = `${NETNS_PREFIX}${gone.pid}-abc123-a`;
    await run('ip', ['netns', 'add', stale]);
    const left = spawn('ip', ['netns', 'exec', stale, 'sleep', '600'], { stdio: 'ignore' });
    try {
      await waitFor(async () => (await run('ip', ['netns', 'pids', stale])).stdout.trim(), 'sleep in it');
      const killed = once(left, 'exit');
      expect(await sweepStaleNamespaces()).toContain(stale);
      expect(await killed).toEqual([null, 'SIGKILL']);
      const listed = await namespaces();
      expect(listed).not.toContain(stale);
      expect(listed).toContain(fleet.hosts.a.ns);
      expect(listed).toContain(fleet.hosts.b.ns);
    } finally {
      left.kill('SIGKILL');
      if ((await namespaces()).includes(stale)) await run('ip', ['netns', 'del', stale]);
    }
  });

  it("the harness: B's agent uses relay A as its own, and A's link pairs them across the hosts", async () => {
    const [alice, bob] = await Promise.all([onA('alice-own', relayA.url), onB('bob-own', relayA.url)]);
    await pairByLink(alice, bob);
  }, 120_000);

  it("the harness: relay A restarts while B's accept (B on relay A) is pending", async () => {
    const [alice, bob] = await Promise.all([onA('alice-rs', relayA.url), onB('bob-rs', relayA.url)]);
    relayA = await pairAcrossRelayRestart(fleet, relayA, alice, bob);
  }, 180_000);

  it("A's link, accepted by B (which has relay B) through relay A", async () => {
    const [alice, bob] = await Promise.all([onA('alice-l', relayA.url), onB('bob-l', relayB.url, INSECURE)]);
    await pairByLink(alice, bob);
  }, 120_000);

  it("B's link, accepted by A (which has relay A) through relay B", async () => {
    const [alice, bob] = await Promise.all([onA('alice-r', relayA.url, INSECURE), onB('bob-r', relayB.url)]);
    await pairByLink(bob, alice);
  }, 120_000);

  it("A's code, accepted by B with `pairlink accept --relay <relay A>`", async () => {
    const [alice, bob] = await Promise.all([onA('alice-c', relayA.url), onB('bob-c', relayB.url, INSECURE)]);
    const { code } = (await alice.json<{ code: string }>(['invite', '--format', 'code'])).value;
    const accepted = await accept(bob, code, ['--relay', relayA.url]);
    expect(accepted.status, accepted.output).toBe('paired');
    await bothPinned(alice, bob);
  }, 120_000);

  it("relay A restarts while B's accept (B on relay B) is pending", async () => {
    const [alice, bob] = await Promise.all([onA('alice-p', relayA.url), onB('bob-p', relayB.url, INSECURE)]);
    relayA = await pairAcrossRelayRestart(fleet, relayA, alice, bob);
  }, 180_000);
});
