import { describe, expect, it } from 'vitest';
import { deriveSas, SAS_EMOJI, sasOutput } from '../../src/handshake/sas.js';
import { seededRandom } from '../support/seeded-random.js';

// docs/PROTOCOL.md §6.7 read literally: the output as a string of bits, most significant bit of
// the first byte first; digits from bits 0–39, emoji i from bits 40 + 6i .. 45 + 6i.
function bySpec(key: Uint8Array) {
  const out = sasOutput(key);
  const bits = [...out].map((b) => b.toString(2).padStart(8, '0')).join('');
  const digits = String(Number.parseInt(bits.slice(0, 40), 2) % 1_000_000).padStart(6, '0');
  const emoji = Array.from(
    { length: 7 },
    (_, i) => SAS_EMOJI[Number.parseInt(bits.slice(40 + 6 * i, 46 + 6 * i), 2)]![0],
  );
  return { digits, emoji: emoji.join(' ') };
}

describe('SAS derivation', () => {
  it('takes the emoji from bits 40–81 of the output, as the spec says', () => {
    const random = seededRandom('sas-bits');
    for (let n = 0; n < 500; n++) {
      const key = random(32);
      const sas = deriveSas(key);
      expect({ digits: sas.digits, emoji: sas.emoji }).toEqual(bySpec(key));
    }
  });

  it('uses 64 distinct emoji and separates the seven with one space', () => {
    expect(new Set(SAS_EMOJI.map(([e]) => e)).size).toBe(64);
    const sas = deriveSas(new Uint8Array(32).fill(7));
    expect(sas.emoji.split(' ')).toHaveLength(7);
  });
});
