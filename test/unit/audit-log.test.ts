import { copyFileSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AUDIT_BUCKET_BYTES, type AuditAnchor } from '../../agent/audit-chain.js';
import { AuditLog } from '../../agent/audit-log.js';
import { seal } from '../../agent/state/state-log.js';
import type { AuditEntry } from '../../src/rpc/protocol.js';

/**
 * The audit log's chain against the anchor the agent keeps in its state: a stop between an append
 * and the save of its anchor, rotation, logs from before the chain. (What an attacker's edits
 * look like is in adversarial.test.ts, with a real agent.)
 */
const key = new Uint8Array(32).fill(9);
const fresh = () => join(mkdtempSync(join(tmpdir(), 'pl-audit-')), 'audit.log');
const entry = (n: number): AuditEntry => ({
  at: `2027-01-01T00:00:${String(n % 60).padStart(2, '0')}Z`,
  event: 'minted',
  invite: `I${n}`,
});
/** The file's lines, up to the zeros a running log writes ahead of them. */
const lines = (file: string) =>
  existsSync(file) ? readFileSync(file, 'latin1').split('\0')[0]!.split('\n').filter(Boolean) : [];

/** Appends as the agent does: each anchor is "saved" (committed) right after its append. */
function appendSaved(log: AuditLog, from: number, count: number): AuditAnchor {
  let anchor = log.anchor();
  for (let n = from; n < from + count; n++) {
    log.append(entry(n));
    anchor = log.anchor();
    log.committed(anchor);
  }
  return anchor;
}

describe('audit log chain and anchor', () => {
  it('entries appended after the last saved anchor (a stop before the save) are no alarm', async () => {
    const file = fresh();
    const { log } = await AuditLog.open(file, key, undefined);
    const saved = appendSaved(log, 0, 2);
    log.append(entry(2));
    log.append(entry(3));
    await log.close();
    const reopened = await AuditLog.open(file, key, saved);
    expect(reopened.integrity).toEqual({ ok: true, checked: 4, beforeChain: 0 });
    expect(reopened.log.anchor().head.seq).toBe(4); // continues after them
    await reopened.log.close();
  });

  it('rotates only once the state holds the new base, and the chain still verifies with the oldest file dropped', async () => {
    const file = fresh();
    const { log } = await AuditLog.open(file, key, undefined, 3);
    for (let n = 0; n < 5; n++) log.append(entry(n)); // never saved: no rotation
    expect(existsSync(`${file}.1`)).toBe(false);
    expect(lines(file)).toHaveLength(5);
    log.committed(log.anchor());
    let anchor = appendSaved(log, 5, 9); // 14 entries in all: four rotations
    expect(lines(`${file}.1`).length + lines(file).length).toBeLessThanOrEqual(6);
    const listed = await log.list(undefined, 100);
    expect(listed.integrity.ok).toBe(true);
    expect(listed.entries.map((e) => e.seq).at(-1)).toBe(13);
    expect(anchor.base.seq).toBe(listed.entries[0]!.seq);
    await log.close();
    anchor = log.anchor();
    // Deleting the oldest line left is deleting entries after the base: it shows.
    writeFileSync(
      `${file}.1`,
      lines(`${file}.1`)
        .slice(1)
        .map((l) => `${l}\n`)
        .join(''),
      'latin1',
    );
    const tampered = await AuditLog.open(file, key, anchor, 3);
    expect(tampered.integrity).toMatchObject({ ok: false, reason: 'missing', brokenAt: anchor.base.seq });
    await tampered.log.close();
  });

  it('appends land inside blocks already written (the file does not grow with each one), and close cuts the zeros ahead off', async () => {
    const file = fresh();
    const { log } = await AuditLog.open(file, key, undefined);
    const sizes: number[] = [];
    for (let n = 0; n < 5; n++) {
      log.append(entry(n));
      log.sync();
      sizes.push(statSync(file).size);
    }
    // An fdatasync of an append that grows the file also commits its size to the journal.
    expect(new Set(sizes).size).toBe(1);
    expect(sizes[0]).toBeGreaterThan(5 * AUDIT_BUCKET_BYTES);
    const listed = await log.list(undefined, 100);
    expect(listed.entries.map((e) => e.seq)).toEqual([0, 1, 2, 3, 4]);
    expect(listed.integrity.ok).toBe(true);
    await log.close();
    expect(statSync(file).size).toBe(5 * AUDIT_BUCKET_BYTES);
    expect(lines(file)).toHaveLength(5);
  });

  it('a log left by a crash ends in zeros: no torn line and no alarm; a line torn before the zeros is cut', async () => {
    const file = fresh();
    const { log } = await AuditLog.open(file, key, undefined);
    const saved = appendSaved(log, 0, 2);
    log.append(entry(2)); // written, its anchor never saved
    const crashed = `${file}.crashed`;
    copyFileSync(file, crashed); // what a crash leaves: the lines, then zeros
    const wholeBytes = 3 * AUDIT_BUCKET_BYTES;
    expect(statSync(crashed).size).toBeGreaterThan(wholeBytes);
    const reopened = await AuditLog.open(crashed, key, saved);
    expect(reopened.tornBytes).toBe(0);
    expect(reopened.integrity).toEqual({ ok: true, checked: 3, beforeChain: 0 });
    expect(statSync(crashed).size).toBe(wholeBytes);
    await reopened.log.close();

    // The same, with a fourth line torn part-way into the zeros.
    copyFileSync(file, crashed);
    const torn = Buffer.from('A'.repeat(100), 'latin1');
    writeFileSync(crashed, Buffer.concat([readFileSync(crashed).subarray(0, wholeBytes), torn]), {
      flag: 'r+',
    });
    const cut = await AuditLog.open(crashed, key, saved);
    expect(cut.tornBytes).toBe(100);
    expect(cut.integrity).toEqual({ ok: true, checked: 3, beforeChain: 0 });
    expect(statSync(crashed).size).toBe(wholeBytes);
    await cut.log.close();
    await log.close();
  });

  it('a crash took the unsynced tail the saved state names: the lines the state carried are written back, no alarm; without them the cut shows', async () => {
    const file = fresh();
    const { log } = await AuditLog.open(file, key, undefined);
    appendSaved(log, 0, 1);
    log.sync(); // the first entry is durable (a compaction synced it)
    log.takeLines();
    const durable = readFileSync(file).subarray(0, AUDIT_BUCKET_BYTES);
    log.append(entry(1));
    log.append(entry(2));
    const carried = log.takeLines(); // what the state save that names them carries
    const saved = log.anchor();
    expect(carried).toHaveLength(2);
    // The crash: the file keeps its synced line; the two unsynced ones are zeros on disk.
    const crashed = `${file}.crashed`;
    writeFileSync(crashed, Buffer.concat([durable, Buffer.alloc(4 * AUDIT_BUCKET_BYTES)]));
    copyFileSync(crashed, `${crashed}.bare`);
    const restored = await AuditLog.open(crashed, key, saved, undefined, [...carried]);
    expect(restored.restored).toBe(2);
    expect(restored.integrity).toEqual({ ok: true, checked: 3, beforeChain: 0 });
    expect((await restored.log.list(undefined, 10)).entries.map((e) => e.invite)).toEqual(['I0', 'I1', 'I2']);
    await restored.log.close();
    expect(lines(crashed)).toEqual([...lines(file).slice(0, 1), ...carried]);
    // Lines that do not continue the chain (another log's) are not written; the cut shows.
    const bare = await AuditLog.open(`${crashed}.bare`, key, saved, undefined, carried.slice(1));
    expect(bare.restored).toBe(0);
    expect(bare.integrity).toMatchObject({ ok: false, reason: 'truncated', missing: 2 });
    await bare.log.close();
    await log.close();
  });

  it('reads a log from before the chain: its entries listed as such, new ones chained after them', async () => {
    const file = fresh();
    // The previous version's format: one sealed JSON entry per line, variable length.
    const old = (e: AuditEntry) =>
      `${seal(key, Buffer.from('pairlink audit v1'), Buffer.from(JSON.stringify(e))).toString('base64url')}\n`;
    writeFileSync(file, old(entry(0)) + old(entry(1)), { mode: 0o600 });
    const { log, integrity } = await AuditLog.open(file, key, undefined);
    expect(integrity).toEqual({ ok: true, checked: 0, beforeChain: 2 });
    const anchor = appendSaved(log, 2, 1);
    await log.close();
    const reopened = await AuditLog.open(file, key, anchor);
    const listed = await reopened.log.list(undefined, 100);
    expect(listed.entries.map((e) => [e.invite, e.seq])).toEqual([
      ['I0', undefined],
      ['I1', undefined],
      ['I2', 0],
    ]);
    expect(listed.integrity).toEqual({ ok: true, checked: 1, beforeChain: 2 });
    await reopened.log.close();
  });

  it('pads every line to whole buckets: a 1-byte name and a 64-byte one give lines of one size', async () => {
    const file = fresh();
    const { log } = await AuditLog.open(file, key, undefined);
    const peer = (name: string): AuditEntry => ({
      ...entry(0),
      event: 'paired',
      peer: { did: `did:key:z6Mk${'x'.repeat(44)}`, name },
    });
    log.append(peer('a'));
    log.append(peer('n'.repeat(64)));
    // The longest creator a bot may send: two 200-character fields, still whole buckets.
    log.append({
      ...peer('n'.repeat(64)),
      by: { kind: 'bot', chat: 'matrix', user: 'u'.repeat(200), channel: 'c'.repeat(200) },
    });
    await log.close();
    const sizes = lines(file).map((l) => l.length + 1);
    expect(sizes[0]).toBe(AUDIT_BUCKET_BYTES);
    expect(sizes[1]).toBe(AUDIT_BUCKET_BYTES);
    expect(sizes[2]! % AUDIT_BUCKET_BYTES).toBe(0);
  });
});
