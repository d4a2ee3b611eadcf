import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawnAccept } from '../support/accept-process.js';
import { type AgentProcess, startAgent, testRoot } from '../support/agent-process.js';
import { type RelayProcess, startRelayProcess } from '../support/relay-process.js';
import { describeSmallDisk, mountSmallDisk, type SmallDisk } from '../support/small-disk.js';

// An agent whose home is on a small filesystem of its own (a 512 KiB tmpfs the test mounts),
// filled to the last byte by a filler file and freed again: real relay and agent processes, the
// CLI as a user runs it. Agent b, its peer, lives on an ordinary disk.

const DISK_KIB = 512;

interface Created {
  id: string;
  url: string;
}
interface Entry {
  event: string;
}

let disk: SmallDisk;
let relay: RelayProcess;
let a: AgentProcess;
let b: AgentProcess;

/** `pairlink accept --json` on `agent`, the link on stdin (never in argv). */
async function accept(agent: AgentProcess, link: string): Promise<{ code: number | null; out: unknown }> {
  const run = spawnAccept(agent.env, ['--json'], { stdin: link });
  const code = await run.exited;
  return { code, out: JSON.parse(run.output().stdout) as unknown };
}

/** What must survive anything the disk does: a's peers and its pending invites, as the CLI lists them. */
async function keptState(agent: AgentProcess): Promise<string> {
  const peers = await agent.json(['peers']);
  const invites = await agent.json(['invites']);
  expect([peers.code, invites.code]).toEqual([0, 0]);
  return JSON.stringify({ peers: peers.value, invites: invites.value });
}

let before = '';

await describeSmallDisk('an agent whose disk is full', () => {
  beforeAll(async () => {
    disk = await mountSmallDisk(DISK_KIB);
    relay = await startRelayProcess();
    const root = testRoot();
    b = await startAgent(root, 'b', relay.url);
    a = await startAgent(root, 'a', relay.url, { PAIRLINK_HOME: join(disk.dir, 'home') });
  });
  afterAll(async () => {
    await Promise.all([a, b].map((agent) => agent?.stop()));
    await relay?.stop();
    await disk?.remove();
  });

  it('pairs, keeps a pending invite and writes its history on a disk of 512 KiB', async () => {
    const link = (await b.json<Created>(['invite'])).value.url;
    expect((await accept(a, link)).out).toMatchObject({ status: 'paired', peer: { name: 'b' } });
    expect((await a.json<Created>(['invite'])).code).toBe(0);
    before = await keptState(a);
    const history = (await a.json<Entry[]>(['log'])).value.map((e) => e.event);
    expect(history).toEqual(['paired', 'minted']);
    // Restarted, it holds them as they were.
    await a.restart();
    expect(await keptState(a)).toBe(before);
  });
});
