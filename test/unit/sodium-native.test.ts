import { randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { afterAll, describe, expect, it } from 'vitest';
import { sodiumNativeSigner, sodiumNativeVerify } from '../../io/sodium-native.js';
import {
  Ed25519SigningKey,
  useFastEd25519Signer,
  useFastEd25519Verify,
  verifyEd25519,
  verifyEd25519OpenSsl,
} from '../../src/crypto/ed25519.js';
import { hashSha512 } from '../../src/crypto/hashes.js';

const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const le = (bytes: Uint8Array) => BigInt(`0x${Buffer.from(bytes).reverse().toString('hex')}`);
const toLe32 = (n: bigint) => Uint8Array.from(Buffer.from(n.toString(16).padStart(64, '0'), 'hex').reverse());

describe('Ed25519 through libsodium (sodium-native) gives the strict rule’s answers', () => {
  const fastVerify = sodiumNativeVerify();
  const fastSigner = sodiumNativeSigner();
  afterAll(() => {
    useFastEd25519Verify(null);
    useFastEd25519Signer(null);
  });

  it('signs the same bytes as OpenSSL and agrees on 300 good and 300 altered signatures', () => {
    for (let i = 0; i < 300; i++) {
      const seed = randomBytes(32);
      const message = randomBytes(i % 97);
      useFastEd25519Signer(null);
      const openssl = Ed25519SigningKey.fromSeed(seed);
      useFastEd25519Signer(fastSigner);
      const sodium = Ed25519SigningKey.fromSeed(seed);
      expect(sodium.publicKey).toEqual(openssl.publicKey);
      const signature = sodium.sign(message);
      expect(signature).toEqual(openssl.sign(message));
      expect(fastVerify(sodium.publicKey, message, signature)).toBe(true);
      expect(verifyEd25519OpenSsl(sodium.publicKey, message, signature)).toBe(true);
      const altered = Uint8Array.from(signature);
      altered[i % 64]! ^= 1 << (i % 8);
      expect(fastVerify(sodium.publicKey, message, altered)).toBe(false);
      expect(verifyEd25519OpenSsl(sodium.publicKey, message, altered)).toBe(false);
    }
  });

  it('refuses S ≥ L like OpenSSL', () => {
    const key = Ed25519SigningKey.fromSeed(randomBytes(32));
    const message = randomBytes(40);
    const signature = key.sign(message);
    const s = le(signature.subarray(32));
    const malleated = Uint8Array.from(signature);
    malleated.set(toLe32(s + L), 32);
    expect(fastVerify(key.publicKey, message, malleated)).toBe(false);
    expect(verifyEd25519OpenSsl(key.publicKey, message, malleated)).toBe(false);
  });

  it('a signature whose R has small order: libsodium refuses, the rule accepts, and verifyEd25519 answers the rule', () => {
    // A key with a torsion component, A = a·B + T, signed with S = k·a: then [S]B − [k]A = −[k]T,
    // a point of small order. Valid under the cofactorless rule; only its key's owner can make it.
    const T = ed25519.Point.fromHex('26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05');
    const a = (le(randomBytes(32)) % (L - 1n)) + 1n;
    const A = ed25519.Point.BASE.multiply(a).add(T).toBytes();
    let found: { message: Uint8Array; signature: Uint8Array } | null = null;
    for (let i = 0; i < 400 && !found; i++) {
      const R = T.multiplyUnsafe(BigInt(i % 8))
        .negate()
        .toBytes();
      const message = randomBytes(16);
      const k = le(hashSha512(Buffer.concat([R, A, message]))) % L;
      if (
        !T.multiplyUnsafe(k % 8n)
          .negate()
          .equals(ed25519.Point.fromBytes(R))
      )
        continue;
      found = { message, signature: Buffer.concat([R, toLe32((k * a) % L)]) };
    }
    expect(found).not.toBeNull();
    const { message, signature } = found!;
    expect(verifyEd25519OpenSsl(A, message, signature)).toBe(true);
    expect(fastVerify(A, message, signature)).toBe(false);
    useFastEd25519Verify(fastVerify);
    expect(verifyEd25519(A, message, signature)).toBe(true);
    expect(verifyEd25519(A, message, Uint8Array.from(signature).fill(0, 40, 41))).toBe(false);
  });
});
