import { beforeAll, describe, expect, it } from 'vitest';
import { sodiumRistretto } from '../../io/sodium-ristretto.js';
import {
  cpaceFinish,
  cpaceGenerator,
  cpaceGeneratorString,
  cpaceIsk,
  cpaceScalarMultVerify,
  cpaceShare,
  cpaceStart,
  nobleRistretto,
  type RistrettoBackend,
  useRistrettoBackend,
} from '../../src/crypto/cpace.js';
import { hashSha512 } from '../../src/crypto/hashes.js';
import { lvCat, prependLen } from '../../src/encoding/binary.js';
import { fromHex, toHex } from '../../src/encoding/hex.js';
import { seededRandom } from '../support/seeded-random.js';
import vectors from '../vectors/cpace-ristretto255.json' with { type: 'json' };
import rfc9496 from '../vectors/ristretto255-rfc9496.json' with { type: 'json' };

function scalarFromLittleEndian(hex: string): bigint {
  return BigInt(`0x${toHex(fromHex(hex).reverse())}`);
}

// Every test runs on each ristretto255 implementation: noble (the reference) and libsodium (what
// the agent uses, io/sodium-ristretto.ts); a last test compares them on random inputs.
const backends: Record<string, () => Promise<RistrettoBackend>> = {
  noble: async () => nobleRistretto,
  libsodium: sodiumRistretto,
};

describe.each(Object.keys(backends))(
  'CPace ristretto255/SHA-512 on %s (draft-irtf-cfrg-cpace vectors)',
  (name) => {
    beforeAll(async () => {
      const previous = useRistrettoBackend(await backends[name]!());
      return () => void useRistrettoBackend(previous);
    });

    it('reproduces RFC 9496: small multiples, invalid encodings, elements from uniform bytes', async () => {
      const backend = await backends[name]!();
      const base = fromHex(rfc9496.smallMultiples[1]!);
      rfc9496.smallMultiples.forEach((encoded, i) => {
        const product = i === 0 ? null : backend.scalarMult(BigInt(i), base);
        expect(product && toHex(product)).toBe(i === 0 ? null : encoded);
      });
      expect(backend.scalarMult(5n, fromHex(rfc9496.smallMultiples[0]!))).toBeNull(); // the identity
      for (const bad of rfc9496.invalidEncodings) expect(backend.scalarMult(1n, fromHex(bad))).toBeNull();
      for (const v of rfc9496.fromUniformBytes)
        expect(toHex(backend.fromHash(fromHex(v.input)))).toBe(v.output);
    });

    const prs = fromHex(vectors.PRS);
    const ci = fromHex(vectors.CI);
    const sid = fromHex(vectors.sid);

    it('encodes prepend_len and lv_cat as the draft does', () => {
      for (const v of vectors.prepend_len) expect(toHex(prependLen(fromHex(v.input)))).toBe(v.output);
      expect(toHex(prependLen(new Uint8Array(128)))).toMatch(/^8001/);
      expect(toHex(lvCat(...vectors.lv_cat.inputs.map(fromHex)))).toBe(vectors.lv_cat.output);
    });

    it('derives the generator string, its hash and the generator', () => {
      const genStr = cpaceGeneratorString(prs, ci, sid);
      expect(toHex(genStr)).toBe(vectors.generator_string);
      expect(toHex(hashSha512(genStr))).toBe(vectors.generator_hash);
      expect(toHex(cpaceGenerator(prs, ci, sid))).toBe(vectors.g);
    });

    it('computes both shares, K and the initiator-responder ISK', () => {
      const g = cpaceGenerator(prs, ci, sid);
      const ya = scalarFromLittleEndian(vectors.ya);
      const yb = scalarFromLittleEndian(vectors.yb);
      const shareA = cpaceShare(g, ya);
      const shareB = cpaceShare(g, yb);
      expect(toHex(shareA)).toBe(vectors.Ya);
      expect(toHex(shareB)).toBe(vectors.Yb);
      const kA = cpaceScalarMultVerify(ya, shareB);
      const kB = cpaceScalarMultVerify(yb, shareA);
      expect(kA && toHex(kA)).toBe(vectors.K);
      expect(kB && toHex(kB)).toBe(vectors.K);
      const isk = cpaceIsk(sid, kA!, shareA, fromHex(vectors.ADa), shareB, fromHex(vectors.ADb));
      expect(toHex(isk)).toBe(vectors.ISK_IR);
      const inputs = { prs, ci, sid, adA: fromHex(vectors.ADa), adB: fromHex(vectors.ADb) };
      expect(toHex(cpaceFinish(inputs, 'initiator', ya, shareA, shareB)!)).toBe(vectors.ISK_IR);
      expect(toHex(cpaceFinish(inputs, 'responder', yb, shareB, shareA)!)).toBe(vectors.ISK_IR);
    });

    it('scalar_mult_vfy handles the valid case and returns G.I (null) for invalid points', () => {
      const s = scalarFromLittleEndian(vectors.valid_scalar_mult.s);
      expect(toHex(cpaceScalarMultVerify(s, fromHex(vectors.valid_scalar_mult.X))!)).toBe(
        vectors.valid_scalar_mult.result,
      );
      for (const bad of vectors.invalid_points) expect(cpaceScalarMultVerify(s, fromHex(bad))).toBeNull();
      expect(cpaceScalarMultVerify(s, new Uint8Array(31))).toBeNull();
    });

    it('aborts a run that receives an invalid or neutral share', () => {
      const inputs = { prs, ci, sid, adA: new Uint8Array(), adB: new Uint8Array() };
      const a = cpaceStart(inputs, new Uint8Array(32).fill(7))!;
      for (const bad of vectors.invalid_points) {
        expect(cpaceFinish(inputs, 'initiator', a.scalar, a.share, fromHex(bad))).toBeNull();
      }
    });

    it('gives different keys for different passwords', () => {
      const base = { ci, sid, adA: new Uint8Array(), adB: new Uint8Array() };
      const a = cpaceStart({ ...base, prs: prs }, new Uint8Array(32).fill(1))!;
      const b = cpaceStart({ ...base, prs: fromHex('00') }, new Uint8Array(32).fill(2))!;
      const iskA = cpaceFinish({ ...base, prs }, 'initiator', a.scalar, a.share, b.share);
      const iskB = cpaceFinish({ ...base, prs: fromHex('00') }, 'responder', b.scalar, b.share, a.share);
      expect(iskA && iskB && toHex(iskA) === toHex(iskB)).toBe(false);
    });
  },
);

describe('libsodium and noble agree', () => {
  it('on 300 random derivations and products', async () => {
    const sodium = await sodiumRistretto();
    const random = seededRandom('rfc9496-cross-check');
    for (let i = 0; i < 300; i++) {
      const hash = random(64);
      const point = nobleRistretto.fromHash(hash);
      expect(toHex(sodium.fromHash(hash))).toBe(toHex(point));
      const scalar = BigInt(`0x${toHex(random(32))}`) >> 4n;
      expect(toHex(sodium.scalarMult(scalar, point)!)).toBe(toHex(nobleRistretto.scalarMult(scalar, point)!));
      const garbage = random(32);
      expect(sodium.scalarMult(scalar, garbage) === null).toBe(
        nobleRistretto.scalarMult(scalar, garbage) === null,
      );
    }
  });
});
