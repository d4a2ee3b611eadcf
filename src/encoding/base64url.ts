import { base64urlnopad } from '@scure/base';
import { PairlinkError } from '../errors.js';

/** Encodes bytes as unpadded base64url (RFC 4648 §5). */
export function encodeBase64url(bytes: Uint8Array): string {
  return base64urlnopad.encode(bytes);
}

/**
 * Decodes unpadded base64url strictly: padding, foreign letters and non-zero trailing bits are
 * rejected, so every byte string has exactly one accepted text form (no malleable encodings).
 */
export function decodeBase64url(text: string, maxBytes: number): Uint8Array {
  if (text.length > Math.ceil((maxBytes * 4) / 3)) {
    throw new PairlinkError('TOO_LARGE', `base64url text longer than ${maxBytes} bytes allow`);
  }
  try {
    return base64urlnopad.decode(text);
  } catch {
    throw new PairlinkError('MALFORMED', 'not canonical unpadded base64url');
  }
}
