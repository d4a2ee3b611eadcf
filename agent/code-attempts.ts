import { equalBytesConstantTime } from '../src/crypto/constant-time.js';
import { PairlinkError } from '../src/errors.js';
import { MAX_FAILED_CODE_ATTEMPTS } from '../src/invite/invite-policy.js';
import type { AcceptRecord, InviteRecord } from './state/agent-state.js';

/**
 * What this agent's own records say about a short code before (and right after) it is claimed at
 * the relay, so that a code never costs one of its three guesses for nothing, and a burned code
 * is called burned. The relay answers alike for a code that expired, was used, cancelled or burned
 * (docs/RELAY.md), so an acceptor learns "burned" only from its own wrong attempts.
 */

/** SELF_PAIRING when `nameplate` is one of this agent's own pending code invites (docs/PROTOCOL.md §4.4). */
export function refuseOwnCode(invites: readonly InviteRecord[], nameplate: string): void {
  const own = invites.some(
    (i) =>
      i.issuer.status === 'pending' &&
      i.issuer.formSecret.form === 'code' &&
      i.issuer.formSecret.code.nameplate === nameplate,
  );
  // Claiming it would send a hello to our own mailbox: one of the invite's guesses, spent.
  if (own) throw new PairlinkError('SELF_PAIRING', 'this code was minted by this same agent');
}

/**
 * INVITE_BURNED when this agent itself failed MAX_FAILED_CODE_ATTEMPTS times with WRONG_CODE
 * against the invite behind `nameplate`: the mailbox the relay just gave for it, or, when the
 * relay no longer knows the nameplate (`mailboxId` null), the one this agent tried it at last.
 * Each such attempt was a session the issuer counted as a guess, so the issuer has burned it.
 */
export function refuseBurnedCode(
  accepts: readonly AcceptRecord[],
  nameplate: string,
  mailboxId: Uint8Array | null,
): void {
  const mailboxes = accepts.flatMap((a) => {
    const target = a.acceptor.target;
    return target.form === 'code' && target.code.nameplate === nameplate
      ? [target.issuerMailbox.mailboxId]
      : [];
  });
  const mailbox = mailboxId ?? mailboxes.at(-1);
  if (!mailbox) return;
  const wrong = accepts.filter((a) => {
    const target = a.acceptor.target;
    return (
      target.form === 'code' &&
      a.acceptor.failure === 'WRONG_CODE' &&
      equalBytesConstantTime(target.issuerMailbox.mailboxId, mailbox)
    );
  }).length;
  if (wrong >= MAX_FAILED_CODE_ATTEMPTS)
    throw new PairlinkError('INVITE_BURNED', `this agent already tried ${wrong} wrong codes for it`);
}
