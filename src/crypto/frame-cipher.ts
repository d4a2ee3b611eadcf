import { xsalsa20poly1305 } from '@noble/ciphers/salsa.js';
import { PairlinkError } from '../errors.js';

export const FRAME_KEY_LENGTH = 32;
const NONCE_LENGTH = 24;

/**
 * One direction of one session. Keys are derived fresh for every session and direction, and the
 * nonce is the frame type, which each direction sends at most once per session: so a (key, nonce)
 * pair is never used for two different plaintexts, and no nonce has to be stored or sent.
 */
export interface DirectionKey {
  readonly key: Uint8Array;
}

function nonceFor(frameType: number): Uint8Array {
  if (!Number.isInteger(frameType) || frameType < 1 || frameType > 0xff)
    throw new RangeError('bad frame type');
  const nonce = new Uint8Array(NONCE_LENGTH);
  nonce[0] = frameType;
  return nonce;
}

/** Encrypts and authenticates a frame body with XSalsa20-Poly1305. */
export function sealFrame(direction: DirectionKey, frameType: number, plaintext: Uint8Array): Uint8Array {
  return xsalsa20poly1305(direction.key, nonceFor(frameType)).encrypt(plaintext);
}

/**
 * Opens a sealed frame body. Any failure (wrong key, tampering, truncation) gives the same
 * uninformative error, so the caller learns nothing about why.
 */
export function openFrame(direction: DirectionKey, frameType: number, sealed: Uint8Array): Uint8Array {
  try {
    return xsalsa20poly1305(direction.key, nonceFor(frameType)).decrypt(sealed);
  } catch {
    throw new PairlinkError('PROTOCOL_ERROR', 'frame authentication failed');
  }
}
