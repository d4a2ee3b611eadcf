import { randomBytes, randomFillSync } from 'node:crypto';
import type { RandomSource } from '../src/crypto/random.js';

const POOL_BYTES = 1024;

/**
 * node:crypto's CSPRNG drawn 1 KiB at a time: a pairing asks for a dozen small values (session
 * ids, ephemeral secrets, CPace scalars, mailbox ids and capabilities), and each call into OpenSSL
 * costs ~9 µs here whatever its size. Every byte is handed out once and zeroed in the pool as it
 * leaves; requests larger than a quarter of the pool are drawn directly.
 */
export function pooledRandom(): RandomSource {
  const pool = Buffer.alloc(POOL_BYTES);
  let used = POOL_BYTES;
  return (length) => {
    if (length > POOL_BYTES / 4) return new Uint8Array(randomBytes(length));
    if (used + length > POOL_BYTES) {
      randomFillSync(pool);
      used = 0;
    }
    const out = Uint8Array.from(pool.subarray(used, used + length));
    pool.fill(0, used, used + length);
    used += length;
    return out;
  };
}
