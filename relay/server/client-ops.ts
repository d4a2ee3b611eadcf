import type { RawData } from 'ws';
import { MAX_REVOKED_PER_OP } from '../wire/ws-ops.js';
import type { RelayResult, RelayService } from './relay-service.js';

/** What a client may ask over the relay's WebSocket (docs/RELAY.md), as parseOp hands it on. */
export type ClientOp =
  | { op: 'watch'; mailbox: string; cap: string; after?: number }
  | { op: 'unwatch'; mailbox: string }
  | PostOp
  | {
      op: 'create';
      mailbox: string;
      readCapHash: string;
      writeCapHash?: string;
      ttlSeconds: number;
      ref: string;
    }
  | { op: 'delete'; mailbox: string; cap: string; ref: string }
  | WriterOp
  | WritersRevokeOp;

/**
 * A post. With `after` (the ref of an earlier post on this socket), it is stored only once that
 * one is, and refused (`after_refused`) when that one was refused or is not known (docs/RELAY.md).
 */
export interface PostOp {
  op: 'post';
  mailbox: string;
  cap: string;
  body: string;
  ref?: string;
  after?: string;
}

/** An inbox owner's writer operation over the socket: HTTP's POST and DELETE .../writers. */
export interface WriterOp {
  op: 'add_writer' | 'revoke_writer';
  mailbox: string;
  cap: string;
  writeCapHash: string;
  ref: string;
}

/** Up to MAX_REVOKED_PER_OP writers revoked in one op (an owner's revocations, batched). */
export interface WritersRevokeOp {
  op: 'revoke_writers';
  mailbox: string;
  cap: string;
  writeCapHashes: string[];
  ref: string;
}

/** The operations that are HTTP routes over the socket: their errors carry the HTTP status. */
export type MailboxOp = Extract<
  ClientOp,
  { op: 'create' | 'delete' | 'add_writer' | 'revoke_writer' | 'revoke_writers' }
>;

export function isMailboxOp(op: ClientOp): op is MailboxOp {
  return (
    op.op === 'create' ||
    op.op === 'delete' ||
    op.op === 'add_writer' ||
    op.op === 'revoke_writer' ||
    op.op === 'revoke_writers'
  );
}

const BODY = /^[A-Za-z0-9_-]*$/;
/** SHA-256 of a capability, base64url: exactly 43 characters. */
const CAP_HASH = /^[A-Za-z0-9_-]{43}$/;

/**
 * One client operation from a WebSocket message, or null for anything else (not JSON, an unknown
 * op, a field missing, of the wrong type or too long): the hub acts on nothing before this. The
 * fuzz tests drive it directly.
 */
export function parseOp(data: RawData): ClientOp | null {
  let value: unknown;
  try {
    value = JSON.parse(data.toString());
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  const str = (x: unknown, max: number) => typeof x === 'string' && x.length <= max;
  if (
    v.op === 'watch' &&
    str(v.mailbox, 64) &&
    str(v.cap, 64) &&
    (v.after === undefined || Number.isInteger(v.after))
  ) {
    return {
      op: 'watch',
      mailbox: v.mailbox as string,
      cap: v.cap as string,
      after: (v.after as number | undefined) ?? 0,
    };
  }
  if (v.op === 'unwatch' && str(v.mailbox, 64)) return { op: 'unwatch', mailbox: v.mailbox as string };
  if (
    v.op === 'create' &&
    str(v.mailbox, 64) &&
    str(v.readCapHash, 64) &&
    (v.writeCapHash === undefined || str(v.writeCapHash, 64)) &&
    Number.isInteger(v.ttlSeconds) &&
    str(v.ref, 64)
  ) {
    return {
      op: 'create',
      mailbox: v.mailbox as string,
      readCapHash: v.readCapHash as string,
      ...(v.writeCapHash !== undefined ? { writeCapHash: v.writeCapHash as string } : {}),
      ttlSeconds: v.ttlSeconds as number,
      ref: v.ref as string,
    };
  }
  if (v.op === 'delete' && str(v.mailbox, 64) && str(v.cap, 64) && str(v.ref, 64))
    return { op: 'delete', mailbox: v.mailbox as string, cap: v.cap as string, ref: v.ref as string };
  if (
    (v.op === 'add_writer' || v.op === 'revoke_writer') &&
    str(v.mailbox, 64) &&
    str(v.cap, 64) &&
    str(v.writeCapHash, 43) &&
    CAP_HASH.test(v.writeCapHash as string) &&
    str(v.ref, 64)
  ) {
    return {
      op: v.op,
      mailbox: v.mailbox as string,
      cap: v.cap as string,
      writeCapHash: v.writeCapHash as string,
      ref: v.ref as string,
    };
  }
  if (
    v.op === 'revoke_writers' &&
    str(v.mailbox, 64) &&
    str(v.cap, 64) &&
    Array.isArray(v.writeCapHashes) &&
    v.writeCapHashes.length > 0 &&
    v.writeCapHashes.length <= MAX_REVOKED_PER_OP &&
    v.writeCapHashes.every((h) => typeof h === 'string' && CAP_HASH.test(h)) &&
    str(v.ref, 64)
  ) {
    return {
      op: 'revoke_writers',
      mailbox: v.mailbox as string,
      cap: v.cap as string,
      writeCapHashes: v.writeCapHashes as string[],
      ref: v.ref as string,
    };
  }
  if (
    v.op === 'post' &&
    str(v.mailbox, 64) &&
    str(v.cap, 64) &&
    str(v.body, 64 * 1024) &&
    (v.body as string).length > 0 && // an empty message is refused, as over HTTP
    BODY.test(v.body as string) &&
    (v.ref === undefined || str(v.ref, 64)) &&
    (v.after === undefined || str(v.after, 64))
  ) {
    return {
      op: 'post',
      mailbox: v.mailbox as string,
      cap: v.cap as string,
      body: v.body as string,
      ...(v.ref !== undefined ? { ref: v.ref as string } : {}),
      ...(v.after !== undefined ? { after: v.after as string } : {}),
    };
  }
  return null;
}

/**
 * Runs a mailbox operation with the HTTP route's checks (the service's): the frame to answer
 * with (docs/RELAY.md, WebSocket), and the status for the metrics.
 */
export async function runMailboxOp(
  service: RelayService,
  ip: string,
  op: MailboxOp,
): Promise<{ frame: object; status: string }> {
  const answer = await mailboxAnswer(service, ip, op);
  const { result } = answer;
  if (result.ok) return { frame: { op: answer.op, ref: op.ref, ...answer.fields }, status: 'ok' };
  return {
    frame: {
      op: 'error',
      ref: op.ref,
      error: result.error,
      status: result.status,
      ...(result.retryAfter ? { retryAfter: result.retryAfter } : {}),
    },
    status: result.error,
  };
}

/** The service's result of `op`, and the success frame's op and fields. */
async function mailboxAnswer(
  service: RelayService,
  ip: string,
  op: MailboxOp,
): Promise<{ result: RelayResult<object>; op: string; fields?: object }> {
  if (op.op === 'create') {
    const result = await service.createMailbox(ip, op.mailbox, {
      readCapHash: op.readCapHash,
      ttlSeconds: op.ttlSeconds,
      ...(op.writeCapHash !== undefined ? { writeCapHash: op.writeCapHash } : {}),
    });
    return { result, op: 'created', ...(result.ok ? { fields: result.value } : {}) };
  }
  if (op.op === 'delete') return { result: await service.delete(op.mailbox, op.cap), op: 'deleted' };
  if (op.op === 'add_writer') {
    const result = await service.addWriter(op.mailbox, op.cap, op.writeCapHash);
    return { result, op: 'writer_added', ...(result.ok ? { fields: result.value } : {}) };
  }
  if (op.op === 'revoke_writers') {
    const result = await revokeWriters(service, op);
    return { result, op: 'writers_revoked', ...(result.ok ? { fields: result.value } : {}) };
  }
  const result = await service.revokeWriter(op.mailbox, op.cap, op.writeCapHash);
  return { result, op: 'writer_revoked', ...(result.ok ? { fields: result.value } : {}) };
}

/** Each named writer revoked in turn, as its own revoke would: how many were writers, or the first refusal. */
async function revokeWriters(
  service: RelayService,
  op: WritersRevokeOp,
): Promise<RelayResult<{ revoked: number }>> {
  let revoked = 0;
  for (const hash of op.writeCapHashes) {
    const result = await service.revokeWriter(op.mailbox, op.cap, hash);
    if (!result.ok) return result;
    if (result.value.revoked) revoked++;
  }
  return { ok: true, value: { revoked } };
}
