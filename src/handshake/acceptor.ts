import { equalBytesConstantTime } from '../crypto/constant-time.js';
import { openFrame, sealFrame } from '../crypto/frame-cipher.js';
import { type ErrorCode, PairlinkError } from '../errors.js';
import { type Card, readVerifiedCard, verifyCard } from '../identity/card.js';
import { type InviteMode, SESSION_GRACE_SECONDS } from '../invite/invite-policy.js';
import type { UrlInvite } from '../invite/invite-url.js';
import { codeInviteId, type ShortCode } from '../invite/short-code.js';
import { decodeDeviceBundle } from './device-bundle.js';
import type { Effect, OwnedMailbox, Step, StepContext } from './effects.js';
import {
  type AbortReason,
  decodeFrame,
  decodeReplyBody,
  decodeWelcomeBody,
  encodeConfirmBody,
  encodeFrame,
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

/** Resend the last frame when nothing has come back for this long (the relay may have lost it). */
export const RESEND_AFTER_SECONDS = 20;

/** What the acceptor is accepting: a verified invite URL, or a code plus what the relay said of it. */
export type AcceptTarget =
  | { readonly form: 'url'; readonly invite: UrlInvite }
  | {
      readonly form: 'code';
      readonly code: ShortCode;
      /** From the relay's nameplate claim: untrusted, bound into CPace so a lie only fails the run. */
      readonly issuerMailbox: MailboxAddress;
      readonly expiresAt: number;
    };

export type AcceptorPhase = 'awaitingReply' | 'awaitingSas' | 'awaitingWelcome' | 'paired' | 'failed';

/** Everything the acceptor must remember between events (persistable; secrets included). */
export interface AcceptorState {
  readonly role: 'acceptor';
  readonly phase: AcceptorPhase;
  readonly target: AcceptTarget;
  readonly requireSas: boolean;
  readonly sessionId: Uint8Array;
  readonly replyBox: OwnedMailbox;
  readonly ephemeralSecret: Uint8Array;
  readonly share: Uint8Array;
  readonly lastSentFrame: Uint8Array;
  readonly lastSentAt: number;
  readonly issuerShare?: Uint8Array;
  readonly sessionSecret?: Uint8Array;
  readonly transcript?: Uint8Array;
  readonly issuerCard?: Uint8Array;
  readonly mode?: InviteMode;
  readonly failure?: ErrorCode;
}

export type AcceptorEvent =
  | { readonly type: 'frameReceived'; readonly frame: Uint8Array }
  | { readonly type: 'sasConfirmed' }
  | { readonly type: 'sasRejected' }
  | { readonly type: 'clockTicked' }
  /** The relay refused a post to the issuer's mailbox: it is gone (used, expired or cancelled). */
  | { readonly type: 'issuerMailboxGone' };

function targetMailbox(target: AcceptTarget): MailboxAddress {
  return target.form === 'url'
    ? { mailboxId: target.invite.mailboxId, writeCapability: target.invite.writeCapability }
    : target.issuerMailbox;
}

function targetExpiry(target: AcceptTarget): number {
  return target.form === 'url' ? target.invite.expiresAt : target.expiresAt;
}

function formSecretOf(target: AcceptTarget): FormSecret {
  return target.form === 'url'
    ? { form: 'url', secret: target.invite.secret }
    : { form: 'code', code: target.code };
}

function contextOf(state: Pick<AcceptorState, 'target' | 'sessionId'>): SessionContext {
  const mailbox = targetMailbox(state.target);
  const inviteId =
    state.target.form === 'url'
      ? state.target.invite.inviteId
      : codeInviteId(state.target.code.nameplate, mailbox.mailboxId);
  return { inviteId, mailboxId: mailbox.mailboxId, sessionId: state.sessionId };
}

/**
 * Starts accepting: opens a reply mailbox and sends hello. Fails at once (no effects but the
 * failure) for an expired invite or one's own invite.
 */
export function startAcceptor(
  target: AcceptTarget,
  requireSas: boolean,
  ctx: StepContext,
): Step<AcceptorState> {
  if (ctx.now >= targetExpiry(target)) throw new PairlinkError('INVITE_EXPIRED', 'invite has expired');
  if (
    target.form === 'url' &&
    equalBytesConstantTime(target.invite.issuerKey, ctx.identity.signing.publicKey)
  ) {
    throw new PairlinkError('SELF_PAIRING', 'this invite was minted by this same identity');
  }
  const sessionId = ctx.random(16);
  const replyBox: OwnedMailbox = {
    mailboxId: ctx.random(16),
    writeCapability: ctx.random(16),
    readCapability: ctx.random(16),
  };
  const partial = { target, sessionId };
  let ephemeralSecret: Uint8Array;
  let share: Uint8Array | null;
  do {
    ephemeralSecret = ctx.random(32);
    share = makeShare(formSecretOf(target), contextOf(partial), ephemeralSecret);
  } while (share === null);
  const hello = encodeFrame({ type: 'hello', form: target.form, sessionId, share, replyTo: replyBox });
  const state: AcceptorState = {
    role: 'acceptor',
    phase: 'awaitingReply',
    target,
    requireSas,
    sessionId,
    replyBox,
    ephemeralSecret,
    share,
    lastSentFrame: hello,
    lastSentAt: ctx.now,
  };
  return {
    state,
    effects: [
      { type: 'openMailbox', mailbox: replyBox, expiresAt: targetExpiry(target) + SESSION_GRACE_SECONDS },
      { type: 'send', to: targetMailbox(target), frame: hello },
    ],
  };
}

function fail(state: AcceptorState, code: ErrorCode, notifyIssuer: AbortReason | null): Step<AcceptorState> {
  const effects: Effect[] = [];
  if (notifyIssuer !== null) {
    const frame = encodeFrame({ type: 'abort', sessionId: state.sessionId, reason: notifyIssuer });
    effects.push({ type: 'send', to: targetMailbox(state.target), frame });
  }
  effects.push(
    { type: 'closeMailbox', mailboxId: state.replyBox.mailboxId },
    { type: 'progress', status: 'failed', sessionId: state.sessionId, code },
  );
  return { state: { ...state, phase: 'failed', failure: code }, effects };
}

const unchanged = (state: AcceptorState): Step<AcceptorState> => ({ state, effects: [] });

/** Advances the acceptor by one event. Never throws for anything that arrives from the network. */
export function stepAcceptor(
  state: AcceptorState,
  event: AcceptorEvent,
  ctx: StepContext,
): Step<AcceptorState> {
  if (state.phase === 'paired' || state.phase === 'failed') return unchanged(state);
  switch (event.type) {
    case 'clockTicked':
      return onTick(state, ctx);
    case 'issuerMailboxGone':
      // The relay cannot say why (by design it answers alike for used, expired and cancelled).
      return fail(state, 'INVITE_NOT_FOUND', null);
    case 'sasConfirmed':
      return state.phase === 'awaitingSas' ? sendConfirm(state, ctx) : unchanged(state);
    case 'sasRejected':
      return state.phase === 'awaitingSas' ? fail(state, 'SAS_REJECTED', 'SAS_REJECTED') : unchanged(state);
    case 'frameReceived': {
      let frame: Frame;
      try {
        frame = decodeFrame(event.frame);
      } catch {
        return unchanged(state); // garbage in our reply box is the relay's doing: ignore it
      }
      if (!equalBytesConstantTime(frame.sessionId, state.sessionId)) return unchanged(state);
      if (frame.type === 'reply') return onReply(state, frame, ctx);
      if (frame.type === 'welcome') return onWelcome(state, frame, ctx);
      if (frame.type === 'abort') return fail(state, frame.reason, null);
      return unchanged(state); // our own hello/confirm reflected back: ignore
    }
  }
}

function onTick(state: AcceptorState, ctx: StepContext): Step<AcceptorState> {
  if (ctx.now >= targetExpiry(state.target) + SESSION_GRACE_SECONDS) return fail(state, 'TIMEOUT', null);
  if (state.phase !== 'awaitingSas' && ctx.now - state.lastSentAt >= RESEND_AFTER_SECONDS) {
    return {
      state: { ...state, lastSentAt: ctx.now },
      effects: [{ type: 'send', to: targetMailbox(state.target), frame: state.lastSentFrame }],
    };
  }
  return unchanged(state);
}

function onReply(
  state: AcceptorState,
  frame: Extract<Frame, { type: 'reply' }>,
  ctx: StepContext,
): Step<AcceptorState> {
  if (state.phase !== 'awaitingReply') {
    // A duplicate of the reply we acted on: our confirm may have been lost, so send it again.
    const duplicate =
      state.issuerShare !== undefined && equalBytesConstantTime(state.issuerShare, frame.share);
    return duplicate && state.phase === 'awaitingWelcome'
      ? { state, effects: [{ type: 'send', to: targetMailbox(state.target), frame: state.lastSentFrame }] }
      : unchanged(state);
  }
  const context = contextOf(state);
  const formSecret = formSecretOf(state.target);
  const secret = deriveSessionSecret(
    formSecret,
    context,
    'acceptor',
    state.ephemeralSecret,
    state.share,
    frame.share,
  );
  if (secret === null) return fail(state, 'PROTOCOL_ERROR', 'PROTOCOL_ERROR');
  const keys = deriveSessionKeys(secret);
  let body: ReturnType<typeof decodeReplyBody>;
  try {
    body = decodeReplyBody(openFrame(keys.issuerToAcceptor, FRAME_TYPE.reply, frame.sealed));
  } catch {
    // With a code, a reply we cannot open means the two sides used different codes. With a URL
    // only a holder of the secret can make a reply, so an unopenable one is a forgery: ignore it.
    return state.target.form === 'code' ? fail(state, 'WRONG_CODE', 'WRONG_CODE') : unchanged(state);
  }
  let issuer: Card;
  try {
    issuer = verifyCard(body.card);
  } catch {
    return fail(state, 'BAD_SIGNATURE', 'BAD_SIGNATURE');
  }
  const th1 = transcriptAfterReply(state.target.form, context, state.share, frame.share, issuer.bytes);
  const keyMatchesInvite =
    state.target.form === 'code' || equalBytesConstantTime(issuer.signingKey, state.target.invite.issuerKey);
  if (
    !keyMatchesInvite ||
    !checkConfirmationTag(keys.confirmIssuer, th1, body.tag) ||
    !verifyTranscriptSignature('transcriptSigIssuerReply', issuer.signingKey, th1, body.signature)
  ) {
    return fail(state, 'BAD_SIGNATURE', 'BAD_SIGNATURE');
  }
  if (equalBytesConstantTime(issuer.signingKey, ctx.identity.signing.publicKey))
    return fail(state, 'SELF_PAIRING', 'SELF_PAIRING');
  if (
    state.target.form === 'url' &&
    (body.mode !== state.target.invite.mode || body.requireSas !== state.target.invite.requireSas)
  ) {
    return fail(state, 'PROTOCOL_ERROR', 'PROTOCOL_ERROR');
  }
  const next: AcceptorState = {
    ...state,
    issuerShare: frame.share,
    sessionSecret: secret,
    transcript: th1,
    issuerCard: issuer.bytes,
    mode: body.mode,
  };
  const sasEffect: Effect = { type: 'sasReady', sessionId: state.sessionId, sas: deriveSas(keys.sas) };
  // Device mode hands this machine a whole identity: its operator must compare the SAS too.
  if (state.requireSas || body.mode === 'device') {
    return {
      state: { ...next, phase: 'awaitingSas' },
      effects: [sasEffect, { type: 'progress', status: 'sas', sessionId: state.sessionId }],
    };
  }
  const sent = sendConfirm(next, ctx);
  return { state: sent.state, effects: [sasEffect, ...sent.effects] };
}

function sendConfirm(state: AcceptorState, ctx: StepContext): Step<AcceptorState> {
  const keys = deriveSessionKeys(state.sessionSecret!);
  const th2 = transcriptAfterConfirm(state.transcript!, ctx.card);
  const signature = ctx.identity.signing.sign(transcriptSignatureMessage('transcriptSigAcceptor', th2));
  const body = encodeConfirmBody({
    card: ctx.card,
    signature,
    tag: confirmationTag(keys.confirmAcceptor, th2),
  });
  const frame = encodeFrame({
    type: 'confirm',
    sessionId: state.sessionId,
    sealed: sealFrame(keys.acceptorToIssuer, FRAME_TYPE.confirm, body),
  });
  return {
    state: { ...state, phase: 'awaitingWelcome', transcript: th2, lastSentFrame: frame, lastSentAt: ctx.now },
    effects: [{ type: 'send', to: targetMailbox(state.target), frame }],
  };
}

function onWelcome(
  state: AcceptorState,
  frame: Extract<Frame, { type: 'welcome' }>,
  _ctx: StepContext,
): Step<AcceptorState> {
  if (state.phase !== 'awaitingWelcome') return unchanged(state);
  const keys = deriveSessionKeys(state.sessionSecret!);
  let body: ReturnType<typeof decodeWelcomeBody>;
  try {
    body = decodeWelcomeBody(openFrame(keys.issuerToAcceptor, FRAME_TYPE.welcome, frame.sealed));
  } catch {
    return unchanged(state); // not from the issuer: only it holds this key
  }
  const issuer = readVerifiedCard(state.issuerCard!);
  if (
    !verifyTranscriptSignature(
      'transcriptSigIssuerWelcome',
      issuer.signingKey,
      state.transcript!,
      body.signature,
    )
  ) {
    return fail(state, 'BAD_SIGNATURE', null);
  }
  const effects: Effect[] = [];
  if (state.mode === 'device') {
    try {
      effects.push({
        type: 'importIdentity',
        bundle: decodeDeviceBundle(body.bundle, issuer.signingKey),
        issuer,
      });
    } catch {
      return fail(state, 'PROTOCOL_ERROR', null);
    }
  } else if (body.bundle.length !== 0) {
    return fail(state, 'PROTOCOL_ERROR', null);
  }
  effects.push(
    { type: 'pin', sessionId: state.sessionId, peer: issuer, mode: state.mode! },
    { type: 'closeMailbox', mailboxId: state.replyBox.mailboxId },
    { type: 'progress', status: 'paired', sessionId: state.sessionId, peer: issuer },
  );
  return { state: { ...state, phase: 'paired' }, effects };
}
