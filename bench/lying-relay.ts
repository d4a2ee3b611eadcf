/**
 * A lying relay against real agents: `npm run build && node dist/bench/lying-relay.js [-- --seconds 20]`.
 * The relay (test/support/lying-relay.ts) answers every create with `created` and every watch with
 * `not_found`. An issuer agent mints one invite on it, then an acceptor agent accepts that invite;
 * each is watched for `--seconds` and then sent SIGTERM. Prints, per side, the create rounds the
 * relay saw, the agent's CPU time (utime+stime from /proc) as a share of one core, its log lines
 * and bytes, how the invite or accept ended, and how long SIGTERM took to end the process.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { PairlinkClient } from '../client/index.js';
import { type AgentProcess, startAgent, testRoot } from '../test/support/agent-process.js';
import { startLyingRelay } from '../test/support/lying-relay.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '20' } } });
const seconds = Number(values.seconds);
const TICKS = 100; // clock ticks per second (USER_HZ) on Linux

const cpuSeconds = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
};

async function observe(agent: AgentProcess, creates: () => number, status: () => Promise<string>) {
  const pid = agent.child.pid!;
  const cpu0 = cpuSeconds(pid);
  const rounds0 = creates();
  const lines0 = agent.logs.length;
  const bytes0 = agent.logs.reduce((n, l) => n + l.length + 1, 0);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const cpu = cpuSeconds(pid) - cpu0;
  const result = {
    rounds: creates() - rounds0,
    cpuShare: `${Math.round((cpu / seconds) * 100)}%`,
    logLines: agent.logs.length - lines0,
    logBytes: agent.logs.reduce((n, l) => n + l.length + 1, 0) - bytes0,
    ended: await status(),
  };
  console.error(`after ${seconds} s: ${JSON.stringify(result)}; sending SIGTERM`);
  const stopping = Date.now();
  // An agent that ignores SIGTERM is killed after 30 s, and the figure says so.
  const guard = setTimeout(() => agent.child.kill('SIGKILL'), 30_000);
  await agent.stop();
  clearTimeout(guard);
  const sigterm =
    agent.child.signalCode === 'SIGKILL' ? 'ignored; SIGKILL after 30 s' : `${Date.now() - stopping} ms`;
  return { ...result, sigterm };
}

const relay = await startLyingRelay();
const root = testRoot();
const issuerAgent = await startAgent(root, 'issuer', relay.url);
const issuer = await PairlinkClient.connect({ socket: issuerAgent.socket });
const invite = await issuer.call('invite.create', { ttlSeconds: 600 });
const issuerFigures = await observe(
  issuerAgent,
  () => relay.counts.creates,
  async () => {
    const [listed] = await issuer.call('invite.list', { all: true });
    return listed ? `${listed.status}${listed.error ? ` ${listed.error}` : ''}` : 'gone';
  },
);
issuer.close();

const acceptorAgent = await startAgent(root, 'acceptor', relay.url);
const acceptor = await PairlinkClient.connect({ socket: acceptorAgent.socket });
const started = await acceptor.call('invite.accept', { invite: invite.url!, waitSeconds: 0 });
const acceptorFigures = await observe(
  acceptorAgent,
  () => relay.counts.creates,
  () =>
    acceptor.call('accept.get', { acceptId: started.acceptId }).then(
      (result) => result.status,
      (error: { code?: string }) => `failed ${error.code ?? ''}`,
    ),
);
acceptor.close();
await relay.close();
console.log(JSON.stringify({ seconds, issuer: issuerFigures, acceptor: acceptorFigures }, null, 2));
