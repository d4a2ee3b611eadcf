import type { ErrorCode, PairlinkError } from '../src/errors.js';

/** What the agent hears from the relay. */
export interface RelayTransportHandlers {
  /** A message in a watched mailbox, in sequence order, each once. */
  onMessage(mailbox: string, seq: number, body: Uint8Array): void;
  /** The relay refused a watch for good: the mailbox is gone or the capability is refused. */
  onMailboxGone(mailbox: string): void;
  onConnectionChange(connected: boolean): void;
  /** Talking to the relay failed (unreachable, untrusted certificate, garbage), named in the error. */
  onTrouble?(error: PairlinkError): void;
}

/**
 * The agent's view of the relay: the mailbox operations it performs and the mailboxes it watches.
 * Every operation has a deadline and every failure is a PairlinkError with a stable code; the
 * production implementation is `RelayConnection` (relay/client/relay-connection.ts), which the
 * agent's root (cli/agent-runtime.ts) hands in through a factory; tests pass fakes. The relay
 * client does not import this port: it matches it by shape, so no import runs back up.
 */
export interface RelayTransport {
  /** Resolves once the mailbox exists, also when an earlier attempt of ours made it (ids are random). */
  createMailbox(
    mailboxId: Uint8Array,
    readCap: Uint8Array,
    writeCap: Uint8Array | null,
    ttlSeconds: number,
  ): Promise<void>;
  createNameplate(
    mailboxId: Uint8Array,
    readCap: Uint8Array,
    maxClaims: number,
  ): Promise<{ nameplate: string; expiresAt: number }>;
  claimNameplate(
    nameplate: string,
  ): Promise<{ mailboxId: Uint8Array; writeCap: Uint8Array; expiresAt: number }>;
  post(mailboxId: Uint8Array, writeCap: Uint8Array, body: Uint8Array): Promise<void>;
  /**
   * Posts `bodies` to one mailbox, each stored only after the one before it, and never when that
   * one was refused: one promise per body, and once one fails, every one after it fails too. Sent
   * together where the relay keeps that order (docs/RELAY.md, `post_after`), else one by one.
   */
  postInOrder(mailboxId: Uint8Array, writeCap: Uint8Array, bodies: readonly Uint8Array[]): Promise<void>[];
  deleteMailbox(mailboxId: Uint8Array, readCap: Uint8Array): Promise<void>;
  /**
   * Unix ms from which the relay holds every mailbox, when it says: a memory relay's start (it
   * lost every mailbox then); undefined for a durable store, an older relay or a fake. In ms, not
   * seconds: a relay that restarted in the same second as the agent started did so after it.
   */
  storeSince?(): Promise<number | undefined>;
  /**
   * Creates this agent's inbox (docs/RELAY.md, Inboxes) living `ttlSeconds`: its expiry (Unix ms),
   * also when an earlier attempt of ours made it; null when the relay keeps no inboxes (an older
   * relay answers the create 400).
   */
  createInbox(mailboxId: Uint8Array, readCap: Uint8Array, ttlSeconds: number): Promise<number | null>;
  /** Keeps the inbox `ttlSeconds` from now: its expiry (Unix ms). INVITE_NOT_FOUND: the relay lost it. */
  renewInbox(mailboxId: Uint8Array, readCap: Uint8Array, ttlSeconds: number): Promise<number>;
  /** Lets the holder of `writeCap` (one peer) post to the inbox; adding one already there changes nothing. */
  addInboxWriter(mailboxId: Uint8Array, readCap: Uint8Array, writeCap: Uint8Array): Promise<void>;
  /**
   * Takes peers' rights to post away (their later posts are a stranger's), all of `writeCaps` in
   * one relay op per 64 where the relay can; a repeated revoke is harmless.
   */
  revokeInboxWriter(
    mailboxId: Uint8Array,
    readCap: Uint8Array,
    writeCaps: readonly Uint8Array[],
  ): Promise<void>;
  /** Drops the inbox's messages up to and including `throughSeq` (read already): each writer gets its share back. */
  trimInbox(mailboxId: Uint8Array, readCap: Uint8Array, throughSeq: number): Promise<void>;
  /** Watches a mailbox from after `afterSeq`, across reconnects, until unwatched or gone. */
  watch(mailboxId: Uint8Array, readCap: Uint8Array, afterSeq: number): void;
  unwatch(mailboxId: Uint8Array): void;
  /** Reads a watched mailbox again from the last message delivered (a push may have been lost). */
  resync(mailboxId: Uint8Array): void;
  readonly connected: boolean;
  /** When the relay last answered as a relay does (Unix ms); null: never yet; absent: not known. */
  readonly answeredAt?: number | null;
  /** Watched mailboxes, and the sockets carrying them (for agent.info). */
  readonly watchCount: number;
  readonly socketCount: number;
  close(): void;
}

/** Opens the transport to one relay (the agent's root passes one in; the pool calls it per relay). */
export type RelayTransportFactory = (relayUrl: string, handlers: RelayTransportHandlers) => RelayTransport;

/** The agent's clock: seconds for the machines, and a repeating timer for the ticks. */
export interface AgentClock {
  /** Unix seconds. */
  now(): number;
  every(ms: number, run: () => void): () => void;
}

export const systemClock: AgentClock = {
  now: () => Math.floor(Date.now() / 1000),
  every(ms, run) {
    const timer = setInterval(run, ms);
    return () => clearInterval(timer);
  },
};

/** Relay failures worth another try later (the relay is away, busy or slow), as opposed to final answers. */
export function isTransientRelayFailure(code: ErrorCode): boolean {
  return (
    code === 'RELAY_UNREACHABLE' ||
    code === 'RATE_LIMITED' ||
    code === 'RELAY_PROTOCOL' ||
    code === 'RELAY_BUSY'
  );
}
