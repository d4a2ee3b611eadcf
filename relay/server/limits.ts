/** Every bound the relay enforces. Defaults suit a public relay on a small machine. */
export interface RelayLimits {
  /** Largest message body (a pairing frame is at most 4 KiB; this leaves room). */
  readonly maxMessageBytes: number;
  /** Largest JSON request body. */
  readonly maxJsonBytes: number;
  readonly maxMessagesPerMailbox: number;
  /** Longest mailbox life: the longest invite (7 days) plus the session grace. */
  readonly maxMailboxTtlSeconds: number;
  /** Live mailboxes one client address may own. */
  readonly maxMailboxesPerIp: number;
  /** Mailboxes (and tombstones of deleted ones) the whole relay holds at most. */
  readonly maxMailboxes: number;
  /** Token bucket per client address, over HTTP requests and WebSocket operations. */
  readonly ipRatePerSecond: number;
  readonly ipBurst: number;
  /** Token bucket per mailbox, over authorized posts. */
  readonly mailboxRatePerSecond: number;
  readonly mailboxBurst: number;
  /** Claims one nameplate admits at most (the issuer picks up to this). */
  readonly maxNameplateClaims: number;
  readonly maxWatchesPerSocket: number;
  readonly maxWebSocketPayloadBytes: number;
  /** Ping interval; a socket that misses one pong is closed. */
  readonly webSocketPingMs: number;
  readonly longPollMaxSeconds: number;
  readonly maxSockets: number;
  /** Open WebSockets one client address may hold (an agent shards its watches over a few). */
  readonly maxSocketsPerIp: number;
  /** Longest inbox life per create or renewal: notices are retried for 30 days, plus room. */
  readonly maxInboxTtlSeconds: number;
  /** Writers (one per peer) an inbox may have. */
  readonly maxWritersPerInbox: number;
  /** Messages one writer may have pending in an inbox (posted, not yet trimmed by its owner). */
  readonly maxPendingPerWriter: number;
  /** Messages an inbox holds at most, all writers together. */
  readonly maxMessagesPerInbox: number;
}

export const DEFAULT_LIMITS: RelayLimits = {
  maxMessageBytes: 16 * 1024,
  maxJsonBytes: 4 * 1024,
  maxMessagesPerMailbox: 64,
  maxMailboxTtlSeconds: 7 * 24 * 3600 + 600,
  maxMailboxesPerIp: 500,
  maxMailboxes: 100_000,
  ipRatePerSecond: 50,
  ipBurst: 200,
  mailboxRatePerSecond: 20,
  mailboxBurst: 40,
  maxNameplateClaims: 16,
  maxWatchesPerSocket: 256,
  maxWebSocketPayloadBytes: 32 * 1024,
  webSocketPingMs: 20_000,
  longPollMaxSeconds: 25,
  maxSockets: 50_000,
  maxSocketsPerIp: 256,
  maxInboxTtlSeconds: 45 * 24 * 3600,
  maxWritersPerInbox: 16_384,
  maxPendingPerWriter: 16,
  maxMessagesPerInbox: 1024,
};
