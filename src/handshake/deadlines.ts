import { SESSION_GRACE_SECONDS } from '../invite/invite-policy.js';

/**
 * Every wait in the handshake has a deadline, all derived from the invite's expiry E
 * (docs/PROTOCOL.md §6.6):
 *
 *   hello accepted            until E
 *   issuer pins (complete)    until E + grace
 *   acceptor waits            until E + grace + ACK_WINDOW   (then TIMEOUT, a sealed abort)
 *   issuer waits for the ack  until E + grace + 2·ACK_WINDOW (then the pin stays "unconfirmed")
 *
 * The acceptor's window ends one ACK_WINDOW after the last moment the issuer may pin, so a
 * welcome posted in time has that long to arrive; the issuer waits one window more for the ack.
 */
export const ACK_WINDOW_SECONDS = 120;

/** An issuer session that has heard nothing since its hello for this long is ended (TIMEOUT). */
export const ISSUER_SESSION_TIMEOUT_SECONDS = 120;

/**
 * When all of an invite's session slots are taken, a new hello evicts the oldest session still
 * waiting for its confirm, provided it has waited at least this long: a stranger holding a leaked
 * link cannot park hellos to lock the invite, and a live acceptor (a few relay hops) is never
 * evicted by one.
 */
export const EVICTABLE_AFTER_SECONDS = 10;

/** Resend and retry delays: 2, 4, 8, then every 16 seconds. */
export function retryDelaySeconds(attempt: number): number {
  return Math.min(16, 2 * 2 ** Math.max(0, attempt));
}

/** The last moment the issuer may complete a session (pin) for an invite expiring at `expiresAt`. */
export function completeBy(expiresAt: number): number {
  return expiresAt + SESSION_GRACE_SECONDS;
}

/** When an acceptor that has not been welcomed gives up. */
export function acceptorDeadline(expiresAt: number): number {
  return completeBy(expiresAt) + ACK_WINDOW_SECONDS;
}

/** When an issuer stops waiting for acks; its mailbox at the relay lives until then. */
export function ackDeadline(expiresAt: number): number {
  return completeBy(expiresAt) + 2 * ACK_WINDOW_SECONDS;
}

/** How long the relay must keep an invite's mailbox for an invite of `ttlSeconds`. */
export function inviteMailboxTtl(ttlSeconds: number): number {
  return ttlSeconds + SESSION_GRACE_SECONDS + 2 * ACK_WINDOW_SECONDS;
}

/** The invite expiry a code's acceptor infers from the mailbox expiry the relay reports. */
export function inviteExpiryFromMailbox(mailboxExpiresAt: number): number {
  return mailboxExpiresAt - SESSION_GRACE_SECONDS - 2 * ACK_WINDOW_SECONDS;
}
