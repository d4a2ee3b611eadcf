import { diffieHellman, type KeyObject } from 'node:crypto';
import { isAllZeroConstantTime } from './constant-time.js';
import { importPrivateKey, importPublicKey } from './okp-keys.js';

// X25519 on node:crypto (OpenSSL) for speed; see ed25519.ts for the reasoning.

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
    const { key, publicKey } = importPrivateKey('X25519', secret);
    return new X25519KeyPair(publicKey, key);
  }

  /**
   * The shared secret with `peerPublicKey`, or null when the peer key is of low order (the
   * all-zero output of RFC 7748 §6.1): such a key would let an attacker fix the secret.
   */
  sharedSecret(peerPublicKey: Uint8Array): Uint8Array | null {
    if (peerPublicKey.length !== X25519_KEY_LENGTH) return null;
    const publicKey = importPublicKey('X25519', peerPublicKey);
    if (publicKey === null) return null;
    let shared: Uint8Array;
    try {
      shared = new Uint8Array(diffieHellman({ privateKey: this.key, publicKey }));
    } catch {
      // OpenSSL refuses to derive an all-zero secret; that is the same low-order case.
      return null;
    }
    return isAllZeroConstantTime(shared) ? null : shared;
  }
}
