import { expand, extract } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { utf8 } from '../encoding/binary.js';

/** SHA-256 of `data`. */
export function hashSha256(data: Uint8Array): Uint8Array {
  return sha256(data);
}

/** SHA-512 of `data`. */
export function hashSha512(data: Uint8Array): Uint8Array {
  return sha512(data);
}

/** HMAC-SHA-256. */
export function macSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
  return hmac(sha256, key, data);
}

/** HKDF-SHA-256 extract (RFC 5869 §2.2). */
export function hkdfExtract(ikm: Uint8Array, salt: Uint8Array): Uint8Array {
  return extract(sha256, ikm, salt);
}

/** HKDF-SHA-256 expand (RFC 5869 §2.3) with a text label as info. */
export function hkdfExpandLabel(prk: Uint8Array, label: string, length: number): Uint8Array {
  return expand(sha256, prk, utf8(label), length);
}

/** HKDF-SHA-256 expand with raw info bytes. */
export function hkdfExpand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  return expand(sha256, prk, info, length);
}
