import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeBase64url, encodeBase64url } from '../../src/encoding/base64url.js';
import { toHex } from '../../src/encoding/hex.js';
import { PairlinkError } from '../../src/errors.js';
import { RELAY_REFIND_SECONDS } from '../../src/handshake/acceptor.js';
import type { RelayEffect } from '../../src/handshake/effects.js';
import { decodeFrame, encodeFrame, type Frame } from '../../src/handshake/frames.js';
import { ALLOWED_CLOCK_SKEW_SECONDS } from '../../src/invite/invite-policy.js';
import { parseInviteUrl } from '../../src/invite/invite-url.js';
import { parseShortCode } from '../../src/invite/short-code.js';
import { FakeRelay, ManualClock } from '../support/fake-relay.js';
import { agentOn } from '../support/hosted-agent.js';
import {
  AcceptorDriver,
  codeSetup,
  effectsOf,
  makeParty,
  runUntilQuiet,
  urlSetup,
} from '../support/pairing-harness.js';

// The adversarial suite of docs/SECURITY.md, for what can be shown without processes: each case
// plays an attacker (a channel member with a link, a stranger with a nameplate, the relay) and
// asserts the safe outcome.

const NOW = 1_800_000_000;

function errorCode(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (error) {
    if (error instanceof PairlinkError) return error.code;
    throw error;
  }
}

/** The payload bytes of a web-form link and a function to put modified bytes back into one. */
function payloadOf(url: string) {
  const [prefix, fragment] = url.split('#') as [string, string];
  return {
    bytes: decodeBase64url(fragment, 4096),
    rebuild: (b: Uint8Array) => `${prefix}#${encodeBase64url(b)}`,
  };
}

/** A hello with the given share and form, answered (if at all) to the mailbox 08…08. */
function helloWith(share: Uint8Array, form: 'url' | 'code') {
  return encodeFrame({
    type: 'hello',
    form,
    sessionId: new Uint8Array(16).fill(7),
    share,
    replyTo: { mailboxId: new Uint8Array(16).fill(8), writeCapability: new Uint8Array(16).fill(9) },
  });
}

describe('malformed and tampered invites', () => {
  const { minted } = urlSetup({ uses: 2, requireSas: true });
  const url = minted.webUrl;

  it('truncated at every length, with trailing bytes, bad base64url, NUL, homoglyphs, > 8 KB: a typed error each', () => {
    for (let cut = 0; cut < url.length; cut++)
      expect(errorCode(() => parseInviteUrl(url.slice(0, cut), NOW))).not.toBeNull();
    const { bytes, rebuild } = payloadOf(url);
    expect(errorCode(() => parseInviteUrl(rebuild(new Uint8Array([...bytes, 0])), NOW))).toBe('MALFORMED');
    for (const bad of [
      `${url}*`,
      `${url}=`,
      url.replace('#', '#+'),
      `${url}\0`,
      `${url.slice(0, 40)}\0${url.slice(40)}`,
    ])
      expect(errorCode(() => parseInviteUrl(bad, NOW))).not.toBeNull();
    // Cyrillic а (U+0430) for Latin a, and a zero-width space, anywhere in the link.
    for (const at of [10, url.indexOf('#') + 5, url.length - 3]) {
      expect(
        errorCode(() => parseInviteUrl(`${url.slice(0, at)}\u0430${url.slice(at + 1)}`, NOW)),
      ).not.toBeNull();
      expect(
        errorCode(() => parseInviteUrl(`${url.slice(0, at)}\u200b${url.slice(at)}`, NOW)),
      ).not.toBeNull();
    }
    expect(errorCode(() => parseInviteUrl(`${url}${'A'.repeat(9000)}`, NOW))).toBe('TOO_LARGE');
  });

  it('every byte of the signed payload flipped, the requireSas flag stripped, an older version: all refused', () => {
    const { bytes, rebuild } = payloadOf(url);
    for (let i = 0; i < bytes.length; i++) {
      const copy = bytes.slice();
      copy[i]! ^= 0x01;
      expect(
        errorCode(() => parseInviteUrl(rebuild(copy), NOW)),
        `byte ${i}`,
      ).not.toBeNull();
    }
    const stripped = bytes.slice();
    stripped[1]! &= ~0x02; // flags: requireSas is 0x02
    expect(errorCode(() => parseInviteUrl(rebuild(stripped), NOW))).toBe('BAD_SIGNATURE');
    const older = bytes.slice();
    older[0] = 0;
    expect(errorCode(() => parseInviteUrl(rebuild(older), NOW))).toBe('MALFORMED');
  });

  it(`expiry with skewed clocks: an acceptor up to ${ALLOWED_CLOCK_SKEW_SECONDS} s ahead still tries, and the issuer decides`, () => {
    const expiresAt = minted.invite.expiresAt;
    expect(parseInviteUrl(url, expiresAt + ALLOWED_CLOCK_SKEW_SECONDS - 1).expiresAt).toBe(expiresAt);
    expect(errorCode(() => parseInviteUrl(url, expiresAt + ALLOWED_CLOCK_SKEW_SECONDS))).toBe(
      'INVITE_EXPIRED',
    );
    // An invite has no not-before: an issuer whose clock runs ahead cannot make it "not yet valid".
    expect(parseInviteUrl(url, NOW - 86_400).expiresAt).toBe(expiresAt);
    // The issuer's own clock is the one that counts: past its expiry it refuses with INVITE_EXPIRED.
    const { exchange, issuer, target } = urlSetup();
    const acceptor = new AcceptorDriver(makeParty('bob', NOW), target(), false, exchange);
    exchange.now = issuer.state.expiresAt + 1;
    runUntilQuiet(issuer, [acceptor]);
    expect(acceptor.state.failure).toBe('INVITE_EXPIRED');
  });

  it('Crockford normalisation: case, O/o for 0, I/i/L/l for 1, spaces and hyphens; other look-alikes refused', () => {
    const { minted } = codeSetup();
    const canonical = parseShortCode(minted.text);
    const plain = minted.text.replace(/-/g, '');
    const spellings = [
      minted.text.toLowerCase(),
      minted.text.replace(/-/g, ' '),
      ` ${plain.toLowerCase()} `,
      plain.replace(/0/g, 'O').replace(/1/g, 'I'),
      plain.replace(/0/g, 'o').replace(/1/g, 'l'),
    ];
    for (const spelling of spellings) expect(parseShortCode(spelling)).toEqual(canonical);
    // Cyrillic О and К, and U (not a Crockford symbol) are refused, not guessed at.
    for (const [from, to] of [
      [/[0O]/, '\u041e'],
      [/[A-Z]/, '\u041a'],
      [/[A-Z]/, 'U'],
    ] as const) {
      const bad = `${plain.slice(0, 3)}${plain.slice(3).replace(from, to)}`;
      if (bad !== plain) expect(errorCode(() => parseShortCode(bad))).not.toBeNull();
    }
    expect(errorCode(() => parseShortCode(`${plain.slice(0, 5)}\u041a${plain.slice(6)}`))).not.toBeNull();
  });
});

describe('races and replays', () => {
  it('two acceptors racing for a single-use invite: exactly one is pinned, the other is told INVITE_USED', () => {
    const { exchange, alice, issuer, target } = urlSetup();
    const bob = makeParty('bob', NOW);
    const carol = makeParty('carol', NOW);
    const a = new AcceptorDriver(bob, target(), false, exchange);
    const b = new AcceptorDriver(carol, target(), false, exchange);
    runUntilQuiet(issuer, [a, b]);
    const phases = [a.state.phase, b.state.phase].sort();
    expect(phases).toEqual(['failed', 'paired']);
    expect([a.state.failure, b.state.failure].filter(Boolean)).toEqual(['INVITE_USED']);
    expect(effectsOf(alice, 'pin')).toHaveLength(1);
    expect(effectsOf(bob, 'pin').length + effectsOf(carol, 'pin').length).toBe(1);
  });

  it('the relay replaying every frame of a finished pairing pins nothing more', () => {
    const { exchange, alice, issuer, target } = urlSetup({ uses: 2 });
    const seen: Uint8Array[] = [];
    exchange.tamper = (frame) => {
      seen.push(frame);
      return [frame];
    };
    const bob = makeParty('bob', NOW);
    const acceptor = new AcceptorDriver(bob, target(), false, exchange);
    runUntilQuiet(issuer, [acceptor]);
    expect(acceptor.state.phase).toBe('paired');
    const usesLeft = issuer.state.usesLeft;
    for (let round = 0; round < 3; round++) {
      for (const frame of seen) {
        issuer.step({ type: 'frameReceived', frame });
        acceptor.step({ type: 'frameReceived', frame });
      }
      runUntilQuiet(issuer, [acceptor]);
    }
    expect(issuer.state.usesLeft).toBe(usesLeft);
    expect(effectsOf(alice, 'pin')).toHaveLength(1);
    expect(effectsOf(bob, 'pin')).toHaveLength(1);
  });

  it('a frame reflected back to its sender is ignored by both machines', () => {
    const { exchange, issuer, target } = urlSetup();
    const acceptor = new AcceptorDriver(makeParty('bob', NOW), target(), false, exchange);
    const hello = exchange.take(issuer.state.mailboxId);
    for (const frame of hello) acceptor.step({ type: 'frameReceived', frame }); // its own hello
    expect(acceptor.state.phase).toBe('awaitingReply');
    for (const frame of hello) issuer.step({ type: 'frameReceived', frame });
    const reply = exchange.take(acceptor.state.replyBox.mailboxId);
    const before = JSON.stringify(Object.keys(issuer.state.sessions));
    for (const frame of reply) issuer.step({ type: 'frameReceived', frame }); // its own reply
    expect(JSON.stringify(Object.keys(issuer.state.sessions))).toBe(before);
    expect(Object.values(issuer.state.sessions)[0]!.phase).toBe('awaitingConfirm');
    for (const frame of reply) acceptor.step({ type: 'frameReceived', frame });
    runUntilQuiet(issuer, [acceptor]);
    expect(acceptor.state.phase).toBe('paired');
  });

  it('two sessions spliced by the relay (sealed parts swapped, ids rewritten) are ignored; both still pair', () => {
    const { exchange, alice, issuer, target } = urlSetup({ uses: 2 });
    const a = new AcceptorDriver(makeParty('bob', NOW), target(), false, exchange);
    const b = new AcceptorDriver(makeParty('carol', NOW), target(), false, exchange);
    issuer.drain();
    a.drain();
    b.drain();
    // Two confirms wait in the issuer's mailbox: deliver each with the other's session id first.
    const confirms = exchange.take(issuer.state.mailboxId).map((f) => decodeFrame(f));
    expect(confirms.map((f) => f.type)).toEqual(['confirm', 'confirm']);
    const [x, y] = confirms as Extract<Frame, { type: 'confirm' }>[];
    for (const [frame, other] of [
      [x!, y!],
      [y!, x!],
    ] as const)
      issuer.step({ type: 'frameReceived', frame: encodeFrame({ ...frame, sessionId: other.sessionId }) });
    expect(effectsOf(alice, 'pin')).toHaveLength(0);
    for (const frame of confirms) issuer.step({ type: 'frameReceived', frame: encodeFrame(frame) });
    runUntilQuiet(issuer, [a, b]);
    expect([a.state.phase, b.state.phase]).toEqual(['paired', 'paired']);
    expect(
      effectsOf(alice, 'pin')
        .map((p) => p.peer.name)
        .sort(),
    ).toEqual(['bob', 'carol']);
  });
});

describe('tampered frames: bit flips, truncation, wrong nonce, cross-direction, cross-phase', () => {
  it('every bit flip and every truncation of the sealed reply is ignored; the genuine reply then pairs', () => {
    const { exchange, issuer, target } = urlSetup();
    const acceptor = new AcceptorDriver(makeParty('bob', NOW), target(), false, exchange);
    issuer.drain();
    const [reply] = exchange.take(acceptor.state.replyBox.mailboxId);
    const header = 1 + 1 + 16 + 32; // version, type, session id, share: the sealed part follows (nonce first)
    for (let i = header; i < reply!.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const copy = reply!.slice();
        copy[i]! ^= bit;
        acceptor.step({ type: 'frameReceived', frame: copy });
      }
    }
    for (let cut = 0; cut < reply!.length; cut += 7)
      acceptor.step({ type: 'frameReceived', frame: reply!.subarray(0, cut) });
    expect(acceptor.state.phase).toBe('awaitingReply');
    acceptor.step({ type: 'frameReceived', frame: reply! });
    runUntilQuiet(issuer, [acceptor]);
    expect(acceptor.state.phase).toBe('paired');
  });

  it("the acceptor's confirm presented to it as a welcome, and the reply's sealed body as a welcome: ignored", () => {
    const { exchange, alice, issuer, target } = urlSetup();
    const acceptor = new AcceptorDriver(makeParty('bob', NOW), target(), false, exchange);
    issuer.drain();
    const [replyBytes] = exchange.take(acceptor.state.replyBox.mailboxId);
    acceptor.step({ type: 'frameReceived', frame: replyBytes! });
    expect(acceptor.state.phase).toBe('awaitingWelcome');
    const reply = decodeFrame(replyBytes!) as Extract<Frame, { type: 'reply' }>;
    const [confirmBytes] = exchange.take(issuer.state.mailboxId);
    const confirm = decodeFrame(confirmBytes!) as Extract<Frame, { type: 'confirm' }>;
    for (const sealed of [confirm.sealed, reply.sealed]) {
      acceptor.step({
        type: 'frameReceived',
        frame: encodeFrame({ type: 'welcome', sessionId: confirm.sessionId, sealed }),
      });
      acceptor.step({
        type: 'frameReceived',
        frame: encodeFrame({ type: 'ack', sessionId: confirm.sessionId, sealed }),
      });
    }
    // ... and the issuer shown its own reply's sealed part as a confirm, or the confirm as an ack.
    issuer.step({
      type: 'frameReceived',
      frame: encodeFrame({ type: 'confirm', sessionId: confirm.sessionId, sealed: reply.sealed }),
    });
    issuer.step({
      type: 'frameReceived',
      frame: encodeFrame({ type: 'ack', sessionId: confirm.sessionId, sealed: confirm.sealed }),
    });
    expect(acceptor.state.phase).toBe('awaitingWelcome');
    expect(effectsOf(alice, 'pin')).toHaveLength(0);
    issuer.step({ type: 'frameReceived', frame: confirmBytes! });
    runUntilQuiet(issuer, [acceptor]);
    expect(acceptor.state.phase).toBe('paired');
  });
});

describe('bad key material from a peer or the relay', () => {
  const LOW_ORDER_X25519 = [
    new Uint8Array(32), // all zero
    Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 1 : 0)), // u = 1
    Uint8Array.from(Buffer.from('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', 'hex')),
    Uint8Array.from(Buffer.from('5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157', 'hex')),
    Uint8Array.from(Buffer.from('ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', 'hex')),
  ];

  it('X25519 low-order and all-zero shares in a hello: refused with PROTOCOL_ERROR, no session, no reply', () => {
    const { exchange, issuer } = urlSetup();
    for (const share of LOW_ORDER_X25519) {
      issuer.step({ type: 'frameReceived', frame: helloWith(share, 'url') });
      expect(Object.keys(issuer.state.sessions)).toHaveLength(0);
      const answers = exchange.take(new Uint8Array(16).fill(8)).map((f) => decodeFrame(f));
      expect(answers.map((f) => (f.type === 'abort' ? f.reason : f.type))).toEqual(['PROTOCOL_ERROR']);
    }
  });

  it('CPace: the identity element, a non-decodable point and a non-canonical encoding are refused', () => {
    const { exchange, issuer } = codeSetup();
    const bad = [
      new Uint8Array(32), // the ristretto255 identity
      new Uint8Array(32).fill(0xff), // not a field element
      Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 1 : 0)), // odd: not canonical
    ];
    for (const share of bad) {
      issuer.step({ type: 'frameReceived', frame: helloWith(share, 'code') });
      expect(Object.keys(issuer.state.sessions)).toHaveLength(0);
      const answers = exchange.take(new Uint8Array(16).fill(8)).map((f) => decodeFrame(f));
      expect(answers.map((f) => (f.type === 'abort' ? f.reason : f.type))).toEqual(['PROTOCOL_ERROR']);
    }
    // Wrong lengths never get as far as a share: the frame decoder refuses them.
    const good = helloWith(new Uint8Array(32).fill(1), 'code');
    for (const frame of [good.subarray(0, good.length - 1), new Uint8Array([...good, 0])])
      expect(errorCode(() => decodeFrame(frame))).toBe('MALFORMED');
    // Each took a claim slot at the relay: a failed attempt (three burn the code, see below).
    expect(issuer.state.failedAttempts).toBe(3);
    expect(issuer.state.status).toBe('failed');
  });

  it('a hello of the other form (a URL hello against a code invite) is refused and counts as a failed attempt', () => {
    const { exchange, issuer } = codeSetup();
    issuer.step({ type: 'frameReceived', frame: helloWith(new Uint8Array(32).fill(5), 'url') });
    const answers = exchange.take(new Uint8Array(16).fill(8)).map((f) => decodeFrame(f));
    expect(answers.map((f) => (f.type === 'abort' ? f.reason : f.type))).toEqual(['PROTOCOL_ERROR']);
    expect(issuer.state.failedAttempts).toBe(1);
    expect(toHex(issuer.state.inviteId)).toHaveLength(32);
  });
});

describe('an audit log edited while the agent was stopped', () => {
  /**
   * Alice pairs with bob (minted 0, paired 1) and mints again (minted 2), stops, `edit` changes
   * her audit.log, and she starts again on the same home.
   */
  async function editedHistory(edit: (lines: string[]) => string) {
    const relay = new FakeRelay();
    const clock = new ManualClock(NOW);
    const first = await agentOn(relay, clock, 'alice');
    const { agent: bob } = await agentOn(relay, clock, 'bob');
    const paired = new Promise<void>((resolve) =>
      first.agent.onProgress((p) => p.status === 'paired' && resolve()),
    );
    const invite = await first.agent.createInvite({});
    await bob.startAccept(invite.url!, false);
    await paired; // reported, so in the history
    await first.agent.createInvite({});
    await Promise.all([first.agent.stop(), bob.stop()]);
    const file = join(first.home, 'audit.log');
    const lines = readFileSync(file, 'latin1').split('\n').filter(Boolean);
    // Padded: every line is a whole number of 512-byte buckets, whatever it holds.
    for (const line of lines) expect((line.length + 1) % 512).toBe(0);
    writeFileSync(file, edit(lines), 'latin1');
    const { agent: alice } = await agentOn(relay, clock, 'alice', first.home);
    return { alice, file };
  }
  const joined = (lines: string[]) => lines.map((l) => `${l}\n`).join('');

  it('untouched: the chain is whole', async () => {
    const { alice } = await editedHistory(joined);
    const { entries, integrity } = await alice.history(undefined, 100);
    expect(entries.map((e) => [e.seq, e.event])).toEqual([
      [0, 'minted'],
      [1, 'paired'],
      [2, 'minted'],
    ]);
    expect(integrity).toEqual({ ok: true, checked: 3, beforeChain: 0 });
    await alice.stop();
  });

  it("one line deleted (a still-pinned peer's paired entry): the chain breaks there", async () => {
    const { alice } = await editedHistory((lines) => joined([lines[0]!, lines[2]!]));
    const { entries, integrity } = await alice.history(undefined, 100);
    expect(alice.snapshot.peers.map((p) => p.name)).toEqual(['bob']);
    expect(entries.map((e) => e.event)).toEqual(['minted', 'minted']);
    expect(integrity).toMatchObject({ ok: false, brokenAt: 1, reason: 'missing', missing: 1 });
    await alice.stop();
  });

  it('a line duplicated: reported where it repeats, listed once', async () => {
    const { alice } = await editedHistory((lines) => joined([lines[0]!, lines[1]!, lines[1]!, lines[2]!]));
    const { entries, integrity } = await alice.history(undefined, 100);
    expect(entries.map((e) => e.seq)).toEqual([0, 1, 2]);
    expect(integrity).toMatchObject({ ok: false, brokenAt: 1, reason: 'repeated' });
    await alice.stop();
  });

  it('the last line cut off whole: the state still names it, so the log says it was truncated', async () => {
    const { alice } = await editedHistory((lines) => joined(lines.slice(0, 2)));
    const { integrity } = await alice.history(undefined, 100);
    expect(integrity).toMatchObject({ ok: false, brokenAt: 2, reason: 'truncated', missing: 1 });
    await alice.stop();
  });

  it('the last line cut off after a stop that finished nothing (the state carried its line): still truncated, never written back', async () => {
    const relay = new FakeRelay();
    const clock = new ManualClock(NOW);
    const first = await agentOn(relay, clock, 'alice');
    await first.agent.createInvite({});
    await first.agent.createInvite({});
    await first.agent.stop();
    const file = join(first.home, 'audit.log');
    const lines = readFileSync(file, 'latin1').split('\n').filter(Boolean);
    expect(lines).toHaveLength(2);
    writeFileSync(file, joined(lines.slice(0, 1)), 'latin1');
    const { agent: alice } = await agentOn(relay, clock, 'alice', first.home);
    const { entries, integrity } = await alice.history(undefined, 100);
    expect(entries.map((e) => e.seq)).toEqual([0]);
    expect(integrity).toMatchObject({ ok: false, brokenAt: 1, reason: 'truncated', missing: 1 });
    await alice.stop();
  });

  it('the last line torn part-way: the next entry is written whole after it, and the gap stays visible', async () => {
    const { alice, file } = await editedHistory(
      (lines) => `${joined(lines.slice(0, 2))}${lines[2]!.slice(0, 162)}`,
    );
    await alice.createInvite({});
    const { entries, integrity } = await alice.history(undefined, 100);
    expect(entries.map((e) => [e.seq, e.event])).toEqual([
      [0, 'minted'],
      [1, 'paired'],
      [3, 'minted'],
    ]);
    expect(integrity).toMatchObject({ ok: false, brokenAt: 2, reason: 'missing', missing: 1 });
    await alice.stop();
    const lines = readFileSync(file, 'latin1').split('\n').filter(Boolean);
    expect(lines.map((l) => l.length + 1)).toEqual([512, 512, 512]);
  });
});

describe('junk from a stranger who claimed a nameplate', () => {
  const JUNK: readonly [string, Uint8Array][] = [
    ['one byte', Uint8Array.of(0x78)],
    [
      'a frame of no session',
      encodeFrame({ type: 'ack', sessionId: new Uint8Array(16).fill(3), sealed: new Uint8Array(16) }),
    ],
    ['a hello with the CPace identity', helloWith(new Uint8Array(32), 'code')],
  ];

  it('whatever is not a valid first message is a failed attempt the issuer reports; the third burns the code', () => {
    const { alice, issuer } = codeSetup();
    JUNK.forEach(([what, frame], i) => {
      issuer.step({ type: 'frameReceived', frame });
      expect(issuer.state.failedAttempts, what).toBe(i + 1);
    });
    const reported = effectsOf(alice, 'progress').map((p) => `${p.status} ${p.code}`);
    expect(reported).toEqual([
      'failed PROTOCOL_ERROR',
      'failed PROTOCOL_ERROR',
      'failed PROTOCOL_ERROR',
      'failed INVITE_BURNED', // the invite burned, as after three wrong codes
    ]);
    expect(issuer.state.status).toBe('failed');
    expect(effectsOf(alice, 'closeMailbox')).toHaveLength(1);
  });

  it('two junk posts leave the code usable: the right acceptor still pairs', () => {
    const { exchange, alice, issuer, target } = codeSetup();
    for (const [, frame] of JUNK.slice(0, 2)) issuer.step({ type: 'frameReceived', frame });
    const acceptor = new AcceptorDriver(makeParty('bob', NOW), target(), false, exchange);
    runUntilQuiet(issuer, [acceptor]);
    expect(acceptor.state.phase).toBe('paired');
    expect(issuer.state.failedAttempts).toBe(2);
    expect(effectsOf(alice, 'pin')).toHaveLength(1);
  });

  it('a link invite has no nameplate to claim: junk in its mailbox counts nothing', () => {
    const { alice, issuer } = urlSetup();
    for (const [, frame] of JUNK) issuer.step({ type: 'frameReceived', frame: frame });
    expect(issuer.state.failedAttempts).toBe(0);
    expect(issuer.state.status).toBe('pending');
    expect(effectsOf(alice, 'progress')).toHaveLength(0);
  });
});

describe('a relay that restarted and lost the invite mailbox', () => {
  /** The acceptor's hello refused as not found, by a relay whose store began at `since` (if it says). */
  function helloRefused(acceptor: AcceptorDriver, since: number | undefined) {
    const issuerBox = acceptor.state.target.form === 'url' ? acceptor.state.target.invite : null;
    const effect: RelayEffect = {
      type: 'send',
      to: issuerBox ?? { mailboxId: new Uint8Array(16), writeCapability: new Uint8Array(16) },
      frame: acceptor.state.lastSentFrame,
    };
    acceptor.step({
      type: 'effectFailed',
      effect,
      code: 'INVITE_NOT_FOUND',
      ...(since === undefined ? {} : { relayStoreSince: since }),
    });
  }

  it(`a link's acceptor looks for it again for ${RELAY_REFIND_SECONDS} s after the restart, pairs once the issuer puts it back, else says the relay lost it`, () => {
    const { exchange, issuer, target } = urlSetup();
    const acceptor = new AcceptorDriver(makeParty('bob', NOW), target(), false, exchange);
    exchange.take(issuer.state.mailboxId); // the hello the relay lost
    helloRefused(acceptor, NOW - 5);
    expect(acceptor.state.phase).toBe('awaitingReply');
    // The issuer's mailbox is back: the next resend lands and the pairing completes.
    exchange.now = acceptor.state.resendAt;
    acceptor.step({ type: 'clockTicked' });
    runUntilQuiet(issuer, [acceptor]);
    expect(acceptor.state.phase).toBe('paired');

    const lost = new AcceptorDriver(makeParty('carol', NOW), target(), false, exchange);
    helloRefused(lost, NOW - 5);
    exchange.now = NOW - 5 + RELAY_REFIND_SECONDS;
    helloRefused(lost, NOW - 5);
    expect([lost.state.phase, lost.state.failure]).toEqual(['failed', 'RELAY_RESTARTED']);
  });

  it('without a recent restart, and for a code (its nameplate is gone too), a gone mailbox ends the accept at once', () => {
    const url = urlSetup();
    for (const since of [undefined, NOW - RELAY_REFIND_SECONDS]) {
      const acceptor = new AcceptorDriver(makeParty('bob', NOW), url.target(), false, url.exchange);
      helloRefused(acceptor, since);
      expect([acceptor.state.phase, acceptor.state.failure]).toEqual(['failed', 'INVITE_NOT_FOUND']);
    }
    const code = codeSetup();
    const acceptor = new AcceptorDriver(makeParty('bob', NOW), code.target(), false, code.exchange);
    helloRefused(acceptor, NOW - 5);
    expect([acceptor.state.phase, acceptor.state.failure]).toEqual(['failed', 'INVITE_NOT_FOUND']);
  });
});
