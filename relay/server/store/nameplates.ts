import { randomInt } from 'node:crypto';
import { CROCKFORD_ALPHABET } from '../../../src/encoding/crockford.js';

/** A random nameplate of `length` Crockford symbols. */
export function randomNameplate(length: number): string {
  let text = '';
  for (let i = 0; i < length; i++) text += CROCKFORD_ALPHABET[randomInt(32)];
  return text;
}

/**
 * Nameplate lengths to try in order: a handful of 3-symbol draws (32,768 names), then 4-symbol
 * ones (1,048,576), so codes stay 12 characters until a relay is busy.
 */
export const NAMEPLATE_ATTEMPTS: readonly number[] = [3, 3, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4];
