import { describe, expect, it } from 'vitest';
import {
  cpaceFinish,
  cpaceGenerator,
  cpaceGeneratorString,
  cpaceIsk,
  cpaceScalarMultVerify,
  cpaceShare,
  cpaceStart,
} from '../../src/crypto/cpace.js';
import { hashSha512 } from '../../src/crypto/hashes.js';
import { lvCat, prependLen } from '../../src/encoding/binary.js';
import { fromHex, toHex } from '../../src/encoding/hex.js';
import vectors from '../vectors/cpace-ristretto255.json' with { type: 'json' };

function scalarFromLittleEndian(hex: string): bigint {
  return BigInt(`0x${toHex(fromHex(hex).reverse())}`);
}

describe('CPace ristretto255/SHA-512 (draft-irtf-cfrg-cpace vectors)', () => {
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
    expect(toHex(cpaceGenerator(prs, ci, sid).toBytes())).toBe(vectors.g);
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
});
