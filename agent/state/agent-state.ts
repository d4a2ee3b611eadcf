import type { AcceptorState } from '../../src/handshake/acceptor.js';
import type { IssuerState } from '../../src/handshake/issuer.js';
import type { Sas } from '../../src/handshake/sas.js';
import type { InviteFormat, InviteMode } from '../../src/invite/invite-policy.js';
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
  /** Where the audit log's hash chain starts and ends (absent in states from before the chain). */
  readonly audit?: AuditAnchor;
}
