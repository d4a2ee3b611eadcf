import { ristretto255, ristretto255_hasher } from '@noble/curves/ed25519.js';
import { concatBytes, lvCat, utf8 } from '../encoding/binary.js';
import { hashSha512 } from './hashes.js';

// CPace over ristretto255 with SHA-512 (CPACE-RISTR255-SHA512), draft-irtf-cfrg-cpace,
// initiator-responder setting. The acceptor of an invite is the initiator (A), the issuer the
// responder (B). K is never exposed: only ISK leaves this module.

/**
 * The two ristretto255 operations CPace needs, on 32-byte encodings. The reference is noble (pure
 * JavaScript, below); the agent installs libsodium's (WebAssembly, ~10× faster) at start-up through
 * `useRistrettoBackend` (io/sodium-ristretto.ts). Both give the same bytes: test/unit/cpace.test.ts
 * runs the RFC 9496 and CPace vectors and random cases through each.
 */
export interface RistrettoBackend {
  readonly name: string;
  /** RFC 9496 §4.3.4 element derivation from 64 uniform bytes: the encoded element. */
  fromHash(hash64: Uint8Array): Uint8Array;
  /** scalar · decode(point), encoded; null when the point does not decode or the product is the identity. */
  scalarMult(scalar: bigint, point: Uint8Array): Uint8Array | null;
}

export const nobleRistretto: RistrettoBackend = {
  name: 'noble',
  fromHash(hash64) {
    const derive = ristretto255_hasher.deriveToCurve;
    if (!derive) throw new Error('ristretto255 element derivation is unavailable in this @noble/curves');
    return derive(hash64).toBytes();
  },
  scalarMult(scalar, encoded) {
    let point: InstanceType<typeof ristretto255.Point>;
    try {
      point = ristretto255.Point.fromBytes(encoded);
    } catch {
      return null;
    }
    if (point.is0()) return null;
    const product = point.multiply(scalar);
    return product.is0() ? null : product.toBytes();
  },
};

let backend: RistrettoBackend = nobleRistretto;

/** Replaces the ristretto255 implementation (process-wide); returns the previous one. */
export function useRistrettoBackend(next: RistrettoBackend): RistrettoBackend {
  const previous = backend;
  backend = next;
  return previous;
}

/** The implementation in use. */
export function ristrettoBackend(): RistrettoBackend {
  return backend;
}

const DSI = utf8('CPaceRistretto255');
const DSI_ISK = utf8('CPaceRistretto255_ISK');
const SHA512_BLOCK_BYTES = 128;
const GROUP_ORDER = ristretto255.Point.Fn.ORDER;

/** generator_string(DSI, PRS, CI, sid, s_in_bytes) from the draft. */
export function cpaceGeneratorString(prs: Uint8Array, ci: Uint8Array, sid: Uint8Array): Uint8Array {
  const prefixLength = (bytes: Uint8Array) => lvCat(bytes).length;
  const zeroPadLength = Math.max(0, SHA512_BLOCK_BYTES - 1 - prefixLength(prs) - prefixLength(DSI));
  return lvCat(DSI, prs, new Uint8Array(zeroPadLength), ci, sid);
}

/** calculate_generator: hash the generator string to 64 bytes, then RFC 9496 element derivation (encoded). */
export function cpaceGenerator(prs: Uint8Array, ci: Uint8Array, sid: Uint8Array): Uint8Array {
  return backend.fromHash(hashSha512(cpaceGeneratorString(prs, ci, sid)));
}

/**
 * sample_scalar as the draft recommends: 32 random bytes, little-endian, keeping the low 252 bits
 * (`byte[31] &= 0x0f`). Returns null for the (probability 2^-252) zero scalar so the caller draws again.
 */
export function cpaceScalar(randomBytes: Uint8Array): bigint | null {
  if (randomBytes.length !== 32) throw new RangeError('CPace scalar needs 32 random bytes');
  const bytes = Uint8Array.from(randomBytes);
  bytes[31]! &= 0x0f;
  let scalar = 0n;
  for (let i = 31; i >= 0; i--) scalar = (scalar << 8n) | BigInt(bytes[i]!);
  return scalar === 0n || scalar >= GROUP_ORDER ? null : scalar;
}

/** A scalar as the 32 little-endian bytes the draft and libsodium use. */
export function scalarToBytes(scalar: bigint): Uint8Array {
  const bytes = new Uint8Array(32);
  let rest = scalar;
  for (let i = 0; i < 32; i++) {
    bytes[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  return bytes;
}

/** scalar_mult: the public share Y = encode(y · g), g encoded. */
export function cpaceShare(generator: Uint8Array, scalar: bigint): Uint8Array {
  const share = backend.scalarMult(scalar, generator);
  // g comes from element derivation and y is in [1, L): the product is never the identity.
  if (share === null) throw new Error('CPace generator is not a valid element');
  return share;
}

/**
 * scalar_mult_vfy: y · decode(X), or null where the draft returns G.I (X does not decode, or the
 * result is the neutral element, which includes X being the neutral element itself).
 */
export function cpaceScalarMultVerify(scalar: bigint, encoded: Uint8Array): Uint8Array | null {
  if (encoded.length !== 32) return null;
  return backend.scalarMult(scalar, encoded);
}

/** ISK = H(lv_cat(DSI || "_ISK", sid, K) || transcript_ir(Ya, ADa, Yb, ADb)). */
export function cpaceIsk(
  sid: Uint8Array,
  k: Uint8Array,
  ya: Uint8Array,
  adA: Uint8Array,
  yb: Uint8Array,
  adB: Uint8Array,
): Uint8Array {
  return hashSha512(concatBytes(lvCat(DSI_ISK, sid, k), lvCat(ya, adA), lvCat(yb, adB)));
}

/** One side's CPace inputs. */
export interface CpaceInputs {
  readonly prs: Uint8Array;
  readonly ci: Uint8Array;
  readonly sid: Uint8Array;
  readonly adA: Uint8Array;
  readonly adB: Uint8Array;
}

/** Computes this side's share from fresh randomness; null only for a zero scalar (draw again). */
export function cpaceStart(
  inputs: CpaceInputs,
  randomBytes: Uint8Array,
): { scalar: bigint; share: Uint8Array } | null {
  const scalar = cpaceScalar(randomBytes);
  if (scalar === null) return null;
  return { scalar, share: cpaceShare(cpaceGenerator(inputs.prs, inputs.ci, inputs.sid), scalar) };
}

/**
 * Finishes CPace for `role` given the peer's share; null means abort (invalid or neutral point).
 * The initiator's share is always Ya, the responder's Yb, whichever side computes.
 */
export function cpaceFinish(
  inputs: CpaceInputs,
  role: 'initiator' | 'responder',
  scalar: bigint,
  ownShare: Uint8Array,
  peerShare: Uint8Array,
): Uint8Array | null {
  const k = cpaceScalarMultVerify(scalar, peerShare);
  if (k === null) return null;
  const [ya, yb] = role === 'initiator' ? [ownShare, peerShare] : [peerShare, ownShare];
  return cpaceIsk(inputs.sid, k, ya, inputs.adA, yb, inputs.adB);
}
