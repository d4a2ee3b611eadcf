import { equalBytesConstantTime } from '../crypto/constant-time.js';
import { verifyEd25519 } from '../crypto/ed25519.js';
import { type Card, verifyCard } from '../identity/card.js';
import { type Notice, noticeSignatureMessage, type OpenedNotice } from './envelope.js';
import type { RotateBody } from './notice-body.js';
import { isCommittedKey } from './rotation.js';

/**
 * Whether to believe an opened notice, as a pure function: what the receiver pinned about the
 * sender and the clock in, a verdict out (docs/PROTOCOL.md §11.5). The agent looks the peer up by
 * the notice's sender key, applies what the verdict says and saves the new pin.
 */

/** What a receiver keeps about one pinned peer for notices. */
export interface PeerTrust {
  readonly signingKey: Uint8Array;
  readonly agreementKey: Uint8Array;
  /** The pinned commitment to the peer's next key; null when paired without one (no rotation). */
  readonly nextKeyCommitment: Uint8Array | null;
  /** The counter of the last notice applied from this peer (0 after pairing). */
  readonly lastCounter: number;
}

/** Why a notice is refused: it changes nothing, gets no receipt, and is logged as one line. */
export type Refusal =
  /** It names another agent as its receiver (re-sealed to us by someone it was meant for). */
  | 'misaddressed'
  /** Its sender is no pinned peer: a stranger, a peer we unpaired, a key retired by a rotation. */
  | 'unknownSender'
  | 'badSignature'
  /** A rotation from a peer pinned without a commitment (paired before notices): it must re-pair. */
  | 'noCommitment'
  /** A rotation to a key that is not the committed one: a forgery, or a thief's. */
  | 'notCommitted';

export type Verdict =
  /** Apply the notice, pin `peer` in place of the old record, then send a receipt (not to a receipt). */
  | {
      readonly outcome: 'apply';
      readonly notice: Notice;
      readonly peer: PeerTrust;
      /** A rotation's old key: refused from now on, as a sender and as a peer in a pairing. */
      readonly retiredKey?: Uint8Array;
      /** A rotation's verified new card. */
      readonly card?: Card;
    }
  /** Already applied (a retry or a replay) or older than one applied: drop it, send a receipt. */
  | { readonly outcome: 'duplicate'; readonly notice: Notice }
  /** Past its expiry: drop it unread. */
  | { readonly outcome: 'expired' }
  | { readonly outcome: 'refused'; readonly reason: Refusal };

/** §11.4: a counted notice applies iff its counter is above the last one applied from its sender. */
export function checkCounter(lastCounter: number, counter: number): 'apply' | 'duplicate' {
  return counter > lastCounter ? 'apply' : 'duplicate';
}

export interface JudgeInput {
  /** This agent's signing keys a notice may name: the current one, and the one it rotated from. */
  readonly ownKeys: readonly Uint8Array[];
  /** The pinned peer whose key is the notice's sender, or null. */
  readonly peer: PeerTrust | null;
  readonly now: number;
}

/** The checks of §11.5, in order: receiver, expiry, sender, signature (or rotation), counter. */
export function judgeNotice(opened: OpenedNotice, input: JudgeInput): Verdict {
  const { notice } = opened;
  if (!input.ownKeys.some((key) => equalBytesConstantTime(key, notice.receiver)))
    return refused('misaddressed');
  if (input.now > notice.expiresAt) return { outcome: 'expired' };
  const peer = input.peer;
  if (peer === null || !equalBytesConstantTime(peer.signingKey, notice.sender))
    return refused('unknownSender');
  if (notice.body.kind === 'rotate') return judgeRotation(opened, notice.body, peer);
  if (!verifyEd25519(peer.signingKey, noticeSignatureMessage(opened.signed), opened.signature))
    return refused('badSignature');
  // Receipts are outside the sequence (§11.4): idempotent, they apply without touching it.
  if (notice.body.kind === 'receipt') return { outcome: 'apply', notice, peer };
  if (checkCounter(peer.lastCounter, notice.counter) === 'duplicate') return { outcome: 'duplicate', notice };
  return { outcome: 'apply', notice, peer: { ...peer, lastCounter: notice.counter } };
}

/**
 * §11.6: a rotation is believed iff the peer pinned a commitment, the new card verifies, its key
 * hashes to that commitment, and that key signed the notice. The current key's signature is not
 * asked for: a thief has it too, and an owner who lost it must still be able to rotate. The
 * counter is not consulted either: a thief may have pushed it to its end with the current key.
 */
function judgeRotation(opened: OpenedNotice, body: RotateBody, peer: PeerTrust): Verdict {
  if (peer.nextKeyCommitment === null) return refused('noCommitment');
  let card: Card;
  try {
    card = verifyCard(body.card);
  } catch {
    return refused('badSignature');
  }
  if (!isCommittedKey(peer.nextKeyCommitment, card.signingKey)) return refused('notCommitted');
  if (!verifyEd25519(card.signingKey, noticeSignatureMessage(opened.signed), opened.signature))
    return refused('badSignature');
  return {
    outcome: 'apply',
    notice: opened.notice,
    peer: {
      signingKey: card.signingKey,
      agreementKey: card.agreementKey,
      nextKeyCommitment: body.nextKeyCommitment,
      lastCounter: opened.notice.counter,
    },
    retiredKey: peer.signingKey,
    card,
  };
}

function refused(reason: Refusal): Verdict {
  return { outcome: 'refused', reason };
}
