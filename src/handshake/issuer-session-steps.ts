import type { ErrorCode } from '../errors.js';
import { readVerifiedCard } from '../identity/card.js';
import type { Effect } from './effects.js';
import type { AbortReason } from './frames.js';
import type { IssuerSession } from './issuer-state.js';
import { buildAbort } from './messages.js';
import { deriveSessionKeys } from './session-keys.js';

/**
 * What one step of an issuer session is, and the steps its transitions (issuer-session.ts) and
 * the invite (issuer.ts, which ends sessions too) share: nothing changes, a frame is sent or sent
 * again, the session settles or ends.
 */

/**
 * What the invite must do after a session's step: `pinned` consumes a use for `did`;
 * `guessFailed` counts a failed code attempt (the session ended before its acceptor proved the
 * code); `ackSettled` means a session that awaited its ack no longer does, so the mailbox may close.
 */
export type SessionOutcome =
  | { readonly type: 'pinned'; readonly did: string }
  | { readonly type: 'guessFailed' }
  | { readonly type: 'ackSettled' };

/** A session's new state, the effects to perform, and what the invite must do (SessionOutcome). */
export interface SessionStep {
  /** The same object when nothing changed. */
  readonly session: IssuerSession;
  readonly effects: readonly Effect[];
  readonly outcome?: SessionOutcome;
  readonly replayable?: boolean;
}

/** The session as it was, and nothing to do. */
export const unchanged = (session: IssuerSession): SessionStep => ({ session, effects: [] });

/** The session as it was, and `frame` sent to its acceptor's reply box. */
export const send = (session: IssuerSession, frame: Uint8Array): SessionStep => ({
  session,
  effects: [{ type: 'send', to: session.replyTo, frame }],
});

/**
 * The welcome, with our inbox frame (if we handed one over) immediately before it, as on its first
 * post (PROTOCOL.md §11.1): a relay that loses nothing delivers the inbox before the welcome.
 */
export function sendWelcome(session: IssuerSession, welcome: Uint8Array): SessionStep {
  const frames = session.inboxFrame ? [session.inboxFrame, welcome] : [welcome];
  return { session, effects: frames.map((frame) => ({ type: 'send', to: session.replyTo, frame })) };
}

/** A repeated confirm: our welcome (or our sealed abort) may have been lost; resend the same bytes. */
export function resendLast(session: IssuerSession): SessionStep {
  if (session.welcomeFrame) return sendWelcome(session, session.welcomeFrame);
  return session.finalFrame ? send(session, session.finalFrame) : unchanged(session);
}

/** The ack did not come in time, or cannot come (the mailbox is gone): the pin stays unconfirmed. */
export function markUnconfirmed(session: IssuerSession): SessionStep {
  const acceptor = readVerifiedCard(session.acceptorCard!);
  return settle({ ...session, phase: 'unconfirmed' }, [
    { type: 'progress', status: 'unconfirmed', sessionId: session.sessionId, peer: acceptor },
  ]);
}

/** A session that awaited its ack (or had given up on it) ends as `ended`. */
export function settle(ended: IssuerSession, effects: Effect[]): SessionStep {
  return { session: ended, effects, outcome: { type: 'ackSettled' } };
}

/**
 * Ends a session that has pinned nothing: on its own account, or because the invite ends it (the
 * invite ended, or needs its slot). The acceptor is told with a sealed abort (which it can open
 * once it has our reply, and which the relay cannot forge) and, while it may still be waiting for
 * the reply, in the clear as well.
 */
export function endSession(session: IssuerSession, code: ErrorCode, notify: AbortReason | null): SessionStep {
  const effects: Effect[] = [];
  let finalFrame: Uint8Array | undefined;
  if (notify) {
    if (session.phase === 'awaitingConfirm')
      effects.push({
        type: 'send',
        to: session.replyTo,
        frame: buildAbort('issuer', session.sessionId, notify),
      });
    finalFrame = buildAbort('issuer', session.sessionId, notify, deriveSessionKeys(session.sessionSecret));
    effects.push({ type: 'send', to: session.replyTo, frame: finalFrame });
  }
  effects.push({ type: 'progress', status: 'failed', sessionId: session.sessionId, code });
  const failed: IssuerSession = {
    ...session,
    phase: 'failed',
    failure: code,
    ...(finalFrame ? { finalFrame } : {}),
  };
  return { session: failed, effects };
}
