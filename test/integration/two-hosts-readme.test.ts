import { execFile } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, expect, it } from 'vitest';
import { spawnAccept } from '../support/accept-process.js';
import { describeTwoHosts } from '../support/netns-fleet.js';
import { REPO, readmeSection, type ShStep, shBlocks, startSh } from '../support/readme-steps.js';
import { PAIRLINK_BIN } from '../support/relay-process.js';
import { waitFor } from '../support/wait-for.js';

// README "Two machines", as written: each host (a network namespace, test/support/netns.ts, with
// the README's address 192.0.2.1 for A) runs its blocks with sh in a directory laid out like a
// built clone, pairlink on PATH as the README says. The port is the README's own, 7457: each host
// has its own ports.

const run = promisify(execFile);
const [aUp, aInvite, bUp, bAccept] = shBlocks(readmeSection('Two machines'));
const PUBLIC_URL = 'http://192.0.2.1:7457';
const LINK = /^(http:\/\/192\.0\.2\.1:7457\/i#\S+)$/m;

/** `pairlink ARGS --json` against the agent listening on `socket`, from the test's own namespace. */
async function cli<T>(socket: string, args: string[]): Promise<T> {
  const env = { ...process.env, PAIRLINK_SOCKET: socket };
  return JSON.parse((await run(process.execPath, [PAIRLINK_BIN, ...args, '--json'], { env })).stdout) as T;
}
const didOf = async (socket: string) => (await cli<{ did: string }>(socket, ['whoami'])).did;
const peerDids = async (socket: string) =>
  (await cli<{ did: string }[]>(socket, ['peers'])).map((peer) => peer.did);

/** Waits until the agents on these two sockets list each other as peers. */
async function bothPinned(x: string, y: string): Promise<void> {
  const [dx, dy] = await Promise.all([didOf(x), didOf(y)]);
  await waitFor(
    async () => (await peerDids(x)).includes(dy) && (await peerDids(y)).includes(dx),
    'both agents pinning each other',
    { everyMs: 200 },
  );
}

await describeTwoHosts('README "Two machines", run as written on two hosts', (fleet) => {
  /** A clone-like directory for one host: the built dist/ (with its node_modules). */
  const clone = (name: string) => {
    const dir = join(fleet.root, name);
    mkdirSync(dir);
    symlinkSync(join(REPO, 'dist'), join(dir, 'dist'));
    return dir;
  };
  const env = (dir: string): NodeJS.ProcessEnv => ({
    ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('PAIRLINK_'))),
    PATH: `${join(dir, 'dist', 'bin')}:${process.env.PATH}`,
  });
  /** Runs a README block on a host, in `dir`; stopped after the suite. */
  const step = (dir: string, block: string, exec: readonly string[]): ShStep => {
    const started = startSh(dir, block, env(dir), exec);
    fleet.track(() => started.stop());
    return started;
  };
  let a = '';
  let aSocket = '';
  let aBanner = '';
  /** A's second terminal: `pairlink invite`, as written; resolves with the link it printed. */
  const invite = async () => {
    const minted = step(a, aInvite!, fleet.hosts.a.exec);
    const link = (await minted.until(LINK))[1]!;
    expect(await minted.exited, minted.output()).toBe(0);
    return link;
  };

  beforeAll(async () => {
    expect(aUp).toContain(`--host ${fleet.hosts.a.address} --public-url ${PUBLIC_URL}`);
    a = clone('a');
    const up = step(a, aUp!, fleet.hosts.a.exec);
    aBanner = (await up.until(/[\s\S]*Ctrl-C stops/))[0];
    aSocket = (await up.until(/^ {2}socket +(\S+)$/m))[1]!;
  });

  it("A's `up` names the public URL and tells B what the README tells B, and its links carry that URL", async () => {
    expect(aBanner).toContain(`relay   ${PUBLIC_URL}`);
    expect(aBanner).toContain(`listening on ${PUBLIC_URL}`);
    expect(aBanner).toContain(`the links name this relay at ${PUBLIC_URL}`);
    // The other machine's commands in the banner are README's blocks for B.
    expect(aBanner.split('\n').map((line) => line.split('#')[0]!.trim())).toContain(bUp!.trim());
    expect(bAccept).toMatch(/^pairlink accept\b/m);
    expect(aBanner).toMatch(/^ {2}pairlink accept\b/m);
    expect(await invite()).toMatch(LINK);
  }, 60_000);

  it("A's relay serves B over the veth at the public URL: an agent on B that uses it pairs with A", async () => {
    const bob = await fleet.agent(fleet.hosts.b, 'bob-on-a', PUBLIC_URL);
    const accepting = spawnAccept(bob.env, ['--json'], { stdin: await invite() });
    expect(await accepting.exited, JSON.stringify(accepting.output())).toBe(0);
    await bothPinned(aSocket, bob.socket);
  }, 120_000);

  it("B's own `pairlink up` accepts A's link as README says, and each lists the other", async () => {
    const b = clone('b');
    const up = step(b, bUp!, fleet.hosts.b.exec);
    const bSocket = (await up.until(/^ {2}socket +(\S+)$/m))[1]!;
    await up.until(/Ctrl-C stops/);
    const accepting = step(b, bAccept!, fleet.hosts.b.exec);
    accepting.child.stdin!.end(`${await invite()}\n`);
    expect(await accepting.exited, accepting.output()).toBe(0);
    expect(accepting.output()).toMatch(/^Paired with \S+ \(did:key:/m);
    await bothPinned(aSocket, bSocket);
  }, 120_000);
});
