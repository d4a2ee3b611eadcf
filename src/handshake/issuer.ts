import { equalBytesConstantTime } from '../crypto/constant-time.js';
import { openFrame, sealFrame } from '../crypto/frame-cipher.js';
import { toHex } from '../encoding/hex.js';
import type { ErrorCode } from '../errors.js';
import { type Card, readVerifiedCard, verifyCard } from '../identity/card.js';
import { type InviteMode, MAX_FAILED_CODE_ATTEMPTS, SESSION_GRACE_SECONDS } from '../invite/invite-policy.js';
import type { ShortCode } from '../invite/short-code.js';
import { codeInviteId } from '../invite/short-code.js';
import { encodeDeviceBundle } from './device-bundle.js';
import type { Effect, Step, StepContext } from './effects.js';
import {
  type AbortReason,
  decodeConfirmBody,
  decodeFrame,
  encodeFrame,
  encodeReplyBody,
  encodeWelcomeBody,
  FRAME_TYPE,
  type Frame,
  type MailboxAddress,
} from './frames.js';
import { deriveSas } from './sas.js';
import {
  deriveSessionKeys,
  deriveSessionSecret,
  type FormSecret,
  makeShare,
  type SessionContext,
} from './session-keys.js';
import {
  checkConfirmationTag,
  confirmationTag,
  transcriptAfterConfirm,
  transcriptAfterReply,
  transcriptSignatureMessage,
  verifyTranscriptSignature,
} from './transcript.js';

/** How many acceptor sessions one invite runs at once; more hellos are turned away. */
export const MAX_CONCURRENT_SESSIONS = 16;

export type InviteStatus = 'pending' | 'used' | 'expired' | 'cancelled' | 'failed';
export type IssuerSessionPhase = 'awaitingConfirm' | 'awaitingSas' | 'completed' | 'failed';

/** One acceptor's run against an invite. */
export interface IssuerSession {
  readonly phase: IssuerSessionPhase;
  readonly sessionId: Uint8Array;
  readonly replyTo: MailboxAddress;
  readonly acceptorShare: Uint8Array;
  readonly ephemeralSecret: Uint8Array;
  readonly share: Uint8Array;
  readonly sessionSecret: Uint8Array;
  readonly transcript: Uint8Array;
  readonly replyFrame: Uint8Array;
  readonly sasConfirmed: boolean;
  readonly startedAt: number;
  readonly acceptorCard?: Uint8Array;
  readonly welcomeFrame?: Uint8Array;
  readonly failure?: ErrorCode;
}

/** An issued invite and its sessions (persistable; secrets included). */
export interface IssuerState {
  readonly role: 'issuer';
  readonly status: InviteStatus;
  readonly formSecret: FormSecret;
  readonly inviteId: Uint8Array;
  readonly mailboxId: Uint8Array;
  readonly mode: InviteMode;
  readonly requireSas: boolean;
  readonly expiresAt: number;
  readonly usesLeft: number;
  readonly failedAttempts: number;
  readonly pairedDids: readonly string[];
  /** Keyed by hex session id. */
  readonly sessions: Readonly<Record<string, IssuerSession>>;
}

export type IssuerEvent =
  | { readonly type: 'frameReceived'; readonly frame: Uint8Array }
  | { readonly type: 'sasConfirmed'; readonly sessionId: Uint8Array }
  | { readonly type: 'sasRejected'; readonly sessionId: Uint8Array }
  | { readonly type: 'cancelRequested' }
  | { readonly type: 'clockTicked' };

/** Extra input the issuer needs only in device mode: the identity secrets to hand over. */
export interface IssuerStepContext extends StepContext {
  readonly deviceBundle?: () => { signingSeed: Uint8Array; agreementSecret: Uint8Array; name: string };
}

/** The initial state of a URL invite (inviteId and mailbox come from the signed invite). */
export function newUrlIssuer(invite: {
  secret: Uint8Array;
  inviteId: Uint8Array;
  mailboxId: Uint8Array;
  mode: InviteMode;
  requireSas: boolean;
  expiresAt: number;
  uses: number;
}): IssuerState {
  return {
    role: 'issuer',
    status: 'pending',
    formSecret: { form: 'url', secret: invite.secret },
    inviteId: invite.inviteId,
    mailboxId: invite.mailboxId,
    mode: invite.mode,
    requireSas: invite.requireSas,
    expiresAt: invite.expiresAt,
    usesLeft: invite.uses,
    failedAttempts: 0,
    pairedDids: [],
    sessions: {},
  };
}

/** The initial state of a code invite, once the relay has given the mailbox a nameplate. */
export function newCodeIssuer(
  code: ShortCode,
  mailboxId: Uint8Array,
  policy: { mode: InviteMode; requireSas: boolean; expiresAt: number; uses: number },
): IssuerState {
  return {
    role: 'issuer',
    status: 'pending',
    formSecret: { form: 'code', code },
    inviteId: codeInviteId(code.nameplate, mailboxId),
    mailboxId,
    mode: policy.mode,
    requireSas: policy.requireSas,
    expiresAt: policy.expiresAt,
    usesLeft: policy.uses,
    failedAttempts: 0,
    pairedDids: [],
    sessions: {},
  };
}

const unchanged = (state: IssuerState): Step<IssuerState> => ({ state, effects: [] });
const isOpen = (s: IssuerSession) => s.phase === 'awaitingConfirm' || s.phase === 'awaitingSas';

function abortFrame(sessionId: Uint8Array, reason: AbortReason): Uint8Array {
  return encodeFrame({ type: 'abort', sessionId, reason });
}

function withSession(state: IssuerState, session: IssuerSession): IssuerState {
  return { ...state, sessions: { ...state.sessions, [toHex(session.sessionId)]: session } };
}

/** Advances the issuer by one event. Never throws for anything that arrives from the network. */
export function stepIssuer(
  state: IssuerState,
  event: IssuerEvent,
  ctx: IssuerStepContext,
): Step<IssuerState> {
  switch (event.type) {
    case 'clockTicked':
      return onTick(state, ctx);
    case 'cancelRequested':
      return state.status === 'pending' ? finish(state, 'cancelled', 'INVITE_CANCELLED') : unchanged(state);
    case 'sasConfirmed':
    case 'sasRejected': {
      const session = state.sessions[toHex(event.sessionId)];
      if (!session || !isOpen(session)) return unchanged(state);
      if (event.type === 'sasRejected') return failSession(state, session, 'SAS_REJECTED', 'SAS_REJECTED');
      const confirmed = { ...session, sasConfirmed: true };
      return session.phase === 'awaitingSas'
        ? complete(state, confirmed, ctx)
        : unchanged(withSession(state, confirmed));
    }
    case 'frameReceived': {
      let frame: Frame;
      try {
        frame = decodeFrame(event.frame);
      } catch {
        return unchanged(state);
      }
      if (frame.type === 'hello') return onHello(state, frame, ctx);
      const session = state.sessions[toHex(frame.sessionId)];
      if (!session) return unchanged(state);
      if (frame.type === 'confirm') return onConfirm(state, session, frame, ctx);
      if (frame.type === 'abort') return onAbort(state, session, frame.reason);
      return unchanged(state); // reply/welcome reflected into our mailbox: ignore
    }
  }
}

function statusReason(status: InviteStatus, now: number, expiresAt: number): AbortReason | null {
  if (status === 'used' || status === 'failed') return 'INVITE_USED';
  if (status === 'cancelled') return 'INVITE_CANCELLED';
  if (status === 'expired' || now >= expiresAt) return 'INVITE_EXPIRED';
  return null;
}

function onHello(
  state: IssuerState,
  frame: Extract<Frame, { type: 'hello' }>,
  ctx: IssuerStepContext,
): Step<IssuerState> {
  const existing = state.sessions[toHex(frame.sessionId)];
  if (existing) {
    // Duplicate hello: resend our reply, unchanged, so the acceptor can go on.
    const same = equalBytesConstantTime(existing.acceptorShare, frame.share);
    return same && isOpen(existing)
      ? { state, effects: [{ type: 'send', to: existing.replyTo, frame: existing.replyFrame }] }
      : unchanged(state);
  }
  const refuse = (reason: AbortReason): Step<IssuerState> => ({
    state,
    effects: [{ type: 'send', to: frame.replyTo, frame: abortFrame(frame.sessionId, reason) }],
  });
  const reason = statusReason(state.status, ctx.now, state.expiresAt);
  if (reason) return refuse(reason);
  if (frame.form !== state.formSecret.form) return refuse('PROTOCOL_ERROR');
  if (Object.values(state.sessions).filter(isOpen).length >= MAX_CONCURRENT_SESSIONS) return unchanged(state);

  const context: SessionContext = {
    inviteId: state.inviteId,
    mailboxId: state.mailboxId,
    sessionId: frame.sessionId,
  };
  let ephemeralSecret: Uint8Array;
  let share: Uint8Array | null;
  do {
    ephemeralSecret = ctx.random(32);
    share = makeShare(state.formSecret, context, ephemeralSecret);
  } while (share === null);
  const secret = deriveSessionSecret(
    state.formSecret,
    context,
    'issuer',
    ephemeralSecret,
    share,
    frame.share,
  );
  if (secret === null) return refuse('PROTOCOL_ERROR');
  const keys = deriveSessionKeys(secret);
  const th1 = transcriptAfterReply(state.formSecret.form, context, frame.share, share, ctx.card);
  const body = encodeReplyBody({
    mode: state.mode,
    requireSas: state.requireSas,
    card: ctx.card,
    signature: ctx.identity.signing.sign(transcriptSignatureMessage('transcriptSigIssuerReply', th1)),
    tag: confirmationTag(keys.confirmIssuer, th1),
  });
  const replyFrame = encodeFrame({
    type: 'reply',
    sessionId: frame.sessionId,
    share,
    sealed: sealFrame(keys.issuerToAcceptor, FRAME_TYPE.reply, body),
  });
  const session: IssuerSession = {
    phase: 'awaitingConfirm',
    sessionId: frame.sessionId,
    replyTo: frame.replyTo,
    acceptorShare: frame.share,
    ephemeralSecret,
    share,
    sessionSecret: secret,
    transcript: th1,
    replyFrame,
    sasConfirmed: false,
    startedAt: ctx.now,
  };
  return {
    state: withSession(state, session),
    effects: [
      { type: 'send', to: frame.replyTo, frame: replyFrame },
      { type: 'sasReady', sessionId: frame.sessionId, sas: deriveSas(keys.sas) },
      { type: 'progress', status: 'accepted', sessionId: frame.sessionId },
    ],
  };
}

function onConfirm(
  state: IssuerState,
  session: IssuerSession,
  frame: Extract<Frame, { type: 'confirm' }>,
  ctx: IssuerStepContext,
): Step<IssuerState> {
  if (session.phase === 'completed' && session.welcomeFrame) {
    // Duplicate confirm: our welcome may have been lost; resend it (same bytes, same nonce).
    return { state, effects: [{ type: 'send', to: session.replyTo, frame: session.welcomeFrame }] };
  }
  if (session.phase !== 'awaitingConfirm') return unchanged(state);
  const keys = deriveSessionKeys(session.sessionSecret);
  let body: ReturnType<typeof decodeConfirmBody>;
  try {
    body = decodeConfirmBody(openFrame(keys.acceptorToIssuer, FRAME_TYPE.confirm, frame.sealed));
  } catch {
    return unchanged(state); // only the acceptor of this session holds the key: a forgery
  }
  let acceptor: Card;
  try {
    acceptor = verifyCard(body.card);
  } catch {
    return failSession(state, session, 'BAD_SIGNATURE', 'BAD_SIGNATURE');
  }
  const th2 = transcriptAfterConfirm(session.transcript, acceptor.bytes);
  if (
    !checkConfirmationTag(keys.confirmAcceptor, th2, body.tag) ||
    !verifyTranscriptSignature('transcriptSigAcceptor', acceptor.signingKey, th2, body.signature)
  ) {
    return failSession(state, session, 'BAD_SIGNATURE', 'BAD_SIGNATURE');
  }
  if (equalBytesConstantTime(acceptor.signingKey, ctx.identity.signing.publicKey)) {
    return failSession(state, session, 'SELF_PAIRING', 'SELF_PAIRING');
  }
  const verified: IssuerSession = { ...session, transcript: th2, acceptorCard: acceptor.bytes };
  if (state.requireSas && !session.sasConfirmed) {
    return {
      state: withSession(state, { ...verified, phase: 'awaitingSas' }),
      effects: [{ type: 'progress', status: 'sas', sessionId: session.sessionId, peer: acceptor }],
    };
  }
  return complete(state, verified, ctx);
}

/** Key confirmation done (and SAS, where required): consume a use, pin, send the welcome. */
function complete(state: IssuerState, session: IssuerSession, ctx: IssuerStepContext): Step<IssuerState> {
  const acceptor = readVerifiedCard(session.acceptorCard!);
  const repeat = state.pairedDids.includes(acceptor.did);
  const reason = statusReason(state.status, ctx.now, state.expiresAt + SESSION_GRACE_SECONDS);
  if (reason) return failSession(state, session, reason, reason);
  if (!repeat && state.usesLeft === 0) return failSession(state, session, 'INVITE_USED', 'INVITE_USED');
  const keys = deriveSessionKeys(session.sessionSecret);
  const bundle =
    state.mode === 'device' && ctx.deviceBundle ? encodeDeviceBundle(ctx.deviceBundle()) : new Uint8Array();
  if (state.mode === 'device' && bundle.length === 0)
    throw new Error('device invite completed without a device bundle');
  const body = encodeWelcomeBody({
    signature: ctx.identity.signing.sign(
      transcriptSignatureMessage('transcriptSigIssuerWelcome', session.transcript),
    ),
    bundle,
  });
  const welcomeFrame = encodeFrame({
    type: 'welcome',
    sessionId: session.sessionId,
    sealed: sealFrame(keys.issuerToAcceptor, FRAME_TYPE.welcome, body),
  });
  const usesLeft = repeat ? state.usesLeft : state.usesLeft - 1;
  const next: IssuerState = withSession(
    { ...state, usesLeft, pairedDids: repeat ? state.pairedDids : [...state.pairedDids, acceptor.did] },
    { ...session, phase: 'completed', welcomeFrame },
  );
  const effects: Effect[] = [
    { type: 'pin', sessionId: session.sessionId, peer: acceptor, mode: state.mode },
    { type: 'send', to: session.replyTo, frame: welcomeFrame },
    { type: 'progress', status: 'paired', sessionId: session.sessionId, peer: acceptor },
  ];
  if (usesLeft > 0) return { state: next, effects };
  const done = finish(next, 'used', 'INVITE_USED');
  return { state: done.state, effects: [...effects, ...done.effects] };
}

function onAbort(state: IssuerState, session: IssuerSession, reason: AbortReason): Step<IssuerState> {
  if (!isOpen(session)) return unchanged(state);
  const failed = failSession(state, session, reason, null);
  if (reason !== 'WRONG_CODE' || state.formSecret.form !== 'code') return failed;
  // Each wrong code is one online guess; after a few, the invite burns so guessing cannot go on.
  const attempts = failed.state.failedAttempts + 1;
  const counted = { ...failed.state, failedAttempts: attempts };
  if (attempts < MAX_FAILED_CODE_ATTEMPTS) return { state: counted, effects: failed.effects };
  const burned = finish(counted, 'failed', 'INVITE_USED', 'WRONG_CODE');
  return { state: burned.state, effects: [...failed.effects, ...burned.effects] };
}

function failSession(
  state: IssuerState,
  session: IssuerSession,
  code: ErrorCode,
  notify: AbortReason | null,
): Step<IssuerState> {
  const effects: Effect[] = [];
  if (notify)
    effects.push({ type: 'send', to: session.replyTo, frame: abortFrame(session.sessionId, notify) });
  effects.push({ type: 'progress', status: 'failed', sessionId: session.sessionId, code });
  return { state: withSession(state, { ...session, phase: 'failed', failure: code }), effects };
}

/** Ends the invite: aborts open sessions, closes the mailbox, reports the final status. */
function finish(
  state: IssuerState,
  status: Exclude<InviteStatus, 'pending'>,
  sessionReason: AbortReason,
  code?: ErrorCode,
): Step<IssuerState> {
  let next: IssuerState = { ...state, status };
  const effects: Effect[] = [];
  for (const session of Object.values(state.sessions).filter(isOpen)) {
    const failed = failSession(next, session, sessionReason, sessionReason);
    next = failed.state;
    effects.push(...failed.effects);
  }
  const progressStatus = status === 'used' ? null : status;
  effects.push({ type: 'closeMailbox', mailboxId: state.mailboxId });
  if (progressStatus) effects.push({ type: 'progress', status: progressStatus, ...(code ? { code } : {}) });
  return { state: next, effects };
}

function onTick(state: IssuerState, ctx: IssuerStepContext): Step<IssuerState> {
  if (state.status !== 'pending' || ctx.now < state.expiresAt) return unchanged(state);
  const inFlight = Object.values(state.sessions).some(isOpen);
  if (inFlight && ctx.now < state.expiresAt + SESSION_GRACE_SECONDS) return unchanged(state);
  return finish(state, 'expired', 'INVITE_EXPIRED', 'INVITE_EXPIRED');
}
