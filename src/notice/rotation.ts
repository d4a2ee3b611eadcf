import { equalBytesConstantTime } from '../crypto/constant-time.js';
import { ED25519_PUBLIC_KEY_LENGTH } from '../crypto/ed25519.js';
import { hashSha256 } from '../crypto/hashes.js';
import { LABELS } from '../crypto/labels.js';
import { concatBytes, utf8 } from '../encoding/binary.js';

/**
 * Pre-rotation (docs/PROTOCOL.md §11.6, docs/SECURITY.md §Key rotation): every identity commits in
 * advance to the digest of its next signing key, kept apart from the current one. A rotation is
 * believed only when the key it reveals hashes to the commitment a peer pinned, so a thief who
 * holds the current key alone cannot rotate the identity to a key of his own.
 */

export const NEXT_KEY_COMMITMENT_LENGTH = 32;

/** SHA-256("pairlink/v1/next-key" || 0x00 || next signing public key). */
export function nextKeyCommitment(nextSigningKey: Uint8Array): Uint8Array {
  if (nextSigningKey.length !== ED25519_PUBLIC_KEY_LENGTH) throw new RangeError('not an Ed25519 public key');
  return hashSha256(concatBytes(utf8(LABELS.nextKey), Uint8Array.of(0), nextSigningKey));
}

/** True when `revealedKey` is the key `commitment` was made to (compared in constant time). */
export function isCommittedKey(commitment: Uint8Array, revealedKey: Uint8Array): boolean {
  return (
    revealedKey.length === ED25519_PUBLIC_KEY_LENGTH &&
    equalBytesConstantTime(nextKeyCommitment(revealedKey), commitment)
  );
}
