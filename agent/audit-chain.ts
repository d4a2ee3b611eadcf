import { createHash } from 'node:crypto';
import type { AuditEntry, AuditIntegrity } from '../src/rpc/protocol.js';
import { openSealed, seal } from './state/state-log.js';

/**
 * One line of the audit log is a whole number of these (newline included), whatever it holds: a
 * stolen file shows how many entries there are, not how long each peer's name is.
 */
export const AUDIT_BUCKET_BYTES = 512;
/** The longest line written or read (every entry's fields are bounded far below this). */
export const MAX_AUDIT_LINE_BYTES = 16 * AUDIT_BUCKET_BYTES;
const AAD = Buffer.from('pairlink audit v2');
/** Lines written before the chain existed: read, listed as such, never written. */
const LEGACY_AAD = Buffer.from('pairlink audit v1');
const DIGEST_LABEL = Buffer.from('pairlink audit chain v2\0');
const SEAL_OVERHEAD = 12 + 16;

/** A point in the chain: `seq` entries come before it, the last of them with digest `digest`. */
export interface ChainPoint {
  readonly seq: number;
  /** Hex SHA-256. */
  readonly digest: string;
}

/**
 * What the sealed agent state keeps of the audit log: where the chain now starts (the digest of
 * whatever rotation dropped before it) and where it ends. With both in state that only the
 * agent can write, a deleted line, a cut tail or a dropped file shows.
 */
export interface AuditAnchor {
  readonly base: ChainPoint;
  readonly head: ChainPoint;
}

/** The chain's start before any entry. */
export const GENESIS: ChainPoint = { seq: 0, digest: '0'.repeat(64) };

/** One line, opened. */
export type AuditLine =
  | {
      readonly kind: 'chained';
      readonly seq: number;
      readonly prev: string;
      readonly digest: string;
      readonly entry: AuditEntry;
    }
  | { readonly kind: 'legacy'; readonly entry: AuditEntry }
  | { readonly kind: 'damaged' };

/** Sealed bytes of a line of `buckets` buckets: its base64url text is exactly one byte short of them. */
const sealedBytes = (buckets: number) => Math.floor((3 * (buckets * AUDIT_BUCKET_BYTES - 1)) / 4);

function chainDigest(prev: string, sealed: Buffer): string {
  return createHash('sha256')
    .update(DIGEST_LABEL)
    .update(Buffer.from(prev, 'hex'))
    .update(sealed)
    .digest('hex');
}

/**
 * Seals `entry` as the entry after `prev`: `{s, p, e}` (its number, the previous entry's digest,
 * the entry) padded with spaces to fill whole buckets, ChaCha20-Poly1305 under the state key.
 * The new head's digest is SHA-256 over a label, `prev` and the sealed bytes.
 */
export function sealAuditLine(
  key: Uint8Array,
  prev: ChainPoint,
  entry: AuditEntry,
): { line: Buffer; head: ChainPoint } {
  const plain = Buffer.from(JSON.stringify({ s: prev.seq, p: prev.digest, e: entry }));
  let buckets = 1;
  while (sealedBytes(buckets) - SEAL_OVERHEAD < plain.length) buckets++;
  if (buckets * AUDIT_BUCKET_BYTES > MAX_AUDIT_LINE_BYTES)
    throw new Error(`audit entry of ${plain.length} bytes is over the line limit`);
  const padded = Buffer.alloc(sealedBytes(buckets) - SEAL_OVERHEAD, ' ');
  plain.copy(padded);
  const sealed = seal(key, AAD, padded);
  return {
    line: Buffer.from(`${sealed.toString('base64url')}\n`),
    head: { seq: prev.seq + 1, digest: chainDigest(prev.digest, sealed) },
  };
}

const isChained = (v: unknown): v is { s: number; p: string; e: AuditEntry } => {
  if (typeof v !== 'object' || v === null) return false;
  const { s, p, e } = v as Record<string, unknown>;
  return (
    Number.isSafeInteger(s) &&
    (s as number) >= 0 &&
    typeof p === 'string' &&
    /^[0-9a-f]{64}$/.test(p) &&
    typeof e === 'object' &&
    e !== null
  );
};

/** JSON text, or undefined if it is not JSON (an authenticated line is ours: only a bug could write that). */
function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** Opens one line (without its newline): chained, from before the chain, or damaged. */
export function openAuditLine(key: Uint8Array, text: string): AuditLine {
  if (text.length === 0 || text.length >= MAX_AUDIT_LINE_BYTES) return { kind: 'damaged' };
  const sealed = Buffer.from(text, 'base64url');
  const chained = openSealed(key, AAD, sealed);
  if (chained) {
    const value = parseJson(chained);
    if (!isChained(value)) return { kind: 'damaged' };
    return {
      kind: 'chained',
      seq: value.s,
      prev: value.p,
      digest: chainDigest(value.p, sealed),
      entry: value.e,
    };
  }
  const legacy = openSealed(key, LEGACY_AAD, sealed);
  const entry = legacy ? parseJson(legacy) : undefined;
  return typeof entry === 'object' && entry !== null
    ? { kind: 'legacy', entry: entry as AuditEntry }
    : { kind: 'damaged' };
}

/** The listing of a log, what its chain says, and the point after its last chained entry. */
export interface ChainReading {
  readonly entries: AuditEntry[];
  readonly integrity: AuditIntegrity;
  readonly end: ChainPoint | null;
}

/**
 * Walks the lines in file order (the previous file's, then the current one's) and checks that
 * each chained entry follows the one before (its number, and the digest it names), that the chain
 * starts at the anchor's base and reaches its head. Entries after the head are allowed: they were
 * written, and the agent stopped before the state that names them was saved. Entries before the
 * base are allowed too: the next rotation drops them. The first break is reported; every entry
 * that opens is listed (an exact repeat once).
 */
export function verifyAuditChain(lines: readonly AuditLine[], anchor: AuditAnchor | null): ChainReading {
  const entries: AuditEntry[] = [];
  let beforeChain = 0;
  let checked = 0;
  let expect: ChainPoint | null = null;
  const breaks: Pick<AuditIntegrity, 'brokenAt' | 'reason' | 'missing'>[] = [];
  const brk = (reason: NonNullable<AuditIntegrity['reason']>, at: number, missing?: number) => {
    breaks.push({ brokenAt: at, reason, ...(missing ? { missing } : {}) });
  };
  const seen = new Set<string>();
  for (const line of lines) {
    const here = expect?.seq ?? anchor?.base.seq ?? 0;
    if (line.kind === 'damaged') {
      brk('damaged', here);
      continue;
    }
    if (line.kind === 'legacy') {
      if (expect) brk('repeated', here);
      else beforeChain++;
      entries.push(line.entry);
      continue;
    }
    if (seen.has(line.digest)) {
      brk('repeated', line.seq);
      continue;
    }
    const start: ChainPoint = expect ?? anchor?.base ?? { seq: line.seq, digest: line.prev };
    if (line.seq > start.seq) brk('missing', start.seq, line.seq - start.seq);
    else if (expect && line.seq < expect.seq) brk('repeated', line.seq);
    else if (line.seq === start.seq && line.prev !== start.digest) brk('replaced', line.seq);
    if (anchor && line.seq === anchor.base.seq && line.prev !== anchor.base.digest) brk('replaced', line.seq);
    if (anchor && line.seq === anchor.head.seq - 1 && line.digest !== anchor.head.digest)
      brk('replaced', line.seq);
    seen.add(line.digest);
    checked++;
    entries.push({ ...line.entry, seq: line.seq });
    if (!expect || line.seq >= expect.seq) expect = { seq: line.seq + 1, digest: line.digest };
  }
  if (anchor) {
    const end = expect?.seq ?? anchor.base.seq;
    if (end < anchor.head.seq) brk('truncated', end, anchor.head.seq - end);
  }
  const integrity: AuditIntegrity = { ok: breaks.length === 0, checked, beforeChain, ...breaks[0] };
  return { entries, integrity, end: expect };
}
