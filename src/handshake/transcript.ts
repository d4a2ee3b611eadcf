import { equalBytesConstantTime } from '../crypto/constant-time.js';
import { verifyEd25519 } from '../crypto/ed25519.js';
import { hashSha256, macSha256 } from '../crypto/hashes.js';
import { LABELS } from '../crypto/labels.js';
import { concatBytes, lvCat, utf8 } from '../encoding/binary.js';
import type { SessionContext } from './session-keys.js';

export type InviteForm = 'url' | 'code';

/**
 * th1 = SHA-256(lv_cat(label, form, inviteId, mailboxId, sessionId, acceptorShare, issuerShare,
 * issuerCard)): everything the issuer has committed to when it replies.
 */
export function transcriptAfterReply(
  form: InviteForm,
  context: SessionContext,
  acceptorShare: Uint8Array,
  issuerShare: Uint8Array,
  issuerCard: Uint8Array,
): Uint8Array {
  return hashSha256(
    lvCat(
      utf8(LABELS.transcript),
      utf8(form),
      context.inviteId,
      context.mailboxId,
      context.sessionId,
      acceptorShare,
      issuerShare,
      issuerCard,
    ),
  );
}

/** th2 = SHA-256(lv_cat(label, th1, acceptorCard)): the whole transcript. */
export function transcriptAfterConfirm(th1: Uint8Array, acceptorCard: Uint8Array): Uint8Array {
  return hashSha256(lvCat(utf8(LABELS.transcript), th1, acceptorCard));
}

type SignatureRole = 'transcriptSigIssuerReply' | 'transcriptSigAcceptor' | 'transcriptSigIssuerWelcome';

/** The message a transcript signature covers: role label, NUL, transcript hash. */
export function transcriptSignatureMessage(role: SignatureRole, transcript: Uint8Array): Uint8Array {
  return concatBytes(utf8(LABELS[role]), Uint8Array.of(0), transcript);
}

/** Verifies a role-labelled transcript signature (role labels stop reflection between sides). */
export function verifyTranscriptSignature(
  role: SignatureRole,
  publicKey: Uint8Array,
  transcript: Uint8Array,
  signature: Uint8Array,
): boolean {
  return verifyEd25519(publicKey, transcriptSignatureMessage(role, transcript), signature);
}

/** Key-confirmation tag: HMAC-SHA-256 under the side's confirmation key over a transcript hash. */
export function confirmationTag(confirmKey: Uint8Array, transcript: Uint8Array): Uint8Array {
  return macSha256(confirmKey, transcript);
}

/** Checks a confirmation tag in constant time. */
export function checkConfirmationTag(
  confirmKey: Uint8Array,
  transcript: Uint8Array,
  tag: Uint8Array,
): boolean {
  return equalBytesConstantTime(confirmationTag(confirmKey, transcript), tag);
}
