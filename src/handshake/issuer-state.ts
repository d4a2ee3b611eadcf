import type { ErrorCode } from '../errors.js';
import type { InviteMode } from '../invite/invite-policy.js';
import type { InboxExtension } from '../notice/inbox.js';
import { ackDeadline, completeBy, ISSUER_SESSION_TIMEOUT_SECONDS } from './deadlines.js';
import type { StepContext } from './effects.js';
import type { AbortReason, MailboxAddress } from './frames.js';
import type { FormSecret } from './session-keys.js';

/**
 * What the issuer keeps (persistable; secrets included): an invite and its sessions, the record
 * both issuer machines step (issuer.ts, per invite; issuer-session.ts, per session).
 */

export type InviteStatus = 'pending' | 'used' | 'expired' | 'cancelled' | 'failed';

/**
 * `awaitingAck`: the acceptor is pinned (unconfirmed) and welcomed; `completed`: its ack arrived,
 * so both sides hold the pin; `unconfirmed`: the ack never came before the deadline, and the pin
 * stays marked unconfirmed; `failed`: nothing is pinned.
 */
export type IssuerSessionPhase =
  | 'awaitingConfirm'
  | 'awaitingSas'
  | 'awaitingAck'
  | 'completed'
  | 'unconfirmed'
  | 'failed';

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
  /** The welcome, or the sealed abort that ended the session: resent when a confirm repeats. */
  readonly welcomeFrame?: Uint8Array;
  readonly finalFrame?: Uint8Array;
  /** While awaiting the ack: when to resend the welcome after a failed post, and how often so far. */
  readonly retryAt?: number;
  readonly retries?: number;
  /** While awaiting the ack: when to read the mailbox again (a push of the ack may have been lost). */
  readonly resyncAt?: number;
  readonly resyncs?: number;
  readonly failure?: ErrorCode;
  /**
   * Our inbox frame (PROTOCOL.md §11.1), made once when the session pinned: posted before the
   * welcome and before every resend of it, the same bytes. Absent: we handed over no inbox.
   */
  readonly inboxFrame?: Uint8Array;
  /** The acceptor's inbox and commitment, from the first of its inbox frames that opened. */
  readonly peerInbox?: InboxExtension;
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
  /**
   * Why a failed invite ended: INVITE_BURNED (MAX_FAILED_CODE_ATTEMPTS unproven code sessions) or
   * INVITE_NOT_FOUND (the relay lost a code invite's nameplate). Absent in states saved before it.
   */
  readonly failure?: ErrorCode;
  readonly pairedDids: readonly string[];
  /** Keyed by hex session id. */
  readonly sessions: Readonly<Record<string, IssuerSession>>;
  /** The invite's mailbox was closed: it is kept open after the invite ends until every ack is in. */
  readonly mailboxClosed?: boolean;
  /** Peers the operator unpaired after this invite was minted: refused with PEER_REMOVED. */
  readonly refusedDids?: readonly string[];
  /**
   * 32 random bytes drawn at minting: a session's ephemeral secret is derived from it and the
   * acceptor's hello, so a reply re-made after a crash is the same reply (Step.replayable). Wiped
   * with the invite's secret when the invite ends. Absent in states saved by older versions.
   */
  readonly ephemeralSeed?: Uint8Array;
}

/** Extra input the issuer needs only in device mode: the identity secrets to hand over. */
export interface IssuerStepContext extends StepContext {
  readonly deviceBundle?: () => { signingSeed: Uint8Array; agreementSecret: Uint8Array; name: string };
}

/** Sessions before key confirmation finished: they hold one of the invite's slots. */
export const isOpen = (s: IssuerSession) => s.phase === 'awaitingConfirm' || s.phase === 'awaitingSas';
export const awaitsAck = (s: IssuerSession) => s.phase === 'awaitingAck';

/** Why a hello or a completion is refused by the invite's status at `now`, if it is. */
export function statusReason(status: InviteStatus, now: number, expiresAt: number): AbortReason | null {
  if (status === 'used' || status === 'failed') return 'INVITE_USED';
  if (status === 'cancelled') return 'INVITE_CANCELLED';
  if (status === 'expired' || now >= expiresAt) return 'INVITE_EXPIRED';
  return null;
}

/** True once the invite can change no more: ended, and every pin it made confirmed or timed out. */
export function isIssuerFinished(state: IssuerState): boolean {
  return state.status !== 'pending' && !Object.values(state.sessions).some(awaitsAck);
}

/** The earliest time a clock tick can change this session. */
export function sessionWakeAt(session: IssuerSession, expiresAt: number): number {
  switch (session.phase) {
    case 'awaitingConfirm':
      return session.startedAt + ISSUER_SESSION_TIMEOUT_SECONDS;
    case 'awaitingSas':
      return completeBy(expiresAt);
    case 'awaitingAck':
      return Math.min(
        ackDeadline(expiresAt),
        session.retryAt ?? Number.POSITIVE_INFINITY,
        session.resyncAt ?? Number.POSITIVE_INFINITY,
      );
    default:
      return Number.POSITIVE_INFINITY;
  }
}
