import type { AcceptorState } from '../../src/handshake/acceptor.js';
import type { IssuerState } from '../../src/handshake/issuer.js';
import type { Sas } from '../../src/handshake/sas.js';
import type { InviteFormat, InviteMode } from '../../src/invite/invite-policy.js';
import type { Inbox } from '../../src/notice/inbox.js';
import type { RotationReason } from '../../src/notice/notice-body.js';
import type { InviteCreator } from '../../src/rpc/protocol.js';
import type { AuditAnchor } from '../audit-chain.js';

export const STATE_VERSION = 1;

/** A pinned peer (or, with relation "device", another device of this identity). */
export interface PeerRecord {
  readonly did: string;
  readonly name: string;
  /** The peer's signed card, as verified during pairing. */
  readonly card: Uint8Array;
  readonly pairedAt: string;
  readonly relayUrl: string;
  readonly relation: InviteMode;
  /**
   * False while the issuer waits for the acceptor's ack (and for good if it never comes): the
   * acceptor may not hold the pin. Absent in records from before acks existed: confirmed.
   */
  readonly confirmed?: boolean;
  /** The session (hex id) whose pin this is, so only that session's withdrawal removes it. */
  readonly session?: string;
  /** The peer's inbox (PROTOCOL.md §11.1); absent: a peer without notices (its unpair is one-sided). */
  readonly inbox?: Inbox;
  /** The peer's commitment to its next signing key (§11.6), handed with its inbox. */
  readonly nextKeyCommitment?: Uint8Array;
  /** The write capability to our inbox that we handed this peer (revoked at our relay to cut it off). */
  readonly handedWriteCapability?: Uint8Array;
  /** False until our relay holds `handedWriteCapability` as a writer of our inbox (agent-inbox.ts). */
  readonly writerAdded?: boolean;
  /**
   * Capabilities to our inbox that earlier pairings handed this peer, writers still: as issuer of
   * a pairing again we cannot know which one the peer holds until its ack confirms the pin (it may
   * give up before the welcome, keeping its old pin); revoked then (agent/pins.ts).
   */
  readonly handedBefore?: readonly Uint8Array[];
  /** The counter of the last notice applied from this peer (§11.4); absent: 0. */
  readonly lastCounter?: number;
  /** The counter our next counted notice to this peer takes (§11.4); absent: 1. */
  readonly nextCounter?: number;
  /** When we last heard a notice or a receipt from this peer (ISO time); absent: never since pairing. */
  readonly lastContact?: string;
}

/**
 * A notice on its way to a peer (agent/notice-outbox.ts), kept sealed and signed as first made so
 * that every retry, after a restart too, reposts the same bytes. It lives apart from the peer's
 * record: an unpair notice outlives the pin it ends.
 */
export interface OutgoingNotice {
  /** The receiver (the peer's did). */
  readonly did: string;
  /** The peer's name, for the log and the audit (the peer may be gone: an unpair). */
  readonly name: string;
  readonly kind: 'unpair' | 'ping' | 'inboxMoved' | 'rotate';
  readonly counter: number;
  /** The receiver's signing key: its receipt is believed by it even once the pin is gone (an unpair). */
  readonly peerKey: Uint8Array;
  /**
   * An unpair's: the write capability to our inbox we handed the peer, revoked at our relay once
   * the notice is answered or given up (revoked sooner, the peer's receipt could not reach us).
   */
  readonly revokeAfter?: Uint8Array;
  /**
   * `revokeAfter` was never added as a writer at our relay (the pin's writer was still owed when
   * it was unpaired): the inbox's pass adds it, so the peer's receipt can reach us.
   */
  readonly writerOwed?: true;
  /** Where it goes: the peer's inbox as the peer handed it. */
  readonly inbox: Inbox;
  /** The sealed notice (§11.2), posted as is each time. */
  readonly bytes: Uint8Array;
  /** Unix seconds: given up after (its expiresAt). */
  readonly expiresAt: number;
  /** Posts tried so far (the backoff's step). */
  readonly attempts: number;
  /** Unix seconds: not posted again before. */
  readonly nextAttemptAt: number;
}

/**
 * The notice counters of a peer no longer pinned (PROTOCOL.md §11.4, "A new pairing of the same
 * two identities"): a later pairing with it goes on from them, so a notice of the earlier pairing
 * that a relay kept and replays is a duplicate, not an unpair of the new one.
 */
export interface FormerCounters {
  readonly did: string;
  readonly lastCounter: number;
  readonly nextCounter: number;
}

/** This agent's inbox on its home relay (docs/RELAY.md, Inboxes): where its peers post notices. */
export interface InboxRecord {
  /** The relay (canonical URL) it lives on: the home relay when it was made. */
  readonly relayUrl: string;
  readonly mailboxId: Uint8Array;
  /** The owner's credential: reads, renews, adds and revokes writers. */
  readonly readCapability: Uint8Array;
  /** When the relay lets it lapse unless renewed (Unix seconds). */
  readonly expiresAt: number;
  /** Every message up to this seq has been read and acted on: a restart watches from after it. */
  readonly readThrough?: number;
  /** The seq the relay has trimmed through (agent-inbox.ts trims in batches up to readThrough). */
  readonly trimmedThrough?: number;
  /** Write capabilities of peers we unpaired (or that unpaired us), still to revoke at our relay. */
  readonly revoking?: readonly Uint8Array[];
  /**
   * Peers whose unpair we applied, each as its pin was (`lastCounter` its unpair's), kept until
   * that notice expires so that its retry (our receipt was lost) is receipted again; its write
   * capability is revoked then (agent/notice-reader.ts, PROTOCOL.md §11.8).
   */
  readonly unpairedBy?: readonly { readonly peer: PeerRecord; readonly until: number }[];
  /**
   * The relay lost the inbox and it is being made again: every writer is owed again. On disk
   * before the relay has it again, so an agent that crashes meanwhile makes it again with its
   * writers at its next start rather than finding it there without them.
   */
  readonly writersOwed?: true;
}

/** An invite this agent issued, with its machine state. */
export interface InviteRecord {
  readonly id: string;
  readonly format: InviteFormat;
  readonly mode: InviteMode;
  readonly label?: string;
  readonly createdAt: string;
  /** Who minted it (as its caller said), for the history. */
  readonly creator?: InviteCreator;
  readonly url?: string;
  readonly customUrl?: string;
  readonly code?: string;
  /** Read capability of the invite's relay mailbox (only this agent holds it). */
  readonly readCapability: Uint8Array;
  /** URL invites: the mailbox's write capability, to re-create the mailbox if the relay loses it. */
  readonly writeCapability?: Uint8Array;
  /** Last relay sequence number processed, to resume after a restart. */
  readonly afterSeq: number;
  readonly issuer: IssuerState;
  /** The relay it was minted on (absent in records from before the pool: the agent's relay). */
  readonly relayUrl?: string;
  /** SAS per session (hex session id). */
  readonly sas: Readonly<Record<string, Sas>>;
}

/** An accept in progress or finished, with its machine state. */
export interface AcceptRecord {
  readonly id: string;
  readonly createdAt: string;
  readonly afterSeq: number;
  /**
   * The relay the whole session runs on: a link's own relay, or the one a code was claimed on
   * (absent in records from before the pool: a link's relay, else the agent's).
   */
  readonly relayUrl?: string;
  readonly acceptor: AcceptorState;
  readonly sas?: Sas;
}

/** Finished invites and accepts (the most recent of each), kept for `invites --all` and late lookups. */
export interface AgentHistory {
  readonly invites: readonly InviteRecord[];
  readonly accepts: readonly AcceptRecord[];
}

/** Everything the agent persists (sealed under the state key; see state-log.ts). */
export interface AgentState {
  readonly version: typeof STATE_VERSION;
  readonly name: string;
  /** When this identity's card was first issued (seconds). */
  readonly createdAt: number;
  readonly peers: readonly PeerRecord[];
  /** Invites still pending; finished ones move to the history. */
  readonly invites: readonly InviteRecord[];
  /** Accepts still in flight; finished ones move to the history. */
  readonly accepts: readonly AcceptRecord[];
  /** This agent's inbox; absent before it was made, or while the home relay keeps none. */
  readonly inbox?: InboxRecord;
  /** Notices on their way to peers, oldest first (absent: none). */
  readonly outbox?: readonly OutgoingNotice[];
  /** The counters of peers unpaired, the most recent last (at most MAX_FORMER_COUNTERS). */
  readonly formerCounters?: readonly FormerCounters[];
  /** Where the audit log's hash chain starts and ends (absent in states from before the chain). */
  readonly audit?: AuditAnchor;
  /** Keys retired by rotations, newest last (agent/peer-rotation.ts): refused in notices and pairings. */
  readonly retiredKeys?: readonly RetiredKey[];
  /** This identity's own rotations, newest last (agent/own-rotation.ts). */
  readonly rotations?: readonly OwnRotationRecord[];
  /** The device record (its did) a device revocation removes once its rotation's state step runs. */
  readonly revokingDevice?: string;
}

/** A key a rotation retired (agent/peer-rotation.ts): refused as a notice sender and in a pairing. */
export interface RetiredKey {
  /** The retired key's did. */
  readonly did: string;
  /** The did that replaced it (the peer's, when it rotated; ours, for our own old key). */
  readonly by: string;
  readonly reason: RotationReason;
  /** ISO time it was retired. */
  readonly at: string;
}

/** One rotation of this identity (agent/own-rotation.ts). */
export interface OwnRotationRecord {
  readonly from: string;
  readonly to: string;
  readonly reason: RotationReason;
  /** ISO time. */
  readonly at: string;
  /** A device revocation's device (its name). */
  readonly revokedDevice?: string;
}
