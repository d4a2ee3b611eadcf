/**
 * The relay's storage, one interface with two implementations: in memory (the embedded default)
 * and Redis (several relay instances behind a load balancer). Ids are base64url text; capability
 * *hashes* (SHA-256), never capabilities, are stored. Every record has an absolute expiry (Unix ms)
 * and is gone, to every caller, once it passes.
 */

/**
 * Claims of a nameplate that have not posted yet, kept per mailbox: strangers' claims replace each
 * other and never crowd out the real acceptor, who posts its hello at once after its claim.
 */
export const MAX_UNUSED_CLAIMS = 32;

export interface MailboxRecord {
  readonly readCapHash: string;
  readonly writeCapHashes: readonly string[];
  readonly expiresAt: number;
  readonly ownerIp: string;
}

export interface StoredMessage {
  readonly seq: number;
  /** base64url of the opaque message bytes. */
  readonly body: string;
}

/** Pushed to every subscriber, on every instance, when a message is stored or a mailbox goes away. */
export type MailboxEvent =
  | { readonly type: 'message'; readonly mailbox: string; readonly message: StoredMessage }
  | { readonly type: 'closed'; readonly mailbox: string };

export type AppendResult =
  | { readonly ok: true; readonly seq: number }
  | { readonly ok: false; readonly reason: 'not_found' | 'full' | 'crowded' };

export type ClaimResult =
  | { readonly ok: true; readonly mailbox: string; readonly expiresAt: number }
  | { readonly ok: false; readonly reason: 'not_found' | 'crowded' };

export interface RelayStore {
  readonly kind: 'memory' | 'redis';
  /**
   * Unix ms from which this store holds every mailbox created at the relay: a memory store's start,
   * since a restart loses every mailbox; undefined for Redis, which outlives relay restarts.
   */
  readonly holdsSince: number | undefined;
  /** Creates a mailbox unless the id exists; counts it against `ownerIp`. */
  createMailbox(id: string, record: MailboxRecord): Promise<'created' | 'exists'>;
  getMailbox(id: string): Promise<MailboxRecord | null>;
  /**
   * Appends a message if `writeCapHash` is one of the mailbox's write-capability hashes (else
   * `not_found`, like an unknown mailbox), up to `maxMessages`, and publishes it to subscribers.
   * A claim's capability counts against the nameplate's claim limit here, at its first post
   * (`crowded` when the limit is reached), never at the claim itself. Checking and appending in
   * one call makes a post one round trip to Redis.
   */
  appendMessage(id: string, writeCapHash: string, body: string, maxMessages: number): Promise<AppendResult>;
  readMessages(id: string, afterSeq: number): Promise<StoredMessage[] | null>;
  /**
   * Deletes a mailbox, its messages and its nameplate; publishes `closed`. Its id stays taken
   * (a tombstone, counted by `mailboxCount`) until the mailbox would have expired.
   */
  deleteMailbox(id: string): Promise<boolean>;
  /** Live mailboxes owned by `ip`. */
  countMailboxes(ip: string): Promise<number>;
  /** Binds a fresh nameplate (3 symbols, 4 when crowded) to a mailbox; null if none is free. */
  createNameplate(mailbox: string, maxClaims: number, expiresAt: number): Promise<string | null>;
  /**
   * One claim: the mailbox behind the nameplate. `writeCapHash` joins the mailbox's unused claims
   * (at most MAX_UNUSED_CLAIMS, the oldest dropped); crowded only once `maxClaims` claims have posted.
   */
  claimNameplate(nameplate: string, writeCapHash: string): Promise<ClaimResult>;
  /** Receives every event; returns an unsubscribe function. */
  subscribe(listener: (event: MailboxEvent) => void): () => void;
  /** Live mailboxes plus tombstones of deleted ones (for metrics and the global cap). */
  mailboxCount(): Promise<number>;
  /** True when the backend answers (for /readyz). */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
