/**
 * End-to-end pairing figures with real processes on loopback: one relay, two agents (file
 * keystore), measured from outside through their JSON-RPC sockets.
 *  - warm-agent pairing latency, invite.create → accept answers "paired" (both sides pinned:
 *    the issuer pins before it sends the welcome), p50/p99 at concurrency 1 and 100;
 *  - JSON-RPC small requests per second on one socket (agent.info, 64 in flight).
 * The CLI figures are in bench/ceremony.ts. Run: npm run bench, or node dist/bench/pairing.js
 */
import { PairlinkClient } from '../client/index.js';
import { type AgentProcess, startAgent, testRoot } from '../test/support/agent-process.js';
import { startRelayProcess } from '../test/support/relay-process.js';
import { GENEROUS_LIMITS } from './relay-child.js';
import { cpuMs, inMs, report, value } from './stats.js';

const QUICK = process.env.BENCH_QUICK === '1';
const PAIRINGS = Number(process.env.BENCH_PAIRINGS ?? (QUICK ? 30 : 1000));
const RPC_SECONDS = Number(process.env.BENCH_RPC_SECONDS ?? (QUICK ? 0.5 : 3));

async function pairOnce(issuer: PairlinkClient, acceptor: PairlinkClient): Promise<number> {
  const started = performance.now();
  const invite = await issuer.call('invite.create', {});
  const accepted = await acceptor.call('invite.accept', { invite: invite.url!, waitSeconds: 60 });
  if (accepted.status !== 'paired') throw new Error(`pairing ended ${accepted.status}`);
  return performance.now() - started;
}

async function latencies(
  issuer: PairlinkClient,
  acceptor: PairlinkClient,
  concurrency: number,
  total: number,
): Promise<number[] & { perSecond?: number }> {
  const times: number[] & { perSecond?: number } = [];
  let next = 0;
  const began = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        next++;
        times.push(await pairOnce(issuer, acceptor));
      }
    }),
  );
  times.perSecond = (total * 1000) / (performance.now() - began);
  return times.sort((a, b) => a - b);
}

const relay = await startRelayProcess([], { PAIRLINK_RELAY_LIMITS: JSON.stringify(GENEROUS_LIMITS) });
const root = testRoot();
const agents: AgentProcess[] = await Promise.all([
  startAgent(root, 'issuer', relay.url),
  startAgent(root, 'acceptor', relay.url),
]);
const [issuerAgent, acceptorAgent] = agents as [AgentProcess, AgentProcess];
const issuer = await PairlinkClient.connect({ socket: issuerAgent.socket });
const acceptor = await PairlinkClient.connect({ socket: acceptorAgent.socket });
try {
  await latencies(issuer, acceptor, 4, 20); // warm-up
  const pids = { relay: relay.child.pid, issuer: issuerAgent.child.pid, acceptor: acceptorAgent.child.pid };
  const cpuBefore = Object.values(pids).map(cpuMs);
  const serial = await latencies(issuer, acceptor, 1, Math.min(PAIRINGS, 200));
  const cpuSerial = Object.values(pids).map((pid, i) => (cpuMs(pid) - cpuBefore[i]!) / serial.length);
  const wide = await latencies(issuer, acceptor, 100, PAIRINGS);
  // The same serial run again, once V8 has compiled the pairing path after 1,000 more pairings.
  const steady = await latencies(issuer, acceptor, 1, Math.min(PAIRINGS, 200));

  let requests = 0;
  let running = true;
  const began = performance.now();
  setTimeout(() => {
    running = false;
  }, RPC_SECONDS * 1000);
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (running) {
        await issuer.call('agent.info', {});
        requests++;
      }
    }),
  );
  const rps = (requests * 1000) / (performance.now() - began);

  report(
    'Warm agents: invite.create → accept answers paired (both sides pinned), over JSON-RPC',
    {
      'warm pairing, concurrency 1': inMs(serial, true),
      'CPU per pairing at concurrency 1, relay + both agents': value(
        'ms',
        cpuSerial.reduce((a, b) => a + b, 0),
      ),
      '  of which the relay': value('ms', cpuSerial[0]!),
      '  of which the issuer agent': value('ms', cpuSerial[1]!),
      '  of which the acceptor agent': value('ms', cpuSerial[2]!),
      'warm pairing, concurrency 100': inMs(wide, true),
      [`warm pairing, concurrency 1, after ${PAIRINGS} more pairings`]: inMs(steady, true),
      'pairings/s at concurrency 100': value('per s', wide.perSecond ?? 0),
      'JSON-RPC agent.info/s, one socket, 64 in flight': value('per s', rps),
    },
    [],
  );
} finally {
  issuer.close();
  acceptor.close();
  await Promise.all(agents.map((a) => a.stop()));
  await relay.stop();
}
