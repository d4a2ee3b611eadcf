import { z } from 'zod';

/**
 * The wire of a relay's inboxes (docs/RELAY.md, Inboxes): the JSON bodies the relay takes for an
 * inbox's owner operations and the answers it gives. Both sides decode with these strict schemas:
 * an unknown key, a wrong type or a value out of range is refused, never cast. Size comes first:
 * the relay reads at most `maxJsonBytes` of a body before it parses anything.
 */

/** SHA-256 of a capability, base64url (43 characters). */
const capHash = z.string().regex(/^[A-Za-z0-9_-]{43}$/);
/** Unix milliseconds: an integer within a century of now is all a relay may say. */
const millis = z.number().int().min(0).max(4_102_444_800_000);
const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
/** Seconds of life asked for; the relay's own bound (maxInboxTtlSeconds) is checked after. */
const ttlSeconds = z
  .number()
  .int()
  .min(1)
  .max(2 ** 31 - 1);

/**
 * `PUT /v1/mailboxes/{id}`: the create body, an inbox's or a handshake mailbox's. Its hashes and
 * TTL are checked by the relay's service, as they were before inboxes (the same answers).
 */
export const createBody = z.strictObject({
  readCapHash: z.string(),
  writeCapHash: z.string().optional(),
  ttlSeconds: z.number(),
  inbox: z.boolean().optional(),
});
/** `POST /v1/mailboxes/{id}/renew`. */
export const renewBody = z.strictObject({ ttlSeconds });
/** `POST /v1/mailboxes/{id}/writers`. */
export const addWriterBody = z.strictObject({ writeCapHash: capHash });
/** `POST /v1/mailboxes/{id}/trim`: drops the messages up to and including `through`. */
export const trimBody = z.strictObject({ through: count });

export const renewedAnswer = z.strictObject({ expiresAt: millis });
export const writerAddedAnswer = z.strictObject({ writers: count });
export const writerRevokedAnswer = z.strictObject({ revoked: z.boolean() });
export const trimmedAnswer = z.strictObject({ trimmed: count });

/** Decodes a request body that has passed its size bound, or null when it is not exactly `schema`. */
export function decodeBody<T>(schema: z.ZodType<T>, value: unknown): T | null {
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : null;
}
