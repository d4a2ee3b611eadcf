/**
 * What an inbox costs the agent (issue #27; the relay's side is bench/relay-inboxes.ts), with real
 * processes on loopback: one relay (memory store), two agents (file keystore) paired for real.
 *  1. memory per peer: the hub agent's RSS with its one real peer, then after PEERS more peers
 *     were written into its sealed state (test/support/many-peers.ts: real cards and keys, each
 *     its own write capability) and it restarted and added every writer at the relay; the
 *     difference per 1,000 peers, and the sealed state's bytes per peer;
 *  2. notices per second end to end: alice pings the hub (`peer.ping`: alice seals, signs and
 *     posts to the hub's inbox; the hub reads, judges, applies, saves and posts a receipt; alice
 *     applies it and answers), PINGS per run with 8 queued, RUNS runs, with one peer and with
 *     PEERS + 1; and the hub's CPU per notice received (/proc, user + system).
 * The relay's per-address and per-writer limits are lifted (every process here is one loopback
 * address; by default a writer may have 16 messages untrimmed, and the agent trims once a second).
 * Run: npm run bench -- --only=agent-inboxes, or node dist/bench/agent-inboxes.js
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PairlinkClient } from '../client/index.js';
import { type AgentProcess, startAgent, testRoot } from '../test/support/agent-process.js';
import { addSyntheticPeers } from '../test/support/many-peers.js';
import { gauge } from '../test/support/relay-http.js';
import { startRelayProcess } from '../test/support/relay-process.js';
import { waitFor } from '../test/support/wait-for.js';
import { GENEROUS_LIMITS, rssBytes, sleep } from './relay-child.js';
import { cpuMs, type Figure, type Figures, inMs, median, report, value } from './stats.js';

const QUICK = process.env.BENCH_QUICK === '1';
const PEERS = Number(process.env.BENCH_INBOX_PEERS ?? (QUICK ? 200 : 10_000));
const PINGS = Number(process.env.BENCH_PINGS ?? (QUICK ? 10 : 200));
const RUNS = QUICK ? 1 : 5;
/** Pings queued at once (the outbox sends a peer's notices one at a time, each after its receipt). */
const QUEUED = 8;
const perSecond = (samples: number[]): Figure => ({
  unit: 'per s',
  samples: [...samples].sort((a, b) => a - b),
});

/** The sealed state's files in an agent's home (snapshot and log), in bytes. */
function stateBytes(home: string): number {
  return readdirSync(home)
    .filter((f) => f.startsWith('state'))
    .reduce((sum, f) => sum + statSync(join(home, f)).size, 0);
}

/** Median RSS of three readings 500 ms apart, once the agent is idle. */
async function settledRss(pid: number): Promise<number> {
  const readings: number[] = [];
  for (let i = 0; i < 3; i++) {
    await sleep(500);
    readings.push(rssBytes(pid));
  }
  return median(readings.sort((a, b) => a - b));
}

/** RUNS runs of PINGS pings from `from` to `did`, QUEUED at a time: pings/s per run, and the receiver's CPU per ping. */
async function pingRuns(from: PairlinkClient, did: string, receiverPid: number) {
  const rates: number[] = [];
  const cpuPerPing: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    let sent = 0;
    const cpuBefore = cpuMs(receiverPid);
    const began = performance.now();
    await Promise.all(
      Array.from({ length: QUEUED }, async () => {
        while (sent < PINGS) {
          sent++;
          const answer = await from.call('peer.ping', { did, waitSeconds: 60 });
          if (!answer.reachable) throw new Error('a ping went unanswered');
        }
      }),
    );
    rates.push((PINGS * 1000) / (performance.now() - began));
    cpuPerPing.push((cpuMs(receiverPid) - cpuBefore) / PINGS);
  }
  return { perSecond: rates, cpuPerPing };
}

const relay = await startRelayProcess([], {
  PAIRLINK_RELAY_LIMITS: JSON.stringify({ ...GENEROUS_LIMITS, maxPendingPerWriter: 1024 }),
});
const writers = async () => (await gauge(relay.url, 'pairlink_relay_inbox_writers')) ?? 0;
const root = testRoot();
const agents: AgentProcess[] = [];
const clients: PairlinkClient[] = [];
try {
  const [hub, alice] = await Promise.all([
    startAgent(root, 'hub', relay.url),
    startAgent(root, 'alice', relay.url),
  ]);
  agents.push(hub!, alice!);
  const connect = async (agent: AgentProcess) => {
    const client = await PairlinkClient.connect({ socket: agent.socket });
    clients.push(client);
    return client;
  };
  let hubClient = await connect(hub!);
  const aliceClient = await connect(alice!);
  const invite = await hubClient.call('invite.create', {});
  const accepted = await aliceClient.call('invite.accept', { invite: invite.url!, waitSeconds: 60 });
  if (accepted.status !== 'paired') throw new Error(`pairing ended ${accepted.status}`);
  // Each holds a writer at the other's inbox.
  await waitFor(async () => (await writers()) === 2, 'both writers', { deadlineMs: 60_000 });
  const hubDid = (await hubClient.call('agent.info', {})).did;
  await pingRuns(aliceClient, hubDid, hub!.child.pid!); // warm-up
  const onePeer = await pingRuns(aliceClient, hubDid, hub!.child.pid!);
  const rssOne = await settledRss(hub!.child.pid!);

  await hub!.stop();
  const bytesOne = stateBytes(hub!.home);
  await addSyntheticPeers(hub!.home, 'hub', relay.url, PEERS);
  const bytesMany = stateBytes(hub!.home);
  const restarted = performance.now();
  await hub!.restart();
  await waitFor(async () => (await writers()) === PEERS + 2, `${PEERS} more writers`, {
    deadlineMs: 300_000,
    everyMs: 100,
  });
  const addSeconds = (performance.now() - restarted) / 1000;
  const rssMany = await settledRss(hub!.child.pid!);
  hubClient.close();
  hubClient = await connect(hub!);
  const manyPeers = await pingRuns(aliceClient, hubDid, hub!.child.pid!);

  const many = (PEERS + 1).toLocaleString('en');
  const figures: Figures = {
    'agent RSS with 1 peer': value('MiB', rssOne / 2 ** 20),
    [`agent RSS with ${many} peers, every writer in`]: value('MiB', rssMany / 2 ** 20),
    'agent memory per 1,000 peers with inboxes (RSS)': value(
      'MiB',
      (((rssMany - rssOne) / PEERS) * 1000) / 2 ** 20,
    ),
    'sealed state per peer with an inbox': value('KiB', (bytesMany - bytesOne) / PEERS / 1024),
    [`restart until every writer is in, ${many} peers`]: value('ms', addSeconds * 1000),
    'pings answered/s, one peer (a notice and its receipt)': perSecond(onePeer.perSecond),
    [`pings answered/s, ${many} peers`]: perSecond(manyPeers.perSecond),
    'receiving agent CPU per ping, one peer': inMs(onePeer.cpuPerPing),
    [`receiving agent CPU per ping, ${many} peers`]: inMs(manyPeers.cpuPerPing),
  };
  report(`What an inbox costs the agent: ${many} peers on one agent, pings through a real relay`, figures, [
    `${RUNS} run(s) of ${PINGS} pings, ${QUEUED} queued; relay limits per address and per writer lifted`,
  ]);
} finally {
  for (const client of clients) client.close();
  await Promise.all(agents.map((a) => a.stop()));
  await relay.stop();
}
