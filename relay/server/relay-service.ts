import { randomBytes } from 'node:crypto';
import { isNameplate } from '../../src/invite/short-code.js';
import { hashCapability, hashMatches, presentedHash } from '../wire/capabilities.js';
import type { RelayLimits } from './limits.js';
import type { RelayMetrics } from './metrics.js';
import type { MessageBounds, RelayStore, StoredMessage } from './store/store.js';
import { TokenBuckets } from './token-buckets.js';

export type RelayErrorCode =
  | 'not_found'
  | 'bad_request'
  | 'too_large'
  | 'rate_limited'
  | 'crowded'
  | 'exists'
  | 'full'
  | 'too_many_mailboxes'
  | 'too_many_writers'
  | 'unavailable';

/** An operation's outcome: a value, or an HTTP status with a stable error code. */
export type RelayResult<T> =
  | { readonly ok: true; readonly value: T }
  | {
      readonly ok: false;
      readonly status: number;
      readonly error: RelayErrorCode;
      readonly retryAfter?: number;
    };

const ID = /^[A-Za-z0-9_-]{22}$/; // 16 bytes, base64url
const HASH = /^[A-Za-z0-9_-]{43}$/; // 32 bytes, base64url

const fail = (status: number, error: RelayErrorCode, retryAfter?: number): RelayResult<never> =>
  retryAfter === undefined ? { ok: false, status, error } : { ok: false, status, error, retryAfter };
// Unknown, expired, deleted and wrong-capability all look exactly the same from outside.
const NOT_FOUND = fail(404, 'not_found');
/**
 * The most messages one read answers with (the client's schema takes no more): a handshake
 * mailbox never holds more, an inbox may, and its owner reads on from the last sequence number.
 */
const READ_PAGE = 64;

/**
 * A flat copy of an ASCII string that shares no memory with the string it came from: ids parsed
 * out of a request are slices that would keep the whole request text alive while a mailbox waits.
 */
export function copyString(text: string): string {
  return Buffer.from(text, 'latin1').toString('latin1');
}

export interface CreateMailboxRequest {
  readonly readCapHash: string;
  readonly writeCapHash?: string;
  readonly ttlSeconds: number;
  /** A long-lived inbox (docs/RELAY.md, Inboxes) rather than a handshake mailbox. */
  readonly inbox?: boolean;
}

/**
 * The relay's operations, shared by the HTTP and WebSocket front ends. It sees ids, capability
 * hashes and opaque bodies only, and it never logs any of them.
 */
export class RelayService {
  readonly mailboxBuckets: TokenBuckets;
  /** What a post may find pending: from the limits, made once, not on every post. */
  private readonly bounds: MessageBounds;

  constructor(
    readonly store: RelayStore,
    readonly limits: RelayLimits,
    readonly metrics: RelayMetrics,
    private readonly now: () => number = Date.now,
  ) {
    this.mailboxBuckets = new TokenBuckets(limits.mailboxRatePerSecond, limits.mailboxBurst, now);
    this.bounds = {
      perMailbox: limits.maxMessagesPerMailbox,
      perInbox: limits.maxMessagesPerInbox,
      perWriter: limits.maxPendingPerWriter,
    };
  }

  async createMailbox(
    ip: string,
    id: string,
    request: CreateMailboxRequest,
  ): Promise<RelayResult<{ expiresAt: number }>> {
    if (
      !ID.test(id) ||
      !HASH.test(request.readCapHash) ||
      (request.writeCapHash !== undefined && !HASH.test(request.writeCapHash))
    ) {
      return fail(400, 'bad_request');
    }
    const inbox = request.inbox === true;
    if (!this.validTtl(request.ttlSeconds, inbox)) return fail(400, 'bad_request');
    if ((await this.store.countMailboxes(ip)) >= this.limits.maxMailboxesPerIp) {
      this.metrics.reject('too_many_mailboxes');
      return fail(429, 'too_many_mailboxes', 60);
    }
    // The global cap bounds memory whatever the number of addresses an attacker holds.
    if ((await this.store.mailboxCount()) >= this.limits.maxMailboxes) {
      this.metrics.reject('mailbox_cap');
      return fail(503, 'unavailable', 60);
    }
    const expiresAt = this.now() + request.ttlSeconds * 1000;
    // Fresh copies: parsed strings are slices that would keep the whole request text alive
    // for as long as the mailbox waits.
    const created = await this.store.createMailbox(copyString(id), {
      readCapHash: copyString(request.readCapHash),
      writeCapHashes: request.writeCapHash ? [copyString(request.writeCapHash)] : [],
      expiresAt,
      ownerIp: ip,
      inbox,
    });
    if (created === 'exists') return fail(409, 'exists');
    return { ok: true, value: { expiresAt } };
  }

  private validTtl(ttlSeconds: number, inbox: boolean): boolean {
    const most = inbox ? this.limits.maxInboxTtlSeconds : this.limits.maxMailboxTtlSeconds;
    return Number.isInteger(ttlSeconds) && ttlSeconds >= 1 && ttlSeconds <= most;
  }

  async post(
    id: string,
    capability: string | undefined,
    body: string,
    bodyBytes: number,
  ): Promise<RelayResult<{ seq: number }>> {
    if (bodyBytes > this.limits.maxMessageBytes) return fail(413, 'too_large');
    if (!ID.test(id)) return NOT_FOUND;
    const hash = presentedHash(capability);
    if (hash === null) return NOT_FOUND;
    // Peek before, charge after: only authorized posts spend a mailbox's tokens, so a stranger
    // without the capability cannot rate-limit the real sender out. An inbox's bucket is per
    // writer (only its bucket is ever charged): one peer's flood spends no other peer's tokens.
    // Which kind the mailbox is shows only once the store has the post, so both are peeked.
    const mailboxBucket = `mb:${id}`;
    const writerBucket = `${mailboxBucket}/${hash}`;
    const wait = Math.max(this.mailboxBuckets.peek(mailboxBucket), this.mailboxBuckets.peek(writerBucket));
    if (wait > 0) {
      this.metrics.reject('mailbox_rate');
      return fail(429, 'rate_limited', wait);
    }
    const appended = await this.store.appendMessage(id, hash, body, this.bounds);
    if (!appended.ok) {
      if (appended.reason === 'crowded') this.metrics.reject('crowded');
      return appended.reason === 'not_found' ? NOT_FOUND : fail(409, appended.reason);
    }
    this.mailboxBuckets.take(appended.inbox ? writerBucket : mailboxBucket);
    this.metrics.messages.inc();
    return { ok: true, value: { seq: appended.seq } };
  }

  /** Checks a read capability; the mailbox's expiry when it matches. */
  async authorizeRead(
    id: string,
    capability: string | undefined,
  ): Promise<RelayResult<{ expiresAt: number; inbox: boolean }>> {
    if (!ID.test(id)) return NOT_FOUND;
    const record = await this.store.getMailbox(id);
    if (!record || !hashMatches(presentedHash(capability), [record.readCapHash])) return NOT_FOUND;
    return { ok: true, value: { expiresAt: record.expiresAt, inbox: record.inbox } };
  }

  async read(
    id: string,
    capability: string | undefined,
    afterSeq: number,
  ): Promise<RelayResult<{ messages: StoredMessage[]; expiresAt: number }>> {
    const authorized = await this.authorizeRead(id, capability);
    if (!authorized.ok) return authorized;
    const messages = await this.store.readMessages(id, afterSeq);
    if (messages === null) return NOT_FOUND;
    return {
      ok: true,
      value: { messages: messages.slice(0, READ_PAGE), expiresAt: authorized.value.expiresAt },
    };
  }

  async delete(id: string, capability: string | undefined): Promise<RelayResult<{ deleted: true }>> {
    const authorized = await this.authorizeRead(id, capability);
    if (!authorized.ok) return authorized;
    await this.store.deleteMailbox(id);
    return { ok: true, value: { deleted: true } };
  }

  async createNameplate(
    id: string,
    capability: string | undefined,
    maxClaims: number,
  ): Promise<RelayResult<{ nameplate: string; expiresAt: number }>> {
    if (!Number.isInteger(maxClaims) || maxClaims < 1 || maxClaims > this.limits.maxNameplateClaims)
      return fail(400, 'bad_request');
    const authorized = await this.authorizeRead(id, capability);
    if (!authorized.ok) return authorized;
    // An inbox's writers are its owner's to add: no claim makes one.
    if (authorized.value.inbox) return fail(400, 'bad_request');
    const nameplate = await this.store.createNameplate(id, maxClaims, authorized.value.expiresAt);
    if (nameplate === null) return fail(503, 'unavailable', 5);
    return { ok: true, value: { nameplate, expiresAt: authorized.value.expiresAt } };
  }

  /**
   * Claims a nameplate: a fresh write capability, valid for that one claimant, joins the
   * mailbox's unused claims. Only its hash is kept; the capability itself is in this one
   * response. A claim counts against the issuer's claim limit only when it first posts (the
   * CPace hello), so claims alone (a sweep, a stranger) cannot crowd out the real acceptor. There
   * is no per-nameplate rate limit either (a stranger could drain it); the per-address limit applies.
   */
  async claim(
    nameplate: string,
  ): Promise<RelayResult<{ mailbox: string; writeCap: string; expiresAt: number }>> {
    if (!isNameplate(nameplate)) return NOT_FOUND;
    const writeCap = randomBytes(16).toString('base64url');
    const claimed = await this.store.claimNameplate(nameplate, hashCapability(writeCap));
    if (!claimed.ok) {
      if (claimed.reason === 'crowded') this.metrics.reject('crowded');
      return claimed.reason === 'crowded' ? fail(409, 'crowded') : NOT_FOUND;
    }
    return { ok: true, value: { mailbox: claimed.mailbox, writeCap, expiresAt: claimed.expiresAt } };
  }

  /**
   * The owner's check for an inbox operation: its read capability (else `not_found`, as
   * everywhere), on a mailbox that is an inbox (else `bad_request`: the owner knows what it made).
   */
  private async authorizeInbox(id: string, capability: string | undefined): Promise<RelayResult<unknown>> {
    const authorized = await this.authorizeRead(id, capability);
    if (!authorized.ok) return authorized;
    return authorized.value.inbox ? authorized : fail(400, 'bad_request');
  }

  /** Keeps an inbox `ttlSeconds` longer from now (never shorter than it already is). */
  async renewInbox(
    id: string,
    capability: string | undefined,
    ttlSeconds: number,
  ): Promise<RelayResult<{ expiresAt: number }>> {
    if (!this.validTtl(ttlSeconds, true)) return fail(400, 'bad_request');
    const authorized = await this.authorizeInbox(id, capability);
    if (!authorized.ok) return authorized;
    const expiresAt = await this.store.renewInbox(id, this.now() + ttlSeconds * 1000);
    return expiresAt === null ? NOT_FOUND : { ok: true, value: { expiresAt } };
  }

  /** Lets one more capability (one peer's) post to an inbox: the inbox's writers, counted. */
  async addWriter(
    id: string,
    capability: string | undefined,
    writeCapHash: string,
  ): Promise<RelayResult<{ writers: number }>> {
    if (!HASH.test(writeCapHash)) return fail(400, 'bad_request');
    const authorized = await this.authorizeInbox(id, capability);
    if (!authorized.ok) return authorized;
    const added = await this.store.addWriter(id, copyString(writeCapHash), this.limits.maxWritersPerInbox);
    if (added.ok) return { ok: true, value: { writers: added.writers } };
    if (added.reason === 'not_found') return NOT_FOUND;
    this.metrics.reject('too_many_writers');
    return fail(409, 'too_many_writers');
  }

  /** Takes one capability's right to post away: from then on its posts are `not_found`. */
  async revokeWriter(
    id: string,
    capability: string | undefined,
    writeCapHash: string,
  ): Promise<RelayResult<{ revoked: boolean }>> {
    if (!HASH.test(writeCapHash)) return fail(400, 'bad_request');
    const authorized = await this.authorizeInbox(id, capability);
    if (!authorized.ok) return authorized;
    const revoked = await this.store.revokeWriter(id, writeCapHash);
    return revoked === null ? NOT_FOUND : { ok: true, value: { revoked } };
  }

  /** Drops what the owner has read, up to and including `throughSeq`: its writers get their room back. */
  async trimInbox(
    id: string,
    capability: string | undefined,
    throughSeq: number,
  ): Promise<RelayResult<{ trimmed: number }>> {
    if (!Number.isSafeInteger(throughSeq) || throughSeq < 0) return fail(400, 'bad_request');
    const authorized = await this.authorizeInbox(id, capability);
    if (!authorized.ok) return authorized;
    const trimmed = await this.store.trimInbox(id, throughSeq);
    return trimmed === null ? NOT_FOUND : { ok: true, value: { trimmed } };
  }
}
