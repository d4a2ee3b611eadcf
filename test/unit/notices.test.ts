import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DirectionKey } from '../../src/crypto/frame-cipher.js';
import { PairlinkError } from '../../src/errors.js';
import {
  decodeNoticePlaintext,
  encodeSignedNotice,
  MAX_NOTICE_BYTES,
  openNotice,
} from '../../src/notice/envelope.js';
import {
  buildInboxFrame,
  decodeInbox,
  decodeInboxExtension,
  encodeInbox,
  encodeInboxExtension,
  type Inbox,
  MAX_INBOX_BYTES,
  openInboxFrame,
} from '../../src/notice/inbox.js';
import { nextKeyCommitment } from '../../src/notice/rotation.js';
import { checkCounter } from '../../src/notice/verdict.js';
import { NOW, noticePair, noticeTo, rotateBody, TTL } from '../support/notice-pair.js';

// PROTOCOL.md §11 at the pure level: every encoding round-trips and is strict, every kind
// applies, the counter rule, and every decoder answers junk with a PairlinkError only.

const inbox: Inbox = {
  relayUrl: 'https://relay.example.org',
  mailboxId: new Uint8Array(16).fill(7),
  writeCapability: new Uint8Array(16).fill(9),
};
const key = (byte: number): DirectionKey => ({ key: new Uint8Array(32).fill(byte) });
const SESSION = new Uint8Array(16).fill(3);

/** The error code `fn` throws, null when it returns; any other kind of throw fails the test. */
function codeOf(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (error) {
    if (error instanceof PairlinkError) return error.code;
    throw error;
  }
}

describe('the inbox and its handshake frame (§11.1)', () => {
  it('round-trips, and refuses what is not canonical', () => {
    const bytes = encodeInbox(inbox);
    expect(bytes.length).toBe(1 + 1 + 25 + 32);
    expect(decodeInbox(bytes)).toEqual(inbox);
    expect(codeOf(() => decodeInbox(Uint8Array.of(...bytes, 0)))).toBe('MALFORMED');
    expect(codeOf(() => decodeInbox(Uint8Array.of(2, ...bytes.subarray(1))))).toBe('UNSUPPORTED_VERSION');
    for (const relayUrl of ['', 'https://relay.example.org/', 'ftp://relay.example.org']) {
      const bad = Uint8Array.of(
        1,
        relayUrl.length,
        ...new TextEncoder().encode(relayUrl),
        ...new Uint8Array(32),
      );
      expect(
        codeOf(() => decodeInbox(bad)),
        relayUrl,
      ).toBe('MALFORMED');
    }
    const extension = encodeInboxExtension({ nextKeyCommitment: new Uint8Array(32).fill(1), inbox });
    expect(decodeInboxExtension(extension)).toEqual({ nextKeyCommitment: new Uint8Array(32).fill(1), inbox });
    const longest = { ...inbox, relayUrl: `https://r.example/${'a'.repeat(200 - 18)}` };
    expect(encodeInbox(longest).length).toBe(MAX_INBOX_BYTES);
    expect(codeOf(() => decodeInbox(new Uint8Array(MAX_INBOX_BYTES + 1)))).toBe('TOO_LARGE');
  });

  it('seals the extension under one direction of one session only', () => {
    const extension = { nextKeyCommitment: new Uint8Array(32).fill(5), inbox };
    const frame = buildInboxFrame(key(1), SESSION, extension);
    expect([frame[0], frame[1]]).toEqual([1, 8]);
    expect(openInboxFrame(key(1), SESSION, frame)).toEqual(extension);
    expect(openInboxFrame(key(2), SESSION, frame)).toBeNull();
    expect(openInboxFrame(key(1), new Uint8Array(16), frame)).toBeNull();
    expect(openInboxFrame(key(1), SESSION, frame.subarray(0, frame.length - 1))).toBeNull();
  });
});

describe('notices (§11.2–11.4)', () => {
  it('each kind round-trips through seal and open, and applies once', () => {
    const { alice, bob, next, afterNext, receiver } = noticePair();
    const me = alice.identity.signing;
    const sender = me.publicKey;
    const bodies = [
      { kind: 'ping' } as const,
      { kind: 'inboxMoved', inbox } as const,
      { kind: 'receipt', counter: 2 } as const,
    ];
    let counter = 1;
    for (const body of bodies) {
      const c = body.kind === 'receipt' ? 0 : counter++;
      const bytes = noticeTo(bob, sender, me, c, body);
      const opened = openNotice(bytes, bob.identity.agreement)!;
      expect(opened.notice).toEqual({
        sender,
        receiver: bob.identity.signing.publicKey,
        counter: c,
        sentAt: NOW,
        expiresAt: NOW + TTL,
        body,
      });
      expect(receiver.deliver(bytes)?.outcome, body.kind).toBe('apply');
    }
    // A receipt is outside the sequence: the last counter is the inbox-moved one's.
    expect(receiver.pins.get(Buffer.from(sender).toString('hex'))?.lastCounter).toBe(2);
    const rotate = receiver.deliver(noticeTo(bob, sender, next.signing, 3, rotateBody(next, afterNext)));
    expect(rotate).toMatchObject({ outcome: 'apply', retiredKey: sender });
    const unpair = noticeTo(bob, next.signing.publicKey, next.signing, 4, { kind: 'unpair' });
    expect(receiver.deliver(unpair)?.outcome).toBe('apply');
    expect(receiver.pins.size).toBe(0);
  });

  it('applies a counted notice iff its counter is above the last applied', () => {
    expect(checkCounter(0, 1)).toBe('apply');
    expect(checkCounter(4, 9)).toBe('apply'); // a gap is fine
    expect(checkCounter(4, 4)).toBe('duplicate');
    expect(checkCounter(4, 3)).toBe('duplicate');
    expect(checkCounter(0xfffffffe, 0xffffffff)).toBe('apply');
  });

  it('drops a notice past its expiry, unapplied', () => {
    const { alice, bob, receiver } = noticePair();
    const times = { sentAt: NOW - TTL - 1, expiresAt: NOW - 1 };
    const late = noticeTo(
      bob,
      alice.identity.signing.publicKey,
      alice.identity.signing,
      1,
      { kind: 'ping' },
      bob.random,
      times,
    );
    expect(receiver.deliver(late)).toEqual({ outcome: 'expired' });
  });

  it('refuses a TTL over 90 days, a receipt with a counter and a counted notice without one', () => {
    const { alice, bob } = noticePair();
    const me = alice.identity.signing;
    const base = { sender: me.publicKey, receiver: bob.identity.signing.publicKey, sentAt: NOW };
    const plain = (notice: Parameters<typeof encodeSignedNotice>[0]) =>
      Uint8Array.of(...encodeSignedNotice(notice), ...new Uint8Array(64));
    const ok = { ...base, counter: 1, expiresAt: NOW + 90 * 86_400, body: { kind: 'ping' } as const };
    expect(decodeNoticePlaintext(plain(ok)).notice).toEqual(ok);
    expect(codeOf(() => decodeNoticePlaintext(plain({ ...ok, expiresAt: ok.expiresAt + 1 })))).toBe(
      'MALFORMED',
    );
    expect(codeOf(() => decodeNoticePlaintext(plain({ ...ok, expiresAt: NOW - 1 })))).toBe('MALFORMED');
    expect(codeOf(() => decodeNoticePlaintext(plain({ ...ok, counter: 0 })))).toBe('MALFORMED');
    const receipt = { ...ok, counter: 3, body: { kind: 'receipt', counter: 1 } as const };
    expect(codeOf(() => decodeNoticePlaintext(plain(receipt)))).toBe('MALFORMED');
  });

  it('commits to the next key with a labelled SHA-256', () => {
    const { next, afterNext } = noticePair();
    const commitment = nextKeyCommitment(next.signing.publicKey);
    expect(commitment.length).toBe(32);
    expect(commitment).not.toEqual(nextKeyCommitment(afterNext.signing.publicKey));
  });
});

describe('every decoder answers junk with a PairlinkError, nothing else (fuzz)', () => {
  const { alice, bob, next, afterNext } = noticePair();
  const rotation = noticeTo(
    bob,
    alice.identity.signing.publicKey,
    next.signing,
    1,
    rotateBody(next, afterNext),
  );
  const opened = openNotice(rotation, bob.identity.agreement)!;
  const plaintext = Uint8Array.of(...opened.signed, ...opened.signature);
  const extension = encodeInboxExtension({ nextKeyCommitment: new Uint8Array(32), inbox });
  const decoders: [string, Uint8Array, (bytes: Uint8Array) => unknown, number][] = [
    ['inbox', encodeInbox(inbox), decodeInbox, MAX_INBOX_BYTES],
    ['inbox extension', extension, decodeInboxExtension, 267],
    ['notice plaintext', plaintext, decodeNoticePlaintext, MAX_NOTICE_BYTES],
    ['notice', rotation, (b) => openNotice(b, bob.identity.agreement), MAX_NOTICE_BYTES],
    [
      'inbox frame',
      buildInboxFrame(key(1), SESSION, { nextKeyCommitment: new Uint8Array(32), inbox }),
      (b) => openInboxFrame(key(1), SESSION, b),
      301,
    ],
  ];

  it('every truncation and an extra byte are refused; oversized is TOO_LARGE', () => {
    for (const [name, valid, decode, max] of decoders) {
      expect(
        codeOf(() => decode(valid)),
        name,
      ).toBeNull();
      for (let cut = 0; cut < valid.length; cut++) {
        const code = codeOf(() => decode(valid.subarray(0, cut)));
        // A sealed input that no longer opens is "not for us" (null), never a crash.
        if (name !== 'notice' && name !== 'inbox frame') expect(code, `${name} cut at ${cut}`).not.toBeNull();
      }
      if (name !== 'notice' && name !== 'inbox frame') {
        expect(
          codeOf(() => decode(Uint8Array.of(...valid, 0))),
          name,
        ).toBe('MALFORMED');
      }
      expect(
        codeOf(() => decode(new Uint8Array(max + 1))),
        name,
      ).toBe('TOO_LARGE');
    }
  });

  it('random and mutated inputs (3,000 cases)', () => {
    for (const [name, valid, decode] of decoders) {
      fc.assert(
        fc.property(
          fc.oneof(
            fc.uint8Array({ maxLength: 2100 }),
            fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 1, max: 255 })).map(([at, x]) => {
              const copy = Uint8Array.from(valid);
              copy[at]! ^= x;
              return copy;
            }),
          ),
          (bytes) => {
            codeOf(() => decode(bytes));
          },
        ),
        { numRuns: 600, seed: 27 },
      );
      expect(name).toBeTruthy();
    }
  });
});
