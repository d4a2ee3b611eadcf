/**
 * A client that never reads, against a real agent: `npm run build && node dist/bench/rpc-backlog.js
 * [-- --requests 18000 --window 5]`. One connection writes `requests` rpc.discover requests (about
 * 40 KB of answer each) and reads nothing; the agent's resident memory (VmRSS from /proc) is sampled
 * every 100 ms for `window` seconds, the connection is closed, and sampling goes on for 3 s more.
 * Prints the agent's RSS at start, its peak over the whole run, 3 s after the close, how long
 * agent.info took to answer another client at the end of the window, and what it reported of the
 * connections (when the agent reports them).
 */
import { readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { PairlinkClient } from '../client/index.js';
import { startAgent, testRoot } from '../test/support/agent-process.js';
import { startRelayProcess } from '../test/support/relay-process.js';

const { values } = parseArgs({
  options: { requests: { type: 'string', default: '18000' }, window: { type: 'string', default: '5' } },
});
const requests = Number(values.requests);
const windowMs = Number(values.window) * 1000;

const rssMiB = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

const relay = await startRelayProcess();
const agent = await startAgent(testRoot(), 'backlog', relay.url);
const pid = agent.child.pid!;
const observer = await PairlinkClient.connect({ socket: agent.socket });
try {
  const before = rssMiB(pid);
  const flood = createConnection(agent.socket);
  flood.on('error', () => undefined);
  await new Promise<void>((resolve) => flood.once('connect', () => resolve()));
  flood.pause(); // never reads an answer
  const lines: string[] = [];
  for (let id = 0; id < requests; id++) lines.push(`{"jsonrpc":"2.0","id":${id},"method":"rpc.discover"}\n`);
  flood.write(lines.join(''));
  let peak = before;
  const sampleFor = async (ms: number) => {
    const started = Date.now();
    while (Date.now() - started < ms) {
      peak = Math.max(peak, rssMiB(pid));
      await sleep(100);
    }
  };
  await sampleFor(windowMs);
  // How long another client waits for an answer while the flood is held (at most 10 s).
  const asked = Date.now();
  const info = await observer.call('agent.info', {}, { timeoutMs: 10_000 }).then(
    (answer) => ({ ms: Date.now() - asked, connections: (answer as { connections?: unknown }).connections }),
    (error: Error) => ({ ms: Date.now() - asked, connections: error.message }),
  );
  flood.destroy();
  await sampleFor(3000);
  const after = rssMiB(pid);
  console.log(
    JSON.stringify({
      requests,
      rssMiB: {
        start: Math.round(before),
        peak: Math.round(peak),
        threeSecondsAfterClose: Math.round(after),
      },
      agentInfoMs: info.ms,
      connections: info.connections ?? 'not reported',
    }),
  );
} finally {
  observer.close();
  await agent.stop();
  await relay.stop();
}
