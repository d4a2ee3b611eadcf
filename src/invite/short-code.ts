import { hashSha256 } from '../crypto/hashes.js';
import { LABELS } from '../crypto/labels.js';
import type { RandomSource } from '../crypto/random.js';
import { concatBytes, lvCat, utf8 } from '../encoding/binary.js';
import {
  crockfordCheckSymbol,
  crockfordSymbolsFromBits,
  readCrockfordSymbols,
  writeCrockfordSymbols,
} from '../encoding/crockford.js';
import { PairlinkError } from '../errors.js';

/** Symbols of the secret part: 8 × 5 = 40 bits, never sent to the relay. */
export const CODE_SECRET_SYMBOLS = 8;
export const MIN_NAMEPLATE_SYMBOLS = 3;
export const MAX_NAMEPLATE_SYMBOLS = 4;
const MAX_CODE_SYMBOLS = MAX_NAMEPLATE_SYMBOLS + CODE_SECRET_SYMBOLS + 1;

/** A short code: the relay's nameplate (lookup id) and the secret, both canonical Crockford text. */
export interface ShortCode {
  readonly nameplate: string;
  readonly secret: string;
}

/** Draws the 8-symbol secret part from 5 random bytes (exactly 40 bits, no modulo bias). */
export function generateCodeSecret(random: RandomSource): string {
  return writeCrockfordSymbols(crockfordSymbolsFromBits(random(5), CODE_SECRET_SYMBOLS));
}

/** True for a nameplate the relay may hand out: 3 or 4 canonical Crockford symbols. */
export function isNameplate(text: string): boolean {
  return new RegExp(`^[0-9A-HJKMNP-TV-Z]{${MIN_NAMEPLATE_SYMBOLS},${MAX_NAMEPLATE_SYMBOLS}}$`).test(text);
}

/** Formats nameplate + secret + check symbol in groups of four: `XXXX-XXXX-XXXX`. */
export function formatShortCode(code: ShortCode): string {
  if (!isNameplate(code.nameplate)) throw new RangeError('bad nameplate');
  const values = readCrockfordSymbols(code.nameplate + code.secret, MAX_CODE_SYMBOLS);
  const text = writeCrockfordSymbols([...values, crockfordCheckSymbol(values)]);
  return text.match(/.{1,4}/g)!.join('-');
}

/**
 * Parses typed code text: case-insensitive, I/L→1, O→0, hyphens and spaces ignored. The check
 * symbol catches any single typo or adjacent swap here, so it never costs an attempt at the relay.
 */
export function parseShortCode(text: string): ShortCode {
  if (typeof text !== 'string') throw new PairlinkError('MALFORMED', 'code must be text');
  const values = readCrockfordSymbols(text, MAX_CODE_SYMBOLS);
  const nameplateLength = values.length - CODE_SECRET_SYMBOLS - 1;
  if (nameplateLength < MIN_NAMEPLATE_SYMBOLS || nameplateLength > MAX_NAMEPLATE_SYMBOLS) {
    throw new PairlinkError('MALFORMED', 'a code has 12 or 13 characters (hyphens aside)');
  }
  const body = values.slice(0, -1);
  if (crockfordCheckSymbol(body) !== values[values.length - 1]) {
    throw new PairlinkError('CODE_TYPO', 'its check character does not match');
  }
  const canonical = writeCrockfordSymbols(body);
  return { nameplate: canonical.slice(0, nameplateLength), secret: canonical.slice(nameplateLength) };
}

/** The invite id of a code invite: binds nameplate and mailbox into the transcript. */
export function codeInviteId(nameplate: string, mailboxId: Uint8Array): Uint8Array {
  return hashSha256(
    concatBytes(utf8(LABELS.inviteId), Uint8Array.of(0), lvCat(utf8(nameplate), mailboxId)),
  ).subarray(0, 16);
}
