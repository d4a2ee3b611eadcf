import { toHex } from '../encoding/hex.js';
import type { ErrorCode } from '../errors.js';
import { MAX_FAILED_CODE_ATTEMPTS } from '../invite/invite-policy.js';
import { completeBy, EVICTABLE_AFTER_SECONDS } from './deadlines.js';
import type { Effect, HostEvent, Step } from './effects.js';
import { type AbortReason, decodeFrame, encodeFrame, type Frame } from './frames.js';
import { openSession, type SessionEvent, stepSession } from './issuer-session.js';
import { endSession, type SessionStep } from './issuer-session-steps.js';
import {
  awaitsAck,
  type InviteStatus,
  type IssuerSession,
  type IssuerState,
  type IssuerStepContext,
  isIssuerFinished,
  isOpen,
  sessionWakeAt,
  statusReason,
} from './issuer-state.js';

/**
 * The issuer, per invite (docs/PROTOCOL.md §6.4, "Invite"): its status, its slots and uses, the
 * guesses a code invite has counted, and its mailbox. Each acceptor's run is a session, a machine
 * of its own (issuer-session.ts): this one opens a session per new hello, routes each event to the
 * session it names, and acts on what the session reports (a use consumed, a guess failed, an ack
 * settled). One state (issuer-state.ts) holds the invite and all its sessions, so use counting is
 * one atomic step.
 */

export {
  type InviteStatus,
  type IssuerSession,
  type IssuerSessionPhase,
  type IssuerState,
  type IssuerStepContext,
  isIssuerFinished,
} from './issuer-state.js';

/** How many acceptor sessions one invite runs at once (before key confirmation). */
export const MAX_CONCURRENT_SESSIONS = 16;

export type IssuerEvent =
  | { readonly type: 'frameReceived'; readonly frame: Uint8Array }
  | { readonly type: 'sasConfirmed'; readonly sessionId: Uint8Array }
  | { readonly type: 'sasRejected'; readonly sessionId: Uint8Array }
  | { readonly type: 'cancelRequested' }
  | { readonly type: 'clockTicked' }
  /** The operator unpaired `did` (the host removed its pin in the same save). */
  | { readonly type: 'peerRemoved'; readonly did: string }
  | HostEvent;

const unchanged = (state: IssuerState): Step<IssuerState> => ({ state, effects: [] });

/** Runs `next` after `step`: its state, and the effects of both in order. */
function then(step: Step<IssuerState>, next: (state: IssuerState) => Step<IssuerState>): Step<IssuerState> {
  const after = next(step.state);
  return { state: after.state, effects: [...step.effects, ...after.effects] };
}

function withSession(state: IssuerState, session: IssuerSession): IssuerState {
  return { ...state, sessions: { ...state.sessions, [toHex(session.sessionId)]: session } };
}

/**
 * Steps one session and acts on its outcome: a use consumed (the invite ends when none are left),
 * a failed guess counted, or the mailbox closed once no ack is due.
 */
function stepSessionOf(
  state: IssuerState,
  session: IssuerSession,
  event: SessionEvent,
  ctx: IssuerStepContext,
): Step<IssuerState> {
  return applySession(state, stepSession(session, event, state, ctx));
}

function applySession(state: IssuerState, stepped: SessionStep): Step<IssuerState> {
  const before = state.sessions[toHex(stepped.session.sessionId)];
  if (stepped.session === before && stepped.effects.length === 0 && !stepped.outcome) return unchanged(state);
  const step: Step<IssuerState> = { state: withSession(state, stepped.session), effects: stepped.effects };
  switch (stepped.outcome?.type) {
    case undefined:
      return step;
    case 'guessFailed':
      return countGuess(step);
    case 'ackSettled':
      return then(step, closeIfDone);
    case 'pinned': {
      const did = stepped.outcome.did;
      const usesLeft = step.state.usesLeft - 1;
      const pairedDids = step.state.pairedDids.includes(did)
        ? step.state.pairedDids
        : [...step.state.pairedDids, did];
      const used = { ...step, state: { ...step.state, usesLeft, pairedDids } };
      return usesLeft > 0 ? used : then(used, (next) => finish(next, 'used', 'INVITE_USED'));
    }
  }
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
    case 'resumed':
      return onResumed(state, ctx);
    case 'frameDelivered':
      return unchanged(state);
    case 'mailboxLost':
      return onMailboxLost(state, ctx);
    case 'relayFailed':
      return onMailboxLost(state, ctx, event.code);
    case 'effectFailed': {
      if (event.effect.type !== 'send') return unchanged(state);
      const session = sessionOfFrame(state, event.effect.frame);
      return session
        ? stepSessionOf(state, session, { type: 'sendFailed', code: event.code }, ctx)
        : unchanged(state);
    }
    case 'peerRemoved':
      return onPeerRemoved(state, event.did, ctx);
    case 'cancelRequested':
      return state.status === 'pending' ? finish(state, 'cancelled', 'INVITE_CANCELLED') : unchanged(state);
    case 'sasConfirmed':
    case 'sasRejected': {
      const session = state.sessions[toHex(event.sessionId)];
      return session ? stepSessionOf(state, session, { type: event.type }, ctx) : unchanged(state);
    }
    case 'frameReceived': {
      let frame: Frame;
      try {
        frame = decodeFrame(event.frame);
      } catch {
        return countJunk(unchanged(state));
      }
      const session = state.sessions[toHex(frame.sessionId)];
      if (frame.type === 'hello')
        return session
          ? stepSessionOf(state, session, { type: 'helloRepeated', share: frame.share }, ctx)
          : onHello(state, frame, ctx);
      if (!session) return countJunk(unchanged(state));
      const sessionEvent = sessionEventOf(frame, event.frame);
      return sessionEvent ? stepSessionOf(state, session, sessionEvent, ctx) : unchanged(state);
    }
  }
}

/** The session event a frame of a known session (`bytes`) is; null for a reply or welcome reflected back. */
function sessionEventOf(frame: Exclude<Frame, { type: 'hello' }>, bytes: Uint8Array): SessionEvent | null {
  switch (frame.type) {
    case 'inbox':
      return { type: 'inboxReceived', frame: bytes };
    case 'confirm':
      return { type: 'confirmReceived', sealed: frame.sealed };
    case 'ack':
      return { type: 'ackReceived', sealed: frame.sealed };
    case 'sealedAbort':
      return { type: 'sealedAbortReceived', sealed: frame.sealed };
    case 'abort':
      return { type: 'abortReceived', reason: frame.reason };
    default:
      return null;
  }
}

function sessionOfFrame(state: IssuerState, frame: Uint8Array): IssuerSession | undefined {
  try {
    return state.sessions[toHex(decodeFrame(frame).sessionId)];
  } catch {
    return undefined;
  }
}

/** A hello of a new session: refused, or given a slot (evicting an idle session if all are taken). */
function onHello(
  state: IssuerState,
  frame: Extract<Frame, { type: 'hello' }>,
  ctx: IssuerStepContext,
): Step<IssuerState> {
  const refuse = (reason: AbortReason): Step<IssuerState> => ({
    state,
    effects: [
      {
        type: 'send',
        to: frame.replyTo,
        frame: encodeFrame({ type: 'abort', sessionId: frame.sessionId, reason }),
      },
    ],
  });
  const reason = statusReason(state.status, ctx.now, state.expiresAt);
  if (reason) return refuse(reason);
  if (frame.form !== state.formSecret.form) return countJunk(refuse('PROTOCOL_ERROR'));
  let current = state;
  const evicted: Effect[] = [];
  const open = Object.values(state.sessions).filter(isOpen);
  if (open.length >= MAX_CONCURRENT_SESSIONS) {
    // Full: make room by ending the oldest session that has waited long for its confirm.
    const idle = open
      .filter((s) => s.phase === 'awaitingConfirm' && ctx.now - s.startedAt >= EVICTABLE_AFTER_SECONDS)
      .sort((a, b) => a.startedAt - b.startedAt)[0];
    if (!idle) return refuse('CROWDED');
    const ended = countGuess(applySession(state, endSession(idle, 'CROWDED', 'CROWDED')));
    if (ended.state.status !== 'pending')
      return { state: ended.state, effects: [...ended.effects, ...refuse('INVITE_USED').effects] };
    current = ended.state;
    evicted.push(...ended.effects);
  }
  const opened = openSession(state, frame, ctx);
  if (opened === null) return countJunk(refuse('PROTOCOL_ERROR'));
  return {
    state: withSession(current, opened.session),
    ...(opened.replayable !== undefined ? { replayable: opened.replayable } : {}),
    effects: [...evicted, ...opened.effects],
  };
}
/**
 * A code session ended before its acceptor proved the code (with a valid confirm or a sealed
 * abort): whoever sent that hello learnt from our reply whether its guess was right, whether it
 * then said WRONG_CODE, said nothing (timeout) or was evicted. Each such session is one online
 * guess; after MAX_FAILED_CODE_ATTEMPTS the invite burns, so guessing cannot go on
 * (docs/SECURITY.md §Short codes).
 */
function countGuess(step: Step<IssuerState>): Step<IssuerState> {
  if (step.state.formSecret.form !== 'code' || step.state.status !== 'pending') return step;
  const attempts = step.state.failedAttempts + 1;
  const counted = { ...step.state, failedAttempts: attempts };
  if (attempts < MAX_FAILED_CODE_ATTEMPTS) return { state: counted, effects: step.effects };
  const burned = finish(counted, 'failed', 'INVITE_USED', 'INVITE_BURNED');
  return { state: burned.state, effects: [...step.effects, ...burned.effects] };
}

/**
 * A message in a code invite's mailbox that no acceptor would send: not a frame, a hello this
 * invite cannot answer (the other form, an invalid CPace share), or a frame of a session that does
 * not exist. Its sender's claim took one of the nameplate's slots at the relay, which cannot tell
 * junk from a hello, so it is a failed attempt under the same burn rule as a wrong code, and the
 * operator sees it (docs/SECURITY.md §Short codes). Frames naming a known session are not counted:
 * only the relay, or that session's own acceptor, knows its id.
 */
function countJunk(step: Step<IssuerState>): Step<IssuerState> {
  if (step.state.formSecret.form !== 'code' || step.state.status !== 'pending') return step;
  const seen: Effect = { type: 'progress', status: 'failed', code: 'PROTOCOL_ERROR' };
  return countGuess({ state: step.state, effects: [...step.effects, seen] });
}

/** Ends the invite: aborts open sessions, reports the final status, closes the mailbox once no ack is due. */
function finish(
  state: IssuerState,
  status: Exclude<InviteStatus, 'pending'>,
  sessionReason: AbortReason,
  code?: ErrorCode,
): Step<IssuerState> {
  let next: IssuerState = { ...state, status, ...(status === 'failed' && code ? { failure: code } : {}) };
  const effects: Effect[] = [];
  for (const session of Object.values(state.sessions).filter(isOpen)) {
    const ended = endSession(session, sessionReason, sessionReason);
    next = withSession(next, ended.session);
    effects.push(...ended.effects);
  }
  const progressStatus = status === 'used' ? null : status;
  if (progressStatus) effects.push({ type: 'progress', status: progressStatus, ...(code ? { code } : {}) });
  return then({ state: next, effects }, closeIfDone);
}

/** Closes the invite's mailbox once the invite has ended and no session waits for its ack. */
function closeIfDone(state: IssuerState): Step<IssuerState> {
  if (state.mailboxClosed || !isIssuerFinished(state)) return unchanged(state);
  return {
    state: { ...state, mailboxClosed: true },
    effects: [{ type: 'closeMailbox', mailboxId: state.mailboxId }],
  };
}

/** The host restarted: every session awaiting its ack resends its welcome, and the mailbox is read again. */
function onResumed(state: IssuerState, ctx: IssuerStepContext): Step<IssuerState> {
  const effects = Object.values(state.sessions).flatMap(
    (session) => stepSession(session, { type: 'resumed' }, state, ctx).effects,
  );
  if (effects.length === 0) return closeIfDone(state); // an ended invite whose mailbox is still open
  return { state, effects: [...effects, { type: 'resync' }] };
}

/**
 * The relay lost the invite's mailbox (and a code's nameplate with it), or kept losing it until
 * the host gave up on it (`code` RELAY_UNRELIABLE): nothing more can arrive.
 */
function onMailboxLost(
  state: IssuerState,
  ctx: IssuerStepContext,
  code: ErrorCode = 'INVITE_NOT_FOUND',
): Step<IssuerState> {
  let step: Step<IssuerState> =
    state.status === 'pending' ? finish(state, 'failed', 'INVITE_USED', code) : unchanged(state);
  for (const session of Object.values(step.state.sessions).filter(awaitsAck))
    step = then(step, (next) => stepSessionOf(next, session, { type: 'mailboxLost' }, ctx));
  return step;
}

/**
 * The operator unpaired `did`. An invite still pending (minted before the unpair) refuses it from
 * now on; a session that pinned it and still waits for its ack (or gave up waiting) ends
 * (issuer-session.ts), so events and the history never contradict the pins. The mailbox closes
 * once, after them all, if it was the last ack due.
 */
function onPeerRemoved(state: IssuerState, did: string, ctx: IssuerStepContext): Step<IssuerState> {
  let next =
    state.status === 'pending' && !state.refusedDids?.includes(did)
      ? { ...state, refusedDids: [...(state.refusedDids ?? []), did] }
      : state;
  const effects: Effect[] = [];
  for (const session of Object.values(state.sessions)) {
    const stepped = stepSession(session, { type: 'peerRemoved', did }, next, ctx);
    if (stepped.session === session) continue;
    next = withSession(next, stepped.session);
    effects.push(...stepped.effects);
  }
  if (next === state) return unchanged(state);
  return then({ state: next, effects }, closeIfDone);
}

/**
 * The earliest time a clock tick can change this invite (onTick below is a no-op before it), so a
 * host with thousands of waiting invites steps only the few that are due.
 */
export function issuerWakeAt(state: IssuerState): number {
  let wake = state.status === 'pending' ? state.expiresAt : Number.POSITIVE_INFINITY;
  for (const session of Object.values(state.sessions))
    wake = Math.min(wake, sessionWakeAt(session, state.expiresAt));
  return wake;
}

/** Every session sees the tick first (in the order they began); then the invite may expire. */
function onTick(state: IssuerState, ctx: IssuerStepContext): Step<IssuerState> {
  let step: Step<IssuerState> = unchanged(state);
  for (const { sessionId } of Object.values(state.sessions))
    step = then(step, (next) =>
      stepSessionOf(next, next.sessions[toHex(sessionId)]!, { type: 'clockTicked' }, ctx),
    );
  const invite = step.state;
  if (invite.status !== 'pending' || ctx.now < invite.expiresAt) return step;
  const inFlight = Object.values(invite.sessions).some(isOpen);
  if (inFlight && ctx.now < completeBy(invite.expiresAt)) return step;
  return then(step, (next) => finish(next, 'expired', 'INVITE_EXPIRED', 'INVITE_EXPIRED'));
}
