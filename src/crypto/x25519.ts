import { createPrivateKey, createPublicKey, diffieHellman, type KeyObject } from 'node:crypto';
import { concatBytes } from '../encoding/binary.js';
import { fromHex } from '../encoding/hex.js';
import { isAllZeroConstantTime } from './constant-time.js';

// X25519 on node:crypto (OpenSSL) for speed; see ed25519.ts for the reasoning.
const PKCS8_PREFIX = fromHex('302e020100300506032b656e04220420');
const SPKI_PREFIX = fromHex('302a300506032b656e032100');

export const X25519_KEY_LENGTH = 32;

/** An X25519 private key with its public key. */
export class X25519KeyPair {
  private constructor(
    readonly publicKey: Uint8Array,
    private readonly key: KeyObject,
  ) {}

  /** Imports 32 random bytes as a private key (RFC 7748 clamping is applied by X25519 itself). */
  static fromSecret(secret: Uint8Array): X25519KeyPair {
    if (secret.length !== X25519_KEY_LENGTH) throw new RangeError('X25519 secret must be 32 bytes');
    const key = createPrivateKey({
      key: Buffer.from(concatBytes(PKCS8_PREFIX, secret)),
      format: 'der',
      type: 'pkcs8',
    });
    const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
    return new X25519KeyPair(new Uint8Array(spki.subarray(SPKI_PREFIX.length)), key);
  }

  /**
   * The shared secret with `peerPublicKey`, or null when the peer key is of low order (the
   * all-zero output of RFC 7748 §6.1): such a key would let an attacker fix the secret.
   */
  sharedSecret(peerPublicKey: Uint8Array): Uint8Array | null {
    if (peerPublicKey.length !== X25519_KEY_LENGTH) return null;
    let shared: Uint8Array;
    try {
      const publicKey = createPublicKey({
        key: Buffer.from(concatBytes(SPKI_PREFIX, peerPublicKey)),
        format: 'der',
        type: 'spki',
      });
      shared = new Uint8Array(diffieHellman({ privateKey: this.key, publicKey }));
    } catch {
      // OpenSSL refuses to derive an all-zero secret; that is the same low-order case.
      return null;
    }
    return isAllZeroConstantTime(shared) ? null : shared;
  }
}
