import { closeSync, constants, fdatasyncSync, fstatSync, ftruncateSync, openSync, renameSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { AuditEntry, AuditIntegrity } from '../src/rpc/protocol.js';
import {
  type AuditAnchor,
  type AuditLine,
  type ChainPoint,
  GENESIS,
  MAX_AUDIT_LINE_BYTES,
  openAuditLine,
  sealAuditLine,
  verifyAuditChain,
} from './audit-chain.js';
import { preallocate, writeAll } from './state/state-log.js';

/** Entries one file holds before it is rotated to `<file>.1` (the previous `.1` is dropped). */
export const AUDIT_ENTRIES_PER_FILE = 5_000;
/**
 * While the agent runs, the file is zero-filled this far ahead of its last line (512 one-bucket
 * lines), as the state log is (state-log.ts): every save that names new entries fdatasyncs this
 * file, and an fdatasync of a line written inside blocks already written flushes the data alone,
 * where one of a line that grows the file must also commit the new size to the journal (slower,
 * and shared with every other writer on the filesystem). Readers take the first zero byte as the
 * end of the file (a line never holds one); `close` and rotation cut the zeros off.
 */
const PREALLOCATE_BYTES = 256 * 1024;

/**
 * What `AuditLog.open` found: the log, its chain's verdict, the bytes of a torn last line it cut
 * off, and how many entries the file had lost that the state carried and it wrote back.
 */
export interface OpenedAuditLog {
  readonly log: AuditLog;
  readonly integrity: AuditIntegrity;
  readonly tornBytes: number;
  readonly restored: number;
}

/**
 * The operator's history of what happened (docs/ARCHITECTURE.md §Agent, docs/SECURITY.md §The
 * audit log): append-only, one sealed line per entry, each naming the digest of the one before
 * (a hash chain, audit-chain.ts), bounded to two files of AUDIT_ENTRIES_PER_FILE entries. The
 * chain's base and head live in the sealed agent state (`anchor()`, saved with each entry), which
 * is what makes a deleted line, a cut tail or a dropped file show. The file is not synced before
 * each save: that save carries the lines themselves (`takeLines()`), so it is one fdatasync, and
 * `open` writes back a tail the file lost in a crash; a compaction, which drops those lines from
 * the state, syncs the file first (DurableState's AuditSaves). Appends are synchronous.
 */
export class AuditLog {
  /** Lines in the current file. */
  private count = 0;
  /** The current file's size as this log wrote it (a failed write is cut back to it). */
  private size = 0;
  /** The file's size on disk: `size` and the zeros written ahead of it. */
  private allocated = 0;
  /** Kept open between appends: one pwrite(2) per entry on the agent's thread. */
  private fd: number | null = null;
  /** Appended since the last sync. */
  private dirty = false;
  /** Lines appended since the last `takeLines`, as written (without the newline). */
  private untaken: string[] = [];
  /** Entries that could not be written (a full disk) since the last one that was. */
  private lost = 0;
  /** Where the current file's chain starts: rotation makes it the base. */
  private fileStart: ChainPoint;
  /** The base the state holds on disk: the previous file may be dropped once it is the current file's start. */
  private committedBase: ChainPoint | null;

  private constructor(
    private readonly path: string,
    private readonly key: Uint8Array,
    private readonly entriesPerFile: number,
    private base: ChainPoint,
    private head: ChainPoint,
    fileStart: ChainPoint,
    committedBase: ChainPoint | null,
  ) {
    this.fileStart = fileStart;
    this.committedBase = committedBase;
  }

  /**
   * Opens the log and checks its chain against `anchor` (the state's; absent in a state from
   * before the chain). A torn last line (a write cut short) is cut off first, so the next entry
   * starts a line of its own; if it held a saved entry, the chain says so (truncated). So is
   * everything from the first zero byte on: the zeros written ahead, which a crash leaves, and
   * any unsynced lines after a block the crash did not write (never a saved entry). New
   * entries continue from the saved head even when lines are missing, so the gap stays visible.
   */
  static async open(
    path: string,
    key: Uint8Array,
    anchor: AuditAnchor | undefined,
    entriesPerFile = AUDIT_ENTRIES_PER_FILE,
    /** The lines the state's log carried (`takeLines` of the saves since its last compaction). */
    carried: readonly string[] = [],
  ): Promise<OpenedAuditLog> {
    const cap = (entriesPerFile + 64) * MAX_AUDIT_LINE_BYTES;
    const previous = (await readBounded(`${path}.1`, cap)).data;
    const { data: current, complete } = await readBounded(path, cap);
    const linesEnd = endOfLines(current);
    let whole = linesEnd === 0 ? 0 : current.lastIndexOf(0x0a, linesEnd - 1) + 1;
    const tornBytes = complete ? linesEnd - whole : 0;
    // A torn line, and the zeros a running agent writes ahead (a crash leaves them), go.
    if (complete && current.length > whole) {
      const handle = await open(path, 'r+');
      try {
        await handle.truncate(whole);
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
    const previousLines = splitLines(previous).map((l) => openAuditLine(key, l));
    const currentLines = splitLines(current.subarray(0, whole)).map((l) => openAuditLine(key, l));
    const onDisk = verifyAuditChain([...previousLines, ...currentLines], null).end;
    const lost = lostTail(key, carried, onDisk ?? anchor?.base ?? GENESIS);
    if (lost.length > 0) {
      await appendLines(
        path,
        whole,
        lost.map((l) => l.text),
      );
      currentLines.push(...lost.map((l) => l.line));
      whole += lost.reduce((n, l) => n + l.text.length + 1, 0);
    }
    const reading = verifyAuditChain([...previousLines, ...currentLines], anchor ?? null);
    const end = reading.end;
    const head = anchor && (end === null || end.seq < anchor.head.seq) ? anchor.head : (end ?? GENESIS);
    const first = previousLines.concat(currentLines).find(isChained);
    const base = anchor?.base ?? (first ? { seq: first.seq, digest: first.prev } : head);
    const firstHere = currentLines.find(isChained);
    const fileStart = firstHere ? { seq: firstHere.seq, digest: firstHere.prev } : head;
    const log = new AuditLog(path, key, entriesPerFile, base, head, fileStart, anchor?.base ?? null);
    log.count = currentLines.length;
    log.size = whole;
    return { log, integrity: reading.integrity, tornBytes, restored: lost.length };
  }

  /** The chain's base and head, for the agent state (saved after each append). */
  anchor(): AuditAnchor {
    return { base: this.base, head: this.head };
  }

  /**
   * The state holding `anchor` is on disk. If it holds the base a full file asked for, the file
   * rotates now: what that drops is all before the saved base, so the chain still verifies.
   */
  committed(anchor: AuditAnchor): void {
    this.committedBase = anchor.base;
    this.rotateIfDue();
  }

  /** Makes every appended entry durable; the agent calls it before each state save (the anchor's). */
  sync(): void {
    if (this.dirty && this.fd !== null) fdatasyncSync(this.fd);
    this.dirty = false;
  }

  /** The lines appended since the last call, for the state save that names them to carry. */
  takeLines(): string[] {
    const lines = this.untaken;
    this.untaken = [];
    return lines;
  }

  /** Entries lost since the last one written: the next write puts a `lost` entry before it. */
  get lostEntries(): number {
    return this.lost;
  }

  /**
   * Appends one entry (synchronously; no fsync: `sync` before the state that names it is saved).
   * One that cannot be written (a full disk) is counted, and the first write after says how many
   * were lost with an entry of its own (`lost`), in the chain: the history shows the gap, and
   * still verifies.
   */
  append(entry: AuditEntry): void {
    try {
      this.recordLost(entry.at);
      this.write(entry);
    } catch (error) {
      this.lost++;
      throw error;
    }
  }

  /** Writes the `lost` entry now, if entries were lost (the agent tries on each tick: the gap shows once there is room). */
  recordLost(at: string): void {
    if (this.lost === 0) return;
    this.write({ at, event: 'lost', lost: this.lost });
    this.lost = 0;
  }

  private write(entry: AuditEntry): void {
    this.rotateIfDue(); // after a restart, the save that asked for it may be done already
    const { line, head } = sealAuditLine(this.key, this.head, entry);
    try {
      if (this.fd === null) {
        this.fd = openSync(this.path, constants.O_WRONLY | constants.O_CREAT, 0o600);
        // A write that failed part-way left a fragment: cut it, so this line is not glued to it.
        if (fstatSync(this.fd).size > this.size) ftruncateSync(this.fd, this.size);
        this.allocated = this.size;
      }
      if (this.size + line.length > this.allocated) {
        // Zeros first, so this line and the next ones land inside written blocks.
        this.allocated = preallocate(this.fd, this.size, PREALLOCATE_BYTES);
      }
      writeAll(this.fd, line, this.size);
    } catch (error) {
      this.closeFile();
      throw error;
    }
    this.dirty = true;
    this.untaken.push(line.toString('latin1', 0, line.length - 1));
    this.size += line.length;
    this.count++;
    this.head = head;
    // Full: the next base is this file's start, and once the state holds it the file rotates.
    if (this.count >= this.entriesPerFile) this.base = this.fileStart;
  }

  /** Rotates a full file once the state's base is its start: what rotation drops is before the base. */
  private rotateIfDue(): void {
    if (this.count < this.entriesPerFile || this.committedBase?.seq !== this.fileStart.seq) return;
    this.sync();
    this.closeFile();
    renameSync(this.path, `${this.path}.1`);
    this.count = 0;
    this.size = 0;
    this.fileStart = this.head;
  }

  /** Closes the file, cutting off the zeros written ahead of its last line (or a failed write's fragment). */
  private closeFile(): void {
    const fd = this.fd;
    this.fd = null;
    if (fd === null) return;
    try {
      if (this.allocated > this.size) ftruncateSync(fd, this.size);
    } finally {
      closeSync(fd);
    }
  }

  /** Syncs and closes the file after the last append (the agent's stop). */
  async close(): Promise<void> {
    this.sync();
    this.closeFile();
  }

  /** Entries at or after `since` (ISO time), oldest first, at most `limit` (the newest ones), and the chain's verdict. */
  async list(
    since: string | undefined,
    limit: number,
  ): Promise<{ entries: AuditEntry[]; integrity: AuditIntegrity }> {
    const cap = (this.entriesPerFile + 64) * MAX_AUDIT_LINE_BYTES;
    const lines = [
      ...splitLines((await readBounded(`${this.path}.1`, cap)).data),
      ...splitLines((await readBounded(this.path, cap)).data),
    ].map((l) => openAuditLine(this.key, l));
    const { entries, integrity } = verifyAuditChain(lines, this.anchor());
    return { entries: entries.filter((e) => !since || e.at >= since).slice(-limit), integrity };
  }
}

const isChained = (line: AuditLine): line is Extract<AuditLine, { kind: 'chained' }> =>
  line.kind === 'chained';

/** Where the lines end: at the first zero byte (the zeros written ahead), or at the end of `data`. */
function endOfLines(data: Buffer): number {
  const zero = data.indexOf(0);
  return zero === -1 ? data.length : zero;
}

/**
 * The carried lines that continue the chain from `end`, the point after the last entry the files
 * hold: what a crash took from the file's tail after the state that carries them was saved. Lines
 * the files hold are skipped; the first that does not continue the chain stops the walk.
 */
function lostTail(
  key: Uint8Array,
  carried: readonly string[],
  end: ChainPoint,
): { text: string; line: AuditLine }[] {
  const lost: { text: string; line: AuditLine }[] = [];
  let at = end;
  for (const text of carried) {
    const line = openAuditLine(key, text);
    if (line.kind !== 'chained' || line.seq < at.seq) continue;
    if (line.seq !== at.seq || line.prev !== at.digest) break;
    lost.push({ text, line });
    at = { seq: line.seq + 1, digest: line.digest };
  }
  return lost;
}

/** Writes `lines` at `offset` (where the file's lines end) and syncs them. */
async function appendLines(path: string, offset: number, lines: readonly string[]): Promise<void> {
  const handle = await open(path, constants.O_WRONLY | constants.O_CREAT, 0o600);
  try {
    await handle.write(Buffer.from(lines.map((l) => `${l}\n`).join(''), 'latin1'), 0, undefined, offset);
    await handle.truncate(offset + lines.reduce((n, l) => n + l.length + 1, 0));
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function splitLines(data: Buffer): string[] {
  return data.subarray(0, endOfLines(data)).toString('latin1').split('\n').filter(Boolean);
}

/** The file's first `cap` bytes (a file grown past any log's size is read no further), or none. */
async function readBounded(path: string, cap: number): Promise<{ data: Buffer; complete: boolean }> {
  const handle = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  if (!handle) return { data: Buffer.alloc(0), complete: true };
  try {
    const whole = (await handle.stat()).size;
    const size = Math.min(whole, cap);
    const data = Buffer.alloc(size);
    let read = 0;
    while (read < size) {
      const { bytesRead } = await handle.read(data, read, size - read, read);
      if (bytesRead === 0) break;
      read += bytesRead;
    }
    return { data: data.subarray(0, read), complete: whole <= cap };
  } finally {
    await handle.close();
  }
}
