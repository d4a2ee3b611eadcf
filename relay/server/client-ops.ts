import type { RawData } from 'ws';

/** What a client may ask over the relay's WebSocket (docs/RELAY.md), as parseOp hands it on. */
export type ClientOp =
  | { op: 'watch'; mailbox: string; cap: string; after?: number }
  | { op: 'unwatch'; mailbox: string }
  | { op: 'post'; mailbox: string; cap: string; body: string; ref?: string }
  | {
      op: 'create';
      mailbox: string;
      readCapHash: string;
      writeCapHash?: string;
      ttlSeconds: number;
      ref: string;
    }
  | { op: 'delete'; mailbox: string; cap: string; ref: string };

const BODY = /^[A-Za-z0-9_-]*$/;

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
    v.op === 'post' &&
    str(v.mailbox, 64) &&
    str(v.cap, 64) &&
    str(v.body, 64 * 1024) &&
    (v.body as string).length > 0 && // an empty message is refused, as over HTTP
    BODY.test(v.body as string) &&
    (v.ref === undefined || str(v.ref, 64))
  ) {
    return {
      op: 'post',
      mailbox: v.mailbox as string,
      cap: v.cap as string,
      body: v.body as string,
      ...(v.ref !== undefined ? { ref: v.ref as string } : {}),
    };
  }
  return null;
}
