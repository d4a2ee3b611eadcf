/**
 * End-to-end pairing figures with real processes on loopback: one relay, two agents (file
 * keystore), measured from outside through their JSON-RPC sockets and the CLI.
 *  - warm-agent pairing latency, invite.create → accept answers "paired" (both sides pinned:
 *    the issuer pins before it sends the welcome), p50/p99 at concurrency 1 and 100;
 *  - CLI-to-CLI pairing latency (`pairlink invite` then `pairlink accept`, each a new process);
 *  - JSON-RPC small requests per second on one socket (agent.info, 64 in flight).
 * Run: npm run bench:pairing
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { PairlinkClient } from '../client/index.js';
import { type AgentProcess, startAgent, testRoot } from '../test/support/agent-process.js';
import { PAIRLINK_BIN, startRelayProcess } from '../test/support/relay-process.js';
import { median, quantile } from './stats.js';

const run = promisify(execFile);
const PAIRINGS = Number(process.env.BENCH_PAIRINGS ?? 300);
const CLI_RUNS = Number(process.env.BENCH_CLI_RUNS ?? 10);
const RPC_SECONDS = Number(process.env.BENCH_RPC_SECONDS ?? 3);

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

function row(label: string, times: number[] & { perSecond?: number }): string {
  const rate = times.perSecond === undefined ? '' : `   ${times.perSecond.toFixed(0)} pairings/s`;
  return `${label.padEnd(44)} p50 ${median(times).toFixed(1).padStart(7)} ms   p99 ${quantile(times, 0.99).toFixed(1).padStart(7)} ms   (n=${times.length})${rate}`;
}

const relay = await startRelayProcess([], {
  PAIRLINK_RELAY_LIMITS: JSON.stringify({
    ipRatePerSecond: 1e6,
    ipBurst: 1e6,
    maxMailboxesPerIp: 1e6,
    mailboxRatePerSecond: 1e6,
    mailboxBurst: 1e6,
  }),
});
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
  const serial = await latencies(issuer, acceptor, 1, Math.min(PAIRINGS, 200));
  const wide = await latencies(issuer, acceptor, 100, PAIRINGS);

  const cli: number[] = [];
  for (let i = 0; i < CLI_RUNS; i++) {
    const started = performance.now();
    const { stdout } = await run(process.execPath, [PAIRLINK_BIN, 'invite', '--json'], {
      env: issuerAgent.env,
    });
    await run(process.execPath, [PAIRLINK_BIN, 'accept', JSON.parse(stdout).url, '--json'], {
      env: acceptorAgent.env,
    });
    cli.push(performance.now() - started);
  }
  cli.sort((a, b) => a - b);
  const startup: number[] = [];
  for (let i = 0; i < CLI_RUNS; i++) {
    const started = performance.now();
    await run(process.execPath, [PAIRLINK_BIN, 'whoami', '--json'], { env: issuerAgent.env });
    startup.push(performance.now() - started);
  }
  startup.sort((a, b) => a - b);
  const bare: number[] = [];
  for (let i = 0; i < CLI_RUNS; i++) {
    const started = performance.now();
    await run(process.execPath, ['-e', '0']);
    bare.push(performance.now() - started);
  }
  bare.sort((a, b) => a - b);

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

  console.log(
    `pairlink pairing benchmark — node ${process.version}; relay and two agents as separate processes on loopback`,
  );
  console.log('');
  console.log(row('warm pairing, concurrency 1', serial));
  console.log(row('warm pairing, concurrency 100', wide));
  console.log(
    `  (with 100 in flight, latency ≈ 100 ÷ throughput: a 5 ms p50 would take ${(100 / 0.005).toFixed(0)} pairings/s)`,
  );
  console.log(row('CLI-to-CLI pairing (2 processes started)', cli));
  console.log(row('  one CLI round trip (pairlink whoami)', startup));
  console.log(row('  bare `node -e 0` (baseline)', bare));
  console.log(`JSON-RPC agent.info on one socket, 64 in flight: ${rps.toFixed(0)} requests/s`);
} finally {
  issuer.close();
  acceptor.close();
  await Promise.all(agents.map((a) => a.stop()));
  await relay.stop();
}
