import { type KeyObject, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { fromHex } from '../encoding/hex.js';
import { importPrivateKey, importPublicKey } from './okp-keys.js';

// Ed25519 runs on node:crypto (OpenSSL) because it is ~15x faster than pure JS here (see
// DESIGN.md), or on libsodium where installed. What the strict rule refuses beyond the equation
// (non-canonical encodings, small order, S >= L) is decided here, never left to a backend.

export const ED25519_PUBLIC_KEY_LENGTH = 32;
export const ED25519_SEED_LENGTH = 32;
export const ED25519_SIGNATURE_LENGTH = 64;

/**
 * A faster RFC 8032 signer made from a seed (io/sodium-native.ts: libsodium, its key in locked
 * memory), or null to stay on OpenSSL. Ed25519 signatures are deterministic, so both give the same
 * bytes (tests compare them); it must derive the same public key, or it is not used.
 */
export type FastEd25519Signer = (
  seed: Uint8Array,
) => { publicKey: Uint8Array; sign: (message: Uint8Array) => Uint8Array } | null;
let fastSigner: FastEd25519Signer | null = null;

/** Installs (or with null removes) the fast signer for keys imported from now on. */
export function useFastEd25519Signer(signer: FastEd25519Signer | null): void {
  fastSigner = signer;
}

/** A signing key held as an OpenSSL key object; the seed itself is not kept in this object. */
export class Ed25519SigningKey {
  private constructor(
    readonly publicKey: Uint8Array,
    private readonly key: KeyObject,
    private readonly fast: ((message: Uint8Array) => Uint8Array) | null,
  ) {}

  /** Imports a 32-byte RFC 8032 seed. */
  static fromSeed(seed: Uint8Array): Ed25519SigningKey {
    if (seed.length !== ED25519_SEED_LENGTH) throw new RangeError('Ed25519 seed must be 32 bytes');
    const { key, publicKey } = importPrivateKey('Ed25519', seed);
    const fast = fastSigner?.(seed) ?? null;
    const agrees = fast !== null && sameBytes(fast.publicKey, publicKey);
    return new Ed25519SigningKey(publicKey, key, agrees ? fast.sign : null);
  }

  /** Deterministic RFC 8032 signature of `message`. */
  sign(message: Uint8Array): Uint8Array {
    return this.fast ? this.fast(message) : new Uint8Array(nodeSign(null, message, this.key));
  }
}

// The canonical encodings of the eight points of small order (the 8-torsion subgroup). With
// non-canonical encodings refused first, these are the only small-order keys left to refuse.
const SMALL_ORDER_ENCODINGS: readonly Uint8Array[] = (() => {
  const encodings: Uint8Array[] = [];
  const generator = ed25519.Point.fromHex('26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05');
  let point = generator;
  for (let i = 0; i < 8; i++, point = point.add(generator)) encodings.push(point.toBytes());
  return encodings;
})();

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return a.length === b.length;
}

/** True when the little-endian y (sign bit masked) is >= p = 2^255 - 19, i.e. non-canonical. */
function isNonCanonicalY(key: Uint8Array): boolean {
  if ((key[31]! & 0x7f) !== 0x7f) return false;
  for (let i = 30; i >= 1; i--) if (key[i] !== 0xff) return false;
  return key[0]! >= 0xed;
}

/** True for y = 1 or y = p - 1 (x = 0), whose encoding must have a clear sign bit. */
function isNegativeZeroX(key: Uint8Array): boolean {
  if ((key[31]! & 0x80) === 0) return false;
  const top = key[31]! & 0x7f;
  let middleZero = true;
  let middleFull = true;
  for (let i = 1; i <= 30; i++) {
    middleZero &&= key[i] === 0;
    middleFull &&= key[i] === 0xff;
  }
  return (key[0] === 1 && middleZero && top === 0) || (key[0] === 0xec && middleFull && top === 0x7f);
}

/**
 * The cheap half of strict key checking: y < p, no "negative zero" x, and not one of the eight
 * small-order points. OpenSSL accepts some non-canonical encodings and small-order keys (under
 * which signatures can be forged trivially); it does refuse keys that are not on the curve.
 * Key bytes are public, so these early-exit comparisons leak nothing.
 */
function isCanonicalAndNotSmallOrder(publicKey: Uint8Array): boolean {
  if (publicKey.length !== ED25519_PUBLIC_KEY_LENGTH) return false;
  if (isNonCanonicalY(publicKey) || isNegativeZeroX(publicKey)) return false;
  return !SMALL_ORDER_ENCODINGS.some((encoding) => sameBytes(encoding, publicKey));
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

// L = 2^252 + 27742317777372353535851937790883648493, little-endian: S must be below it.
const GROUP_ORDER_LE = fromHex('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010');

/** True when the little-endian scalar is below L (compared from the top byte down). */
function isCanonicalScalar(s: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    if (s[i]! !== GROUP_ORDER_LE[i]!) return s[i]! < GROUP_ORDER_LE[i]!;
  }
  return false;
}

/**
 * Everything the strict rule (PROTOCOL.md §1) decides before the equation: 64 bytes, S < L, R
 * not of small order, and a canonical key not of small order. Backends differ exactly here
 * (OpenSSL 3.0 accepts a small-order R, 3.5 and libsodium refuse it; OpenSSL takes some
 * non-canonical and small-order keys), so our code decides it and a backend only computes
 * `encode([S]B − [k]A) = R`, where they agree. An R of small order verifies only with
 * S = k·a mod L, which only the key's owner can compute (RFC 8032 signing never makes one), so
 * refusing it costs honest signers nothing. Its non-canonical encodings never equal an encoding,
 * so the eight canonical ones are all there is to refuse. Public bytes: early exits leak nothing.
 */
function passesStrictChecks(publicKey: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== ED25519_SIGNATURE_LENGTH) return false;
  if (!isCanonicalScalar(signature.subarray(32))) return false;
  const r = signature.subarray(0, 32);
  if (SMALL_ORDER_ENCODINGS.some((encoding) => sameBytes(encoding, r))) return false;
  return isCanonicalAndNotSmallOrder(publicKey);
}

/**
 * A faster verifier of the equation (io/sodium-native.ts: libsodium), installed by long-running
 * processes; the core never needs it. It is asked only about inputs that passed the checks above,
 * on which it and OpenSSL agree (test/unit/sodium-native.test.ts, on every Node CI runs), so its
 * answer is final.
 */
export type FastEd25519Verify = (
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
) => boolean;
let fastVerify: FastEd25519Verify | null = null;

/** Installs (or with null removes) the fast verifier for this process. */
export function useFastEd25519Verify(verify: FastEd25519Verify | null): void {
  fastVerify = verify;
}

/**
 * Strict RFC 8032 verification (PROTOCOL.md §1): the checks above in our code, then the
 * cofactorless equation by bytes on the installed backend (libsodium, else OpenSSL, which also
 * refuses keys off the curve), so a non-canonical R never verifies either. The answer does not
 * depend on the Node release or the OpenSSL it bundles.
 */
export function verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (!passesStrictChecks(publicKey, signature)) return false;
  return fastVerify
    ? fastVerify(publicKey, message, signature)
    : opensslVerify(publicKey, message, signature);
}

/** The rule above on OpenSSL alone (tests and the benchmark compare the fast verifier with it). */
export function verifyEd25519OpenSsl(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  return passesStrictChecks(publicKey, signature) && opensslVerify(publicKey, message, signature);
}

/** OpenSSL's verification, once the strict checks have passed. */
function opensslVerify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  const key = importPublicKey('Ed25519', publicKey);
  return key !== null && nodeVerify(null, message, key, signature);
}
