/**
 * Randomness is passed into the core rather than fetched from a global, so tests and the published
 * vectors are deterministic. The agent passes `node:crypto.randomBytes`.
 */
export type RandomSource = (length: number) => Uint8Array;
