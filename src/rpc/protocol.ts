/**
 * The agent's JSON-RPC 2.0 contract, shared by the agent, the CLI, the bots and scripts. The types
 * are inferred from the schemas in `schemas.ts` (type-only imports: clients pay nothing at start-up
 * for them, and they cannot drift from what the agent validates); this file adds the method names,
 * descriptions and errors as plain data. Extend, never rename: scripts depend on these names.
 */
import type { z } from 'zod';
import type { ErrorCode } from '../errors.js';
import type * as S from './schemas.js';

export const PROTOCOL_VERSION = 1;

/** Times are ISO 8601 strings in UTC throughout the RPC interface. */
export type IsoTime = string;

export type AgentInfo = z.output<typeof S.AgentInfoSchema>;
export type IdentityInfo = z.output<typeof S.IdentityInfoSchema>;
export type InviteCreateParams = z.input<(typeof S.PARAM_SCHEMAS)['invite.create']>;
export type InviteCreator = z.output<typeof S.InviteCreatorSchema>;
export type InviteCreated = z.output<typeof S.InviteCreatedSchema>;
export type InviteStatusName = InviteSummary['status'];
export type SessionSummary = z.output<typeof S.SessionSummarySchema>;
export type InviteSummary = z.output<typeof S.InviteSummarySchema>;
export type InviteAcceptParams = z.input<(typeof S.PARAM_SCHEMAS)['invite.accept']>;
export type PeerRef = NonNullable<InviteAcceptResult['peer']>;
export type InviteAcceptResult = z.output<typeof S.InviteAcceptResultSchema>;
export type PeerInfo = z.output<typeof S.PeerInfoSchema>;
export type AuditEntry = z.output<typeof S.AuditEntrySchema>;
export type AuditIntegrity = z.output<typeof S.AuditIntegritySchema>;
/** `invite.progress` notification params. */
export type InviteProgress = z.output<typeof S.InviteProgressSchema>;
/** `peer.removed` notification params. */
export type PeerRemoved = z.output<typeof S.PeerRemovedSchema>;

/** Every method: params (what a caller may send) and result (what the agent answers). */
export type RpcMethods = {
  [M in RpcMethodName]: {
    params: z.input<(typeof S.PARAM_SCHEMAS)[M]>;
    result: z.output<(typeof S.RESULT_SCHEMAS)[M]>;
  };
};

export type RpcMethodName = keyof typeof METHOD_DESCRIPTIONS;

/** Every notification: its params. */
export type RpcNotifications = {
  [N in keyof typeof S.NOTIFICATION_SCHEMAS]: z.output<(typeof S.NOTIFICATION_SCHEMAS)[N]>;
};
export type RpcNotificationName = keyof RpcNotifications;

/** One line per method, for `agent.methods` and `pairlink rpc --help`. */
export const METHOD_DESCRIPTIONS = {
  'rpc.discover': 'This API as an OpenRPC 1.3 document: methods, params, results, errors, notifications.',
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
  'accept.get':
    'One accept by id; waits up to waitSeconds (default 0) while it is pending and not waiting for this side’s SAS.',
  'history.list':
    'What happened (minted by whom, paired with whom, failed, cancelled, expired, unpaired), oldest first.',
  'history.verify':
    'Whether the audit log is as the agent wrote it: its hash chain checked whole, and where it breaks.',
  'peer.list': 'Pinned peers and devices.',
  'peer.get': 'One pinned peer.',
  'peer.remove': 'Unpin a peer.',
  'events.subscribe': 'Receive invite.progress notifications on this connection.',
  'events.unsubscribe': 'Stop receiving notifications on this connection.',
} as const;

/** One line per notification. */
export const NOTIFICATION_DESCRIPTIONS: Readonly<Record<RpcNotificationName, string>> = {
  'invite.progress':
    'An invite or accept moved on (published, accepted, sas, sasShown, paired, unconfirmed, expired, cancelled, failed).',
  'peer.removed': 'The operator unpaired a peer.',
};

/** Errors any method can answer: bad params, an agent fault, a request over 1 MiB. */
export const COMMON_ERRORS: readonly ErrorCode[] = ['INVALID_PARAMS', 'TOO_LARGE', 'INTERNAL'];

const RELAY_ERRORS = ['RELAY_UNREACHABLE', 'RELAY_BUSY', 'RATE_LIMITED', 'TIMEOUT'] as const;

/**
 * The errors (by `error.data.code`) each method answers besides COMMON_ERRORS. A pairing's own
 * outcome (WRONG_CODE, SAS_REJECTED, …) reaches invite.accept callers as an error, and issuers as
 * invite.progress with status failed.
 */
export const METHOD_ERRORS: Readonly<Record<RpcMethodName, readonly ErrorCode[]>> = {
  'rpc.discover': [],
  'agent.info': [],
  'agent.methods': [],
  'identity.get': [],
  'invite.create': [...RELAY_ERRORS, 'MAILBOX_FULL', 'STATE_DAMAGED', 'DISK_FULL'],
  'invite.get': ['UNKNOWN_ID'],
  'invite.list': [],
  'invite.cancel': ['UNKNOWN_ID', 'INVITE_CANCELLED', 'INVITE_EXPIRED', 'INVITE_USED', 'DISK_FULL'],
  'invite.confirmSas': ['UNKNOWN_ID', 'PROTOCOL_ERROR', 'DISK_FULL'],
  'invite.accept': [
    'RELAY_REFUSED',
    'RELAY_LIMIT',
    'MALFORMED',
    'CODE_TYPO',
    'UNSUPPORTED_VERSION',
    'BAD_SIGNATURE',
    'INVITE_INVALID',
    'INVITE_EXPIRED',
    'INVITE_USED',
    'INVITE_CANCELLED',
    'INVITE_NOT_FOUND',
    'INVITE_BURNED',
    'WRONG_CODE',
    'CROWDED',
    'SAS_REQUIRED',
    'SAS_REJECTED',
    'SELF_PAIRING',
    'PEER_REMOVED',
    'PROTOCOL_ERROR',
    'RELAY_PROTOCOL',
    'RELAY_RESTARTED',
    'DISK_FULL',
    ...RELAY_ERRORS,
  ],
  'accept.confirmSas': [
    'UNKNOWN_ID',
    'INVITE_NOT_FOUND',
    'SAS_REJECTED',
    'PROTOCOL_ERROR',
    'TIMEOUT',
    'DISK_FULL',
  ],
  'accept.get': [
    'UNKNOWN_ID',
    'INVITE_NOT_FOUND',
    'PROTOCOL_ERROR',
    'WRONG_CODE',
    'SAS_REJECTED',
    'PEER_REMOVED',
    'TIMEOUT',
    'RELAY_RESTARTED',
  ],
  'history.list': [],
  'history.verify': [],
  'peer.list': [],
  'peer.get': ['PEER_NOT_FOUND'],
  'peer.remove': ['DISK_FULL'],
  'events.subscribe': [],
  'events.unsubscribe': [],
};

export const PROGRESS_NOTIFICATION = 'invite.progress';
/** Sent (after `events.subscribe`) when the operator unpairs a peer. */
export const PEER_REMOVED_NOTIFICATION = 'peer.removed';
