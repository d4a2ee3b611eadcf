/**
 * Soak: `npm run soak [-- --pairings 10000 --concurrency 16]`. One relay and two agents as real
 * processes on loopback pair again and again through JSON-RPC, and the resident memory of all
 * three (VmRSS from /proc) is sampled every tenth of the run. Prints the samples, the growth from
 * the first sample after warm-up to the last, and the failure count; exits 1 on any failure or
 * when a process grew by more than a quarter after warm-up (memory that does not stay flat).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { PairlinkClient } from '../client/index.js';
import { startAgent, testRoot } from '../test/support/agent-process.js';
import { startRelayProcess } from '../test/support/relay-process.js';
import { GENEROUS_LIMITS } from './relay-child.js';

const { values } = parseArgs({
  options: { pairings: { type: 'string', default: '10000' }, concurrency: { type: 'string', default: '16' } },
});
const total = Number(values.pairings);
const concurrency = Number(values.concurrency);

const rssKiB = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);

const relay = await startRelayProcess([], { PAIRLINK_RELAY_LIMITS: JSON.stringify(GENEROUS_LIMITS) });
const root = testRoot();
const [issuerAgent, acceptorAgent] = await Promise.all([
  startAgent(root, 'issuer', relay.url),
  startAgent(root, 'acceptor', relay.url),
]);
const issuer = await PairlinkClient.connect({ socket: issuerAgent.socket });
const acceptor = await PairlinkClient.connect({ socket: acceptorAgent.socket });
const pids = { relay: relay.child.pid!, issuer: issuerAgent.child.pid!, acceptor: acceptorAgent.child.pid! };
const samples: { done: number; relay: number; issuer: number; acceptor: number }[] = [];
const sample = (done: number) =>
  samples.push({
    done,
    relay: rssKiB(pids.relay),
    issuer: rssKiB(pids.issuer),
    acceptor: rssKiB(pids.acceptor),
  });
let failures = 0;
let done = 0;
let next = 0;
const started = Date.now();
try {
  sample(0);
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        next++;
        try {
          const invite = await issuer.call('invite.create', {});
          const accepted = await acceptor.call('invite.accept', { invite: invite.url!, waitSeconds: 60 });
          if (accepted.status !== 'paired') failures++;
        } catch (error) {
          failures++;
          if (failures <= 5) console.log(`pairing failed: ${(error as Error).message}`);
        }
        done++;
        if (done % Math.max(1, Math.floor(total / 10)) === 0) sample(done);
      }
    }),
  );
} finally {
  issuer.close();
  acceptor.close();
  await Promise.all([issuerAgent.stop(), acceptorAgent.stop()]);
  await relay.stop();
}
const seconds = (Date.now() - started) / 1000;
console.log('pairings  relay KiB  issuer KiB  acceptor KiB');
for (const s of samples)
  console.log(
    `${String(s.done).padStart(8)}  ${String(s.relay).padStart(9)}  ${String(s.issuer).padStart(10)}  ${String(s.acceptor).padStart(12)}`,
  );
// Warm-up: the first tenth (JIT, pools, the state log's first compaction).
const base = samples[Math.min(1, samples.length - 1)]!;
const last = samples.at(-1)!;
const growth = (k: 'relay' | 'issuer' | 'acceptor') => (last[k] - base[k]) / base[k];
const grew = (['relay', 'issuer', 'acceptor'] as const).filter((k) => growth(k) > 0.25);
console.log(
  `soak: ${done} pairings in ${seconds.toFixed(0)} s (${(done / seconds).toFixed(0)}/s), ${failures} failures; RSS growth after warm-up: relay ${(growth('relay') * 100).toFixed(1)}%, issuer ${(growth('issuer') * 100).toFixed(1)}%, acceptor ${(growth('acceptor') * 100).toFixed(1)}%`,
);
if (failures > 0 || grew.length > 0) process.exit(1);
