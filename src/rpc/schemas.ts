import { z } from 'zod';
import { ERROR_CODES, type ErrorCode } from '../errors.js';
import type { ProgressStatus } from '../handshake/effects.js';
import type { IssuerSessionPhase } from '../handshake/issuer.js';
import {
  type InviteFormat,
  type InviteMode,
  MAX_INVITE_USES,
  MAX_TTL_SECONDS,
  MIN_TTL_SECONDS,
} from '../invite/invite-policy.js';
import { MAX_INVITE_TEXT_LENGTH } from '../invite/invite-url.js';
import { ROTATION_REASONS } from '../notice/notice-body.js';
import type { RpcMethodName } from './method-names.js';
import {
  PeerMovedSchema,
  PeerRotatedSchema,
  ROTATION_PARAM_SCHEMAS,
  ROTATION_RESULT_SCHEMAS,
} from './rotation-schemas.js';

/**
 * The agent's JSON-RPC contract as data: every method's params, result and errors, and the
 * notifications. The agent validates params with these schemas, the method types in protocol.ts are
 * inferred from them (so they cannot drift), and `rpc.discover` / docs/RPC.md are generated from
 * them (openrpc.ts). Params are strict: unknown keys are refused (a typo in a script should be an
 * error, not silently ignored), and every string and number is bounded.
 */

const empty = z.object({}).strict();
const id = z.string().min(1).max(64);
const did = z.string().min(1).max(64).describe('A peer’s did: `did:key:z6Mk…`.');
/** A did a caller names: refused at the door unless it has the form of an Ed25519 did:key. */
const didParam = z
  .string()
  .max(64)
  .regex(
    /^did:key:z6Mk[1-9A-HJ-NP-Za-km-z]+$/,
    'not a did:key (they look like did:key:z6Mk…; `pairlink peers` lists them)',
  )
  .describe('A peer’s did: `did:key:z6Mk…`.');
const isoTime = z.string().describe('ISO 8601, UTC.');

// The enums mirror unions of the pairing core; `Same` below fails to compile when one drifts.
const inviteFormat = z.enum(['url', 'code']);
const inviteMode = z.enum(['peer', 'device']);
const errorCode = z.enum(ERROR_CODES);
const sessionPhase = z.enum([
  'awaitingConfirm',
  'awaitingSas',
  'awaitingAck',
  'completed',
  'unconfirmed',
  'failed',
]);
const progressStatus = z.enum([
  'accepted',
  'sas',
  'sasShown',
  'paired',
  'unconfirmed',
  'expired',
  'cancelled',
  'failed',
]);

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const unionsAgree: [
  Same<z.infer<typeof inviteFormat>, InviteFormat>,
  Same<z.infer<typeof inviteMode>, InviteMode>,
  Same<z.infer<typeof errorCode>, ErrorCode>,
  Same<z.infer<typeof sessionPhase>, IssuerSessionPhase>,
  Same<z.infer<typeof progressStatus>, ProgressStatus>,
] = [true, true, true, true, true];
void unionsAgree;

const sas = z
  .object({ digits: z.string(), emoji: z.string() })
  .describe('The short authentication string both sides show (docs/PROTOCOL.md §6.5).');
const peerRef = z.object({ did, name: z.string() });

export const InviteCreatorSchema = z
  .object({
    kind: z.enum(['cli', 'script', 'bot']),
    user: z.string().min(1).max(200).optional().describe('The local user, or the chat user (id and name).'),
    chat: z.enum(['discord', 'matrix']).optional(),
    channel: z.string().min(1).max(200).optional().describe('The chat channel or room.'),
  })
  .strict()
  .describe('Who minted an invite, as the caller says: the CLI, a script, or a bot for a chat user.');

/** Connections agent.info lists at most (an answer stays small however many clients there are). */
export const MAX_LISTED_CONNECTIONS = 64;

export const AgentInfoSchema = z.object({
  version: z.string(),
  protocolVersion: z.number().int(),
  did,
  name: z.string(),
  relayUrl: z.string(),
  keystore: z.enum(['keychain', 'file']),
  startedAt: isoTime,
  relayConnected: z.boolean(),
  relayWatches: z
    .number()
    .int()
    .describe('Mailboxes watched at the relay (one per pending invite and accept).'),
  relaySockets: z.number().int().describe('Sockets carrying those watches.'),
  relays: z
    .array(
      z.object({
        url: z.string(),
        home: z.boolean().describe("True for the agent's own relay, which is always open."),
        connected: z.boolean(),
        watches: z.number().int().describe('Mailboxes this agent watches there.'),
        sockets: z.number().int().describe('Sockets carrying those watches.'),
      }),
    )
    .describe(
      "Every relay the agent has open, home first: its own, and each one an invite or accept runs on (a link's relay, a code's `relay`), closed once nothing runs there; at most the agent's relay limit (32).",
    ),
  pendingInvites: z.number().int(),
  peers: z.number().int(),
  connection: z.number().int().describe('The id of the socket connection this answer went to.'),
  connectionCount: z.number().int().describe('Open connections to the socket.'),
  connections: z
    .array(
      z.object({
        id: z.number().int().describe('Numbered from 1 in the order the agent accepted connections.'),
        subscribed: z.boolean().describe('Whether it takes notifications (events.subscribe).'),
        backlogBytes: z
          .number()
          .int()
          .describe(
            'Answers and notifications the agent holds for it: written, not yet taken by its socket.',
          ),
        pendingRequests: z.number().int().describe('Requests read and not yet answered.'),
        reading: z.boolean().describe("False while the agent does not read this connection's requests."),
      }),
    )
    .describe(
      `What the agent holds for each connection, the largest backlog first; at most ${MAX_LISTED_CONNECTIONS}.`,
    ),
});

export const IdentityInfoSchema = z.object({
  did,
  name: z.string(),
  fingerprint: z.string(),
  relayUrl: z.string(),
  card: z.string().describe('base64url of the signed card, for out-of-band pinning.'),
});

export const InviteCreatedSchema = z.object({
  id,
  format: inviteFormat,
  mode: inviteMode,
  url: z
    .string()
    .optional()
    .describe('The web form `https://<relay>/i#…` (URL invites; wiped once the invite has ended).'),
  customUrl: z
    .string()
    .optional()
    .describe('The custom-scheme form `pairlink://invite/…` (URL invites; wiped once the invite has ended).'),
  code: z.string().optional().describe('`XXXX-XXXX-XXXX` (code invites; wiped once the invite has ended).'),
  relayUrl: z
    .string()
    .describe(
      'The relay the invite was minted on, where it is accepted: a link names it itself; a code carries none, so show it beside the code (`pairlink accept --relay <url>`).',
    ),
  expiresAt: isoTime,
  usesLeft: z.number().int(),
  requireSas: z.boolean(),
});

export const SessionSummarySchema = z.object({
  sessionId: z.string(),
  status: sessionPhase,
  sas: sas.optional(),
  peer: peerRef.optional(),
  error: errorCode.optional(),
});

export const InviteSummarySchema = InviteCreatedSchema.extend({
  status: z.enum(['pending', 'used', 'expired', 'cancelled', 'failed']),
  error: errorCode
    .optional()
    .describe(
      'With status failed, why: INVITE_BURNED (3 failed code attempts), INVITE_NOT_FOUND (the relay lost the nameplate) or RELAY_UNRELIABLE (the relay kept losing the mailbox).',
    ),
  label: z.string().optional(),
  createdAt: isoTime,
  sessions: z.array(SessionSummarySchema).readonly(),
  failedAttempts: z
    .number()
    .int()
    .optional()
    .describe(
      'Code invites: sessions that ended without proving the code (each one online guess) and junk messages from nameplate claimants; at 3 the invite burns.',
    ),
});

export const InviteAcceptResultSchema = z.object({
  status: z.enum(['paired', 'pending']),
  acceptId: id.describe('Local id of this accept, for invite.progress and accept.confirmSas.'),
  peer: peerRef.optional(),
  sas: sas.optional(),
  confirmSas: z
    .boolean()
    .optional()
    .describe(
      'With `sas`: true when this side must confirm the code (accept.confirmSas), false when the issuer’s operator compares it and this side only shows it.',
    ),
});

export const PeerInfoSchema = peerRef.extend({
  fingerprint: z.string(),
  pairedAt: isoTime,
  relayUrl: z.string(),
  relation: inviteMode,
  confirmed: z
    .boolean()
    .describe(
      'False while this agent (as issuer) has not heard the acceptor’s acknowledgement: the peer may not hold the pin.',
    ),
  inbox: z
    .boolean()
    .describe(
      'True when the peer handed over its inbox at pairing (docs/PROTOCOL.md §11.1), so notices such as an unpair can reach it; false for a peer without notices (an older version, or a relay without inboxes).',
    ),
  lastContact: isoTime
    .optional()
    .describe('When this agent last heard a notice or a receipt from the peer; absent: not since pairing.'),
});

export const AuditEntrySchema = z.object({
  at: isoTime,
  event: z
    .enum([
      'minted',
      'paired',
      'unconfirmed',
      'failed',
      'cancelled',
      'expired',
      'unpaired',
      'lost',
      'unpairedByPeer',
      'noticeSent',
      'noticeReceived',
      'rotated',
    ])
    .describe(
      'lost: entries before this one could not be written (the disk was full; the agent’s log said so), `lost` says how many. unpairedByPeer: the peer unpaired this agent (its unpair notice). noticeSent / noticeReceived: a notice (docs/PROTOCOL.md §11) queued to a peer / heard from one, with its `notice` kind and `verdict`; never its body. rotated: an identity rotated, this agent’s own or a peer’s (`peer` is its new did, `previousDid` the retired one).',
    ),
  role: z.enum(['issuer', 'acceptor']).optional(),
  invite: id.optional(),
  accept: id.optional(),
  by: InviteCreatorSchema.optional().describe('For an invite’s events: who minted it.'),
  peer: peerRef.optional(),
  code: errorCode.optional(),
  format: inviteFormat.optional(),
  uses: z.number().int().optional(),
  notice: z.enum(['unpair', 'rotate', 'inboxMoved', 'ping', 'receipt']).optional(),
  verdict: z
    .enum([
      'queued',
      'applied',
      'expired',
      'misaddressed',
      'unknownSender',
      'badSignature',
      'noCommitment',
      'notCommitted',
      'unsupported',
    ])
    .optional()
    .describe('With noticeSent / noticeReceived: what became of it (docs/PROTOCOL.md §11.5).'),
  previousDid: did
    .optional()
    .describe('With event rotated: the did the identity rotated away from (retired); `peer` is the new one.'),
  rotation: z.enum(ROTATION_REASONS).optional().describe('With event rotated: why (docs/PROTOCOL.md §11.3).'),
  lost: z
    .number()
    .int()
    .min(1)
    .optional()
    .describe('With event lost: how many entries could not be written.'),
  seq: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe('The entry’s place in the chain; absent for entries written before the chain existed.'),
});

export const AuditIntegritySchema = z
  .object({
    ok: z
      .boolean()
      .describe('True when the chain is whole from its base to the head the sealed state names.'),
    checked: z.number().int().describe('Chained entries read.'),
    beforeChain: z
      .number()
      .int()
      .describe('Entries written by a version before the chain (first in the log): readable, not checkable.'),
    brokenAt: z.number().int().optional().describe('The first entry number where the chain breaks.'),
    reason: z
      .enum(['missing', 'truncated', 'repeated', 'damaged', 'replaced'])
      .optional()
      .describe(
        'missing: entries gone from the middle or the start; truncated: the last entries are gone; repeated: an entry appears again or out of place; damaged: a line that does not open; replaced: an entry from another chain.',
      ),
    missing: z.number().int().optional().describe('With missing or truncated: how many entries are gone.'),
  })
  .describe('Whether the audit log is as the agent wrote it (docs/SECURITY.md §The audit log).');

/** `invite.progress` notification params. */
export const InviteProgressSchema = z.object({
  id: id.describe('The invite id (issuer side) or accept id (acceptor side).'),
  role: z.enum(['issuer', 'acceptor']),
  status: z.union([z.literal('published'), progressStatus]),
  sessionId: z.string().optional(),
  peer: peerRef.optional(),
  sas: sas
    .optional()
    .describe(
      "The acceptor's code with `sas` (compare it, then accept.confirmSas) and `sasShown` (the issuer's operator compares it; nothing to confirm here).",
    ),
  error: z.object({ code: errorCode, message: z.string() }).optional(),
  at: isoTime,
});

/** `peer.removed` notification params. */
export const PeerRemovedSchema = z.object({
  did,
  name: z.string(),
  at: isoTime,
  reason: z
    .enum(['local', 'peer'])
    .describe(
      'local: this agent’s operator unpaired the peer; peer: the peer unpaired this agent (its unpair notice).',
    ),
});

const methodList = z.array(z.object({ name: z.string(), description: z.string() })).readonly();

/** The OpenRPC document `rpc.discover` answers (validated in tests against the OpenRPC meta-schema). */
const openRpcDocument = z
  .object({
    openrpc: z.string(),
    info: z.object({ title: z.string(), version: z.string(), description: z.string() }),
  })
  .catchall(z.unknown())
  .describe('An OpenRPC 1.3 document: https://spec.open-rpc.org');

export const PARAM_SCHEMAS = {
  'rpc.discover': empty,
  'agent.info': empty,
  'agent.methods': empty,
  'identity.get': empty,
  'invite.create': z
    .object({
      ttlSeconds: z.number().int().min(MIN_TTL_SECONDS).max(MAX_TTL_SECONDS.url).optional(),
      uses: z.number().int().min(1).max(MAX_INVITE_USES).optional(),
      format: inviteFormat.optional(),
      mode: inviteMode.optional(),
      label: z.string().min(1).max(100).optional(),
      requireSas: z.boolean().optional(),
      creator: InviteCreatorSchema.optional().describe(
        'Who is minting it, for the history (pairlink log): “who let this peer in?”',
      ),
    })
    .strict(),
  'invite.get': z.object({ id }).strict(),
  'invite.list': z.object({ all: z.boolean().optional() }).strict(),
  'invite.cancel': z.object({ id }).strict(),
  'invite.confirmSas': z
    .object({
      id,
      sessionId: z.string().regex(/^[0-9a-f]{32}$/, 'a session id is 32 hex digits'),
      match: z.boolean(),
    })
    .strict(),
  'invite.accept': z
    .object({
      invite: z.string().min(1).max(MAX_INVITE_TEXT_LENGTH),
      relay: z
        .string()
        .min(1)
        .max(MAX_INVITE_TEXT_LENGTH)
        .optional()
        .describe(
          "For a code: the relay its issuer minted it on (a code carries none; default the agent's own). A link names its relay itself.",
        ),
      requireSas: z.boolean().optional(),
      waitSeconds: z
        .number()
        .min(0)
        .max(600)
        .optional()
        .describe('How long to wait for completion before answering pending (default 30).'),
    })
    .strict(),
  'accept.confirmSas': z.object({ acceptId: id, match: z.boolean() }).strict(),
  'accept.get': z.object({ acceptId: id, waitSeconds: z.number().min(0).max(600).optional() }).strict(),
  'history.list': z
    .object({
      since: z.string().max(40).optional().describe('An ISO 8601 time; entries from then on.'),
      limit: z.number().int().min(1).max(10_000).optional(),
    })
    .strict(),
  'history.verify': empty,
  'peer.list': empty,
  'peer.get': z.object({ did: didParam }).strict(),
  'peer.remove': z
    .object({
      did: didParam,
      localOnly: z
        .boolean()
        .optional()
        .describe('True: unpin here only and tell the peer nothing (the behaviour before notices).'),
    })
    .strict(),
  'peer.ping': z
    .object({
      did: didParam,
      waitSeconds: z
        .number()
        .min(1)
        .max(600)
        .optional()
        .describe('How long to wait for the pong (default 30).'),
    })
    .strict(),
  ...ROTATION_PARAM_SCHEMAS,
  'events.subscribe': empty,
  'events.unsubscribe': empty,
} as const satisfies Record<RpcMethodName, z.ZodType>;

export const RESULT_SCHEMAS = {
  'rpc.discover': openRpcDocument,
  'agent.info': AgentInfoSchema,
  'agent.methods': methodList,
  'identity.get': IdentityInfoSchema,
  'invite.create': InviteCreatedSchema,
  'invite.get': InviteSummarySchema,
  'invite.list': z.array(InviteSummarySchema).readonly(),
  'invite.cancel': InviteSummarySchema,
  'invite.confirmSas': InviteSummarySchema,
  'invite.accept': InviteAcceptResultSchema,
  'accept.confirmSas': InviteAcceptResultSchema,
  'accept.get': InviteAcceptResultSchema,
  'history.list': z.array(AuditEntrySchema).readonly(),
  'history.verify': AuditIntegritySchema,
  'peer.list': z.array(PeerInfoSchema).readonly(),
  'peer.get': PeerInfoSchema,
  'peer.remove': z.object({
    removed: z
      .boolean()
      .describe(
        'False when no peer with that did was pinned (a did that is not a did:key is refused with INVALID_PARAMS).',
      ),
    notified: z
      .boolean()
      .describe(
        'True when an unpair notice is on its way to the peer (retried until its receipt, for 30 days); false when the peer has no inbox (an older version) or with localOnly: it keeps this agent pinned.',
      ),
  }),
  'peer.ping': z.object({
    reachable: z.boolean().describe('True when the peer’s pong arrived within the wait.'),
    rttMs: z.number().int().min(0).optional().describe('With reachable: the round trip, in milliseconds.'),
  }),
  ...ROTATION_RESULT_SCHEMAS,
  'events.subscribe': z.object({ subscribed: z.literal(true) }),
  'events.unsubscribe': z.object({ subscribed: z.literal(false) }),
} as const satisfies Record<RpcMethodName, z.ZodType>;

/** Notifications the agent sends on a connection after `events.subscribe`. */
export const NOTIFICATION_SCHEMAS = {
  'invite.progress': InviteProgressSchema,
  'peer.removed': PeerRemovedSchema,
  'peer.rotated': PeerRotatedSchema,
  'peer.moved': PeerMovedSchema,
} as const;
