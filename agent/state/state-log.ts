import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { type FileHandle, open, readdir, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { PairlinkError } from '../../src/errors.js';
import { readFileIfExists, writeFileAtomic } from '../secure-files.js';
import { decodeStateJson, encodeStateJson } from './state-codec.js';

/** Version of the snapshot and log formats (docs/ARCHITECTURE.md, "State on disk"). */
export const STORE_FORMAT_VERSION = 2;

const NONCE = 12;
const TAG = 16;
/** One log entry is at most this big (a step changes a few records of a few KiB each). */
const MAX_ENTRY_BYTES = 16 * 1024 * 1024;
const SNAPSHOT_AAD = 'pairlink state snapshot v2';
const LOG_AAD = 'pairlink state log v2';

/** ChaCha20-Poly1305 (node:crypto) with a random 96-bit nonce: nonce || ciphertext || tag. */
function seal(key: Uint8Array, aad: Buffer, plaintext: Buffer): Buffer {
  const nonce = randomBytes(NONCE);
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG });
  cipher.setAAD(aad, { plaintextLength: plaintext.length });
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]);
}

function openSealed(key: Uint8Array, aad: Buffer, sealed: Buffer): Buffer | null {
  if (sealed.length < NONCE + TAG) return null;
  const decipher = createDecipheriv('chacha20-poly1305', key, sealed.subarray(0, NONCE), {
    authTagLength: TAG,
  });
  decipher.setAAD(aad, { plaintextLength: sealed.length - NONCE - TAG });
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG));
  try {
    return Buffer.concat([decipher.update(sealed.subarray(NONCE, sealed.length - TAG)), decipher.final()]);
  } catch {
    return null;
  }
}

function logAad(logId: string, index: number): Buffer {
  const aad = Buffer.alloc(LOG_AAD.length + 1 + logId.length + 4);
  aad.write(`${LOG_AAD}\0${logId}`, 0, 'latin1');
  aad.writeUInt32BE(index, aad.length - 4);
  return aad;
}

/** What `SealedLog.load` finds: the snapshot's document and every change appended since. */
export interface LoadedLog<S, C> {
  readonly snapshot: S | null;
  readonly changes: C[];
}

/**
 * A sealed snapshot plus an append-only log of changes, both encrypted under one 32-byte key.
 *
 *  - `<file>` is `{"version":2,"log":"<id>","sealed":"…"}`: the whole document, written
 *    atomically (temp file, fsync, rename, fsync the directory).
 *  - `<file>.<id>.log` holds the changes since that snapshot, one sealed entry each
 *    (`u32 length || nonce || ciphertext || tag`, the log id and entry number bound as
 *    associated data, so entries cannot be reordered, dropped from the middle or moved between
 *    logs). An append is one write and one fdatasync, whatever the document's size.
 *
 * A crash mid-append leaves a torn last entry, which load discards (and truncates): that change
 * was never acknowledged. A damaged entry followed by others is not a torn write, so load refuses
 * with a clear error rather than guessing. `compact` writes a fresh snapshot naming a new, empty
 * log (created first, so the snapshot's directory fsync covers it) and then deletes the old one.
 */
export class SealedLog<S, C> {
  private logId = '';
  private handle: FileHandle | null = null;
  private entries = 0;
  /** Bytes in the current log, and in the last snapshot (compaction keeps the ratio bounded). */
  logBytes = 0;
  snapshotBytes = 0;

  constructor(
    private readonly file: string,
    private readonly key: Uint8Array,
  ) {}

  private logPath(id: string): string {
    return `${this.file}.${id}.log`;
  }

  async load(): Promise<LoadedLog<S, C>> {
    const raw = await readFileIfExists(this.file);
    if (raw === null) return { snapshot: null, changes: [] };
    let outer: { version?: unknown; log?: unknown; sealed?: unknown };
    try {
      outer = JSON.parse(raw.toString('utf8')) as typeof outer;
    } catch {
      throw new PairlinkError('INTERNAL', `${this.file} is not a pairlink state file`);
    }
    if (
      outer.version !== STORE_FORMAT_VERSION ||
      typeof outer.sealed !== 'string' ||
      typeof outer.log !== 'string' ||
      !/^[0-9a-f]{32}$/.test(outer.log)
    ) {
      throw new PairlinkError(
        'UNSUPPORTED_VERSION',
        `${this.file}: state format ${String(outer.version)} is not supported (this agent reads format ${STORE_FORMAT_VERSION})`,
      );
    }
    const plaintext = openSealed(
      this.key,
      Buffer.from(`${SNAPSHOT_AAD}\0${outer.log}`, 'latin1'),
      Buffer.from(outer.sealed, 'base64url'),
    );
    if (!plaintext) {
      throw new PairlinkError(
        'KEYSTORE_UNAVAILABLE',
        `${this.file} cannot be decrypted with the state key in this keystore`,
      );
    }
    this.logId = outer.log;
    this.snapshotBytes = raw.length;
    const snapshot = decodeStateJson<S>(plaintext.toString('utf8'));
    const changes = await this.readLog();
    return { snapshot, changes };
  }

  /** Reads the current log, truncating a torn last entry. */
  private async readLog(): Promise<C[]> {
    const data = await readFileIfExists(this.logPath(this.logId));
    const changes: C[] = [];
    if (data === null) return changes;
    let offset = 0;
    while (offset < data.length) {
      const length = offset + 4 <= data.length ? data.readUInt32BE(offset) : -1;
      const end = offset + 4 + length;
      const complete = length >= NONCE + TAG && length <= MAX_ENTRY_BYTES && end <= data.length;
      const plaintext = complete
        ? openSealed(this.key, logAad(this.logId, changes.length), data.subarray(offset + 4, end))
        : null;
      if (!plaintext) {
        if (complete && end < data.length) {
          throw new PairlinkError(
            'INTERNAL',
            `${this.logPath(this.logId)}: entry ${changes.length} is damaged and is not the last one; refusing to guess (restore the file or move it away to drop the changes it holds)`,
          );
        }
        break; // a torn last entry: never acknowledged
      }
      changes.push(decodeStateJson<C>(plaintext.toString('utf8')));
      offset = end;
    }
    this.entries = changes.length;
    this.logBytes = offset;
    if (offset < data.length) {
      const handle = await open(this.logPath(this.logId), 'r+');
      try {
        await handle.truncate(offset);
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
    return changes;
  }

  /** Appends one change durably (write + fdatasync). */
  async append(change: C): Promise<void> {
    if (!this.logId) throw new PairlinkError('INTERNAL', 'state log: append before the first snapshot');
    this.handle ??= await open(this.logPath(this.logId), 'a', 0o600);
    const sealed = seal(this.key, logAad(this.logId, this.entries), Buffer.from(encodeStateJson(change)));
    const entry = Buffer.allocUnsafe(4 + sealed.length);
    entry.writeUInt32BE(sealed.length, 0);
    sealed.copy(entry, 4);
    await this.handle.write(entry);
    await this.handle.datasync();
    this.entries++;
    this.logBytes += entry.length;
  }

  /** Writes `snapshot` as the whole document and starts a new, empty log. */
  async compact(snapshot: S): Promise<void> {
    const previous = this.logId;
    const next = randomBytes(16).toString('hex');
    await this.handle?.close();
    this.handle = await open(this.logPath(next), 'wx', 0o600);
    const sealed = seal(
      this.key,
      Buffer.from(`${SNAPSHOT_AAD}\0${next}`, 'latin1'),
      Buffer.from(encodeStateJson(snapshot)),
    );
    const text = `${JSON.stringify({ version: STORE_FORMAT_VERSION, log: next, sealed: sealed.toString('base64url') })}\n`;
    await writeFileAtomic(this.file, text);
    this.logId = next;
    this.entries = 0;
    this.logBytes = 0;
    this.snapshotBytes = text.length;
    if (previous) await unlink(this.logPath(previous)).catch(() => undefined);
    await this.removeStrayLogs();
  }

  /** Deletes logs no snapshot names (left by a crash during compaction). */
  private async removeStrayLogs(): Promise<void> {
    const prefix = `${basename(this.file)}.`;
    const names = await readdir(dirname(this.file)).catch(() => [] as string[]);
    for (const name of names) {
      if (name.startsWith(prefix) && name.endsWith('.log') && name !== basename(this.logPath(this.logId))) {
        await unlink(join(dirname(this.file), name)).catch(() => undefined);
      }
    }
  }

  async close(): Promise<void> {
    await this.handle?.close();
    this.handle = null;
  }
}
