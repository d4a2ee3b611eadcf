import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deriveSessionKeys } from '../../src/handshake/session-keys.js';

describe('deriveSessionKeys', () => {
  it('derives a session secret held in memory once: its steps ask again for the same keys', () => {
    const secret = new Uint8Array(randomBytes(32));
    const first = deriveSessionKeys(secret);
    expect(deriveSessionKeys(secret)).toBe(first);
    // The same bytes read back (a new array) give equal keys, derived again.
    const again = deriveSessionKeys(new Uint8Array(secret));
    expect(again).not.toBe(first);
    expect(again).toEqual(first);
  });
});
