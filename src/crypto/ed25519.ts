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

const FIELD_PRIME = 2n ** 255n - 19n;

// The canonical encodings of the eight points of small order (the 8-torsion subgroup). With
// non-canonical encodings refused first, these are the only small-order keys left to refuse.
const SMALL_ORDER_ENCODINGS: ReadonlySet<string> = (() => {
  const set = new Set<string>();
  const generator = ed25519.Point.fromHex('26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05');
  let point = generator;
  for (let i = 0; i < 8; i++, point = point.add(generator))
    set.add(Buffer.from(point.toBytes()).toString('hex'));
  return set;
})();

/**
 * The cheap half of strict key checking: y < p, no "negative zero" x, and not one of the eight
 * small-order points. OpenSSL accepts some non-canonical encodings and small-order keys (under
 * which signatures can be forged trivially); it does refuse keys that are not on the curve.
 */
function isCanonicalAndNotSmallOrder(publicKey: Uint8Array): boolean {
  if (publicKey.length !== ED25519_PUBLIC_KEY_LENGTH) return false;
  let y = 0n;
  for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(i === 31 ? publicKey[i]! & 0x7f : publicKey[i]!);
  const signBit = (publicKey[31]! & 0x80) !== 0;
  if (y >= FIELD_PRIME) return false;
  if (signBit && (y === 1n || y === FIELD_PRIME - 1n)) return false; // x = 0 must have sign bit 0
  return !SMALL_ORDER_ENCODINGS.has(Buffer.from(publicKey).toString('hex'));
}

/**
 * True when `publicKey` is a canonical encoding of a curve point that is not of small order.
 * Used where a key is accepted without a signature to check it (did:key, generated keys).
 */
export function isStrictEd25519PublicKey(publicKey: Uint8Array): boolean {
  if (!isCanonicalAndNotSmallOrder(publicKey)) return false;
  try {
    return !ed25519.Point.fromBytes(publicKey, false).isSmallOrder();
  } catch {
    return false;
  }
}

/**
 * Strict RFC 8032 verification: the key must be canonical and not of small order; OpenSSL then
 * refuses keys off the curve, checks S < L and recomputes R comparing encodings, so a
 * non-canonical R never verifies either.
 */
export function verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== ED25519_SIGNATURE_LENGTH) return false;
  if (!isCanonicalAndNotSmallOrder(publicKey)) return false;
  const key = createPublicKey({
    key: Buffer.from(concatBytes(SPKI_PREFIX, publicKey)),
    format: 'der',
    type: 'spki',
  });
  return nodeVerify(null, message, key, signature);
}
