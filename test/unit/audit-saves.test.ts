import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import type { AuditAnchor } from '../../agent/audit-chain.js';
import { FakeRelay, ManualClock } from '../support/fake-relay.js';
import { agentOn } from '../support/hosted-agent.js';
import { persistedState } from '../support/state-secrets.js';
import { waitFor } from '../support/wait-for.js';

/**
 * An audit entry rides in the state save of the step it records: that save names it (so the
 * outcome and its entry are on disk together), and no save is made only to move the audit anchor.
 * Each such save cost a state-log append and two fdatasyncs per entry: three per pairing, the
 * pairing CPU regression of the audit chain. Then each such save still synced the audit file
 * before the state log: two fdatasyncs, which halved the pairings per second at concurrency 100
 * (the event loop waits for each). The save now carries the entries' lines, and the audit file is
 * synced only before a compaction and at stop. (The chain itself is in audit-log.test.ts.)
 */
/** Every fdatasyncSync, by the file it synced (node:fs, which both logs call, passed through). */
const synced = vi.hoisted(() => [] as string[]);
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const fdatasyncSync = (fd: number) => {
    synced.push(fs.readlinkSync(`/proc/self/fd/${fd}`));
    fs.fdatasyncSync(fd);
  };
  return { ...fs, default: { ...fs, fdatasyncSync }, fdatasyncSync };
});
/** The kinds of file synced: `audit.log`, and `state.json.<id>.log` as `state log`. */
const syncedFiles = () =>
  [
    ...new Set(synced.map((path) => basename(path).replace(/^state\.json\.[0-9a-f]{32}\.log$/, 'state log'))),
  ].sort();

interface SavedChange {
  readonly audit?: AuditAnchor;
  readonly auditLines?: string[];
  readonly put?: Record<string, unknown[]>;
  readonly del?: Record<string, unknown[]>;
  readonly done?: Record<string, unknown[]>;
}

const countOf = (group: Record<string, unknown[]> | undefined, kind: string) => group?.[kind]?.length ?? 0;
const movesRecords = (c: SavedChange) =>
  [c.put, c.del, c.done].some((group) => Object.values(group ?? {}).some((items) => items.length > 0));

/** The changes a running agent's log holds, read from a copy of its home (the copy is taken in one turn). */
async function savedChanges(home: string, name: string): Promise<SavedChange[]> {
  const copy = mkdtempSync(join(tmpdir(), `pl-copy-${name}-`));
  cpSync(home, copy, { recursive: true });
  return (await persistedState(copy, name)).changes as SavedChange[];
}

/** Waits until the saved anchor names `entries` entries, and answers the changes saved by then. */
function savedThrough(home: string, name: string, entries: number): Promise<SavedChange[]> {
  return waitFor(async () => {
    const changes = await savedChanges(home, name);
    return changes.findLast((c) => c.audit)?.audit?.head.seq === entries ? changes : null;
  }, `${name}'s state to name ${entries} audit entries`);
}

const events = async (agent: Agent) =>
  (await agent.history(undefined, 100)).entries.map((e) => [e.event, e.code]);

describe('audit entries ride in the saves of the steps they record', () => {
  it('a pairing: the new invite, the finished invite and the acceptor’s pin are each saved with their entry, and no save holds only the anchor', async () => {
    const relay = new FakeRelay();
    const clock = new ManualClock(1_800_000_000);
    const { agent: alice, home: aliceHome } = await agentOn(relay, clock, 'alice');
    const { agent: bob, home: bobHome } = await agentOn(relay, clock, 'bob');
    synced.length = 0;
    const invite = await alice.createInvite({});
    await bob.startAccept(invite.url!, false);
    await waitFor(
      () =>
        alice.snapshot.peers[0]?.confirmed &&
        bob.snapshot.peers[0]?.confirmed &&
        alice.snapshot.invites.length === 0 &&
        bob.snapshot.accepts.length === 0,
      'both sides paired and their records finished',
    );
    expect(await events(alice)).toEqual([
      ['minted', undefined],
      ['paired', undefined],
    ]);
    expect(await events(bob)).toEqual([['paired', undefined]]);

    const issuerSaves = await savedThrough(aliceHome, 'alice', 2);
    expect(issuerSaves.filter((c) => c.audit && !movesRecords(c))).toEqual([]);
    expect(issuerSaves.find((c) => countOf(c.put, 'invites') > 0)?.audit?.head.seq).toBe(1); // minted
    expect(issuerSaves.find((c) => countOf(c.done, 'invites') > 0)?.audit?.head.seq).toBe(2); // paired

    const acceptorSaves = await savedThrough(bobHome, 'bob', 1);
    expect(acceptorSaves.filter((c) => c.audit && !movesRecords(c))).toEqual([]);
    expect(acceptorSaves.find((c) => countOf(c.put, 'peers') > 0)?.audit?.head.seq).toBe(1); // paired

    // The saves synced the state logs alone, and each carried its entries' lines.
    expect(syncedFiles()).toEqual(['state log']);
    expect(issuerSaves.flatMap((c) => c.auditLines ?? [])).toHaveLength(2);
    expect(acceptorSaves.flatMap((c) => c.auditLines ?? [])).toHaveLength(1);
    await Promise.all([alice.stop(), bob.stop()]);
  });

  it('an invite whose mailbox the relay refused: minted, then failed with the relay’s code, both named by the save that forgets it', async () => {
    const relay = new FakeRelay();
    const clock = new ManualClock(1_800_000_000);
    const { agent: alice, home } = await agentOn(relay, clock, 'alice');
    relay.failNext('createMailbox', 'RELAY_UNREACHABLE');
    await expect(alice.createInvite({})).rejects.toMatchObject({ code: 'RELAY_UNREACHABLE' });
    expect(alice.snapshot.invites).toEqual([]);
    expect(await events(alice)).toEqual([
      ['minted', undefined],
      ['failed', 'RELAY_UNREACHABLE'],
    ]);
    const saves = await savedThrough(home, 'alice', 2);
    expect(saves.filter((c) => c.audit && !movesRecords(c))).toEqual([]);
    expect(saves.find((c) => countOf(c.del, 'invites') > 0)?.audit?.head.seq).toBe(2);
    await alice.stop();
  });
});
