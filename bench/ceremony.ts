/**
 * The pairing as people feel it, side by side with magic-wormhole in the same run, every command a
 * fresh process on loopback with NODE_EXTRA_CA_CERTS unset (it adds ~42 ms to every Node start and
 * nothing to the Python and Go tools):
 *  - bare `node -e 0`: the floor of any Node CLI here;
 *  - `pairlink whoami`: one CLI round trip to the agent;
 *  - the acceptor's step: the invite minted and both agents running, time `pairlink accept <url>`
 *    until it exits paired; for magic-wormhole (Python) and wormhole-william (Go), the sender
 *    already waiting with its code, time `receive <code>` until it exits with the text;
 *  - the whole ceremony: `pairlink invite` then `pairlink accept`; `wormhole send` and `receive`;
 *  - relay memory per waiting invite (its own idle WebSocket included) against the mailbox
 *    server's per open nameplate (bound, allocated, claimed, opened, on its own WebSocket).
 * Debian's magic-wormhole, wormhole-william and python3-magic-wormhole-mailbox-server provide the
 * comparison; without them the bench says how to install them and measures pairlink alone.
 * Run: npm run bench (all benchmarks, one table) or node dist/bench/ceremony.js
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import { connect, type PairlinkClient } from '../client/index.js';
import { RelayClient } from '../relay/client/relay-client.js';
import { type AgentProcess, startAgent, testRoot } from '../test/support/agent-process.js';
import { freePort } from '../test/support/free-port.js';
import { PAIRLINK_BIN, startRelayProcess } from '../test/support/relay-process.js';
import { GENEROUS_LIMITS } from './relay-child.js';
import { type Figures, inMs, ratioOf, report, value } from './stats.js';

const QUICK = process.env.BENCH_QUICK === '1';
const RUNS = Number(process.env.BENCH_CLI_RUNS ?? (QUICK ? 3 : 15));
const WAITING = Number(process.env.BENCH_NAMEPLATES ?? (QUICK ? 200 : 2000));

/** The environment of every timed command: this machine's CA bundle variable removed. */
function timedEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const { NODE_EXTRA_CA_CERTS: _bundle, ...rest } = env;
  return rest;
}

function has(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Runs a command to its exit (code 0 required) and returns the milliseconds from spawn to exit. */
function timed(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  deadlineMs = 60_000,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), deadlineMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      const ms = performance.now() - started;
      if (code === 0) resolve(ms);
      else reject(new Error(`${command} ${args[0]} exited ${code}: ${stderr.slice(0, 400)}`));
    });
  });
}

async function msRuns(n: number, once: (i: number) => Promise<number>) {
  process.stderr.write('.');
  const times: number[] = [];
  await once(-1); // warm the page cache and the agents
  for (let i = 0; i < n; i++) times.push(await once(i));
  return inMs(times);
}

function rss(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A wormhole sender waiting with `code`, resolved once it has announced the code. */
function wormholeSender(
  tool: 'wormhole' | 'wormhole-william',
  relay: string,
  code: string,
): Promise<ChildProcess> {
  const args =
    tool === 'wormhole'
      ? ['--relay-url', relay, 'send', '--text', 'hi', '--code', code]
      : ['send', '--relay-url', relay, '--code', code, '--text', 'hi'];
  const child = spawn(tool, args, { env: timedEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    const seen = (line: string) => {
      if (/Wormhole code is/i.test(line)) resolve(child);
    };
    createInterface({ input: child.stdout! }).on('line', seen);
    createInterface({ input: child.stderr! }).on('line', seen);
    child.once('exit', (c) => reject(new Error(`${tool} send exited ${c}`)));
  });
}

function receiveArgs(tool: 'wormhole' | 'wormhole-william', relay: string, code: string): string[] {
  return tool === 'wormhole'
    ? ['--relay-url', relay, 'receive', code]
    : ['receive', '--relay-url', relay, code];
}

async function startMailboxServer(): Promise<{ url: string; child: ChildProcess; stop(): Promise<void> }> {
  const port = await freePort();
  // Its log goes nowhere (an unread pipe would fill and stall the server); its database
  // (relay.sqlite in its working directory) goes to a temporary directory.
  const child = spawn('twist3', ['wormhole-mailbox', `--port=tcp:${port}:interface=127.0.0.1`], {
    stdio: 'ignore',
    cwd: testRoot(),
  });
  const url = `ws://127.0.0.1:${port}/v1`;
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const ws = new WebSocket(url);
      ws.once('open', () => {
        ws.close();
        resolve(true);
      });
      ws.once('error', () => resolve(false));
    });
    if (up) break;
    await sleep(100);
  }
  return {
    url,
    child,
    stop: () =>
      new Promise((done) => {
        child.once('exit', () => done());
        child.kill('SIGTERM');
      }),
  };
}

/** One open nameplate on the mailbox server: bind, allocate, claim, open, on its own socket. */
function openNameplate(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  const send = (m: object) => ws.send(JSON.stringify({ ...m, id: randomBytes(2).toString('hex') }));
  return new Promise((resolve, reject) => {
    ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as { type: string; nameplate?: string; mailbox?: string };
      if (m.type === 'welcome') {
        send({
          type: 'bind',
          appid: 'lothar.com/wormhole/text-or-file-xfer',
          side: randomBytes(5).toString('hex'),
        });
        send({ type: 'allocate' });
      } else if (m.type === 'allocated') send({ type: 'claim', nameplate: m.nameplate });
      else if (m.type === 'claimed') {
        send({ type: 'open', mailbox: m.mailbox });
        resolve(ws);
      }
    });
    ws.once('error', reject);
  });
}

/** One waiting invite on the pairlink relay: its mailbox, watched by its own socket. */
async function openWaitingInvite(client: RelayClient, url: string): Promise<WebSocket> {
  const id = randomBytes(16);
  const read = randomBytes(16);
  await client.createMailbox(id, read, randomBytes(16), 3600);
  const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/ws`, { perMessageDeflate: false });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return new Promise((resolve) => {
    ws.on('message', (data) => {
      if (JSON.parse(String(data)).op === 'watching') resolve(ws);
    });
    ws.send(
      JSON.stringify({
        op: 'watch',
        mailbox: Buffer.from(id).toString('base64url'),
        cap: Buffer.from(read).toString('base64url'),
      }),
    );
  });
}

/** RSS per waiting thing: open `count` in batches, settle, measure against the idle process. */
async function perWaiting(pid: number, count: number, open: () => Promise<WebSocket>): Promise<number> {
  await sleep(QUICK ? 300 : 1500);
  const before = rss(pid);
  const sockets: WebSocket[] = [];
  for (let i = 0; i < count; i += 100)
    sockets.push(...(await Promise.all(Array.from({ length: Math.min(100, count - i) }, open))));
  await sleep(QUICK ? 500 : 3000);
  const after = rss(pid);
  for (const ws of sockets) ws.terminate();
  return (after - before) / count;
}

const figures: Figures = {};
const notes: string[] = [];
const root = testRoot();
const relay = await startRelayProcess([], { PAIRLINK_RELAY_LIMITS: JSON.stringify(GENEROUS_LIMITS) });
const agents: AgentProcess[] = await Promise.all([
  startAgent(root, 'issuer', relay.url),
  startAgent(root, 'acceptor', relay.url),
]);
const [issuerAgent, acceptorAgent] = agents as [AgentProcess, AgentProcess];
let issuer: PairlinkClient | null = null;
try {
  issuer = await connect({ socket: issuerAgent.socket });
  const cli = (env: NodeJS.ProcessEnv, ...args: string[]) =>
    timed(process.execPath, [PAIRLINK_BIN, ...args], timedEnv(env));

  figures['bare node -e 0'] = await msRuns(RUNS, () => timed(process.execPath, ['-e', '0'], timedEnv()));
  figures['pairlink whoami'] = await msRuns(RUNS, () => cli(issuerAgent.env, 'whoami', '--json'));
  figures['acceptor step: pairlink accept'] = await msRuns(RUNS, async () => {
    const invite = await issuer!.createInvite({});
    return cli(acceptorAgent.env, 'accept', invite.url!, '--json');
  });
  figures['ceremony: pairlink invite + accept'] = await msRuns(RUNS, async () => {
    const started = performance.now();
    const minted = spawn(process.execPath, [PAIRLINK_BIN, 'invite', '--json'], {
      env: timedEnv(issuerAgent.env),
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    minted.stdout!.on('data', (d) => {
      out += d;
    });
    await new Promise((r) => minted.once('exit', r));
    await cli(acceptorAgent.env, 'accept', (JSON.parse(out) as { url: string }).url, '--json');
    return performance.now() - started;
  });
  const relayClient = new RelayClient(relay.url);
  figures['relay memory per waiting invite (own socket incl.)'] = value(
    'KiB',
    (await perWaiting(relay.child.pid!, WAITING, () => openWaitingInvite(relayClient, relay.url))) / 1024,
  );

  const tools = (['wormhole', 'wormhole-william'] as const).filter(has);
  if (!has('twist3') || tools.length < 2) {
    notes.push(
      'magic-wormhole comparison skipped: install Debian packages magic-wormhole, wormhole-william and python3-magic-wormhole-mailbox-server (.ci/run does).',
    );
  } else {
    const server = await startMailboxServer();
    try {
      let nameplate = 100;
      for (const tool of tools) {
        const label = tool === 'wormhole' ? 'magic-wormhole (Python)' : 'wormhole-william (Go)';
        figures[`acceptor step: ${label} receive`] = await msRuns(RUNS, async () => {
          const code = `${nameplate++}-bench-step`;
          const sender = await wormholeSender(tool, server.url, code);
          await sleep(300); // the sender has claimed its nameplate and opened its mailbox
          const ms = await timed(tool, receiveArgs(tool, server.url, code), timedEnv());
          await new Promise((r) => (sender.exitCode === null ? sender.once('exit', r) : r(null)));
          return ms;
        });
        figures[`ceremony: ${label} send + receive`] = await msRuns(RUNS, async () => {
          const code = `${nameplate++}-bench-whole`;
          const started = performance.now();
          const sender = wormholeSender(tool, server.url, code);
          await sender;
          await timed(tool, receiveArgs(tool, server.url, code), timedEnv());
          const s = await sender;
          if (s.exitCode === null) await new Promise((r) => s.once('exit', r));
          return performance.now() - started;
        });
      }
      figures['mailbox server memory per open nameplate (own socket)'] = value(
        'KiB',
        (await perWaiting(server.child.pid!, WAITING, () => openNameplate(server.url))) / 1024,
      );
    } finally {
      await server.stop();
    }
  }
} finally {
  issuer?.close();
  await Promise.all(agents.map((a) => a.stop()));
  await relay.stop();
}

report(
  'The ceremony, each command a new process (NODE_EXTRA_CA_CERTS unset), side by side with magic-wormhole',
  figures,
  notes,
  {
    'acceptor step ÷ wormhole-william receive (target ≤ 0.6)': ratioOf(
      figures,
      'acceptor step: pairlink accept',
      'acceptor step: wormhole-william (Go) receive',
    ),
    'acceptor step ÷ bare node (target ≤ 1.3)': ratioOf(
      figures,
      'acceptor step: pairlink accept',
      'bare node -e 0',
    ),
    'whoami ÷ bare node': ratioOf(figures, 'pairlink whoami', 'bare node -e 0'),
  },
);
