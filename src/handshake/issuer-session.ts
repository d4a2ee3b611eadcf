import { equalBytesConstantTime } from '../crypto/constant-time.js';
import type { ErrorCode } from '../errors.js';
import { readVerifiedCard } from '../identity/card.js';
import { ackDeadline, completeBy, ISSUER_SESSION_TIMEOUT_SECONDS, retryDelaySeconds } from './deadlines.js';
import { encodeDeviceBundle } from './device-bundle.js';
import { type Effect, isPermanentRelayFailure } from './effects.js';
import { ABORT_REASONS, type AbortReason, type Frame } from './frames.js';
import {
  endSession,
  markUnconfirmed,
  resendLast,
  type SessionStep,
  send,
  sendWelcome,
  settle,
  unchanged,
} from './issuer-session-steps.js';
import {
  type IssuerSession,
  type IssuerState,
  type IssuerStepContext,
  statusReason,
} from './issuer-state.js';
import {
  buildAbort,
  buildInbox,
  buildReply,
  buildWelcome,
  openAck,
  openConfirm,
  openInbox,
  openSealedAbort,
} from './messages.js';
import { deriveSas } from './sas.js';
import {
  deriveSessionKeys,
  deriveSessionSecret,
  drawShare,
  issuerEphemeral,
  type SessionContext,
} from './session-keys.js';

/**
 * The issuer, per session: one acceptor's run against an invite (docs/PROTOCOL.md §6.4, "Issuer,
 * per session"). The invite machine (issuer.ts) owns the slots, uses and guess counting; it opens a
 * session for each new hello, feeds it events, and acts on the outcome each step reports.
 */

/** What a session takes: frames of its id, operator answers, the clock, the host, its invite. */
export type SessionEvent = { readonly type: 'helloRepeated'; readonly share: Uint8Array } | PhaseEvent;

/** The events whose handling depends on the phase. */
type PhaseEvent =
  | { readonly type: 'confirmReceived'; readonly sealed: Uint8Array }
  | { readonly type: 'ackReceived'; readonly sealed: Uint8Array }
  /** An inbox frame of this session (PROTOCOL.md §11.1), whole: it is opened as one. */
  | { readonly type: 'inboxReceived'; readonly frame: Uint8Array }
  | { readonly type: 'sealedAbortReceived'; readonly sealed: Uint8Array }
  | { readonly type: 'abortReceived'; readonly reason: AbortReason }
  | { readonly type: 'sasConfirmed' }
  | { readonly type: 'sasRejected' }
  | { readonly type: 'clockTicked' }
  | { readonly type: 'resumed' }
  /** A send to the acceptor's reply box failed with `code`. */
  | { readonly type: 'sendFailed'; readonly code: ErrorCode }
  /** The invite's mailbox is gone: no ack can arrive. */
  | { readonly type: 'mailboxLost' }
  | { readonly type: 'peerRemoved'; readonly did: string };

/**
 * Opens a session for a new hello: draws its share, derives its keys and replies. Null when the
 * acceptor's share is invalid (the invite refuses the hello).
 */
export function openSession(
  invite: IssuerState,
  hello: Extract<Frame, { type: 'hello' }>,
  ctx: IssuerStepContext,
): SessionStep | null {
  const context: SessionContext = {
    inviteId: invite.inviteId,
    mailboxId: invite.mailboxId,
    sessionId: hello.sessionId,
  };
  // Seeded: the same hello draws the same share, so the reply may leave before the step is saved.
  const seed = invite.ephemeralSeed?.length === 32 ? invite.ephemeralSeed : undefined;
  const { ephemeralSecret, share } = drawShare(invite.formSecret, context, (attempt) =>
    seed ? issuerEphemeral(seed, hello.sessionId, hello.share, attempt) : ctx.random(32),
  );
  const secret = deriveSessionSecret(
    invite.formSecret,
    context,
    'issuer',
    ephemeralSecret,
    share,
    hello.share,
  );
  if (secret === null) return null;
  const keys = deriveSessionKeys(secret);
  const reply = buildReply(
    keys,
    {
      form: invite.formSecret.form,
      context,
      acceptorShare: hello.share,
      share,
      mode: invite.mode,
      requireSas: invite.requireSas,
    },
    ctx,
  );
  const session: IssuerSession = {
    phase: 'awaitingConfirm',
    sessionId: hello.sessionId,
    replyTo: hello.replyTo,
    acceptorShare: hello.share,
    ephemeralSecret,
    share,
    sessionSecret: secret,
    transcript: reply.transcript,
    replyFrame: reply.frame,
    sasConfirmed: false,
    startedAt: ctx.now,
  };
  return {
    session,
    replayable: seed !== undefined,
    effects: [
      { type: 'send', to: hello.replyTo, frame: reply.frame },
      { type: 'sasReady', sessionId: hello.sessionId, sas: deriveSas(keys.sas) },
      { type: 'progress', status: 'accepted', sessionId: hello.sessionId },
    ],
  };
}

/**
 * Advances one session by one event: one switch per phase below, the whole table in this file.
 * A repeated hello is answered alike in every phase, so it is taken first.
 */
export function stepSession(
  session: IssuerSession,
  event: SessionEvent,
  invite: IssuerState,
  ctx: IssuerStepContext,
): SessionStep {
  if (event.type === 'helloRepeated') return answerRepeatedHello(session, event.share);
  switch (session.phase) {
    case 'awaitingConfirm':
    case 'awaitingSas':
      return stepOpen(session, event, invite, ctx);
    case 'awaitingAck':
      return stepAwaitingAck(session, event, invite, ctx);
    case 'unconfirmed':
    case 'completed':
    case 'failed':
      return stepSettled(session, event);
  }
}

/** awaitingConfirm and awaitingSas: key confirmation (and the SAS) are not done; nothing is pinned. */
function stepOpen(
  session: IssuerSession,
  event: PhaseEvent,
  invite: IssuerState,
  ctx: IssuerStepContext,
): SessionStep {
  const confirming = session.phase === 'awaitingConfirm';
  switch (event.type) {
    case 'confirmReceived':
      return confirming ? onConfirm(session, event.sealed, invite, ctx) : unchanged(session);
    case 'sasConfirmed': {
      const confirmed = { ...session, sasConfirmed: true };
      return confirming ? unchanged(confirmed) : complete(confirmed, invite, ctx);
    }
    case 'sasRejected':
      return endSession(session, 'SAS_REJECTED', 'SAS_REJECTED');
    case 'sealedAbortReceived': {
      // Sealed, so it is really the acceptor: it held the key, so this was no guess.
      const reason = openSealedAbort(deriveSessionKeys(session.sessionSecret), 'acceptor', event.sealed);
      return reason === null ? unchanged(session) : endSession(session, reason, null);
    }
    case 'abortReceived': {
      // A clear abort can come from anyone, but nothing is pinned yet, so it is believed.
      const failed = endSession(session, event.reason, null);
      return confirming ? { ...failed, outcome: { type: 'guessFailed' } } : failed;
    }
    case 'clockTicked':
      if (confirming && ctx.now - session.startedAt >= ISSUER_SESSION_TIMEOUT_SECONDS)
        return { ...endSession(session, 'TIMEOUT', 'TIMEOUT'), outcome: { type: 'guessFailed' } };
      if (!confirming && ctx.now >= completeBy(invite.expiresAt))
        return endSession(session, 'TIMEOUT', 'TIMEOUT');
      return unchanged(session);
    case 'sendFailed':
      // The reply box is gone: the acceptor has finished.
      return isPermanentRelayFailure(event.code)
        ? endSession(session, 'INVITE_NOT_FOUND', null)
        : unchanged(session);
    case 'ackReceived':
    case 'inboxReceived': // the acceptor sends one only after our welcome
    case 'resumed':
    case 'mailboxLost':
    case 'peerRemoved':
      return unchanged(session);
  }
}

/** awaitingAck: the acceptor is pinned, unconfirmed, and welcomed; its ack is awaited. */
function stepAwaitingAck(
  session: IssuerSession,
  event: PhaseEvent,
  invite: IssuerState,
  ctx: IssuerStepContext,
): SessionStep {
  switch (event.type) {
    case 'confirmReceived':
      return resendLast(session);
    case 'ackReceived':
      return onAck(session, event.sealed);
    case 'inboxReceived':
      return onInbox(session, event.frame);
    case 'sealedAbortReceived': {
      const reason = openSealedAbort(deriveSessionKeys(session.sessionSecret), 'acceptor', event.sealed);
      if (reason === null) return unchanged(session);
      // It gave up before our welcome reached it: it pinned nothing, so neither do we.
      const did = readVerifiedCard(session.acceptorCard!).did;
      return settle({ ...session, phase: 'failed', failure: reason }, [
        { type: 'unpin', sessionId: session.sessionId, did },
        { type: 'progress', status: 'failed', sessionId: session.sessionId, code: reason },
      ]);
    }
    case 'clockTicked':
      if (ctx.now >= ackDeadline(invite.expiresAt)) return markUnconfirmed(session);
      if (session.retryAt !== undefined && ctx.now >= session.retryAt) {
        const { retryAt: _due, ...rest } = session;
        return sendWelcome({ ...rest, retries: (session.retries ?? 0) + 1 }, session.welcomeFrame!);
      }
      if (session.resyncAt !== undefined && ctx.now >= session.resyncAt) {
        const resyncs = (session.resyncs ?? 0) + 1;
        return {
          session: { ...session, resyncs, resyncAt: ctx.now + retryDelaySeconds(resyncs) },
          effects: [{ type: 'resync' }],
        };
      }
      return unchanged(session);
    case 'resumed':
      return sendWelcome(session, session.welcomeFrame!);
    case 'sendFailed':
      // A lost welcome is retried on the backoff schedule (the acceptor's resent confirm would also
      // bring it back). A reply box that is gone: its ack may still be in our mailbox, so keep
      // reading until the deadline.
      if (isPermanentRelayFailure(event.code) || session.retryAt !== undefined) return unchanged(session);
      return unchanged({ ...session, retryAt: ctx.now + retryDelaySeconds(session.retries ?? 0) });
    case 'mailboxLost':
      return markUnconfirmed(session);
    case 'peerRemoved':
      return onPeerRemoved(session, event.did);
    case 'abortReceived':
    case 'sasConfirmed':
    case 'sasRejected':
      return unchanged(session);
  }
}

/** unconfirmed, completed, failed: only a late ack (and its inbox), an unpair and repeats still matter. */
function stepSettled(session: IssuerSession, event: PhaseEvent): SessionStep {
  switch (event.type) {
    case 'confirmReceived':
      return resendLast(session);
    case 'ackReceived':
      return session.phase === 'unconfirmed' ? onAck(session, event.sealed) : unchanged(session);
    case 'inboxReceived':
      return session.phase === 'unconfirmed' ? onInbox(session, event.frame) : unchanged(session);
    case 'peerRemoved':
      return session.phase === 'unconfirmed' ? onPeerRemoved(session, event.did) : unchanged(session);
    default:
      return unchanged(session);
  }
}

function asAbortReason(code: ErrorCode | undefined): AbortReason {
  return (ABORT_REASONS as readonly string[]).includes(code ?? '') ? (code as AbortReason) : 'PROTOCOL_ERROR';
}

/**
 * A repeated hello means the acceptor never saw our reply: resend it, or, for a session that has
 * ended, say so in the clear (the acceptor holds no key to open anything else yet).
 */
function answerRepeatedHello(session: IssuerSession, share: Uint8Array): SessionStep {
  if (!equalBytesConstantTime(session.acceptorShare, share)) return unchanged(session);
  if (session.phase === 'failed')
    return send(session, buildAbort('issuer', session.sessionId, asAbortReason(session.failure)));
  return session.replyFrame.length > 0 ? send(session, session.replyFrame) : unchanged(session);
}

function onConfirm(
  session: IssuerSession,
  sealed: Uint8Array,
  invite: IssuerState,
  ctx: IssuerStepContext,
): SessionStep {
  const opened = openConfirm(deriveSessionKeys(session.sessionSecret), session.transcript, sealed);
  // Unopened: only the acceptor of this session holds the key, so it is a forgery.
  if (!opened.ok)
    return opened.failure === 'unopened'
      ? unchanged(session)
      : endSession(session, 'BAD_SIGNATURE', 'BAD_SIGNATURE');
  const acceptor = opened.acceptor;
  if (equalBytesConstantTime(acceptor.signingKey, ctx.identity.signing.publicKey)) {
    return endSession(session, 'SELF_PAIRING', 'SELF_PAIRING');
  }
  if (invite.refusedDids?.includes(acceptor.did)) {
    return endSession(session, 'PEER_REMOVED', 'PEER_REMOVED');
  }
  if (ctx.retiredKey?.(acceptor.did)) return endSession(session, 'KEY_RETIRED', 'PEER_REMOVED');
  const verified: IssuerSession = { ...session, transcript: opened.transcript, acceptorCard: acceptor.bytes };
  if (invite.requireSas && !session.sasConfirmed) {
    return {
      session: { ...verified, phase: 'awaitingSas' },
      effects: [{ type: 'progress', status: 'sas', sessionId: session.sessionId, peer: acceptor }],
    };
  }
  return complete(verified, invite, ctx);
}

/**
 * Key confirmation done (and SAS, where required): pin the acceptor (unconfirmed until its ack)
 * and send the welcome; the invite consumes a use (outcome `pinned`). The pin and the new state
 * are saved before the welcome goes.
 */
function complete(session: IssuerSession, invite: IssuerState, ctx: IssuerStepContext): SessionStep {
  const acceptor = readVerifiedCard(session.acceptorCard!);
  const reason = statusReason(invite.status, ctx.now, completeBy(invite.expiresAt));
  if (reason) return endSession(session, reason, reason);
  if (invite.refusedDids?.includes(acceptor.did)) return endSession(session, 'PEER_REMOVED', 'PEER_REMOVED');
  if (ctx.retiredKey?.(acceptor.did)) return endSession(session, 'KEY_RETIRED', 'PEER_REMOVED');
  // Every completed session is a use, a repeat acceptor's included: uses bound how many pins
  // one invite can make, whoever asks (docs/SECURITY.md §Invites).
  if (invite.usesLeft === 0) return endSession(session, 'INVITE_USED', 'INVITE_USED');
  const bundle =
    invite.mode === 'device' && ctx.deviceBundle ? encodeDeviceBundle(ctx.deviceBundle()) : new Uint8Array();
  if (invite.mode === 'device' && bundle.length === 0)
    throw new Error('device invite completed without a device bundle');
  const keys = deriveSessionKeys(session.sessionSecret);
  const welcomeFrame = buildWelcome(keys, session.sessionId, session.transcript, bundle, ctx);
  // Our inbox goes before the welcome (PROTOCOL.md §11.1), made once: the step saves before it posts.
  const inbox = ctx.inboxFor?.(session.sessionId, acceptor.did);
  const inboxFrame = inbox && buildInbox(keys, 'issuer', session.sessionId, inbox);
  const welcomed: IssuerSession = {
    ...session,
    phase: 'awaitingAck',
    welcomeFrame,
    ...(inboxFrame ? { inboxFrame } : {}),
    retries: 0,
    resyncs: 0,
    resyncAt: ctx.now + retryDelaySeconds(0),
  };
  const pin: Effect = {
    type: 'pin',
    sessionId: session.sessionId,
    peer: acceptor,
    mode: invite.mode,
    confirmed: false,
    ...(inbox ? { handedWriteCapability: inbox.inbox.writeCapability } : {}),
  };
  const effects = [pin, ...sendWelcome(welcomed, welcomeFrame).effects];
  return { session: welcomed, effects, outcome: { type: 'pinned', did: acceptor.did } };
}

/** The acceptor's inbox frame (before its ack): the first that opens is kept for the pin's confirmation. */
function onInbox(session: IssuerSession, frame: Uint8Array): SessionStep {
  if (session.peerInbox) return unchanged(session);
  const peerInbox = openInbox(deriveSessionKeys(session.sessionSecret), 'acceptor', session.sessionId, frame);
  return peerInbox ? unchanged({ ...session, peerInbox }) : unchanged(session);
}

/** The acceptor pinned us too: the pin is confirmed and this session is done. */
function onAck(session: IssuerSession, sealed: Uint8Array): SessionStep {
  // Only the acceptor of this session can make one.
  if (!openAck(deriveSessionKeys(session.sessionSecret), sealed)) return unchanged(session);
  const acceptor = readVerifiedCard(session.acceptorCard!);
  return settle({ ...session, phase: 'completed' }, [
    {
      type: 'confirmPin',
      sessionId: session.sessionId,
      did: acceptor.did,
      ...(session.peerInbox ? { peerInbox: session.peerInbox } : {}),
    },
    { type: 'progress', status: 'paired', sessionId: session.sessionId, peer: acceptor },
  ]);
}

/**
 * The operator unpaired this session's acceptor: the session ends here, so an ack the relay
 * releases later cannot announce a pairing the operator has undone.
 */
function onPeerRemoved(session: IssuerSession, did: string): SessionStep {
  if (readVerifiedCard(session.acceptorCard!).did !== did) return unchanged(session);
  return settle({ ...session, phase: 'failed', failure: 'PEER_REMOVED' }, [
    { type: 'progress', status: 'failed', sessionId: session.sessionId, code: 'PEER_REMOVED' },
  ]);
}
