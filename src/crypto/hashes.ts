import { createHash, createHmac } from 'node:crypto';
import { utf8 } from '../encoding/binary.js';

// node:crypto (OpenSSL) rather than @noble/hashes: several times cheaper per call on the small
// inputs a handshake hashes (bench/crypto.ts), and the RFC 5869 and CPace vectors pin the results.
const bytes = (buffer: Buffer) => new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.length);

/** SHA-256 of `data`. */
export function hashSha256(data: Uint8Array): Uint8Array {
  return bytes(createHash('sha256').update(data).digest());
}

/** SHA-512 of `data`. */
export function hashSha512(data: Uint8Array): Uint8Array {
  return bytes(createHash('sha512').update(data).digest());
}

/** HMAC-SHA-256. */
export function macSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
  return bytes(createHmac('sha256', key).update(data).digest());
}

/** HKDF-SHA-256 extract (RFC 5869 §2.2): HMAC(salt, ikm). */
export function hkdfExtract(ikm: Uint8Array, salt: Uint8Array): Uint8Array {
  return macSha256(salt.length > 0 ? salt : new Uint8Array(32), ikm);
}

/** HKDF-SHA-256 expand (RFC 5869 §2.3) with a text label as info. */
export function hkdfExpandLabel(prk: Uint8Array, label: string, length: number): Uint8Array {
  return hkdfExpand(prk, utf8(label), length);
}

/** HKDF-SHA-256 expand with raw info bytes: T(i) = HMAC(prk, T(i-1) || info || i). */
export function hkdfExpand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  if (length > 255 * 32) throw new RangeError('HKDF-SHA-256 cannot expand beyond 8160 bytes');
  const out = new Uint8Array(length);
  let previous: Uint8Array = new Uint8Array(0);
  for (let i = 1, offset = 0; offset < length; i++) {
    previous = macSha256(prk, Buffer.concat([previous, info, Uint8Array.of(i)]));
    out.set(previous.subarray(0, length - offset), offset);
    offset += previous.length;
  }
  return out;
}
