import { createRequire } from 'node:module';
import {
  type FastEd25519Signer,
  type FastEd25519Verify,
  useFastEd25519Signer,
  useFastEd25519Verify,
} from '../src/crypto/ed25519.js';

interface SodiumNative {
  crypto_sign_verify_detached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
  crypto_sign_seed_keypair(publicKey: Uint8Array, secretKey: Uint8Array, seed: Uint8Array): void;
  crypto_sign_detached(signature: Uint8Array, message: Uint8Array, secretKey: Uint8Array): void;
  sodium_malloc(size: number): Buffer;
}

const load = () => createRequire(import.meta.url)('sodium-native') as SodiumNative;

/**
 * libsodium's Ed25519 verification through sodium-native (prebuilt binaries inside the npm
 * package): ~46 µs per signature here against OpenSSL's ~89 µs with its key import, and a
 * pairing checks six. `verifyEd25519` asks it only what passed the strict rule's own checks
 * (PROTOCOL.md §1), where `crypto_sign_verify_detached` and OpenSSL give the same answers, so
 * answers do not change. Loading takes ~30 ms, paid by the agent at start (keys imported before
 * the install stay on OpenSSL).
 */
export function sodiumNativeVerify(sodium = load()): FastEd25519Verify {
  return (publicKey, message, signature) => sodium.crypto_sign_verify_detached(signature, message, publicKey);
}

/**
 * libsodium's Ed25519 signing (~17 µs against OpenSSL's ~30): the expanded secret key lives in
 * `sodium_malloc` memory (locked, between guard pages), the seed is not kept.
 */
export function sodiumNativeSigner(sodium = load()): FastEd25519Signer {
  return (seed) => {
    const secretKey = sodium.sodium_malloc(64);
    const publicKey = new Uint8Array(32);
    sodium.crypto_sign_seed_keypair(publicKey, secretKey, seed);
    return {
      publicKey,
      sign(message) {
        const signature = new Uint8Array(64);
        sodium.crypto_sign_detached(signature, message, secretKey);
        return signature;
      },
    };
  };
}

/** Installs libsodium's Ed25519 for this process; null when it cannot load (OpenSSL alone then). */
export function installSodiumNative(): string | null {
  try {
    const sodium = load();
    useFastEd25519Verify(sodiumNativeVerify(sodium));
    useFastEd25519Signer(sodiumNativeSigner(sodium));
    return 'sodium-native';
  } catch {
    return null;
  }
}
