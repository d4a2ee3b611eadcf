import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBase64url, encodeBase64url } from '../../src/encoding/base64url.js';
import {
  crockfordCheckSymbol,
  crockfordSymbolsFromBits,
  readCrockfordSymbols,
} from '../../src/encoding/crockford.js';
import { PairlinkError } from '../../src/errors.js';
import { decodeDeviceBundle } from '../../src/handshake/device-bundle.js';
import {
  decodeConfirmBody,
  decodeFrame,
  decodeReplyBody,
  decodeWelcomeBody,
  encodeFrame,
} from '../../src/handshake/frames.js';
import { mintUrlInvite } from '../../src/handshake/mint.js';
import { checkDisplayName, checkRelayUrl, issueCard, verifyCard } from '../../src/identity/card.js';
import { decodeDidKey, encodeDidKey, fingerprint, Identity } from '../../src/identity/identity.js';
import { ALLOWED_CLOCK_SKEW_SECONDS, resolveInvitePolicy } from '../../src/invite/invite-policy.js';
import { parseInviteUrl } from '../../src/invite/invite-url.js';
import { formatShortCode, parseShortCode } from '../../src/invite/short-code.js';
import { seededRandom } from '../support/seeded-random.js';

const NOW = 1_800_000_000;
const random = seededRandom('parsers');
const { identity } = Identity.generate(random);

/** Runs `parse` and insists it either succeeds or throws a typed PairlinkError, never anything else. */
function onlyTypedErrors(parse: () => unknown): void {
  try {
    parse();
  } catch (error) {
    if (!(error instanceof PairlinkError)) throw error;
  }
}

function rejects(parse: () => unknown): boolean {
  try {
    parse();
    return false;
  } catch (error) {
    if (!(error instanceof PairlinkError)) throw error;
    return true;
  }
}

describe('base64url', () => {
  it('round-trips and rejects every non-canonical spelling', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const text = encodeBase64url(bytes);
        expect(decodeBase64url(text, 64)).toEqual(bytes);
        expect(rejects(() => decodeBase64url(`${text}=`, 64))).toBe(true);
      }),
    );
    expect(rejects(() => decodeBase64url('_x', 4))).toBe(true); // non-zero trailing bits
    expect(rejects(() => decodeBase64url('AAAAAAAA', 2))).toBe(true); // too long for the bound
  });
});

describe('Crockford Base32 and short codes', () => {
  it('takes the first 5·n bits of bytes as symbols, big-endian, and refuses too few bytes', () => {
    expect(crockfordSymbolsFromBits(Uint8Array.of(0xff, 0x00), 3)).toEqual([31, 28, 0]);
    expect(crockfordSymbolsFromBits(Uint8Array.of(0x08, 0x42, 0x10, 0x84, 0x21), 8)).toEqual([
      1, 1, 1, 1, 1, 1, 1, 1,
    ]);
    expect(() => crockfordSymbolsFromBits(new Uint8Array(4), 8)).toThrow(RangeError);
  });

  it('reads aliases, case and separators the Crockford way', () => {
    expect(readCrockfordSymbols('oIl-0 1', 10)).toEqual([0, 1, 1, 0, 1]);
    expect(rejects(() => readCrockfordSymbols('U', 10))).toBe(true);
  });

  it('the check symbol catches every single substitution and adjacent swap', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 31 }), { minLength: 12, maxLength: 12 }), (values) => {
        const check = crockfordCheckSymbol(values);
        for (let i = 0; i < values.length; i++) {
          for (let v = 0; v < 32; v++) {
            if (v === values[i]) continue;
            const changed = values.slice();
            changed[i] = v;
            expect(crockfordCheckSymbol(changed)).not.toBe(check);
          }
          if (i + 1 < values.length && values[i] !== values[i + 1]) {
            const swapped = values.slice();
            [swapped[i], swapped[i + 1]] = [swapped[i + 1]!, swapped[i]!];
            expect(crockfordCheckSymbol(swapped)).not.toBe(check);
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it('formats as XXXX-XXXX-XXXX and parses back, forgivingly', () => {
    const code = { nameplate: 'K7Q', secret: 'ABCDEFGH' };
    const text = formatShortCode(code);
    expect(text).toMatch(/^K7QA-BCDE-FGH[0-9A-Z]$/);
    expect(parseShortCode(text)).toEqual(code);
    expect(parseShortCode(text.toLowerCase().replaceAll('-', ' '))).toEqual(code);
    expect(rejects(() => parseShortCode(text.replace('K7Q', 'K7R')))).toBe(true);
    expect(rejects(() => parseShortCode('K7QA-BCDE'))).toBe(true);
    const four = formatShortCode({ nameplate: 'K7QZ', secret: 'ABCDEFGH' });
    expect(four.replaceAll('-', '').length).toBe(13);
    expect(four.length).toBeLessThanOrEqual(16);
  });

  it('random text only ever yields typed errors', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 64 }), (text) => onlyTypedErrors(() => parseShortCode(text))),
    );
  });
});

describe('identity', () => {
  it('did:key round-trips and rejects near misses', () => {
    const did = identity.did;
    expect(did).toMatch(/^did:key:z6Mk/);
    expect(encodeDidKey(decodeDidKey(did))).toBe(did);
    // A changed character either fails to parse or names a different key: never the same one.
    for (let i = 9; i < did.length; i++) {
      const alt = did[i] === 'A' ? 'B' : 'A';
      const mutated = did.slice(0, i) + alt + did.slice(i + 1);
      if (!rejects(() => decodeDidKey(mutated))) expect(decodeDidKey(mutated)).not.toEqual(decodeDidKey(did));
    }
    expect(rejects(() => decodeDidKey(encodeDidKey(new Uint8Array(32))))).toBe(true); // small order
    fc.assert(fc.property(fc.string({ maxLength: 80 }), (text) => onlyTypedErrors(() => decodeDidKey(text))));
  });

  it('fingerprints are short, grouped and stable', () => {
    expect(fingerprint(identity.signing.publicKey)).toMatch(/^([0-9A-Z]{4}-){3}[0-9A-Z]{4}$/);
    expect(fingerprint(identity.signing.publicKey)).toBe(fingerprint(identity.signing.publicKey));
  });
});

describe('cards', () => {
  const card = issueCard(identity, 'Alice’s laptop', 'https://relay.example:8443/pl', NOW);

  it('verify, and reject every single-bit flip', () => {
    expect(verifyCard(card.bytes).did).toBe(identity.did);
    for (let bit = 0; bit < card.bytes.length * 8; bit++) {
      const bad = Uint8Array.from(card.bytes);
      bad[bit >> 3]! ^= 1 << (bit & 7);
      expect(rejects(() => verifyCard(bad))).toBe(true);
    }
  });

  it('names and relay URLs are checked', () => {
    for (const bad of ['', ' x', 'x\n', 'a\u202eb', 'x'.repeat(65)])
      expect(rejects(() => checkDisplayName(bad))).toBe(true);
    for (const bad of [
      'ftp://x',
      'https://x/',
      'https://X',
      'https://u:p@x',
      'https://x?q',
      'https://x#f',
      'nope',
    ]) {
      expect(rejects(() => checkRelayUrl(bad))).toBe(true);
    }
    expect(checkRelayUrl('http://127.0.0.1:7457')).toBe('http://127.0.0.1:7457');
  });

  it('random and mutated bytes only ever yield typed errors', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => onlyTypedErrors(() => verifyCard(bytes))),
    );
  });
});

describe('invite URLs', () => {
  const policy = resolveInvitePolicy({ uses: 3, requireSas: true });
  const minted = mintUrlInvite(identity, policy, 'https://relay.example.org', NOW, random);

  it('are short enough for a chat message, an SMS and a small QR code', () => {
    expect(minted.webUrl.length).toBeLessThanOrEqual(300);
    expect(minted.customUrl.length).toBeLessThanOrEqual(300);
    expect(minted.webUrl.startsWith('https://relay.example.org/i#')).toBe(true);
    expect(minted.customUrl.startsWith('pairlink://invite/')).toBe(true);
  });

  it('parse back to the same invite from either form', () => {
    for (const url of [minted.webUrl, minted.customUrl]) {
      const parsed = parseInviteUrl(url, NOW);
      expect(parsed.issuerDid).toBe(identity.did);
      expect(parsed.uses).toBe(3);
      expect(parsed.requireSas).toBe(true);
      expect(parsed.relayUrl).toBe('https://relay.example.org');
      expect(parsed.inviteId).toEqual(minted.invite.inviteId);
    }
  });

  it('every single-character change of a valid URL is rejected', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_:/.#?%=+ ';
    for (const url of [minted.webUrl, minted.customUrl]) {
      for (let i = 0; i < url.length; i++) {
        for (const ch of alphabet) {
          if (ch === url[i]) continue;
          const mutated = url.slice(0, i) + ch + url.slice(i + 1);
          if (!rejects(() => parseInviteUrl(mutated, NOW)))
            throw new Error(`accepted mutation at ${i}: ${mutated}`);
        }
      }
    }
  });

  it('typed errors for expired, too long, unsupported version and bad signature', () => {
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return (error as PairlinkError).code;
      }
      return 'OK';
    };
    expect(
      code(() => parseInviteUrl(minted.webUrl, minted.invite.expiresAt + ALLOWED_CLOCK_SKEW_SECONDS)),
    ).toBe('INVITE_EXPIRED');
    expect(code(() => parseInviteUrl(`${minted.webUrl}${'A'.repeat(1100)}`, NOW))).toBe('TOO_LARGE');
    const payload = decodeBase64url(minted.customUrl.slice('pairlink://invite/'.length), 400);
    const v2 = Uint8Array.from(payload);
    v2[0] = 2;
    expect(code(() => parseInviteUrl(`pairlink://invite/${encodeBase64url(v2)}`, NOW))).toBe(
      'UNSUPPORTED_VERSION',
    );
    // Only a version above ours is "newer": 0 (here the trial's garbage link) is not an invite.
    const v0 = Uint8Array.from(payload);
    v0[0] = 0;
    expect(code(() => parseInviteUrl(`pairlink://invite/${encodeBase64url(v0)}`, NOW))).toBe('MALFORMED');
    expect(code(() => parseInviteUrl('http://127.0.0.1:7457/i#AAAAAAAAAAAA', NOW))).toBe('MALFORMED');
    const badSig = Uint8Array.from(payload);
    badSig[badSig.length - 1]! ^= 1;
    expect(code(() => parseInviteUrl(`pairlink://invite/${encodeBase64url(badSig)}`, NOW))).toBe(
      'BAD_SIGNATURE',
    );
    expect(code(() => parseInviteUrl('hello', NOW))).toBe('MALFORMED');
  });

  it('random text and mutated payloads only ever yield typed errors', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (text) => onlyTypedErrors(() => parseInviteUrl(text, NOW))),
    );
    const payload = decodeBase64url(minted.customUrl.slice('pairlink://invite/'.length), 400);
    fc.assert(
      fc.property(fc.nat(payload.length - 1), fc.integer({ min: 1, max: 255 }), (at, xor) => {
        const mutated = Uint8Array.from(payload);
        mutated[at]! ^= xor;
        expect(rejects(() => parseInviteUrl(`pairlink://invite/${encodeBase64url(mutated)}`, NOW))).toBe(
          true,
        );
      }),
    );
  });
});

describe('frames', () => {
  const hello = encodeFrame({
    type: 'hello',
    form: 'url',
    sessionId: new Uint8Array(16).fill(1),
    share: new Uint8Array(32).fill(2),
    replyTo: { mailboxId: new Uint8Array(16).fill(3), writeCapability: new Uint8Array(16).fill(4) },
  });

  it('round-trip, with strict lengths', () => {
    expect(decodeFrame(hello)).toMatchObject({ type: 'hello', form: 'url' });
    expect(rejects(() => decodeFrame(hello.subarray(0, hello.length - 1)))).toBe(true);
    expect(rejects(() => decodeFrame(Uint8Array.from([...hello, 0])))).toBe(true);
    expect(rejects(() => decodeFrame(new Uint8Array(5000)))).toBe(true);
  });

  it('random and mutated bytes only ever yield typed errors, in every decoder', () => {
    const decoders = [
      decodeFrame,
      decodeReplyBody,
      decodeConfirmBody,
      decodeWelcomeBody,
      (b: Uint8Array) => decodeDeviceBundle(b, new Uint8Array(32)),
    ];
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        for (const decode of decoders) onlyTypedErrors(() => decode(bytes));
      }),
    );
    fc.assert(
      fc.property(fc.nat(hello.length - 1), fc.integer({ min: 1, max: 255 }), (at, xor) => {
        const mutated = Uint8Array.from(hello);
        mutated[at]! ^= xor;
        onlyTypedErrors(() => decodeFrame(mutated));
      }),
    );
  });
});
