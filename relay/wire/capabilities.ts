import { createHash, timingSafeEqual } from 'node:crypto';

const CAPABILITY = /^[A-Za-z0-9_-]{22}$/; // 16 bytes, base64url

/** SHA-256 of a capability's text form, base64url: what the store keeps instead of the capability. */
export function hashCapability(capability: string): string {
  return createHash('sha256').update(capability).digest('base64url');
}

/** The hash of a presented capability, or null when it is not even well-formed. */
export function presentedHash(capability: string | undefined): string | null {
  return capability !== undefined && CAPABILITY.test(capability) ? hashCapability(capability) : null;
}

/**
 * True when `hash` equals one of `stored`. Every stored hash is compared, each with
 * timingSafeEqual, so the time taken does not depend on where (or whether) a match is.
 */
export function hashMatches(hash: string | null, stored: readonly string[]): boolean {
  if (hash === null) return false;
  const presented = Buffer.from(hash, 'base64url');
  let match = false;
  for (const candidate of stored) {
    const bytes = Buffer.from(candidate, 'base64url');
    if (bytes.length === presented.length && timingSafeEqual(bytes, presented)) match = true;
  }
  return match;
}
