import { hkdfExpandLabel } from '../crypto/hashes.js';

/**
 * The 64 SAS emoji with their names, as in the Matrix specification's SAS table, so operators
 * who know that list recognise it and each symbol has a word to say aloud.
 */
export const SAS_EMOJI: readonly (readonly [string, string])[] = [
  ['🐶', 'Dog'],
  ['🐱', 'Cat'],
  ['🦁', 'Lion'],
  ['🐎', 'Horse'],
  ['🦄', 'Unicorn'],
  ['🐷', 'Pig'],
  ['🐘', 'Elephant'],
  ['🐰', 'Rabbit'],
  ['🐼', 'Panda'],
  ['🐓', 'Rooster'],
  ['🐧', 'Penguin'],
  ['🐢', 'Turtle'],
  ['🐟', 'Fish'],
  ['🐙', 'Octopus'],
  ['🦋', 'Butterfly'],
  ['🌷', 'Flower'],
  ['🌳', 'Tree'],
  ['🌵', 'Cactus'],
  ['🍄', 'Mushroom'],
  ['🌏', 'Globe'],
  ['🌙', 'Moon'],
  ['☁️', 'Cloud'],
  ['🔥', 'Fire'],
  ['🍌', 'Banana'],
  ['🍎', 'Apple'],
  ['🍓', 'Strawberry'],
  ['🌽', 'Corn'],
  ['🍕', 'Pizza'],
  ['🎂', 'Cake'],
  ['❤️', 'Heart'],
  ['😀', 'Smiley'],
  ['🤖', 'Robot'],
  ['🎩', 'Hat'],
  ['👓', 'Glasses'],
  ['🔧', 'Spanner'],
  ['🎅', 'Santa'],
  ['👍', 'Thumbs Up'],
  ['☂️', 'Umbrella'],
  ['⌛', 'Hourglass'],
  ['⏰', 'Clock'],
  ['🎁', 'Gift'],
  ['💡', 'Light Bulb'],
  ['📕', 'Book'],
  ['✏️', 'Pencil'],
  ['📎', 'Paperclip'],
  ['✂️', 'Scissors'],
  ['🔒', 'Lock'],
  ['🔑', 'Key'],
  ['🔨', 'Hammer'],
  ['☎️', 'Telephone'],
  ['🏁', 'Flag'],
  ['🚂', 'Train'],
  ['🚲', 'Bicycle'],
  ['✈️', 'Aeroplane'],
  ['🚀', 'Rocket'],
  ['🏆', 'Trophy'],
  ['⚽', 'Ball'],
  ['🎸', 'Guitar'],
  ['🎺', 'Trumpet'],
  ['🔔', 'Bell'],
  ['⚓', 'Anchor'],
  ['🎧', 'Headphones'],
  ['📁', 'Folder'],
  ['📌', 'Pin'],
];

/** A short authentication string both operators can compare. */
export interface Sas {
  /** Six decimal digits. */
  readonly digits: string;
  /** Seven emoji. */
  readonly emoji: string;
  /** The seven emoji's names, for reading aloud. */
  readonly emojiNames: readonly string[];
}

/** The 11 SAS output bytes (docs/PROTOCOL.md §6.7). */
export function sasOutput(sasKey: Uint8Array): Uint8Array {
  return hkdfExpandLabel(sasKey, 'pairlink/v1/sas-output', 11);
}

/**
 * Derives the SAS from the session's SAS key (docs/PROTOCOL.md §6.7): digits from bits 0–39 of
 * the output mod 10^6 (bias < 2^-20); emoji i from bits 40 + 6i to 45 + 6i, bits counted from the
 * most significant bit of the first byte (so bits 40–81; the last 6 bits are unused). Both sides
 * hold the same key only if no one sat in the middle.
 */
export function deriveSas(sasKey: Uint8Array): Sas {
  const bytes = sasOutput(sasKey);
  let digitsValue = 0;
  for (let i = 0; i < 5; i++) digitsValue = digitsValue * 256 + bytes[i]!;
  const digits = String(digitsValue % 1_000_000).padStart(6, '0');
  // Bytes 5..10 as one 48-bit big-endian number: bit 40 of the output is its top bit.
  let bits = 0n;
  for (let i = 5; i < 11; i++) bits = (bits << 8n) | BigInt(bytes[i]!);
  const picks: (readonly [string, string])[] = [];
  for (let i = 0; i < 7; i++) picks.push(SAS_EMOJI[Number((bits >> BigInt(48 - 6 * (i + 1))) & 63n)]!);
  return { digits, emoji: picks.map(([e]) => e).join(' '), emojiNames: picks.map(([, n]) => n) };
}
