/**
 * The agent's JSON-RPC 2.0 contract, shared by the agent, the CLI, the bots and scripts. Types only
 * plus method names, so clients pay nothing at start-up for importing it; the agent validates
 * params with the schemas in `schemas.ts`. Extend, never rename: scripts depend on these names.
 */
import type { ErrorCode } from '../errors.js';
import type { ProgressStatus } from '../handshake/effects.js';
import type { IssuerSessionPhase } from '../handshake/issuer.js';
import type { InviteFormat, InviteMode } from '../invite/invite-policy.js';

export const PROTOCOL_VERSION = 1;

/** Times are ISO 8601 strings in UTC throughout the RPC interface. */
export type IsoTime = string;

export interface AgentInfo {
  readonly version: string;
  readonly protocolVersion: number;
  readonly did: string;
  readonly name: string;
  readonly relayUrl: string;
  readonly keystore: 'keychain' | 'file';
  readonly startedAt: IsoTime;
  readonly relayConnected: boolean;
  /** Mailboxes watched at the relay (one per pending invite and accept) and the sockets carrying them. */
  readonly relayWatches: number;
  readonly relaySockets: number;
  readonly pendingInvites: number;
  readonly peers: number;
}

export interface IdentityInfo {
  readonly did: string;
  readonly name: string;
  readonly fingerprint: string;
  readonly relayUrl: string;
  /** base64url of the signed card, for out-of-band pinning. */
  readonly card: string;
}

export interface InviteCreateParams {
  readonly ttlSeconds?: number;
  readonly uses?: number;
  readonly format?: InviteFormat;
  readonly mode?: InviteMode;
  readonly label?: string;
  readonly requireSas?: boolean;
  /** Who is minting it, for the history (`pairlink log`): "who let this peer in?" */
  readonly creator?: InviteCreator;
}

export interface InviteCreated {
  readonly id: string;
  readonly format: InviteFormat;
  readonly mode: InviteMode;
  /** The web form `https://<relay>/i#…` (URL invites). */
  readonly url?: string;
  /** The custom-scheme form `pairlink://invite/…` (URL invites). */
  readonly customUrl?: string;
  /** `XXXX-XXXX-XXXX` (code invites). */
  readonly code?: string;
  readonly expiresAt: IsoTime;
  readonly usesLeft: number;
  readonly requireSas: boolean;
}

export type InviteStatusName = 'pending' | 'used' | 'expired' | 'cancelled' | 'failed';

export interface SessionSummary {
  readonly sessionId: string;
  readonly status: IssuerSessionPhase;
  readonly sas?: { readonly digits: string; readonly emoji: string };
  readonly peer?: PeerRef;
  readonly error?: ErrorCode;
}

export interface InviteSummary extends InviteCreated {
  readonly status: InviteStatusName;
  readonly label?: string;
  readonly createdAt: IsoTime;
  readonly sessions: readonly SessionSummary[];
  /**
   * Code invites: sessions that ended without proving the code (wrong code, silence, eviction),
   * each one online guess by someone; at 3 the invite burns (docs/SECURITY.md §Short codes).
   */
  readonly failedAttempts?: number;
}

export interface InviteAcceptParams {
  readonly invite: string;
  readonly requireSas?: boolean;
  /** How long to wait for completion before answering `pending` (default 30, max 600). */
  readonly waitSeconds?: number;
}

export interface PeerRef {
  readonly did: string;
  readonly name: string;
}

export interface InviteAcceptResult {
  readonly status: 'paired' | 'pending';
  /** Local id of this accept, for `invite.progress` and `accept.confirmSas`. */
  readonly acceptId: string;
  readonly peer?: PeerRef;
  readonly sas?: { readonly digits: string; readonly emoji: string };
}

export interface PeerInfo extends PeerRef {
  readonly fingerprint: string;
  readonly pairedAt: IsoTime;
  readonly relayUrl: string;
  readonly relation: InviteMode;
  /**
   * False while this agent (as issuer) has not heard the acceptor's acknowledgement, and for good
   * if it never did: the peer may not hold the pin (docs/PROTOCOL.md §6.2).
   */
  readonly confirmed: boolean;
}

/** `invite.progress` notification params. */
export interface InviteProgress {
  /** The invite id (issuer side) or accept id (acceptor side). */
  readonly id: string;
  readonly role: 'issuer' | 'acceptor';
  readonly status: 'published' | ProgressStatus;
  readonly sessionId?: string;
  readonly peer?: PeerRef;
  readonly sas?: { readonly digits: string; readonly emoji: string };
  readonly error?: { readonly code: ErrorCode; readonly message: string };
  readonly at: IsoTime;
}

/** Every method: params and result types. */
export interface RpcMethods {
  'agent.info': { params: Record<string, never>; result: AgentInfo };
  'agent.methods': {
    params: Record<string, never>;
    result: readonly { name: string; description: string }[];
  };
  'identity.get': { params: Record<string, never>; result: IdentityInfo };
  'invite.create': { params: InviteCreateParams; result: InviteCreated };
  'invite.get': { params: { id: string }; result: InviteSummary };
  'invite.list': { params: { all?: boolean }; result: readonly InviteSummary[] };
  'invite.cancel': { params: { id: string }; result: InviteSummary };
  'invite.confirmSas': { params: { id: string; sessionId: string; match: boolean }; result: InviteSummary };
  'invite.accept': { params: InviteAcceptParams; result: InviteAcceptResult };
  'accept.confirmSas': { params: { acceptId: string; match: boolean }; result: InviteAcceptResult };
  'accept.get': { params: { acceptId: string; waitSeconds?: number }; result: InviteAcceptResult };
  'history.list': { params: { since?: IsoTime; limit?: number }; result: readonly AuditEntry[] };
  'peer.list': { params: Record<string, never>; result: readonly PeerInfo[] };
  'peer.get': { params: { did: string }; result: PeerInfo };
  'peer.remove': { params: { did: string }; result: { removed: boolean } };
  'events.subscribe': { params: Record<string, never>; result: { subscribed: true } };
  'events.unsubscribe': { params: Record<string, never>; result: { subscribed: false } };
}

export type RpcMethodName = keyof RpcMethods;

/** One line per method, for `agent.methods` and `pairlink rpc --help`. */
export const METHOD_DESCRIPTIONS: Readonly<Record<RpcMethodName, string>> = {
  'agent.info': 'Agent version, identity, relay and keystore status.',
  'agent.methods': 'This list.',
  'identity.get': 'This agent’s did, name, fingerprint and signed card.',
  'invite.create': 'Mint an invite (URL or short code, peer or device mode).',
  'invite.get': 'One invite with its sessions and SAS.',
  'invite.list': 'Pending invites (all: true includes finished ones).',
  'invite.cancel': 'Cancel an invite at once; in-flight acceptors are told.',
  'invite.confirmSas': 'Issuer side: confirm (match: true) or reject the SAS of one session.',
  'invite.accept': 'Accept an invite URL or code; waits up to waitSeconds, then answers pending.',
  'accept.confirmSas': 'Acceptor side: confirm or reject the SAS of a pending accept.',
  'accept.get': 'One accept by id; waits up to waitSeconds (default 0) while it is pending.',
  'history.list':
    'What happened (minted by whom, paired with whom, failed, cancelled, expired, unpaired), oldest first.',
  'peer.list': 'Pinned peers and devices.',
  'peer.get': 'One pinned peer.',
  'peer.remove': 'Unpin a peer.',
  'events.subscribe': 'Receive invite.progress notifications on this connection.',
  'events.unsubscribe': 'Stop receiving notifications on this connection.',
};

export const PROGRESS_NOTIFICATION = 'invite.progress';
/** Sent (after `events.subscribe`) when the operator unpairs a peer. */
export const PEER_REMOVED_NOTIFICATION = 'peer.removed';

/** Who minted an invite, as the caller says (the CLI, a script, or a bot for a chat user). */
export interface InviteCreator {
  readonly kind: 'cli' | 'script' | 'bot';
  /** The local user, or the chat user (id and name). */
  readonly user?: string;
  readonly chat?: 'discord' | 'matrix';
  /** The chat channel or room. */
  readonly channel?: string;
}

/** One entry of the agent's history (`history.list`, `pairlink log`). */
export interface AuditEntry {
  readonly at: IsoTime;
  readonly event: 'minted' | 'paired' | 'unconfirmed' | 'failed' | 'cancelled' | 'expired' | 'unpaired';
  readonly role?: 'issuer' | 'acceptor';
  readonly invite?: string;
  readonly accept?: string;
  /** For an invite's events: who minted it. */
  readonly by?: InviteCreator;
  readonly peer?: PeerRef;
  readonly code?: ErrorCode;
  readonly format?: 'url' | 'code';
  readonly uses?: number;
}

/** `peer.removed` notification params. */
export interface PeerRemoved {
  readonly did: string;
  readonly name: string;
  readonly at: IsoTime;
}
