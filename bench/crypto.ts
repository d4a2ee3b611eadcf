/**
 * CPU cost of pairlink's primitives and of one full pairing per invite form (both sides, in one
 * process, no I/O): the physical floor under every latency figure. noble runs beside node:crypto
 * in the same process as the baseline; CPace on libsodium (what the agent uses) against noble (the
 * reference). Run: npm run bench, or node dist/bench/crypto.js
 */
import { randomBytes } from 'node:crypto';
import { xsalsa20poly1305 } from '@noble/ciphers/salsa.js';
import { ed25519, ristretto255_hasher, x25519 } from '@noble/curves/ed25519.js';
import { pooledRandom } from '../io/random-pool.js';
import { installSodiumNative } from '../io/sodium-native.js';
import { sodiumRistretto } from '../io/sodium-ristretto.js';
import { ristrettoBackend, useRistrettoBackend } from '../src/crypto/cpace.js';
import {
  Ed25519SigningKey,
  useFastEd25519Signer,
  verifyEd25519,
  verifyEd25519OpenSsl,
} from '../src/crypto/ed25519.js';
import { hkdfExpandLabel, hkdfExtract } from '../src/crypto/hashes.js';
import { X25519KeyPair } from '../src/crypto/x25519.js';
import { MemoryExchange, newParty, runUntilQuiet, setUpPairing } from '../src/handshake/in-memory-host.js';
import { type Figures, median, report, sample, value } from './stats.js';

const QUICK = process.env.BENCH_QUICK === '1';
const RUNS = Number(process.env.BENCH_RUNS ?? (QUICK ? 100 : 2000));
const rows: [string, number, number | null][] = [];

function row(name: string, fn: () => void, baseline?: () => void): void {
  const ours = median(sample(fn, RUNS));
  const base = baseline ? median(sample(baseline, RUNS)) : null;
  rows.push([name, ours, base]);
}

// What the agent installs at start: libsodium's Ed25519 (sodium-native), OpenSSL as the baseline.
const sodiumNative = installSodiumNative();
const seed = randomBytes(32);
const message = randomBytes(200);
const signer = Ed25519SigningKey.fromSeed(seed);
const signature = signer.sign(message);
const noblePub = ed25519.getPublicKey(seed);
row(
  `Ed25519 sign${sodiumNative ? ' (libsodium)' : ''}`,
  () => signer.sign(message),
  () => ed25519.sign(message, seed),
);
useFastEd25519Signer(null);
const opensslSigner = Ed25519SigningKey.fromSeed(seed);
if (sodiumNative) installSodiumNative();
row('Ed25519 sign, OpenSSL', () => opensslSigner.sign(message));
row(
  `Ed25519 verify (strict${sodiumNative ? ', libsodium' : ''})`,
  () => verifyEd25519(signer.publicKey, message, signature),
  () => ed25519.verify(signature, message, noblePub, { zip215: false }),
);
row('Ed25519 verify (strict), OpenSSL', () => verifyEd25519OpenSsl(signer.publicKey, message, signature));
const peer = X25519KeyPair.fromSecret(randomBytes(32)).publicKey;
row(
  'X25519 keygen',
  () => X25519KeyPair.fromSecret(randomBytes(32)),
  () => x25519.getPublicKey(randomBytes(32)),
);
const own = X25519KeyPair.fromSecret(randomBytes(32));
const ownSecret = randomBytes(32);
row(
  'X25519 shared secret (incl. key import)',
  () => own.sharedSecret(peer),
  () => x25519.getSharedSecret(ownSecret, peer),
);
const hash64 = randomBytes(64);
row('ristretto255 deriveToCurve', () => ristretto255_hasher.deriveToCurve!(hash64));
// A fresh point and a full-size secret scalar each time, as in CPace (no cached precomputation).
const scalar = () => BigInt(`0x${randomBytes(31).toString('hex')}`) + 1n;
row('ristretto255 point × scalar (constant time)', () =>
  ristretto255_hasher.deriveToCurve!(randomBytes(64)).multiply(scalar()),
);
row('  of which deriveToCurve + scalar draw', () => {
  ristretto255_hasher.deriveToCurve!(randomBytes(64));
  scalar();
});
row('HKDF-SHA-256 extract + expand 32 B', () =>
  hkdfExpandLabel(hkdfExtract(hash64, new Uint8Array(32)), 'x', 32),
);
const key = randomBytes(32);
const plaintext = randomBytes(600);
row('XSalsa20-Poly1305 seal 600 B', () => xsalsa20poly1305(key, new Uint8Array(24)).encrypt(plaintext));

// Full pairings: both machines, every frame, in one process (the in-memory host, no I/O).
const NOW = Math.floor(Date.now() / 1000);
const random = pooledRandom(); // the agent's source
const party = (name: string) => newParty(name, 'https://relay.example', NOW, random);
const alice = party('alice');
const bob = party('bob');

function pairOnce(form: 'url' | 'code'): void {
  const pairing = setUpPairing(
    form,
    { ...alice, effects: [] },
    { ...bob, effects: [] },
    new MemoryExchange(NOW),
  );
  runUntilQuiet(pairing.issuer, [pairing.acceptor]);
  if (pairing.acceptor.state.phase !== 'paired') throw new Error(`pairing did not complete (${form})`);
}

const pairRuns = Math.max(QUICK ? 20 : 200, Math.floor(RUNS / 4));
const urlPair = median(sample(() => pairOnce('url'), pairRuns));
const codePairNoble = median(sample(() => pairOnce('code'), pairRuns));
useRistrettoBackend(await sodiumRistretto());
const codePair = median(sample(() => pairOnce('code'), pairRuns));
const sodium = ristrettoBackend();
const point = sodium.fromHash(hash64);
row('ristretto255 point × scalar, libsodium', () => sodium.scalarMult(scalar(), point));

const figures: Figures = {};
for (const [name, ours, base] of rows) {
  figures[name] = value('ms', ours);
  if (base !== null) figures[`${name} — noble alone`] = value('ms', base);
}
figures['one URL pairing, both sides, all frames (CPU)'] = value('ms', urlPair);
figures['one code pairing, both sides, CPace on libsodium (CPU)'] = value('ms', codePair);
figures['one code pairing, CPace on noble, the reference (CPU)'] = value('ms', codePairNoble);
report(`Crypto, CPU per operation, medians of ${RUNS} (one process, no I/O)`, figures, [], {
  'code pairing CPU, noble ÷ libsodium': codePairNoble / codePair,
});
