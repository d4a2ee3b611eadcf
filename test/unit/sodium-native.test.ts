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
import { ED25519_ORDER as L, fromLe as le, toLe32, torsionSignature } from '../vectors/ed25519-rule.js';

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

  it('a signature whose R has small order is refused by every backend, before any is asked', () => {
    // Only the key's owner can make these (S = k·a). OpenSSL 3.0 (Node 20) accepted them and
    // OpenSSL 3.5 (Node 24) and libsodium refuse them, so the rule decides (PROTOCOL.md §1).
    const a = (le(randomBytes(32)) % (L - 1n)) + 1n;
    const cases = [
      torsionSignature(a, 0n, 0n, 0n, `R identity ${a}`), // a key of prime order
      torsionSignature(a, 1n, 0n, 4n, `R order 2 ${a}`), // keys with a torsion component
      torsionSignature(a, 1n, 0n, 2n, `R order 4 ${a}`),
      torsionSignature(a, 1n, 0n, 5n, `R order 8 ${a}`),
    ];
    let asked = 0;
    const countingVerify = () => {
      asked++;
      return true;
    };
    for (const { publicKey, message, signature } of cases) {
      expect(ed25519.Point.fromBytes(signature.subarray(0, 32)).isSmallOrder()).toBe(true);
      useFastEd25519Verify(null);
      expect(verifyEd25519OpenSsl(publicKey, message, signature)).toBe(false);
      expect(verifyEd25519(publicKey, message, signature)).toBe(false);
      useFastEd25519Verify(fastVerify);
      expect(verifyEd25519(publicKey, message, signature)).toBe(false);
      expect(fastVerify(publicKey, message, signature)).toBe(false);
      useFastEd25519Verify(countingVerify);
      expect(verifyEd25519(publicKey, message, signature)).toBe(false);
    }
    expect(asked).toBe(0);
  });

  it('a key and an R with a torsion component, neither of small order: every backend accepts (cofactorless)', () => {
    const a = (le(randomBytes(32)) % (L - 1n)) + 1n;
    const r = (le(randomBytes(32)) % (L - 1n)) + 1n;
    for (const u of [1n, 2n, 4n]) {
      const { publicKey, message, signature } = torsionSignature(a, 1n, r, u, `mixed ${a} ${u}`);
      useFastEd25519Verify(null);
      expect(verifyEd25519OpenSsl(publicKey, message, signature)).toBe(true);
      expect(fastVerify(publicKey, message, signature)).toBe(true);
      useFastEd25519Verify(fastVerify);
      expect(verifyEd25519(publicKey, message, signature)).toBe(true);
      const altered = Uint8Array.from(signature);
      altered[40]! ^= 1;
      expect(verifyEd25519(publicKey, message, altered)).toBe(false);
      expect(verifyEd25519OpenSsl(publicKey, message, altered)).toBe(false);
    }
  });
});
