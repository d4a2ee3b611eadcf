import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { readRequest } from '../../agent/rpc-dispatch.js';
import { acceptRelay, acceptText } from '../../bots/core/commands/accept.js';
import { inviteParams } from '../../bots/core/commands/invite.js';
import { DISCORD_CONFIG_SCHEMA } from '../../bots/discord/config.js';
import { MATRIX_CONFIG_SCHEMA } from '../../bots/matrix/config.js';
import { acceptArgs, addressed, inviteArgs } from '../../bots/matrix/format.js';
import { parseOp } from '../../relay/server/client-ops.js';
import { parseJson } from '../../relay/server/http-front.js';
import { DEFAULT_LIMITS } from '../../relay/server/limits.js';
import { RelayMetrics } from '../../relay/server/metrics.js';
import { RelayService } from '../../relay/server/relay-service.js';
import { MemoryStore } from '../../relay/server/store/memory-store.js';
import {
  claimAnswer,
  createdAnswer,
  decodeAnswer,
  decodeAnswerBytes,
  readAnswer,
  socketFrame,
} from '../../relay/wire/relay-answers.js';
import { parseConfig } from '../../src/config/schema.js';
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
import { verifyCard } from '../../src/identity/card.js';
import { Identity } from '../../src/identity/identity.js';
import { resolveInvitePolicy } from '../../src/invite/invite-policy.js';
import { formatCustomSchemeUrl, parseInviteUrl } from '../../src/invite/invite-url.js';
import { parseShortCode } from '../../src/invite/short-code.js';
import { PARAM_SCHEMAS } from '../../src/rpc/schemas.js';
import { seededRandom } from '../support/seeded-random.js';

// Property-based fuzzing of every parser that takes outside input (docs/SECURITY.md §Fuzzing).
// Each parser must either accept or fail with its typed error: never throw anything else, never
// hang. PL_FUZZ_SEED reproduces a run; PL_FUZZ_SCALE multiplies the case counts.

const SEED = process.env.PL_FUZZ_SEED ? Number(process.env.PL_FUZZ_SEED) : Date.now() % 2 ** 31;
const SCALE = Number(process.env.PL_FUZZ_SCALE ?? 1);
const TIME_LIMIT_MS = 60_000;
let total = 0;
const started = Date.now();

function fuzz<T>(name: string, arbitrary: fc.Arbitrary<T>, runs: number, check: (value: T) => void): void {
  const numRuns = Math.round(runs * SCALE);
  it(
    `${name} (${numRuns} cases)`,
    () => {
      let count = 0;
      fc.assert(
        fc.property(arbitrary, (value) => {
          count++;
          check(value);
        }),
        { seed: SEED, numRuns, interruptAfterTimeLimit: TIME_LIMIT_MS, markInterruptAsFailure: true },
      );
      total += count;
      expect(count).toBe(numRuns);
    },
    TIME_LIMIT_MS + 10_000,
  );
}

/** Succeeds, or throws a PairlinkError (with one of the stable codes), nothing else. */
function typed(parse: () => unknown): void {
  try {
    parse();
  } catch (error) {
    if (!(error instanceof PairlinkError)) throw error;
  }
}

afterAll(() => {
  // The seed and the count, so a failure reproduces with PL_FUZZ_SEED=<seed>.
  console.log(`fuzz: ${total} cases in ${Date.now() - started} ms, seed ${SEED} (PL_FUZZ_SEED=${SEED})`);
});

const NOW = 1_800_000_000;
const random = seededRandom('fuzz');
const { identity } = Identity.generate(random);
const minted = mintUrlInvite(
  identity,
  resolveInvitePolicy({ uses: 3 }),
  'https://relay.example',
  NOW,
  seededRandom('fuzz-invite'),
);
const VALID_URLS = [minted.webUrl, formatCustomSchemeUrl(minted.invite)];
const URL_ALPHABET = [
  ...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/#:%.?& \0\u0430\u200b',
];

/** A valid string with a few characters replaced, inserted or deleted. */
function mutated(bases: readonly string[], alphabet: readonly string[]): fc.Arbitrary<string> {
  const edit = fc.record({
    kind: fc.constantFrom('replace', 'insert', 'delete'),
    at: fc.nat(),
    char: fc.constantFrom(...alphabet),
  });
  return fc
    .tuple(fc.constantFrom(...bases), fc.array(edit, { minLength: 1, maxLength: 4 }))
    .map(([base, edits]) => {
      let text = base;
      for (const e of edits) {
        const at = e.at % (text.length + 1);
        if (e.kind === 'replace') text = text.slice(0, at) + e.char + text.slice(at + 1);
        else if (e.kind === 'insert') text = text.slice(0, at) + e.char + text.slice(at);
        else text = text.slice(0, at) + text.slice(at + 1);
      }
      return text;
    });
}

const bytes = (max: number) => fc.uint8Array({ maxLength: max });
const json = fc.jsonValue({ maxDepth: 4 });

describe('fuzzing the invite parsers', () => {
  fuzz('invite URLs: random text', fc.string({ maxLength: 400, unit: 'binary' }), 10_000, (text) =>
    typed(() => parseInviteUrl(text, NOW)),
  );
  fuzz(
    'invite URLs: mutated valid links (a mutation that changes the invite is rejected)',
    mutated(VALID_URLS, URL_ALPHABET),
    15_000,
    (text) => {
      try {
        const parsed = parseInviteUrl(text, NOW);
        // Only spellings that decode to the very same signed invite may pass.
        expect(Buffer.from(parsed.secret).equals(Buffer.from(minted.invite.secret))).toBe(true);
      } catch (error) {
        if (!(error instanceof PairlinkError)) throw error;
      }
    },
  );
  fuzz('short codes: random text', fc.string({ maxLength: 40, unit: 'binary' }), 10_000, (text) =>
    typed(() => parseShortCode(text)),
  );
  fuzz(
    'short codes: mutated codes',
    mutated(
      ['K7Q-VZFHN-G1J2', 'k7qv zfhn g1j2', 'K7QVZFHNG1J2X'],
      [...'0123456789ABCDEFGHJKMNPQRSTVWXYZOoIiLlUu- _\u041e'],
    ),
    10_000,
    (text) => typed(() => parseShortCode(text)),
  );
});

describe('fuzzing what arrives from the relay', () => {
  const frame = encodeFrame({
    type: 'hello',
    form: 'url',
    sessionId: new Uint8Array(16).fill(1),
    share: new Uint8Array(32).fill(2),
    replyTo: { mailboxId: new Uint8Array(16).fill(3), writeCapability: new Uint8Array(16).fill(4) },
  });
  fuzz('frames and sealed bodies: random bytes', bytes(600), 15_000, (b) => {
    for (const decode of [decodeFrame, decodeReplyBody, decodeConfirmBody, decodeWelcomeBody, verifyCard])
      typed(() => decode(b));
    typed(() => decodeDeviceBundle(b, identity.signing.publicKey));
  });
  fuzz(
    'frames: mutated valid frames',
    fc.tuple(fc.nat(frame.length - 1), fc.integer({ min: 1, max: 255 }), fc.nat(frame.length)),
    5_000,
    ([at, xor, cut]) => {
      const copy = frame.slice();
      copy[at]! ^= xor;
      typed(() => decodeFrame(copy));
      typed(() => decodeFrame(frame.subarray(0, cut)));
    },
  );
  fuzz('relay answers: random JSON against every answer schema', json, 10_000, (value) => {
    for (const schema of [createdAnswer, readAnswer, claimAnswer, socketFrame])
      typed(() => decodeAnswer(schema as never, value, 'fuzz'));
  });
  fuzz('relay answer bodies: random text as base64url', fc.string({ maxLength: 100 }), 5_000, (text) =>
    typed(() => decodeAnswerBytes(text)),
  );
});

describe('fuzzing what the relay takes in', () => {
  const store = new MemoryStore();
  const metrics = new RelayMetrics(
    () => store.mailboxCount(),
    () => store.inboxStats(),
  );
  const service = new RelayService(store, DEFAULT_LIMITS, metrics);
  afterAll(() => store.close());
  fuzz('HTTP and WebSocket bodies: random text', fc.string({ maxLength: 300 }), 10_000, (text) => {
    parseJson(Buffer.from(text));
    parseOp(Buffer.from(text));
  });
  fuzz('WebSocket operations: random JSON objects', json, 5_000, (value) => {
    parseOp(Buffer.from(JSON.stringify(value)));
  });
  it('relay operations: random ids, capabilities, bodies and create requests (2,000 cases)', async () => {
    let count = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.string({ maxLength: 30 }),
        fc.option(fc.string({ maxLength: 50 })),
        json,
        async (id, cap, request) => {
          count++;
          const results = await Promise.all([
            service.createMailbox('198.51.100.1', id, request as never),
            service.post(id, cap ?? undefined, 'AA', 2),
            service.read(id, cap ?? undefined, 0),
            service.claim(id),
            service.createNameplate(id, cap ?? undefined, 1),
            service.renewInbox(id, cap ?? undefined, 60),
            service.addWriter(id, cap ?? undefined, id),
            service.revokeWriter(id, cap ?? undefined, id),
            service.trimInbox(id, cap ?? undefined, 1),
          ]);
          for (const r of results) expect(typeof r.ok).toBe('boolean');
        },
      ),
      { seed: SEED, numRuns: Math.round(2_000 * SCALE) },
    );
    total += count;
  });
});

describe('fuzzing the JSON-RPC socket and the chat commands', () => {
  const names = Object.keys(PARAM_SCHEMAS) as (keyof typeof PARAM_SCHEMAS)[];
  fuzz('JSON-RPC requests: random JSON', json, 10_000, (value) => {
    const request = readRequest(value);
    if (!('invalid' in request)) expect(typeof request.method).toBe('string');
    for (const name of names) PARAM_SCHEMAS[name].safeParse(value);
  });
  fuzz(
    'JSON-RPC params: near-valid objects for every method',
    fc.dictionary(
      fc.constantFrom(
        'id',
        'invite',
        'match',
        'sessionId',
        'acceptId',
        'waitSeconds',
        'ttlSeconds',
        'uses',
        'format',
        'mode',
        'label',
        'requireSas',
        'did',
        'all',
        '__proto__',
        'constructor',
      ),
      json,
      { maxKeys: 4 },
    ),
    5_000,
    (params) => {
      for (const name of names) PARAM_SCHEMAS[name].safeParse(params);
    },
  );
  fuzz(
    'chat commands: random words for invite, accept and addressing',
    fc.array(fc.string({ maxLength: 20 }), { maxLength: 6 }),
    5_000,
    (words) => {
      typed(() => inviteArgs(words));
      typed(() => acceptText(words.join(' ')));
      typed(() => acceptArgs(words));
      typed(() => acceptRelay(words.join('')));
      addressed(words.join(' '), '!pair', ['pairlink', '@bot:example.org']);
      typed(() =>
        inviteParams({
          ...(words[0] !== undefined ? { ttl: words[0] } : {}),
          ...(words[1] !== undefined ? { format: words[1] } : {}),
          ...(words[2] !== undefined ? { note: words[2] } : {}),
        } as never),
      );
    },
  );
  fuzz('config files: random JSON for the agent, Discord and Matrix configs', json, 5_000, (value) => {
    typed(() => parseConfig(value, 'fuzz.json'));
    DISCORD_CONFIG_SCHEMA.safeParse(value);
    MATRIX_CONFIG_SCHEMA.safeParse(value);
  });
});
