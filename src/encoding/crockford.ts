import { PairlinkError } from '../errors.js';

/** Crockford's Base32 alphabet: digits and letters without I, L, O, U. */
export const CROCKFORD_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

const DECODE_TABLE: ReadonlyMap<string, number> = (() => {
  const table = new Map<string, number>();
  for (let i = 0; i < CROCKFORD_ALPHABET.length; i++) {
    const symbol = CROCKFORD_ALPHABET[i]!;
    table.set(symbol, i);
    table.set(symbol.toLowerCase(), i);
  }
  // Crockford's reading rules: I and L read as 1, O reads as 0 (either case).
  for (const [alias, value] of [
    ['I', 1],
    ['L', 1],
    ['O', 0],
  ] as const) {
    table.set(alias, value);
    table.set(alias.toLowerCase(), value);
  }
  return table;
})();

/**
 * Turns typed text into symbol values: case-insensitive, I/L → 1, O → 0, hyphens and
 * white space ignored. Any other character (including U) is MALFORMED.
 */
export function readCrockfordSymbols(text: string, maxSymbols: number): number[] {
  if (text.length > maxSymbols * 3) {
    throw new PairlinkError(
      'MALFORMED',
      'too long for a code (a code has 12 or 13 characters, hyphens aside)',
    );
  }
  const values: number[] = [];
  for (const ch of text) {
    if (ch === '-' || ch === ' ' || ch === '\t') continue;
    const value = DECODE_TABLE.get(ch);
    if (value === undefined) {
      throw new PairlinkError('MALFORMED', `"${ch}" is not a code character`);
    }
    values.push(value);
  }
  if (values.length > maxSymbols) {
    throw new PairlinkError(
      'MALFORMED',
      'too long for a code (a code has 12 or 13 characters, hyphens aside)',
    );
  }
  return values;
}

/** Renders symbol values (0..31) in canonical upper-case Crockford form. */
export function writeCrockfordSymbols(values: readonly number[]): string {
  return values
    .map((v) => {
      if (!Number.isInteger(v) || v < 0 || v > 31) throw new RangeError(`symbol value out of range: ${v}`);
      return CROCKFORD_ALPHABET[v];
    })
    .join('');
}

/**
 * The first `count` × 5 bits of `bytes`, big-endian, as symbol values (0..31): how fingerprints,
 * code secrets and local ids turn random or hashed bytes into Crockford text.
 */
export function crockfordSymbolsFromBits(bytes: Uint8Array, count: number): number[] {
  if (bytes.length * 8 < count * 5)
    throw new RangeError(`${count} symbols need ${Math.ceil((count * 5) / 8)} bytes`);
  const symbols: number[] = [];
  for (let i = 0; i < count; i++) {
    let value = 0;
    for (let bit = i * 5; bit < i * 5 + 5; bit++)
      value = (value << 1) | ((bytes[bit >> 3]! >> (7 - (bit & 7))) & 1);
    symbols.push(value);
  }
  return symbols;
}

// GF(32) arithmetic over the primitive polynomial x^5 + x^2 + 1, used for the check symbol.
const GF_EXP: number[] = [];
const GF_LOG: number[] = new Array(32).fill(0);
{
  let x = 1;
  for (let i = 0; i < 31; i++) {
    GF_EXP.push(x);
    GF_LOG[x] = i;
    x <<= 1;
    if (x & 0x20) x ^= 0x25;
  }
}

function gfMul(a: number, b: number): number {
  if (a === 0 || b === 0) return 0;
  return GF_EXP[(GF_LOG[a]! + GF_LOG[b]!) % 31]!;
}

/**
 * Check symbol over GF(32): c = Σ α^(i+1)·d_i. Because the weights are distinct non-zero field
 * elements and α ≠ 1, every single-symbol substitution and every swap of two adjacent different
 * symbols changes c, for inputs of up to 30 symbols. The check symbol is itself a Crockford symbol,
 * so codes stay speakable (unlike Crockford's own mod-37 symbols *~$=U).
 */
export function crockfordCheckSymbol(values: readonly number[]): number {
  if (values.length > 30) throw new RangeError('check symbol covers at most 30 symbols');
  let check = 0;
  values.forEach((v, i) => {
    check ^= gfMul(GF_EXP[(i + 1) % 31]!, v);
  });
  return check;
}
