import { sha512 } from '@noble/hashes/sha2.js';
import type { RandomSource } from '../../src/crypto/random.js';

/**
 * A deterministic byte stream for tests and published vectors: SHA-512(seed || counter) blocks.
 * Never for real keys.
 */
export function seededRandom(seed: string): RandomSource {
  const seedBytes = new TextEncoder().encode(seed);
  let counter = 0;
  let pool = new Uint8Array(0);
  return (length: number) => {
    while (pool.length < length) {
      const block = new Uint8Array(seedBytes.length + 4);
      block.set(seedBytes);
      new DataView(block.buffer).setUint32(seedBytes.length, counter++);
      const next = new Uint8Array(pool.length + 64);
      next.set(pool);
      next.set(sha512(block), pool.length);
      pool = next;
    }
    const out = pool.slice(0, length);
    pool = pool.slice(length);
    return out;
  };
}
