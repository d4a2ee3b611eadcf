import type { RandomSource } from '../crypto/random.js';
import type { ErrorCode } from '../errors.js';
import type { Card } from '../identity/card.js';
import type { Identity } from '../identity/identity.js';
import type { InviteMode } from '../invite/invite-policy.js';
import type { DeviceBundle } from './device-bundle.js';
import type { MailboxAddress } from './frames.js';
import type { Sas } from './sas.js';

/** A mailbox this side reads: its address plus the read capability only its owner holds. */
export interface OwnedMailbox extends MailboxAddress {
  readonly readCapability: Uint8Array;
}

/** Where an invite or session stands, as reported to operators (`invite.progress`). */
export type ProgressStatus = 'accepted' | 'sas' | 'paired' | 'expired' | 'cancelled' | 'failed';

/**
 * What a state machine asks its host to do, in order. The host persists the new state first, then
 * performs the effects; every effect is safe to repeat after a crash (sends are idempotent at the
 * receiving machine, pins are keyed by did).
 */
export type Effect =
  | { readonly type: 'openMailbox'; readonly mailbox: OwnedMailbox; readonly expiresAt: number }
  | { readonly type: 'closeMailbox'; readonly mailboxId: Uint8Array }
  | { readonly type: 'send'; readonly to: MailboxAddress; readonly frame: Uint8Array }
  | { readonly type: 'sasReady'; readonly sessionId: Uint8Array; readonly sas: Sas }
  | { readonly type: 'pin'; readonly sessionId: Uint8Array; readonly peer: Card; readonly mode: InviteMode }
  | { readonly type: 'importIdentity'; readonly bundle: DeviceBundle; readonly issuer: Card }
  | {
      readonly type: 'progress';
      readonly status: ProgressStatus;
      readonly sessionId?: Uint8Array;
      readonly code?: ErrorCode;
      readonly peer?: Card;
    };

/** The result of one step: the next state and what to do. */
export interface Step<S> {
  readonly state: S;
  readonly effects: readonly Effect[];
}

/** What a machine needs from its host besides the event: identity, clock and randomness. */
export interface StepContext {
  readonly identity: Identity;
  /** This agent's own signed card bytes. */
  readonly card: Uint8Array;
  /** Seconds since the Unix epoch. */
  readonly now: number;
  readonly random: RandomSource;
}
