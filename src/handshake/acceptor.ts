import { equalBytesConstantTime } from '../crypto/constant-time.js';
import { PairlinkError } from '../errors.js';
import { readVerifiedCard } from '../identity/card.js';
import { encodeDidKey } from '../identity/identity.js';
import {
  type AcceptorState,
  type AcceptTarget,
  contextOf,
  formSecretOf,
  isAcceptorFinished,
  RESENDING,
  targetExpiry,
  targetMailbox,
} from './acceptor-state.js';
import {
  fail,
  finishPaired,
  helloEffects,
  inboxBefore,
  openReplyBox,
  resend,
  unchanged,
} from './acceptor-steps.js';
import { acceptorDeadline, ackDeadline, retryDelaySeconds } from './deadlines.js';
import { decodeDeviceBundle } from './device-bundle.js';
import {
  type Effect,
  type HostEvent,
  isFinalRelayFailure,
  isPermanentRelayFailure,
  type OwnedMailbox,
  type Step,
  type StepContext,
} from './effects.js';
import { decodeFrame, encodeFrame, type Frame } from './frames.js';
import {
  buildAck,
  buildConfirm,
  buildInbox,
  openInbox,
  openReply,
  openSealedAbort,
  openWelcome,
} from './messages.js';
import { deriveSas } from './sas.js';
import { deriveSessionKeys, deriveSessionSecret, drawShare } from './session-keys.js';

export {
  type AcceptorPhase,
  type AcceptorState,
  type AcceptTarget,
  isAcceptorFinished,
} from './acceptor-state.js';

/**
 * How long after a relay restart (its store's start) a link's mailbox that it lost may take to
 * come back: the issuer's agent re-creates it as soon as its socket is back, within the socket's
 * 10 s backoff cap and 10 s connect deadline, so this is three times that.
 */
export const RELAY_REFIND_SECONDS = 60;

export type AcceptorEvent =
  | { readonly type: 'frameReceived'; readonly frame: Uint8Array }
  | { readonly type: 'sasConfirmed' }
  | { readonly type: 'sasRejected' }
  | { readonly type: 'clockTicked' }
  | HostEvent;

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
  if (target.form === 'url' && ctx.retiredKey?.(encodeDidKey(target.invite.issuerKey)))
    throw new PairlinkError('KEY_RETIRED', 'this invite was minted by a key its identity rotated away from');
  const sessionId = ctx.random(16);
  const replyBox: OwnedMailbox = {
    mailboxId: ctx.random(16),
    writeCapability: ctx.random(16),
    readCapability: ctx.random(16),
  };
  const partial = { target, sessionId };
  const { ephemeralSecret, share } = drawShare(formSecretOf(target), contextOf(partial), () =>
    ctx.random(32),
  );
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
    resendAt: ctx.now + retryDelaySeconds(0),
    resends: 0,
  };
  return { state, effects: helloEffects(state) };
}

/** Advances the acceptor by one event. Never throws for anything that arrives from the network. */
export function stepAcceptor(
  state: AcceptorState,
  event: AcceptorEvent,
  ctx: StepContext,
): Step<AcceptorState> {
  if (isAcceptorFinished(state)) return unchanged(state);
  switch (event.type) {
    case 'clockTicked':
      return onTick(state, ctx);
    case 'resumed':
      return state.phase === 'awaitingSas' ? unchanged(state) : resend(state, ctx);
    case 'mailboxLost':
      // Our reply box is gone at the relay (it lost its state): open it again; resends refill it.
      return state.phase === 'paired' ? unchanged(state) : { state, effects: [openReplyBox(state)] };
    case 'relayFailed':
      // Paired already: the reply box is no longer needed, whatever the relay does with it.
      return state.phase === 'paired' ? unchanged(state) : fail(state, event.code, null);
    case 'frameDelivered':
      return state.ackPending && equalBytesConstantTime(event.frame, state.lastSentFrame)
        ? finishPaired(state)
        : unchanged(state);
    case 'effectFailed':
      return onEffectFailed(state, event, ctx);
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
      switch (frame.type) {
        case 'reply':
          return onReply(state, frame, ctx);
        case 'welcome':
          return onWelcome(state, frame, ctx);
        case 'abort':
          // A clear abort can come from anyone: it counts only before the reply, when nobody
          // has pinned anything and the relay could have dropped our hello just as well.
          return state.phase === 'awaitingReply' ? fail(state, frame.reason, null) : unchanged(state);
        case 'sealedAbort':
          return onSealedAbort(state, frame);
        case 'inbox':
          return onInbox(state, event.frame);
        default:
          return unchanged(state); // our own hello/confirm/ack reflected back: ignore
      }
    }
  }
}

/** The earliest time a clock tick can change this accept (onTick below is a no-op before it). */
export function acceptorWakeAt(state: AcceptorState): number {
  if (isAcceptorFinished(state)) return Number.POSITIVE_INFINITY;
  const expiresAt = targetExpiry(state.target);
  let wake = state.phase === 'paired' ? ackDeadline(expiresAt) : acceptorDeadline(expiresAt);
  if (RESENDING.has(state.phase) || state.ackPending) wake = Math.min(wake, state.resendAt);
  return wake;
}

function onTick(state: AcceptorState, ctx: StepContext): Step<AcceptorState> {
  const expiresAt = targetExpiry(state.target);
  if (state.phase !== 'paired' && ctx.now >= acceptorDeadline(expiresAt))
    return fail(state, 'TIMEOUT', 'TIMEOUT');
  // Past the issuer's own deadline nobody reads the ack any more.
  if (state.ackPending && ctx.now >= ackDeadline(expiresAt)) return finishPaired(state);
  if ((RESENDING.has(state.phase) || state.ackPending) && ctx.now >= state.resendAt)
    return resend(state, ctx);
  return unchanged(state);
}

/**
 * The relay refused or did not take an effect. A mailbox that is gone ends the accept (the relay
 * answers alike for used, expired and cancelled, so the reason is unknown), unless it is a link's
 * and the relay restarted less than RELAY_REFIND_SECONDS ago: then it was lost and its issuer puts
 * it back, so it is looked for again, and if it never comes back the accept says the relay lost
 * it (RELAY_RESTARTED). A certificate not trusted here ends it too (isFinalRelayFailure).
 * Anything else (relay away, rate limit, timeout) is retried on the backoff schedule.
 */
function onEffectFailed(
  state: AcceptorState,
  event: Extract<HostEvent, { type: 'effectFailed' }>,
  ctx: StepContext,
): Step<AcceptorState> {
  if (event.effect.type === 'closeMailbox' || event.effect.type === 'resync') return unchanged(state);
  if (isFinalRelayFailure(event.code))
    return state.phase === 'paired' ? finishPaired(state) : fail(state, event.code, null);
  let next = state;
  if (event.effect.type === 'send' && isPermanentRelayFailure(event.code)) {
    // Paired already: the issuer's mailbox is gone, so the ack cannot be delivered any more.
    if (state.phase === 'paired') return finishPaired(state);
    const since = event.relayStoreSince;
    const restarted = since !== undefined && ctx.now < since + RELAY_REFIND_SECONDS;
    if (state.target.form !== 'url' || !restarted)
      return fail(state, state.relayLost ? 'RELAY_RESTARTED' : 'INVITE_NOT_FOUND', null);
    next = { ...state, relayLost: true };
  }
  if (state.phase === 'awaitingSas') return unchanged(next);
  return {
    state: { ...next, resendAt: Math.min(state.resendAt, ctx.now + retryDelaySeconds(0)) },
    effects: [],
  };
}

function onSealedAbort(
  state: AcceptorState,
  frame: Extract<Frame, { type: 'sealedAbort' }>,
): Step<AcceptorState> {
  if (!state.sessionSecret || state.phase === 'paired') return unchanged(state);
  const reason = openSealedAbort(deriveSessionKeys(state.sessionSecret), 'issuer', frame.sealed);
  return reason === null ? unchanged(state) : fail(state, reason, null); // null: not from this issuer
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
    return duplicate && (state.phase === 'awaitingWelcome' || state.phase === 'paired')
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
  const opened = openReply(
    keys,
    {
      form: state.target.form,
      context,
      acceptorShare: state.share,
      issuerShare: frame.share,
      ...(state.target.form === 'url' ? { issuerKey: state.target.invite.issuerKey } : {}),
    },
    frame.sealed,
  );
  if (!opened.ok) {
    // With a code, a reply we cannot open means the two sides used different codes. With a URL
    // only a holder of the secret can make a reply, so an unopenable one is a forgery: ignore it.
    if (opened.failure === 'BAD_SIGNATURE') return fail(state, 'BAD_SIGNATURE', 'BAD_SIGNATURE');
    return state.target.form === 'code' ? fail(state, 'WRONG_CODE', 'WRONG_CODE') : unchanged(state);
  }
  const { issuer, transcript: th1, mode, requireSas } = opened;
  if (equalBytesConstantTime(issuer.signingKey, ctx.identity.signing.publicKey))
    return fail(state, 'SELF_PAIRING', 'SELF_PAIRING');
  if (ctx.retiredKey?.(issuer.did)) return fail(state, 'KEY_RETIRED', 'PEER_REMOVED');
  if (
    state.target.form === 'url' &&
    (mode !== state.target.invite.mode || requireSas !== state.target.invite.requireSas)
  ) {
    return fail(state, 'PROTOCOL_ERROR', 'PROTOCOL_ERROR');
  }
  const next: AcceptorState = {
    ...state,
    issuerShare: frame.share,
    sessionSecret: secret,
    transcript: th1,
    issuerCard: issuer.bytes,
    mode,
  };
  const sasEffect: Effect = { type: 'sasReady', sessionId: state.sessionId, sas: deriveSas(keys.sas) };
  // Device mode hands this machine a whole identity: its operator must compare the SAS too.
  if (state.requireSas || mode === 'device') {
    return {
      state: { ...next, phase: 'awaitingSas' },
      effects: [
        sasEffect,
        { type: 'progress', status: 'sas', sessionId: state.sessionId, sas: sasEffect.sas },
      ],
    };
  }
  const sent = sendConfirm(next, ctx);
  // The issuer's operator compares the code before its agent answers: show it here now, so this
  // side's operator can read it out (nothing to confirm on this side).
  const shown: Effect[] = requireSas
    ? [{ type: 'progress', status: 'sasShown', sessionId: state.sessionId, sas: sasEffect.sas }]
    : [];
  // The confirm is a function of the saved state and this reply (signatures and seals are
  // deterministic): after a crash the same reply makes the same confirm, so it need not wait.
  return { state: sent.state, effects: [sasEffect, ...shown, ...sent.effects], replayable: true };
}

function sendConfirm(state: AcceptorState, ctx: StepContext): Step<AcceptorState> {
  const keys = deriveSessionKeys(state.sessionSecret!);
  const { frame, transcript: th2 } = buildConfirm(keys, state.sessionId, state.transcript!, ctx);
  return {
    state: {
      ...state,
      phase: 'awaitingWelcome',
      transcript: th2,
      lastSentFrame: frame,
      resendAt: ctx.now + retryDelaySeconds(0),
      resends: 0,
    },
    effects: [{ type: 'send', to: targetMailbox(state.target), frame }],
  };
}

function onWelcome(
  state: AcceptorState,
  frame: Extract<Frame, { type: 'welcome' }>,
  ctx: StepContext,
): Step<AcceptorState> {
  if (state.phase === 'paired') {
    // Our ack may have been lost: answer a repeated welcome with the same ack bytes.
    return {
      state,
      effects: [
        ...inboxBefore(state),
        { type: 'send', to: targetMailbox(state.target), frame: state.lastSentFrame },
      ],
    };
  }
  if (state.phase !== 'awaitingWelcome') return unchanged(state);
  const keys = deriveSessionKeys(state.sessionSecret!);
  const issuer = readVerifiedCard(state.issuerCard!);
  const opened = openWelcome(keys, state.transcript!, issuer, frame.sealed);
  // Unopened: not from the issuer, only it holds this key.
  if (!opened.ok)
    return opened.failure === 'unopened' ? unchanged(state) : fail(state, 'BAD_SIGNATURE', 'BAD_SIGNATURE');
  const effects: Effect[] = [];
  if (state.mode === 'device') {
    try {
      effects.push({
        type: 'importIdentity',
        bundle: decodeDeviceBundle(opened.bundle, issuer.signingKey),
        issuer,
      });
    } catch {
      return fail(state, 'PROTOCOL_ERROR', 'PROTOCOL_ERROR');
    }
  } else if (opened.bundle.length !== 0) {
    return fail(state, 'PROTOCOL_ERROR', 'PROTOCOL_ERROR');
  }
  // The welcome proves the issuer pinned us (it pins before it sends one): pin, confirmed, and
  // tell the issuer with a sealed ack, which it needs to mark its own pin confirmed. The pin takes
  // the issuer's inbox if its frame opened by now; only then do we hand over ours (§11.1: an issuer
  // that sent none may be one that counts a frame it does not know as a guess).
  const ack = buildAck(keys, state.sessionId);
  const inbox = state.peerInbox && ctx.inboxFor?.(state.sessionId, issuer.did);
  const paired: AcceptorState = {
    ...state,
    phase: 'paired',
    ackPending: true,
    lastSentFrame: ack,
    resendAt: ctx.now + retryDelaySeconds(0),
    resends: 0,
    ...(inbox ? { inboxFrame: buildInbox(keys, 'acceptor', state.sessionId, inbox) } : {}),
  };
  effects.push(
    {
      type: 'pin',
      sessionId: state.sessionId,
      peer: issuer,
      mode: state.mode!,
      confirmed: true,
      ...(state.peerInbox ? { peerInbox: state.peerInbox } : {}),
      ...(inbox ? { handedWriteCapability: inbox.inbox.writeCapability } : {}),
    },
    { type: 'progress', status: 'paired', sessionId: state.sessionId, peer: issuer },
    ...inboxBefore(paired),
    { type: 'send', to: targetMailbox(state.target), frame: ack, track: true },
  );
  return { state: paired, effects };
}

/** The issuer's inbox frame (before its welcome): the first that opens is kept; after the pin, none. */
function onInbox(state: AcceptorState, frame: Uint8Array): Step<AcceptorState> {
  if (state.phase !== 'awaitingWelcome' || state.peerInbox) return unchanged(state);
  const peerInbox = openInbox(deriveSessionKeys(state.sessionSecret!), 'issuer', state.sessionId, frame);
  return peerInbox ? { state: { ...state, peerInbox }, effects: [] } : unchanged(state);
}
