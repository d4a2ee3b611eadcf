import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawnAccept } from '../support/accept-process.js';
import { type AgentProcess, eventStream, startAgent, testRoot } from '../support/agent-process.js';
import { type RelayProcess, startRelayProcess } from '../support/relay-process.js';
import { describeSmallDisk, mountSmallDisk, type SmallDisk } from '../support/small-disk.js';
import { waitFor } from '../support/wait-for.js';

// An agent whose home is on a small filesystem of its own (a 512 KiB tmpfs the test mounts),
// filled to the last page by a filler file and freed again: real relay and agent processes, the
// CLI as a user runs it. Agent b, its peer, lives on an ordinary disk.
//
// A full disk still takes writes inside pages a file already has (the state log's last page), so
// each full spell starts by minting until a save needs a new page: from the first save that fails,
// every save does (the next one rewrites the state whole), until space is back.

const DISK_KIB = 512;
/** What the CLI says for DISK_FULL (src/error-text.ts). */
const DISK_FULL_SENTENCE = /disk holding the agent's state is full/;

interface Created {
  id: string;
  url: string;
}
interface Session {
  status: string;
}
interface Summary {
  id: string;
  status: string;
  sessions: Session[];
}
interface Entry {
  event: string;
  lost?: number;
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

async function inviteOf(agent: AgentProcess, id: string): Promise<Summary> {
  const got = await agent.json<Summary>(['rpc', 'invite.get', JSON.stringify({ id })]);
  expect(got.code).toBe(0);
  return got.value;
}

/** Lines a's log gained since `from`, parsed (the agent logs JSON lines). */
function logSince(from: number): { msg?: string; level?: number; [k: string]: unknown }[] {
  return a.logs.slice(from).flatMap((line) => {
    try {
      return [JSON.parse(line) as { msg?: string }];
    } catch {
      return [];
    }
  });
}

/** Waits for the agent process to end by itself; resolves with its exit code. */
async function exited(agent: AgentProcess): Promise<number | null> {
  await waitFor(
    () => agent.child.exitCode !== null || agent.child.signalCode !== null,
    `agent ${agent.name} to exit`,
    { deadlineMs: 60_000, everyMs: 100 },
  );
  return agent.child.exitCode;
}

/** Mints on `agent` until an invite.create answers DISK_FULL (a few fit in the log's last page). */
async function mintUntilDiskFull(agent: AgentProcess): Promise<{ minted: number; said: string }> {
  for (let minted = 0; minted < 16; minted++) {
    const human = await agent.cli(['invite']);
    if (human.code !== 0) {
      expect(human.code).toBe(1);
      const json = await agent.json<{ error: { code: string } }>(['invite']);
      expect(json.value.error.code).toBe('DISK_FULL');
      return { minted, said: human.stderr };
    }
  }
  throw new Error('16 invites minted on a full disk: its saves never failed');
}

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

  let pending: { id: string };
  let link: Created;
  /** Where a's log stood when the disk first filled. */
  let filledAt = 0;

  it('pairs, keeps a pending invite and writes its history on a disk of 512 KiB', async () => {
    const first = (await b.json<Created>(['invite'])).value.url;
    expect((await accept(a, first)).out).toMatchObject({ status: 'paired', peer: { name: 'b' } });
    pending = (await a.json<Created>(['invite'])).value;
    const history = (await a.json<Entry[]>(['log'])).value.map((e) => e.event);
    expect(history).toEqual(['paired', 'minted']);
    // Stopped and started again, it has nothing new to save: its log holds no zeros ahead now.
    const before = await keptState(a);
    await a.restart();
    expect(await keptState(a)).toBe(before);
  });

  it('with the disk full, answers invite.create and invite.accept DISK_FULL, saying so, and lives', async () => {
    filledAt = a.logs.length;
    expect(disk.fill()).toBeGreaterThan(0);
    const { minted, said } = await mintUntilDiskFull(a);
    expect(said).toMatch(DISK_FULL_SENTENCE);
    expect(said).not.toMatch(/bug/);
    link = (await b.json<Created>(['invite'])).value;
    const accepted = await accept(a, link.url);
    expect(accepted.code).toBe(1);
    expect(accepted.out).toMatchObject({ error: { code: 'DISK_FULL' } });
    // Refused mints still record their attempt in the history: once its last page is full too,
    // its entries are lost, and the agent's log says so (once, with a count).
    const auditLost = () => logSince(filledAt).some((l) => l.msg?.startsWith('the audit log could not be'));
    for (let i = 0; i < 8 && !auditLost(); i++)
      expect((await a.json<{ error: { code: string } }>(['invite'])).value.error.code).toBe('DISK_FULL');
    expect(auditLost()).toBe(true);
    // Alive, holding its peer and the invites it minted: none of those refused is listed.
    expect((await a.json(['whoami'])).code).toBe(0);
    const kept = JSON.parse(await keptState(a)) as { peers: unknown[]; invites: unknown[] };
    expect([kept.peers.length, kept.invites.length]).toEqual([1, 1 + minted]);
    expect(logSince(filledAt).filter((l) => JSON.stringify(l).includes('INTERNAL'))).toEqual([]);
  });

  it('once space is back, writes again by itself, says what its history lost, and the failed accept stays failed', async () => {
    const from = a.logs.length;
    disk.free();
    // The history says how many entries it could not write, in its own chain, and stays whole.
    const lost = await waitFor(
      async () => (await a.json<Entry[]>(['log'])).value.find((e) => e.event === 'lost'),
      'a "lost" entry in the history',
    );
    expect(lost.lost).toBeGreaterThanOrEqual(1);
    expect((await a.json<{ ok: boolean }>(['log', '--verify'])).value.ok).toBe(true);
    const said = logSince(filledAt).find((l) => l.msg?.startsWith('the audit log could not be written'));
    expect(said?.lost).toBeGreaterThanOrEqual(1);
    expect(logSince(from).some((l) => l.msg?.startsWith('the audit log is written again'))).toBe(true);
    // A restart resumes whatever the agent holds unfinished: the failed accept is not among them,
    // so the link is still b's to give, once.
    await a.restart();
    expect((await accept(a, link.url)).out).toMatchObject({ status: 'paired', peer: { name: 'b' } });
    expect((await inviteOf(b, link.id)).sessions.map((s) => s.status)).toEqual(['completed']);
  });

  let kept = '';

  it('with the disk full, stops on SIGTERM by itself, non-zero, saying what it could not save', async () => {
    await a.restart();
    disk.fill();
    await mintUntilDiskFull(a);
    kept = await keptState(a);
    // Answered DISK_FULL: kept in memory, to take effect once saved (docs/PROTOCOL.md §7).
    const cancel = await a.json<{ error: { code: string } }>(['cancel', pending.id]);
    expect(cancel.value.error.code).toBe('DISK_FULL');
    const from = a.logs.length;
    a.child.kill('SIGTERM');
    expect(await exited(a)).toBe(1);
    const lines = logSince(from).map((l) => l.msg);
    expect(lines).toContain('stopped without saving the last changes: the disk is full');
    expect(lines).not.toContain('agent stopped');
  }, 90_000);

  it('restarts while full (after SIGTERM, and after SIGKILL) keep its peers and pending invites', async () => {
    // The cancel was never saved, so never acknowledged: the invite is still pending.
    await a.restart();
    expect(await keptState(a)).toBe(kept);
    a.child.kill('SIGKILL');
    await exited(a);
    // Its lock is still there, and there is no room for another: refused, in one sentence.
    const from = a.logs.length;
    await expect(a.restart()).rejects.toThrow(/exited with 1/);
    const said = a.logs.slice(from).join('\n');
    expect(said).toMatch(DISK_FULL_SENTENCE);
    expect(said).not.toMatch(/bug|\n\s+at /);
    expect(readdirSync(join(disk.dir, 'home')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    disk.free();
    await a.restart();
    expect(await keptState(a)).toBe(kept);
  }, 90_000);

  it('an unpair answered DISK_FULL is told (peer.removed, and the notice to the peer) once space is back', async () => {
    // Started afresh, its log holds no room ahead (as in the SIGTERM test above).
    await a.restart();
    const bDid = (await b.json<{ did: string }>(['whoami'])).value.did;
    expect((await a.json<{ did: string }[]>(['peers'])).value.map((p) => p.did)).toContain(bDid);
    // a's event stream, live before the disk fills (its probe invites need the disk).
    const { child: events, lines } = await eventStream(a);
    try {
      disk.fill();
      await mintUntilDiskFull(a);
      const unpaired = await a.json<{ error: { code: string } }>(['unpair', bDid]);
      expect(unpaired.value.error.code).toBe('DISK_FULL');
      const removed = () => lines.some((l) => l.includes('"peer.removed"'));
      expect(removed()).toBe(false);
      disk.free();
      await waitFor(removed, 'the peer.removed event once the unpair is saved');
      const event = lines.map(
        (l) => JSON.parse(l) as { method: string; params: { did?: string; reason?: string } },
      );
      expect(event.find((e) => e.method === 'peer.removed')?.params).toMatchObject({
        did: bDid,
        reason: 'local',
      });
      // And the unpair notice went out with it: b unpins a.
      await waitFor(
        async () => (await b.json<unknown[]>(['peers'])).value.length === 0,
        'b to hear the unpair',
      );
    } finally {
      events.kill('SIGTERM');
    }
  }, 120_000);
});
