import type { ErrorCode } from '../errors.js';
import { type AcceptorState, targetExpiry, targetMailbox } from './acceptor-state.js';
import { acceptorDeadline, retryDelaySeconds } from './deadlines.js';
import type { Effect, Step, StepContext } from './effects.js';
import type { AbortReason } from './frames.js';
import { buildAbort } from './messages.js';
import { deriveSessionKeys } from './session-keys.js';

/**
 * The steps several of the acceptor's transitions (acceptor.ts) end in: nothing changes, the
 * reply box is (re)opened, the last frame is sent again, the accept is done or fails.
 */

/** The state as it was, and nothing to do. */
export const unchanged = (state: AcceptorState): Step<AcceptorState> => ({ state, effects: [] });

/** Opens (or re-opens: it is idempotent) the reply box, for as long as this accept may wait. */
export function openReplyBox(state: AcceptorState): Effect {
  return {
    type: 'openMailbox',
    mailbox: state.replyBox,
    expiresAt: acceptorDeadline(targetExpiry(state.target)),
  };
}

/** The first hello goes out once its reply box is open. */
export function helloEffects(state: AcceptorState): Effect[] {
  return [openReplyBox(state), { type: 'send', to: targetMailbox(state.target), frame: state.lastSentFrame }];
}

/**
 * Sends the last frame again (after a silence, a failure or a restart). Every resend opens the
 * reply box first (idempotent): if an earlier open failed, or the relay lost or refused our watch,
 * the box is watched again before anything is waited for; then it is read again in case a push
 * was lost on the way.
 */
export function resend(state: AcceptorState, ctx: StepContext): Step<AcceptorState> {
  const next = {
    ...state,
    resends: state.resends + 1,
    resendAt: ctx.now + retryDelaySeconds(state.resends + 1),
  };
  const send: Effect = {
    type: 'send',
    to: targetMailbox(state.target),
    frame: state.lastSentFrame,
    ...(state.ackPending ? { track: true } : {}),
  };
  return { state: next, effects: [openReplyBox(state), ...inboxBefore(state), send, { type: 'resync' }] };
}

/**
 * Our inbox frame, immediately before the ack and each resend of it (PROTOCOL.md §11.1); none
 * before the hello or the confirm, nor if we handed over no inbox.
 */
export function inboxBefore(state: AcceptorState): Effect[] {
  if (state.phase !== 'paired' || !state.inboxFrame) return [];
  return [{ type: 'send', to: targetMailbox(state.target), frame: state.inboxFrame }];
}

/** The ack is with the relay: nothing more to do but close the reply mailbox. */
export function finishPaired(state: AcceptorState): Step<AcceptorState> {
  return {
    state: { ...state, ackPending: false },
    effects: [{ type: 'closeMailbox', mailboxId: state.replyBox.mailboxId }],
  };
}

/**
 * Ends the accept. Before the reply the acceptor holds no session key, so it can only tell the
 * issuer in the clear; from the reply on it seals its abort, so the relay cannot forge the one
 * message that makes an issuer drop a pin.
 */
export function fail(
  state: AcceptorState,
  code: ErrorCode,
  notifyIssuer: AbortReason | null,
): Step<AcceptorState> {
  const effects: Effect[] = [];
  if (notifyIssuer !== null) {
    const keys = state.sessionSecret ? deriveSessionKeys(state.sessionSecret) : undefined;
    const frame = buildAbort('acceptor', state.sessionId, notifyIssuer, keys);
    effects.push({ type: 'send', to: targetMailbox(state.target), frame });
  }
  effects.push(
    { type: 'progress', status: 'failed', sessionId: state.sessionId, code },
    { type: 'closeMailbox', mailboxId: state.replyBox.mailboxId },
  );
  return { state: { ...state, phase: 'failed', failure: code, ackPending: false }, effects };
}
