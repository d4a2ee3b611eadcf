import type { RandomSource } from '../crypto/random.js';
import type { ErrorCode } from '../errors.js';
import type { Card } from '../identity/card.js';
import type { Identity } from '../identity/identity.js';
import type { InviteMode } from '../invite/invite-policy.js';
import type { InboxExtension } from '../notice/inbox.js';
import type { DeviceBundle } from './device-bundle.js';
import type { MailboxAddress } from './frames.js';
import type { Sas } from './sas.js';

/** A mailbox this side reads: its address plus the read capability only its owner holds. */
export interface OwnedMailbox extends MailboxAddress {
  readonly readCapability: Uint8Array;
}

/** Where an invite or session stands, as reported to operators (`invite.progress`). */
export type ProgressStatus =
  | 'accepted'
  | 'sas'
  /** The acceptor's code is ready for the issuer's operator to compare; nothing to confirm here. */
  | 'sasShown'
  | 'paired'
  | 'unconfirmed'
  | 'expired'
  | 'cancelled'
  | 'failed';

/**
 * What a state machine asks its host to do, in order. The host persists the new state first, then
 * performs the effects; every effect is safe to repeat after a crash (sends are idempotent at the
 * receiving machine, pins are keyed by did). The relay effects (open, close, send) run in order
 * and stop at the first that fails: the host feeds `effectFailed` back to the machine, which
 * retries with backoff or ends the session; nothing after a failed effect runs (sends in a row to
 * one mailbox may leave together, but the relay stores none after one it refused).
 */
export type Effect =
  | { readonly type: 'openMailbox'; readonly mailbox: OwnedMailbox; readonly expiresAt: number }
  | { readonly type: 'closeMailbox'; readonly mailboxId: Uint8Array }
  /** Re-reads the machine's own mailbox from the last processed message (a push may have been lost). */
  | { readonly type: 'resync' }
  | {
      readonly type: 'send';
      readonly to: MailboxAddress;
      readonly frame: Uint8Array;
      /** Feed `frameDelivered` back once the relay has accepted the frame. */
      readonly track?: boolean;
    }
  | { readonly type: 'sasReady'; readonly sessionId: Uint8Array; readonly sas: Sas }
  /**
   * Pins a peer. `confirmed` is false on the issuer, which pins before it knows the acceptor
   * heard its welcome; `confirmPin` (the ack arrived) or `unpin` (the acceptor withdrew) follows.
   * The inbox fields (PROTOCOL.md §11.1) are absent for a peer without notices, as before them.
   */
  | {
      readonly type: 'pin';
      readonly sessionId: Uint8Array;
      readonly peer: Card;
      readonly mode: InviteMode;
      readonly confirmed: boolean;
      /** The acceptor's pin: the issuer's inbox and next-key commitment, if its frame opened. */
      readonly peerInbox?: InboxExtension;
      /** The write capability to our inbox that we handed this peer (to revoke it at our relay). */
      readonly handedWriteCapability?: Uint8Array;
    }
  /** The issuer's decision: `peerInbox` is the acceptor's, if its frame opened before the ack. */
  | {
      readonly type: 'confirmPin';
      readonly sessionId: Uint8Array;
      readonly did: string;
      readonly peerInbox?: InboxExtension;
    }
  | { readonly type: 'unpin'; readonly sessionId: Uint8Array; readonly did: string }
  | { readonly type: 'importIdentity'; readonly bundle: DeviceBundle; readonly issuer: Card }
  | {
      readonly type: 'progress';
      readonly status: ProgressStatus;
      readonly sessionId?: Uint8Array;
      readonly code?: ErrorCode;
      readonly peer?: Card;
      /** The acceptor's 'sas' and 'sasShown': the code to show. */
      readonly sas?: Sas;
    };

/** Relay effects, the ones that can fail and be reported back. */
export type RelayEffect = Extract<Effect, { type: 'openMailbox' | 'closeMailbox' | 'send' | 'resync' }>;

/** Events every machine takes from its host, besides frames and operator actions. */
export type HostEvent =
  /**
   * A relay effect failed with `code`; the effects after it did not run. With INVITE_NOT_FOUND,
   * `relayStoreSince` is when the relay's store began (Unix seconds), if it says: a memory relay's
   * start, when it lost every mailbox (a link's comes back: its issuer re-creates it).
   */
  | {
      readonly type: 'effectFailed';
      readonly effect: RelayEffect;
      readonly code: ErrorCode;
      readonly relayStoreSince?: number;
    }
  /** The relay accepted a frame sent with `track`. */
  | { readonly type: 'frameDelivered'; readonly frame: Uint8Array }
  /** The host restarted: resend whatever is outstanding now rather than at the next timer. */
  | { readonly type: 'resumed' }
  /** The relay no longer has the machine's own mailbox, and the host cannot re-create it. */
  | { readonly type: 'mailboxLost' }
  /**
   * The host gave up on the relay for this machine (it kept losing the machine's mailbox past
   * the host's bound, a relay that lies): end now with `code`.
   */
  | { readonly type: 'relayFailed'; readonly code: ErrorCode };

/** Relay failures that say the mailbox is gone for good, not that the relay is busy or away. */
export function isPermanentRelayFailure(code: ErrorCode): boolean {
  return code === 'INVITE_NOT_FOUND';
}

/**
 * A relay failure that no retry mends, whichever effect met it: the relay's TLS certificate is
 * not trusted by this agent (an acceptor fails at once rather than retrying for the invite's life).
 */
export function isFinalRelayFailure(code: ErrorCode): boolean {
  return code === 'RELAY_UNTRUSTED';
}

/** The result of one step: the next state and what to do. */
export interface Step<S> {
  readonly state: S;
  readonly effects: readonly Effect[];
  /**
   * The effects may run before the new state is saved: running this step again from the state
   * before it (after a crash) yields the same frames, byte for byte, and nothing is pinned. The
   * host saves meanwhile, so the frame is on the wire while the disk syncs (docs/ARCHITECTURE.md
   * §What a step waits for). Steps without it save first.
   */
  readonly replayable?: boolean;
}

/** What a machine needs from its host besides the event: identity, clock and randomness. */
export interface StepContext {
  readonly identity: Identity;
  /** This agent's own signed card bytes. */
  readonly card: Uint8Array;
  /** Seconds since the Unix epoch. */
  readonly now: number;
  readonly random: RandomSource;
  /**
   * This agent's inbox for the peer `peerDid` of session `sessionId` (PROTOCOL.md §11.1): its
   * next-key commitment and an inbox with a write capability for that peer alone (the one it
   * already holds, for a pairing again). Asked once per session, in the step that pins; the frame
   * it makes is kept in the state and reposted from there. Absent, or undefined for a session:
   * this side hands over no inbox, as before notices.
   */
  readonly inboxFor?: (sessionId: Uint8Array, peerDid: string) => InboxExtension | undefined;
  /**
   * True for a did whose key a rotation retired (PROTOCOL.md §11.6): a pairing with it fails with
   * KEY_RETIRED before anything is pinned (the other side hears PEER_REMOVED). Absent: none is.
   */
  readonly retiredKey?: (did: string) => boolean;
}
