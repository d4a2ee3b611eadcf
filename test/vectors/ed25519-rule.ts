import { ed25519 } from '@noble/curves/ed25519.js';
import { hashSha512 } from '../../src/crypto/hashes.js';
import { concatBytes, utf8 } from '../../src/encoding/binary.js';
import { toHex } from '../../src/encoding/hex.js';

// Signatures at the edges of the strict Ed25519 rule (PROTOCOL.md §1), built with noble's point
// arithmetic: keys and R values with a small-order (torsion) component, which RFC 8032's signing
// never makes but a signer forging against its own key can. Each case names the answer the rule
// gives; every verification backend and the Python verifier must give the same one.

const Point = ed25519.Point;
export const ED25519_ORDER = 2n ** 252n + 27742317777372353535851937790883648493n;
/** A point of order 8: its multiples are the eight points of small order. */
export const TORSION = Point.fromHex('26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05');

export const fromLe = (bytes: Uint8Array) => BigInt(`0x${toHex(Uint8Array.from(bytes).reverse())}`);
export const toLe32 = (n: bigint) => {
  const out = new Uint8Array(32);
  for (let i = 0, v = n; i < 32; i++, v >>= 8n) out[i] = Number(v & 0xffn);
  return out;
};
/** [n]B + [t]T; multiplyUnsafe because these scalars are public test values (and may be 0). */
const point = (n: bigint, t: bigint) =>
  Point.BASE.multiplyUnsafe(n % ED25519_ORDER).add(TORSION.multiplyUnsafe(((t % 8n) + 8n) % 8n));

/** A scalar in [1, L) from a label, so the vectors are reproducible. */
export function scalarFrom(label: string): bigint {
  return (fromLe(hashSha512(utf8(label))) % (ED25519_ORDER - 1n)) + 1n;
}

export interface SignatureCase {
  publicKey: Uint8Array;
  message: Uint8Array;
  signature: Uint8Array;
}

/**
 * A signature under A = [a]B + [t]T whose R = [r]B + [u]T. With S = r + k·a the cofactorless
 * equation gives [S]B − [k]A = [r]B − [k·t]T, which equals R when u ≡ −k·t (mod 8): messages
 * `label #0`, `label #1`… are tried until k = SHA-512(R‖A‖M) mod L satisfies it (1 in 8 when
 * t is odd; t = 0 needs u = 0 and always holds).
 */
export function torsionSignature(a: bigint, t: bigint, r: bigint, u: bigint, label: string): SignatureCase {
  const publicKey = point(a, t).toBytes();
  const R = point(r, u).toBytes();
  for (let i = 0; i < 512; i++) {
    const message = utf8(`${label} #${i}`);
    const k = fromLe(hashSha512(concatBytes(R, publicKey, message))) % ED25519_ORDER;
    if ((((u + k * t) % 8n) + 8n) % 8n !== 0n) continue;
    return { publicKey, message, signature: concatBytes(R, toLe32((r + k * a) % ED25519_ORDER)) };
  }
  throw new Error(`no message found for ${label}`);
}

/** The same signature with S + L in place of S: the same equation, a non-canonical scalar. */
function withSPlusL(c: SignatureCase): SignatureCase {
  const s = fromLe(c.signature.subarray(32)) + ED25519_ORDER;
  return { ...c, signature: concatBytes(c.signature.subarray(0, 32), toLe32(s)) };
}

/** The cases of docs/test-vectors.json's `ed25519Rule`, from fixed labels. */
export function ed25519RuleCases(): (SignatureCase & { name: string; valid: boolean })[] {
  const a = scalarFrom('pairlink/v1/vectors/ed25519-rule/a');
  const r = scalarFrom('pairlink/v1/vectors/ed25519-rule/r');
  const plain = torsionSignature(a, 0n, r, 0n, 'a valid signature');
  // y = p + 1: a non-canonical encoding of y = 1, the identity, under which R = I, S = 0 "verifies".
  const nonCanonicalIdentity = Uint8Array.from(toLe32(2n ** 255n - 18n));
  const identity = Point.ZERO.toBytes();
  return [
    { name: 'a valid signature, key and R of prime order', valid: true, ...plain },
    { name: 'S + L in place of S', valid: false, ...withSPlusL(plain) },
    {
      name: 'R is the identity (small order), key of prime order, S = k·a',
      valid: false,
      ...torsionSignature(a, 0n, 0n, 0n, 'R identity'),
    },
    {
      name: 'R of order 8, key with a torsion component',
      valid: false,
      ...torsionSignature(a, 1n, 0n, 3n, 'R order 8'),
    },
    {
      name: 'R and key both with a torsion component, neither of small order (cofactorless: valid)',
      valid: true,
      ...torsionSignature(a, 1n, r, 5n, 'mixed order'),
    },
    {
      name: 'key of small order (order 8): a forgery anyone can make, S = 0',
      valid: false,
      ...torsionSignature(0n, 1n, 0n, 3n, 'small-order key'),
    },
    {
      name: 'key not canonical (y = p + 1, the identity), R = identity, S = 0',
      valid: false,
      publicKey: nonCanonicalIdentity,
      message: utf8('non-canonical key'),
      signature: concatBytes(identity, new Uint8Array(32)),
    },
  ];
}
