import {
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  sign as nodeSign,
  verify as nodeVerify,
} from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { concatBytes } from '../encoding/binary.js';
import { fromHex } from '../encoding/hex.js';

// Ed25519 runs on node:crypto (OpenSSL) because it is ~15x faster than pure JS here (see
// DESIGN.md), and noble checks what OpenSSL does not: canonical point encodings and small order.
const PKCS8_PREFIX = fromHex('302e020100300506032b657004220420');
const SPKI_PREFIX = fromHex('302a300506032b6570032100');

export const ED25519_PUBLIC_KEY_LENGTH = 32;
export const ED25519_SEED_LENGTH = 32;
export const ED25519_SIGNATURE_LENGTH = 64;

/** A signing key held as an OpenSSL key object; the seed itself is not kept in this object. */
export class Ed25519SigningKey {
  private constructor(
    readonly publicKey: Uint8Array,
    private readonly key: KeyObject,
  ) {}

  /** Imports a 32-byte RFC 8032 seed. */
  static fromSeed(seed: Uint8Array): Ed25519SigningKey {
    if (seed.length !== ED25519_SEED_LENGTH) throw new RangeError('Ed25519 seed must be 32 bytes');
    const key = createPrivateKey({
      key: Buffer.from(concatBytes(PKCS8_PREFIX, seed)),
      format: 'der',
      type: 'pkcs8',
    });
    const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
    return new Ed25519SigningKey(new Uint8Array(spki.subarray(SPKI_PREFIX.length)), key);
  }

  /** Deterministic RFC 8032 signature of `message`. */
  sign(message: Uint8Array): Uint8Array {
    return new Uint8Array(nodeSign(null, message, this.key));
  }
}

/**
 * True when `publicKey` is a canonical encoding of a point that is not of small order. OpenSSL
 * accepts some non-canonical encodings and small-order keys (for which signatures can be forged
 * trivially), so every identity key is put through this before it is trusted.
 */
export function isStrictEd25519PublicKey(publicKey: Uint8Array): boolean {
  if (publicKey.length !== ED25519_PUBLIC_KEY_LENGTH) return false;
  try {
    const point = ed25519.Point.fromBytes(publicKey, false);
    return !point.isSmallOrder();
  } catch {
    return false;
  }
}

/**
 * Strict RFC 8032 verification: the key must pass `isStrictEd25519PublicKey`; OpenSSL then checks
 * S < L and recomputes R, comparing encodings, so a non-canonical R never verifies.
 */
export function verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== ED25519_SIGNATURE_LENGTH) return false;
  if (!isStrictEd25519PublicKey(publicKey)) return false;
  const key = createPublicKey({
    key: Buffer.from(concatBytes(SPKI_PREFIX, publicKey)),
    format: 'der',
    type: 'spki',
  });
  return nodeVerify(null, message, key, signature);
}
