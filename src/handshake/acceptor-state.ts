import type { ErrorCode } from '../errors.js';
import type { InviteMode } from '../invite/invite-policy.js';
import type { UrlInvite } from '../invite/invite-url.js';
import { codeInviteId, type ShortCode } from '../invite/short-code.js';
import type { InboxExtension } from '../notice/inbox.js';
import type { OwnedMailbox } from './effects.js';
import type { MailboxAddress } from './frames.js';
import type { FormSecret, SessionContext } from './session-keys.js';

/**
 * What the acceptor keeps (persistable; secrets included), the record its machine (acceptor.ts)
 * steps, and what the record says: where the invite's mailbox is, when it expires, which secret
 * and context the session binds to.
 */

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

/** Which phases wait on the relay: the last frame is resent (with backoff) until an answer comes. */
export const RESENDING: ReadonlySet<AcceptorPhase> = new Set(['awaitingReply', 'awaitingWelcome']);

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
  /** The frame to resend until it is answered (hello, confirm, or the ack once paired). */
  readonly lastSentFrame: Uint8Array;
  /** When to resend it, and how many resends so far (for the backoff). */
  readonly resendAt: number;
  readonly resends: number;
  /** Paired, but the relay has not yet taken the ack: the record is not finished until it has. */
  readonly ackPending?: boolean;
  readonly issuerShare?: Uint8Array;
  readonly sessionSecret?: Uint8Array;
  readonly transcript?: Uint8Array;
  readonly issuerCard?: Uint8Array;
  readonly mode?: InviteMode;
  readonly failure?: ErrorCode;
  /** A link's mailbox was gone at a relay that had just restarted: looked for again until RELAY_REFIND_SECONDS. */
  readonly relayLost?: boolean;
  /** The issuer's inbox and commitment (PROTOCOL.md §11.1), from the first inbox frame that opened before the welcome. */
  readonly peerInbox?: InboxExtension;
  /**
   * Our inbox frame, made once when we pinned (only if the issuer's had opened): posted before
   * the ack and before every resend of it, the same bytes. Absent: we handed over no inbox.
   */
  readonly inboxFrame?: Uint8Array;
}

/** True once the accept can change no more (and its reply mailbox may go). */
export function isAcceptorFinished(state: AcceptorState): boolean {
  return state.phase === 'failed' || (state.phase === 'paired' && !state.ackPending);
}

export function targetMailbox(target: AcceptTarget): MailboxAddress {
  return target.form === 'url'
    ? { mailboxId: target.invite.mailboxId, writeCapability: target.invite.writeCapability }
    : target.issuerMailbox;
}

export function targetExpiry(target: AcceptTarget): number {
  return target.form === 'url' ? target.invite.expiresAt : target.expiresAt;
}

export function formSecretOf(target: AcceptTarget): FormSecret {
  return target.form === 'url'
    ? { form: 'url', secret: target.invite.secret }
    : { form: 'code', code: target.code };
}

export function contextOf(state: Pick<AcceptorState, 'target' | 'sessionId'>): SessionContext {
  const mailbox = targetMailbox(state.target);
  const inviteId =
    state.target.form === 'url'
      ? state.target.invite.inviteId
      : codeInviteId(state.target.code.nameplate, mailbox.mailboxId);
  return { inviteId, mailboxId: mailbox.mailboxId, sessionId: state.sessionId };
}
