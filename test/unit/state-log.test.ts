import { mkdtempSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SealedLog } from '../../agent/state/state-log.js';

const key = new Uint8Array(32).fill(7);
const fresh = () => join(mkdtempSync(join(tmpdir(), 'pl-log-')), 'state.json');
const logFile = (file: string) => {
  const dir = join(file, '..');
  const name = readdirSync(dir).find((n) => n.endsWith('.log'));
  return join(dir, name!);
};

async function written(file: string, changes: number): Promise<void> {
  const log = new SealedLog<{ base: string }, { n: number; bytes: Uint8Array }>(file, key);
  await log.load();
  await log.compact({ base: 'snapshot' });
  for (let n = 0; n < changes; n++) await log.append({ n, bytes: Uint8Array.of(n, 255) });
  await log.close();
}

const reload = (file: string, k = key) =>
  new SealedLog<{ base: string }, { n: number; bytes: Uint8Array }>(file, k).load();

describe('sealed snapshot + append-only log (agent state on disk)', () => {
  it('replays every appended change after the snapshot, byte fields included', async () => {
    const file = fresh();
    await written(file, 3);
    const loaded = await reload(file);
    expect(loaded.snapshot).toEqual({ base: 'snapshot' });
    expect(loaded.changes.map((c) => c.n)).toEqual([0, 1, 2]);
    expect(loaded.changes[2]!.bytes).toEqual(Uint8Array.of(2, 255));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(logFile(file)).mode & 0o777).toBe(0o600);
    expect(readFileSync(logFile(file)).includes(Buffer.from('snapshot'))).toBe(false);
  });

  it('drops a torn last entry (an append that never returned) and truncates it away', async () => {
    const file = fresh();
    await written(file, 3);
    const size = statSync(logFile(file)).size;
    // A crash in the middle of a fourth append: its length prefix and part of its body.
    const torn = Buffer.alloc(4 + 20, 1);
    torn.writeUInt32BE(100, 0);
    writeFileSync(logFile(file), Buffer.concat([readFileSync(logFile(file)), torn]));
    const loaded = await reload(file);
    expect(loaded.changes.map((c) => c.n)).toEqual([0, 1, 2]);
    expect(statSync(logFile(file)).size).toBe(size);
    // Appending after the repair continues the log.
    const log = new SealedLog<{ base: string }, { n: number }>(file, key);
    await log.load();
    await log.append({ n: 9 });
    await log.close();
    expect((await reload(file)).changes.map((c) => c.n)).toEqual([0, 1, 2, 9]);
  });

  it('after a crash the log ends in the zeros written ahead of it: read as its end, a torn entry there included', async () => {
    const file = fresh();
    const log = new SealedLog<{ base: string }, { n: number }>(file, key);
    await log.load();
    await log.compact({ base: 'snapshot' });
    for (let n = 0; n < 3; n++) await log.append({ n });
    // No close(): the process died. The file still holds the zero-filled space ahead of entry 3.
    const bytes = readFileSync(logFile(file));
    let end = 16;
    for (let i = 0; i < 3; i++) end += 4 + bytes.readUInt32BE(end);
    expect(bytes.length).toBeGreaterThan(end + 64 * 1024);
    expect(bytes.subarray(end).every((b) => b === 0)).toBe(true);
    expect((await reload(file)).changes.map((c) => c.n)).toEqual([0, 1, 2]);
    // A fourth append torn mid-way: its length and part of its body, then the zeros.
    const torn = Buffer.alloc(4 + 30, 9);
    torn.writeUInt32BE(60, 0);
    torn.copy(bytes, end);
    writeFileSync(logFile(file), bytes);
    const reopened = new SealedLog<{ base: string }, { n: number }>(file, key);
    expect((await reopened.load()).changes.map((c) => c.n)).toEqual([0, 1, 2]);
    expect(statSync(logFile(file)).size).toBe(end); // torn entry and zeros cut off
    await reopened.append({ n: 3 });
    await reopened.close();
    expect(statSync(logFile(file)).size).toBeLessThan(end + 200); // close cuts the zeros off too
    expect((await reload(file)).changes.map((c) => c.n)).toEqual([0, 1, 2, 3]);
    // Data (not zeros) after a damaged entry is still damage, not a torn tail.
    const damaged = readFileSync(logFile(file));
    damaged[16 + 10] = (damaged[16 + 10] ?? 0) ^ 1;
    writeFileSync(logFile(file), damaged);
    await expect(reload(file)).rejects.toThrow(/entry 0 is damaged/);
  });

  it('refuses to start when acknowledged changes are missing: a truncated log, or none at all', async () => {
    const file = fresh();
    await written(file, 5);
    const full = readFileSync(logFile(file));
    // Cut to 60 %: whole entries are gone, and what is left could pass for a torn tail.
    writeFileSync(logFile(file), full.subarray(0, Math.floor(full.length * 0.6)));
    await expect(reload(file)).rejects.toThrow(/holds \d of the 5 changes it acknowledged/);
    await expect(reload(file)).rejects.toMatchObject({ code: 'STATE_DAMAGED' });
    // Cut exactly at an entry boundary: still refused.
    writeFileSync(logFile(file), full);
    expect((await reload(file)).changes).toHaveLength(5);
    const entryEnd = 16 + 4 + full.readUInt32BE(16);
    writeFileSync(logFile(file), full.subarray(0, entryEnd));
    await expect(reload(file)).rejects.toThrow(/holds 1 of the 5 changes/);
    // The log deleted: refused, naming it.
    const log = logFile(file);
    unlinkSync(log);
    await expect(reload(file)).rejects.toThrow(/is missing: the changes saved since/);
  });

  it('reads a format 2 state (no log header) and says it is outdated, so the first save compacts', async () => {
    const file = fresh();
    await written(file, 2);
    const outer = JSON.parse(readFileSync(file, 'utf8')) as { version: number };
    writeFileSync(file, JSON.stringify({ ...outer, version: 2 }));
    writeFileSync(logFile(file), readFileSync(logFile(file)).subarray(16));
    const log = new SealedLog<{ base: string }, { n: number }>(file, key);
    const loaded = await log.load();
    expect(loaded.changes.map((c) => c.n)).toEqual([0, 1]);
    expect(log.outdated).toBe(true);
    await expect(log.append({ n: 2 })).rejects.toThrow(/compact an old-format log/);
    await log.compact({ base: 'migrated' });
    expect(log.outdated).toBe(false);
    await log.close();
    expect(JSON.parse(readFileSync(file, 'utf8')).version).toBe(3);
  });

  it('refuses to start from nothing when state.json is gone but its log is there', async () => {
    const file = fresh();
    await written(file, 2);
    unlinkSync(file);
    await expect(reload(file)).rejects.toThrow(/is missing but its change log/);
    await expect(reload(file)).rejects.toMatchObject({ code: 'STATE_DAMAGED' });
    expect(readdirSync(join(file, '..')).filter((n) => n.endsWith('.log'))).toHaveLength(1); // left as it was
  });

  it('refuses a damaged entry in the middle instead of silently dropping what follows', async () => {
    const file = fresh();
    await written(file, 3);
    const bytes = readFileSync(logFile(file));
    bytes[16 + 10] = (bytes[16 + 10] ?? 0) ^ 1; // inside entry 0 (after the 16-byte header)
    writeFileSync(logFile(file), bytes);
    await expect(reload(file)).rejects.toThrow(/entry 0 is damaged/);
  });

  it('refuses a wrong key with KEYSTORE_UNAVAILABLE and an unknown format with UNSUPPORTED_VERSION', async () => {
    const file = fresh();
    await written(file, 1);
    await expect(reload(file, new Uint8Array(32))).rejects.toMatchObject({ code: 'KEYSTORE_UNAVAILABLE' });
    writeFileSync(file, JSON.stringify({ version: 1, sealed: 'AAAA' }));
    await expect(reload(file)).rejects.toMatchObject({ code: 'UNSUPPORTED_VERSION' });
  });

  it('compaction starts a new log and removes the old one; entries cannot move between logs', async () => {
    const file = fresh();
    await written(file, 2);
    const oldLog = readFileSync(logFile(file));
    const log = new SealedLog<{ base: string }, { n: number }>(file, key);
    await log.load();
    await log.compact({ base: 'second' });
    await log.close();
    expect(readdirSync(join(file, '..')).filter((n) => n.endsWith('.log'))).toHaveLength(1);
    expect(await reload(file)).toEqual({ snapshot: { base: 'second' }, changes: [] });
    // The old log's entries, copied under the new log's name, are bound to the old id: refused.
    writeFileSync(logFile(file), oldLog);
    await expect(reload(file)).rejects.toThrow(/entry 0 is damaged/);
  });
});
