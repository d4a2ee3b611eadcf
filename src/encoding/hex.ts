import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';

/** Lowercase hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  return bytesToHex(bytes);
}

/** Bytes of a hex string (programmer input: throws on bad hex). */
export function fromHex(hex: string): Uint8Array {
  return hexToBytes(hex);
}
