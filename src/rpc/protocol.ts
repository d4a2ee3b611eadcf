/**
 * The agent's JSON-RPC 2.0 contract, shared by the agent, the CLI, the bots and scripts. The types
 * are inferred from the schemas in `schemas.ts` (type-only imports: clients pay nothing at start-up
 * for them, and they cannot drift from what the agent validates); this file adds the errors and
 * notification names as plain data, and hands on the method names and descriptions of
 * `method-names.ts` (which the schemas key by). Extend, never rename: scripts depend on these names.
 */
import type { z } from 'zod';
import type { ErrorCode } from '../errors.js';
import { METHOD_DESCRIPTIONS, type RpcMethodName } from './method-names.js';
import type { PeerMovedSchema, PeerRotatedSchema } from './rotation-schemas.js';
import type * as S from './schemas.js';

export { METHOD_DESCRIPTIONS, type RpcMethodName };

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
/** `peer.rotated` notification params. */
export type PeerRotated = z.output<typeof PeerRotatedSchema>;
/** `peer.moved` notification params. */
export type PeerMoved = z.output<typeof PeerMovedSchema>;

/** Every method: params (what a caller may send) and result (what the agent answers). */
export type RpcMethods = {
  [M in RpcMethodName]: {
    params: z.input<(typeof S.PARAM_SCHEMAS)[M]>;
    result: z.output<(typeof S.RESULT_SCHEMAS)[M]>;
  };
};

/** Every notification: its params. */
export type RpcNotifications = {
  [N in keyof typeof S.NOTIFICATION_SCHEMAS]: z.output<(typeof S.NOTIFICATION_SCHEMAS)[N]>;
};
export type RpcNotificationName = keyof RpcNotifications;

/** One line per notification. */
export const NOTIFICATION_DESCRIPTIONS: Readonly<Record<RpcNotificationName, string>> = {
  'invite.progress':
    'An invite or accept moved on (published, accepted, sas, sasShown, paired, unconfirmed, expired, cancelled, failed).',
  'peer.removed': 'A peer was unpaired: by the operator (reason local) or by the peer itself (reason peer).',
  'peer.rotated':
    'A peer rotated its keys (its rotate notice was believed): re-pinned under its new did; the old one is refused.',
  'peer.moved':
    'A peer moved its inbox to another relay (its inbox-moved notice was applied): notices to it go there from now on.',
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
  'peer.remove': ['DISK_FULL', 'NOTICE_QUEUE_FULL'],
  'peer.ping': ['PEER_NOT_FOUND', 'NOTICE_QUEUE_FULL', 'DISK_FULL'],
  'identity.rotate': ['NO_NEXT_KEY', 'DISK_FULL'],
  'device.list': [],
  'device.revoke': ['PEER_NOT_FOUND', 'NO_NEXT_KEY', 'DISK_FULL'],
  'events.subscribe': [],
  'events.unsubscribe': [],
};

export const PROGRESS_NOTIFICATION = 'invite.progress';
/** Sent (after `events.subscribe`) when the operator unpairs a peer. */
export const PEER_REMOVED_NOTIFICATION = 'peer.removed';
/** Sent (after `events.subscribe`) when a peer's rotation is applied. */
export const PEER_ROTATED_NOTIFICATION = 'peer.rotated';
/** Sent (after `events.subscribe`) when a peer's inbox-moved notice is applied. */
export const PEER_MOVED_NOTIFICATION = 'peer.moved';
