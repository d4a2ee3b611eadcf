import { closeSync, openSync, renameSync, writeSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { AuditEntry } from '../src/rpc/protocol.js';
import { openSealed, seal } from './state/state-log.js';

/** Entries one file holds before it is rotated to `<file>.1` (the previous `.1` is dropped). */
export const AUDIT_ENTRIES_PER_FILE = 5_000;
const AAD = Buffer.from('pairlink audit v1');
const MAX_LINE = 8 * 1024;

/**
 * The operator's history of what happened (docs/ARCHITECTURE.md §Agent): append-only, one sealed
 * line per entry (ChaCha20-Poly1305 under the state key, so a stolen directory shows only
 * sizes), bounded to two files of AUDIT_ENTRIES_PER_FILE entries. Appends are synchronous; a
 * damaged line is skipped when reading, never fatal.
 */
export class AuditLog {
  private count = 0;
  /**
   * Kept open between appends, and written synchronously: one write(2) per entry on the agent's
   * thread (an O_APPEND write of a line, no fsync), not a round trip through the thread pool.
   */
  private fd: number | null = null;

  private constructor(
    private readonly path: string,
    private readonly key: Uint8Array,
  ) {}

  static async open(path: string, key: Uint8Array): Promise<AuditLog> {
    const log = new AuditLog(path, key);
    log.count = (await readLines(path)).length;
    return log;
  }

  append(entry: AuditEntry): void {
    const line = Buffer.from(
      `${seal(this.key, AAD, Buffer.from(JSON.stringify(entry))).toString('base64url')}\n`,
    );
    try {
      if (this.count >= AUDIT_ENTRIES_PER_FILE) {
        this.closeFile();
        try {
          renameSync(this.path, `${this.path}.1`);
        } catch {
          // nothing to rotate yet
        }
        this.count = 0;
      }
      this.fd ??= openSync(this.path, 'a', 0o600);
      for (let done = 0; done < line.length; ) done += writeSync(this.fd, line, done);
      this.count++;
    } catch {
      // A failed write may leave the file unusable: the next append opens it afresh.
      this.closeFile();
    }
  }

  private closeFile(): void {
    try {
      if (this.fd !== null) closeSync(this.fd);
    } catch {
      // already closed
    }
    this.fd = null;
  }

  /** Closes the file after the last append (the agent's stop). */
  async close(): Promise<void> {
    this.closeFile();
  }

  /** Entries at or after `since` (ISO time), oldest first, at most `limit` (the newest ones). */
  async list(since: string | undefined, limit: number): Promise<AuditEntry[]> {
    const lines = [...(await readLines(`${this.path}.1`)), ...(await readLines(this.path))];
    const entries: AuditEntry[] = [];
    for (const line of lines) {
      if (line.length > MAX_LINE) continue;
      const opened = openSealed(this.key, AAD, Buffer.from(line, 'base64url'));
      if (!opened) continue;
      try {
        const entry = JSON.parse(opened.toString('utf8')) as AuditEntry;
        if (!since || entry.at >= since) entries.push(entry);
      } catch {
        // a damaged entry is skipped
      }
    }
    return entries.slice(-limit);
  }
}

async function readLines(path: string): Promise<string[]> {
  const exists = await stat(path).then(
    () => true,
    () => false,
  );
  if (!exists) return [];
  return (await readFile(path, 'utf8')).split('\n').filter(Boolean);
}
