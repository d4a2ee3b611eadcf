import { mkdtempSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
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

  it('drops a torn last entry (never acknowledged) and truncates it away', async () => {
    const file = fresh();
    await written(file, 3);
    const size = statSync(logFile(file)).size;
    truncateSync(logFile(file), size - 5);
    const loaded = await reload(file);
    expect(loaded.changes.map((c) => c.n)).toEqual([0, 1]);
    expect(statSync(logFile(file)).size).toBeLessThan(size - 5);
    // Appending after the repair continues the log.
    const log = new SealedLog<{ base: string }, { n: number }>(file, key);
    await log.load();
    await log.append({ n: 9 });
    await log.close();
    expect((await reload(file)).changes.map((c) => c.n)).toEqual([0, 1, 9]);
  });

  it('refuses a damaged entry in the middle instead of silently dropping what follows', async () => {
    const file = fresh();
    await written(file, 3);
    const bytes = readFileSync(logFile(file));
    bytes[10] = (bytes[10] ?? 0) ^ 1; // inside entry 0
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
