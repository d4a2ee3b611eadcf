import { readFileSync } from 'node:fs';
import { ed25519 } from '@noble/curves/ed25519.js';
import { afterAll, describe, expect, it } from 'vitest';
import { sodiumNativeVerify } from '../../io/sodium-native.js';
import { useFastEd25519Verify, verifyEd25519, verifyEd25519OpenSsl } from '../../src/crypto/ed25519.js';
import { hashSha512 } from '../../src/crypto/hashes.js';
import { concatBytes } from '../../src/encoding/binary.js';
import { fromHex } from '../../src/encoding/hex.js';
import { ED25519_ORDER, fromLe } from '../vectors/ed25519-rule.js';

// docs/test-vectors.json's `ed25519Rule`: the answer PROTOCOL.md §1 gives for each case, which
// must not depend on the backend or on the OpenSSL a Node release bundles (CI runs this file on
// Debian's Node 20 and on the active LTS).

interface RuleCase {
  name: string;
  publicKey: string;
  message: string;
  signature: string;
  valid: boolean;
}
const vectors = JSON.parse(
  readFileSync(new URL('../../docs/test-vectors.json', import.meta.url), 'utf8'),
) as {
  ed25519Rule: RuleCase[];
};
const cases = vectors.ed25519Rule.map((c) => ({
  ...c,
  key: fromHex(c.publicKey),
  msg: fromHex(c.message),
  sig: fromHex(c.signature),
}));

/** The cofactorless equation alone, by bytes, with noble (non-canonical keys decoded as ZIP 215 does). */
function equationHolds(key: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  const A = ed25519.Point.fromBytes(key, true);
  const R = signature.subarray(0, 32);
  const k = fromLe(hashSha512(concatBytes(R, key, message))) % ED25519_ORDER;
  const s = fromLe(signature.subarray(32)) % ED25519_ORDER;
  const left = ed25519.Point.BASE.multiplyUnsafe(s).subtract(A.multiplyUnsafe(k));
  return Buffer.from(left.toBytes()).equals(R);
}

describe('the strict Ed25519 rule on its vectors (PROTOCOL.md §1)', () => {
  const sodium = sodiumNativeVerify();
  afterAll(() => useFastEd25519Verify(null));

  it.each(cases)('$name: valid=$valid on OpenSSL alone and on libsodium', ({ key, msg, sig, valid }) => {
    useFastEd25519Verify(null);
    expect(verifyEd25519(key, msg, sig)).toBe(valid);
    expect(verifyEd25519OpenSsl(key, msg, sig)).toBe(valid);
    useFastEd25519Verify(sodium);
    expect(verifyEd25519(key, msg, sig)).toBe(valid);
  });

  it('every case satisfies the equation, so only the rule’s own checks refuse the invalid ones', () => {
    expect(cases.map((c) => c.valid)).toContain(false);
    for (const c of cases) expect(equationHolds(c.key, c.msg, c.sig), c.name).toBe(true);
  });
});
