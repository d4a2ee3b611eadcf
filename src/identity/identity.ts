import { base58 } from '@scure/base';
import { Ed25519SigningKey, isStrictEd25519PublicKey } from '../crypto/ed25519.js';
import { hashSha256 } from '../crypto/hashes.js';
import { LABELS } from '../crypto/labels.js';
import type { RandomSource } from '../crypto/random.js';
import { X25519KeyPair } from '../crypto/x25519.js';
import { concatBytes, utf8 } from '../encoding/binary.js';
import {
  crockfordCheckSymbol,
  crockfordSymbolsFromBits,
  writeCrockfordSymbols,
} from '../encoding/crockford.js';
import { PairlinkError } from '../errors.js';

/** The secret half of an identity: what the keystore holds and a device bundle carries. */
export interface IdentitySecrets {
  /** RFC 8032 Ed25519 seed. */
  readonly signingSeed: Uint8Array;
  /** X25519 private key. */
  readonly agreementSecret: Uint8Array;
}

/** An agent's long-term identity: an Ed25519 signing key, an X25519 key and its did:key. */
export class Identity {
  readonly did: string;

  private constructor(
    readonly signing: Ed25519SigningKey,
    readonly agreement: X25519KeyPair,
  ) {
    this.did = encodeDidKey(signing.publicKey);
  }

  /** Rebuilds an identity from its stored secrets. */
  static fromSecrets(secrets: IdentitySecrets): Identity {
    return new Identity(
      Ed25519SigningKey.fromSeed(secrets.signingSeed),
      X25519KeyPair.fromSecret(secrets.agreementSecret),
    );
  }

  /** Generates a fresh identity; returns the secrets too so the caller can store them. */
  static generate(random: RandomSource): { identity: Identity; secrets: IdentitySecrets } {
    for (;;) {
      const secrets = { signingSeed: random(32), agreementSecret: random(32) };
      const identity = Identity.fromSecrets(secrets);
      // A seed whose public key is of small order is astronomically unlikely; never accept one.
      if (isStrictEd25519PublicKey(identity.signing.publicKey)) return { identity, secrets };
    }
  }
}

// Multicodec varint 0xed for ed25519-pub, as did:key prescribes.
const ED25519_MULTICODEC = Uint8Array.of(0xed, 0x01);
const DID_KEY_PREFIX = 'did:key:z';
const MAX_DID_LENGTH = 64;

/** did:key for an Ed25519 public key (multibase base58btc of multicodec ed25519-pub). */
export function encodeDidKey(publicKey: Uint8Array): string {
  return DID_KEY_PREFIX + base58.encode(concatBytes(ED25519_MULTICODEC, publicKey));
}

/** Parses a did:key strictly back to its Ed25519 public key (INVALID_PARAMS on anything else). */
export function decodeDidKey(did: string): Uint8Array {
  if (typeof did !== 'string' || did.length > MAX_DID_LENGTH || !did.startsWith(DID_KEY_PREFIX)) {
    throw new PairlinkError('INVALID_PARAMS', 'not an Ed25519 did:key');
  }
  let decoded: Uint8Array;
  try {
    decoded = base58.decode(did.slice(DID_KEY_PREFIX.length));
  } catch {
    throw new PairlinkError('INVALID_PARAMS', 'not an Ed25519 did:key');
  }
  const publicKey = decoded.subarray(2);
  if (
    decoded.length !== 34 ||
    decoded[0] !== 0xed ||
    decoded[1] !== 0x01 ||
    !isStrictEd25519PublicKey(publicKey) ||
    encodeDidKey(publicKey) !== did
  ) {
    throw new PairlinkError('INVALID_PARAMS', 'not an Ed25519 did:key');
  }
  return Uint8Array.from(publicKey);
}

/**
 * A short human fingerprint of an identity key: 75 bits of a labelled SHA-256 as 15 Crockford
 * symbols plus a check symbol, grouped by four (e.g. `7K3Q-M2X9-...`), for reading aloud.
 */
export function fingerprint(publicKey: Uint8Array): string {
  const digest = hashSha256(concatBytes(utf8(LABELS.fingerprint), publicKey));
  const symbols = crockfordSymbolsFromBits(digest, 15);
  symbols.push(crockfordCheckSymbol(symbols));
  return writeCrockfordSymbols(symbols).match(/.{4}/g)!.join('-');
}
