import { randomBytes } from 'node:crypto';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { equalBytesConstantTime, isAllZeroConstantTime } from '../../src/crypto/constant-time.js';
import { Ed25519SigningKey, isStrictEd25519PublicKey, verifyEd25519 } from '../../src/crypto/ed25519.js';
import { openFrame, sealFrame } from '../../src/crypto/frame-cipher.js';
import { hkdfExpand, hkdfExtract } from '../../src/crypto/hashes.js';
import { X25519KeyPair } from '../../src/crypto/x25519.js';
import { fromHex, toHex } from '../../src/encoding/hex.js';
import vectors from '../vectors/primitives.json' with { type: 'json' };

const GROUP_ORDER = 2n ** 252n + 27742317777372353535851937790883648493n;

function addToS(signature: Uint8Array, addend: bigint): Uint8Array {
  const s = BigInt(`0x${toHex(signature.slice(32).reverse())}`) + addend;
  const out = Uint8Array.from(signature);
  out.set(fromHex(s.toString(16).padStart(64, '0')).reverse(), 32);
  return out;
}

describe('Ed25519 on node:crypto (RFC 8032)', () => {
  it.each(vectors.ed25519.cases)('matches RFC 8032 vector with public key $publicKey', (v) => {
    const key = Ed25519SigningKey.fromSeed(fromHex(v.seed));
    expect(toHex(key.publicKey)).toBe(v.publicKey);
    expect(toHex(key.sign(fromHex(v.message)))).toBe(v.signature);
    expect(verifyEd25519(fromHex(v.publicKey), fromHex(v.message), fromHex(v.signature))).toBe(true);
  });

  it('agrees with noble on random keys and messages, signing and verifying', () => {
    for (let i = 0; i < 50; i++) {
      const seed = randomBytes(32);
      const message = randomBytes(i);
      const key = Ed25519SigningKey.fromSeed(seed);
      expect(toHex(key.publicKey)).toBe(toHex(ed25519.getPublicKey(seed)));
      const signature = key.sign(message);
      expect(toHex(signature)).toBe(toHex(ed25519.sign(message, seed)));
      const tampered = Uint8Array.from(signature);
      tampered[i % 64]! ^= 1 << (i % 8);
      for (const sig of [signature, tampered]) {
        expect(verifyEd25519(key.publicKey, message, sig)).toBe(
          ed25519.verify(sig, message, key.publicKey, { zip215: false }),
        );
      }
    }
  });

  it('rejects S >= L (malleability), wrong lengths and a wrong message', () => {
    const v = vectors.ed25519.cases[1]!;
    const sig = fromHex(v.signature);
    expect(verifyEd25519(fromHex(v.publicKey), fromHex(v.message), addToS(sig, GROUP_ORDER))).toBe(false);
    expect(verifyEd25519(fromHex(v.publicKey), fromHex(v.message), sig.subarray(0, 63))).toBe(false);
    expect(verifyEd25519(fromHex(v.publicKey).subarray(1), fromHex(v.message), sig)).toBe(false);
    expect(verifyEd25519(fromHex(v.publicKey), fromHex('73'), sig)).toBe(false);
  });

  it('rejects small-order keys, including the identity key with the trivial "signature" R=I, S=0', () => {
    const identity = fromHex(`01${'00'.repeat(31)}`);
    const trivial = fromHex(`01${'00'.repeat(63)}`);
    expect(isStrictEd25519PublicKey(identity)).toBe(false);
    expect(verifyEd25519(identity, fromHex('deadbeef'), trivial)).toBe(false);
    // Every point of the 8-torsion subgroup is rejected as an identity key.
    const torsion = ed25519.Point.fromHex('26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05');
    let p = torsion;
    for (let i = 0; i < 8; i++, p = p.add(torsion)) expect(isStrictEd25519PublicKey(p.toBytes())).toBe(false);
  });

  it('the fast key check plus OpenSSL decoding agrees with noble strict decoding on random bytes', () => {
    const message = fromHex('01');
    for (let i = 0; i < 300; i++) {
      const candidate = randomBytes(32);
      let nobleOk: boolean;
      try {
        nobleOk = !ed25519.Point.fromBytes(candidate, false).isSmallOrder();
      } catch {
        nobleOk = false;
      }
      expect(isStrictEd25519PublicKey(candidate)).toBe(nobleOk);
      // Keys that do not decode never verify anything.
      if (!nobleOk) expect(verifyEd25519(candidate, message, randomBytes(64))).toBe(false);
    }
  });

  it('rejects a non-canonical key encoding (y >= p)', () => {
    const nonCanonical = fromHex('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f');
    expect(isStrictEd25519PublicKey(nonCanonical)).toBe(false);
  });
});

describe('X25519 on node:crypto (RFC 7748)', () => {
  it('computes the §5.2 scalar multiplication and the §6.1 exchange', () => {
    const s = vectors.x25519.scalarMult;
    expect(toHex(X25519KeyPair.fromSecret(fromHex(s.scalar)).sharedSecret(fromHex(s.u))!)).toBe(s.output);
    const d = vectors.x25519.diffieHellman;
    const alice = X25519KeyPair.fromSecret(fromHex(d.alicePrivate));
    const bob = X25519KeyPair.fromSecret(fromHex(d.bobPrivate));
    expect(toHex(alice.publicKey)).toBe(d.alicePublic);
    expect(toHex(bob.publicKey)).toBe(d.bobPublic);
    expect(toHex(alice.sharedSecret(bob.publicKey)!)).toBe(d.shared);
    expect(toHex(bob.sharedSecret(alice.publicKey)!)).toBe(d.shared);
  });

  it.each(vectors.x25519.lowOrder)('refuses the low-order point %s', (point) => {
    expect(X25519KeyPair.fromSecret(randomBytes(32)).sharedSecret(fromHex(point))).toBeNull();
  });

  it('agrees with noble on random keys', () => {
    for (let i = 0; i < 30; i++) {
      const a = randomBytes(32);
      const b = randomBytes(32);
      const pair = X25519KeyPair.fromSecret(a);
      expect(toHex(pair.publicKey)).toBe(toHex(x25519.getPublicKey(a)));
      expect(toHex(pair.sharedSecret(x25519.getPublicKey(b))!)).toBe(
        toHex(x25519.getSharedSecret(a, x25519.getPublicKey(b))),
      );
    }
  });
});

describe('HKDF-SHA-256 (RFC 5869)', () => {
  it.each(vectors.hkdf.cases)('matches the RFC vector with PRK $prk', (v) => {
    const prk = hkdfExtract(fromHex(v.ikm), fromHex(v.salt));
    expect(toHex(prk)).toBe(v.prk);
    expect(toHex(hkdfExpand(prk, fromHex(v.info), v.length))).toBe(v.okm);
  });
});

describe('frame cipher and constant-time helpers', () => {
  it('round-trips, and any tampering gives the one uninformative error', () => {
    const direction = { key: randomBytes(32) };
    const sealed = sealFrame(direction, 3, new TextEncoder().encode('hello'));
    expect(new TextDecoder().decode(openFrame(direction, 3, sealed))).toBe('hello');
    for (let i = 0; i < sealed.length; i++) {
      const bad = Uint8Array.from(sealed);
      bad[i]! ^= 0x80;
      expect(() => openFrame(direction, 3, bad)).toThrow('frame authentication failed');
    }
    expect(() => openFrame(direction, 4, sealed)).toThrow('frame authentication failed'); // other frame type
    expect(() => openFrame({ key: randomBytes(32) }, 3, sealed)).toThrow('frame authentication failed');
  });

  it('compares bytes', () => {
    expect(equalBytesConstantTime(fromHex('0102'), fromHex('0102'))).toBe(true);
    expect(equalBytesConstantTime(fromHex('0102'), fromHex('0103'))).toBe(false);
    expect(equalBytesConstantTime(fromHex('0102'), fromHex('01'))).toBe(false);
    expect(isAllZeroConstantTime(new Uint8Array(32))).toBe(true);
    expect(isAllZeroConstantTime(fromHex(`${'00'.repeat(31)}01`))).toBe(false);
  });
});
