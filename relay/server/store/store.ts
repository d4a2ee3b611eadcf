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
  /** A handshake mailbox's write capabilities, or an inbox's first writers. */
  readonly writeCapHashes: readonly string[];
  readonly expiresAt: number;
  readonly ownerIp: string;
  /** A long-lived inbox: writers added and revoked by its owner, a bounded queue per writer. */
  readonly inbox: boolean;
}

/** What the relay needs to authorize its owner: never the (possibly 16,384) write capabilities. */
export interface MailboxInfo {
  readonly readCapHash: string;
  readonly expiresAt: number;
  readonly inbox: boolean;
}

/** How many messages a post may find pending before it is refused `full`. */
export interface MessageBounds {
  /** A handshake mailbox's messages. */
  readonly perMailbox: number;
  /** An inbox's messages, all writers together. */
  readonly perInbox: number;
  /** An inbox's messages from the one writer posting. */
  readonly perWriter: number;
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
  | { readonly ok: true; readonly seq: number; readonly inbox: boolean }
  | { readonly ok: false; readonly reason: 'not_found' | 'full' | 'crowded' };

export type AddWriterResult =
  | { readonly ok: true; readonly writers: number }
  | { readonly ok: false; readonly reason: 'not_found' | 'too_many_writers' };

/** Live inboxes and their writers, all together (the gauges). */
export interface InboxStats {
  readonly inboxes: number;
  readonly writers: number;
}

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
  getMailbox(id: string): Promise<MailboxInfo | null>;
  /**
   * Appends a message if `writeCapHash` is one of the mailbox's write-capability hashes (else
   * `not_found`, like an unknown mailbox), within `bounds` (else `full`), and publishes it to
   * subscribers. A claim's capability counts against the nameplate's claim limit here, at its
   * first post (`crowded` when the limit is reached), never at the claim itself. Checking and
   * appending in one call makes a post one round trip to Redis.
   */
  appendMessage(id: string, writeCapHash: string, body: string, bounds: MessageBounds): Promise<AppendResult>;
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
  /**
   * Moves a live inbox's expiry to `expiresAt` if that is later (a renewal never shortens it):
   * its new expiry, or null when there is no such inbox.
   */
  renewInbox(id: string, expiresAt: number): Promise<number | null>;
  /** Lets `writeCapHash` post to a live inbox (again: no change), up to `maxWriters` writers. */
  addWriter(id: string, writeCapHash: string, maxWriters: number): Promise<AddWriterResult>;
  /**
   * Takes a writer's right to post away (its pending messages stay until trimmed): whether it
   * had it, or null when there is no such inbox.
   */
  revokeWriter(id: string, writeCapHash: string): Promise<boolean | null>;
  /**
   * Drops an inbox's messages up to and including `throughSeq` (its owner has read them), which
   * frees their writers' room: how many went, or null when there is no such inbox.
   */
  trimInbox(id: string, throughSeq: number): Promise<number | null>;
  inboxStats(): Promise<InboxStats>;
  /** Receives every event; returns an unsubscribe function. */
  subscribe(listener: (event: MailboxEvent) => void): () => void;
  /** Live mailboxes plus tombstones of deleted ones (for metrics and the global cap). */
  mailboxCount(): Promise<number>;
  /** True when the backend answers (for /readyz). */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
