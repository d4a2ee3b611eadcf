import { z } from 'zod';
import { decodeBase64url } from '../../src/encoding/base64url.js';
import { type ErrorCode, PairlinkError } from '../../src/errors.js';

/**
 * Schemas for everything the relay answers (docs/RELAY.md). The relay is untrusted: an answer
 * that does not match exactly is a RELAY_PROTOCOL error, never a cast that lets a NaN expiry or a
 * missing field into a machine's state.
 */

/** Unix milliseconds: an integer within a century of now is all a relay may say. */
const millis = z.number().int().min(0).max(4_102_444_800_000);
const seq = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const b64 = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[A-Za-z0-9_-]*$/);
const id = z.string().regex(/^[A-Za-z0-9_-]{22}$/);
/** A relay message body is at most 16 KiB, i.e. 21,846 base64url characters. */
const MESSAGE_BODY = b64(21_846);

export const createdAnswer = z.strictObject({ expiresAt: millis });
export const postedAnswer = z.strictObject({ seq });
export const readAnswer = z.strictObject({
  messages: z.array(z.strictObject({ seq, body: MESSAGE_BODY })).max(64),
  expiresAt: millis,
});
export const deletedAnswer = z.strictObject({ deleted: z.literal(true) });
export const nameplateAnswer = z.strictObject({
  nameplate: z.string().regex(/^[0-9A-HJKMNP-TV-Z]{3,4}$/),
  expiresAt: millis,
});
/** GET /readyz: `storeSince` only from a store that a restart empties (a memory relay). */
export const readyAnswer = z.strictObject({
  status: z.string().max(64),
  store: z.enum(['memory', 'redis']),
  storeSince: millis.optional(),
});
export const claimAnswer = z.strictObject({ mailbox: id, writeCap: b64(22).length(22), expiresAt: millis });

/** WebSocket frames the relay sends (unknown ops are refused like malformed ones). */
export const socketFrame = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('watching'), mailbox: id, expiresAt: millis }),
  z.strictObject({ op: z.literal('message'), mailbox: id, seq, body: MESSAGE_BODY }),
  z.strictObject({ op: z.literal('posted'), ref: z.string().max(64), seq }),
  z.strictObject({ op: z.literal('created'), ref: z.string().max(64), expiresAt: millis }),
  z.strictObject({ op: z.literal('deleted'), ref: z.string().max(64) }),
  z.strictObject({ op: z.literal('writer_added'), ref: z.string().max(64), writers: count }),
  z.strictObject({ op: z.literal('writer_revoked'), ref: z.string().max(64), revoked: z.boolean() }),
  z.strictObject({ op: z.literal('writers_revoked'), ref: z.string().max(64), revoked: count }),
  z.strictObject({ op: z.literal('closed'), mailbox: id }),
  z.strictObject({
    op: z.literal('error'),
    error: z.string().max(64),
    mailbox: id.optional(),
    ref: z.string().max(64).optional(),
    /** Answers to create, delete and the writer ops: the HTTP status the same refusal has over HTTP. */
    status: z.number().int().min(400).max(599).optional(),
    retryAfter: z.number().min(0).max(3600).optional(),
  }),
]);
export type SocketFrame = z.infer<typeof socketFrame>;

/** Decodes `value` with `schema`, or throws RELAY_PROTOCOL naming what was expected. */
export function decodeAnswer<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new PairlinkError('RELAY_PROTOCOL', `the relay sent a malformed ${what} answer`);
  return parsed.data;
}

/** A 16-byte id or capability from an answer that has already passed its schema. */
export function decodeAnswerBytes(text: string): Uint8Array {
  return decodeBase64url(text, 16);
}

/**
 * The one table of relay refusals (docs/RELAY.md error strings), for HTTP answers and socket
 * error frames alike: the same refusal is the same code whichever transport carried it.
 */
const REFUSALS: Readonly<Record<string, ErrorCode>> = {
  not_found: 'INVITE_NOT_FOUND',
  crowded: 'CROWDED',
  full: 'MAILBOX_FULL',
  too_large: 'TOO_LARGE',
  rate_limited: 'RATE_LIMITED',
  too_many_mailboxes: 'RATE_LIMITED',
  unavailable: 'RELAY_BUSY',
  busy: 'RELAY_BUSY',
  // A post sent after another one (`after`) that the relay did not store: try both again.
  after_refused: 'RELAY_BUSY',
  // The relay does not take what we sent (another version, or not a pairlink relay).
  bad_request: 'RELAY_PROTOCOL',
  method_not_allowed: 'RELAY_PROTOCOL',
  unauthorized: 'RELAY_PROTOCOL',
  exists: 'RELAY_PROTOCOL',
};

/**
 * The error code of a relay's refusal: its error string when the table knows it, else its HTTP
 * status where there is one (404 gone, 413 too large, 429 rate limited, 5xx busy; any other,
 * 3xx redirects included, a protocol error). Neither is ever "unreachable": the relay answered.
 */
export function relayRefusalCode(relayError: string, status?: number): ErrorCode {
  const known = Object.hasOwn(REFUSALS, relayError) ? REFUSALS[relayError] : undefined;
  if (known) return known;
  if (status === 404) return 'INVITE_NOT_FOUND';
  if (status === 413) return 'TOO_LARGE';
  if (status === 429) return 'RATE_LIMITED';
  if (status !== undefined && status >= 500) return 'RELAY_BUSY';
  return 'RELAY_PROTOCOL';
}
