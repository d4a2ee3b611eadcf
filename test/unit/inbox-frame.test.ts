import { describe, expect, it } from 'vitest';
import { sealFrame } from '../../src/crypto/frame-cipher.js';
import { toHex } from '../../src/encoding/hex.js';
import { FRAME_TYPE } from '../../src/handshake/frames.js';
import { deriveSessionKeys } from '../../src/handshake/session-keys.js';
import { buildInboxFrame, INBOX_FRAME_TYPE } from '../../src/notice/inbox.js';
import { inboxPairing as pairing } from '../support/inbox-party.js';
import { effectsOf, type Party, runUntilQuiet } from '../support/pairing-harness.js';

// PROTOCOL.md §11.1 in the handshake machines: the issuer posts its inbox frame (type 8) before its
// welcome, the acceptor that opened it posts its own before its ack, each before every resend, and
// each side pins with the inbox it opened by then. The frame never changes whether anyone pins.

const INBOX = INBOX_FRAME_TYPE;

const typesSent = (party: Party) => effectsOf(party, 'send').map((e) => e.frame[1]);
const inboxFramesSent = (party: Party) =>
  effectsOf(party, 'send')
    .filter((e) => e.frame[1] === INBOX)
    .map((e) => toHex(e.frame));

describe.each(['url', 'code'] as const)('the inbox frame in a pairing (%s form)', (form) => {
  it('both sides with inboxes: each pin carries the other side’s inbox and commitment', () => {
    const run = pairing(form, { issuer: true, acceptor: true });
    runUntilQuiet(run.issuer, [run.acceptor]);
    expect(typesSent(run.alice)).toEqual([FRAME_TYPE.reply, INBOX, FRAME_TYPE.welcome]);
    expect(typesSent(run.bob)).toEqual([FRAME_TYPE.hello, FRAME_TYPE.confirm, INBOX, FRAME_TYPE.ack]);
    const id = run.sessionId();
    const [bobPin] = effectsOf(run.bob, 'pin');
    expect(bobPin!.peerInbox).toEqual(run.aliceInbox.extensionFor(id));
    expect(bobPin!.handedWriteCapability).toEqual(run.bobInbox.extensionFor(id).inbox.writeCapability);
    const [alicePin] = effectsOf(run.alice, 'pin');
    expect(alicePin!.confirmed).toBe(false);
    expect(alicePin!.handedWriteCapability).toEqual(run.aliceInbox.extensionFor(id).inbox.writeCapability);
    // The issuer decides on the ack: its confirmation carries the acceptor's inbox.
    expect(effectsOf(run.alice, 'confirmPin')[0]!.peerInbox).toEqual(run.bobInbox.extensionFor(id));
    expect([run.session().phase, run.acceptor.state.phase]).toEqual(['completed', 'paired']);
  });

  it('an old acceptor (no inbox of its own): it posts no type 8, and the issuer’s pin has no inbox', () => {
    const run = pairing(form, { issuer: true, acceptor: false });
    runUntilQuiet(run.issuer, [run.acceptor]);
    expect(typesSent(run.bob)).toEqual([FRAME_TYPE.hello, FRAME_TYPE.confirm, FRAME_TYPE.ack]);
    expect(effectsOf(run.alice, 'confirmPin')[0]!.peerInbox).toBeUndefined();
    const [bobPin] = effectsOf(run.bob, 'pin');
    expect(bobPin!.peerInbox).toEqual(run.aliceInbox.extensionFor(run.sessionId()));
    expect(bobPin!.handedWriteCapability).toBeUndefined();
    expect([run.session().phase, run.acceptor.state.phase]).toEqual(['completed', 'paired']);
  });

  it('an old issuer: the acceptor opened no inbox frame, so it posts none, and no guess is counted', () => {
    const run = pairing(form, { issuer: false, acceptor: true });
    runUntilQuiet(run.issuer, [run.acceptor]);
    expect(typesSent(run.alice)).toEqual([FRAME_TYPE.reply, FRAME_TYPE.welcome]);
    expect(typesSent(run.bob)).toEqual([FRAME_TYPE.hello, FRAME_TYPE.confirm, FRAME_TYPE.ack]);
    expect(run.issuer.state.failedAttempts).toBe(0);
    const [bobPin] = effectsOf(run.bob, 'pin');
    expect([bobPin!.peerInbox, bobPin!.handedWriteCapability]).toEqual([undefined, undefined]);
    expect(effectsOf(run.alice, 'pin')[0]!.handedWriteCapability).toBeUndefined();
    expect([run.session().phase, run.acceptor.state.phase]).toEqual(['completed', 'paired']);
  });

  it('the relay loses the issuer’s inbox frame: both pin as before, neither with an inbox', () => {
    const run = pairing(form, { issuer: true, acceptor: true });
    run.exchange.tamper = (frame) => (frame[1] === INBOX ? [] : [frame]);
    runUntilQuiet(run.issuer, [run.acceptor]);
    expect(typesSent(run.alice)).toEqual([FRAME_TYPE.reply, INBOX, FRAME_TYPE.welcome]); // posted, lost
    expect(typesSent(run.bob)).not.toContain(INBOX);
    expect(effectsOf(run.bob, 'pin')[0]!.peerInbox).toBeUndefined();
    expect(effectsOf(run.alice, 'confirmPin')[0]!.peerInbox).toBeUndefined();
    expect([run.session().phase, run.acceptor.state.phase]).toEqual(['completed', 'paired']);
  });

  it('the relay loses the acceptor’s inbox frame: the issuer confirms without it, the acceptor keeps the issuer’s', () => {
    const run = pairing(form, { issuer: true, acceptor: true });
    const issuerMailbox = toHex(run.issuer.state.mailboxId);
    run.exchange.tamper = (frame, to) => (frame[1] === INBOX && to === issuerMailbox ? [] : [frame]);
    runUntilQuiet(run.issuer, [run.acceptor]);
    expect(effectsOf(run.alice, 'confirmPin')[0]!.peerInbox).toBeUndefined();
    expect(effectsOf(run.bob, 'pin')[0]!.peerInbox).toEqual(run.aliceInbox.extensionFor(run.sessionId()));
    expect(run.issuer.state.failedAttempts).toBe(0);
    expect([run.session().phase, run.acceptor.state.phase]).toEqual(['completed', 'paired']);
  });
});

describe('every resend of the welcome or the ack re-posts the inbox frame first, the same bytes', () => {
  it('a lost welcome: the repeated confirm brings the inbox frame and the welcome again', () => {
    const run = pairing('url', { issuer: true, acceptor: true });
    let dropped = 0;
    run.exchange.tamper = (frame) => (frame[1] === FRAME_TYPE.welcome && dropped++ === 0 ? [] : [frame]);
    runUntilQuiet(run.issuer, [run.acceptor]);
    expect(run.acceptor.state.phase).toBe('awaitingWelcome');
    run.exchange.now = run.acceptor.state.resendAt;
    run.acceptor.step({ type: 'clockTicked' });
    runUntilQuiet(run.issuer, [run.acceptor]);
    expect(typesSent(run.alice)).toEqual([
      FRAME_TYPE.reply,
      INBOX,
      FRAME_TYPE.welcome,
      INBOX,
      FRAME_TYPE.welcome,
    ]);
    expect(new Set(inboxFramesSent(run.alice)).size).toBe(1);
    expect(effectsOf(run.bob, 'pin')[0]!.peerInbox).toEqual(run.aliceInbox.extensionFor(run.sessionId()));
  });

  it('the issuer resumed, or its post failed and is retried: the inbox frame goes before the welcome', () => {
    const run = pairing('url', { issuer: true, acceptor: true });
    run.exchange.tamper = (frame) => (frame[1] === FRAME_TYPE.welcome || frame[1] === INBOX ? [] : [frame]);
    runUntilQuiet(run.issuer, [run.acceptor]);
    expect(run.session().phase).toBe('awaitingAck');
    const before = run.alice.effects.length;
    run.issuer.step({ type: 'resumed' });
    const resumed = run.alice.effects.slice(before);
    expect(resumed.map((e) => (e.type === 'send' ? e.frame[1] : e.type))).toEqual([
      INBOX,
      FRAME_TYPE.welcome,
      'resync',
    ]);
    // The inbox frame's post failed (the welcome after it did not run): both go again on the backoff.
    const inbox = effectsOf(run.alice, 'send').find((e) => e.frame[1] === INBOX)!;
    run.issuer.step({ type: 'effectFailed', effect: inbox, code: 'RELAY_UNREACHABLE' });
    run.exchange.now = run.session().retryAt!;
    const failed = run.alice.effects.length;
    run.issuer.step({ type: 'clockTicked' });
    expect(run.alice.effects.slice(failed).map((e) => (e.type === 'send' ? e.frame[1] : e.type))).toEqual([
      INBOX,
      FRAME_TYPE.welcome,
    ]);
    expect(new Set(inboxFramesSent(run.alice)).size).toBe(1);
  });

  it('a lost ack: the acceptor’s resends and its answer to a repeated welcome post its inbox frame first', () => {
    const run = pairing('code', { issuer: true, acceptor: true });
    run.exchange.tamper = (frame) => (frame[1] === FRAME_TYPE.ack ? [] : [frame]);
    runUntilQuiet(run.issuer, [run.acceptor]);
    expect(run.acceptor.state.ackPending).toBe(true);
    run.exchange.now = run.acceptor.state.resendAt;
    const before = run.bob.effects.length;
    run.acceptor.step({ type: 'clockTicked' });
    const resent = run.bob.effects.slice(before);
    expect(resent.map((e) => (e.type === 'send' ? e.frame[1] : e.type))).toEqual([
      'openMailbox',
      INBOX,
      FRAME_TYPE.ack,
      'resync',
    ]);
    const welcome = effectsOf(run.alice, 'send').find((e) => e.frame[1] === FRAME_TYPE.welcome)!.frame;
    const answered = run.bob.effects.length;
    run.acceptor.step({ type: 'frameReceived', frame: welcome });
    expect(run.bob.effects.slice(answered).map((e) => (e.type === 'send' ? e.frame[1] : e.type))).toEqual([
      INBOX,
      FRAME_TYPE.ack,
    ]);
    expect(new Set(inboxFramesSent(run.bob)).size).toBe(1);
    run.exchange.tamper = (frame) => [frame];
    run.acceptor.step({ type: 'resumed' });
    runUntilQuiet(run.issuer, [run.acceptor]);
    expect(effectsOf(run.alice, 'confirmPin')[0]!.peerInbox).toEqual(
      run.bobInbox.extensionFor(run.sessionId()),
    );
    expect(run.issuer.state.failedAttempts).toBe(0);
  });
});

describe('inbox frames that are not the other side’s first one are ignored', () => {
  it('garbage, a wrong key, a malformed extension, an oversize frame, a reflected or a second frame', () => {
    // Two uses: the invite stays pending, so a frame it took for junk would count as a guess.
    const run = pairing('code', { issuer: true, acceptor: true }, { uses: 2 });
    // Hold back alice's inbox frame and welcome: bob waits for his welcome, alice for her ack.
    const held: Uint8Array[] = [];
    run.exchange.tamper = (frame) => {
      if (frame[1] !== INBOX && frame[1] !== FRAME_TYPE.welcome) return [frame];
      held.push(frame);
      return [];
    };
    runUntilQuiet(run.issuer, [run.acceptor]);
    const id = run.sessionId();
    const keys = deriveSessionKeys(run.acceptor.state.sessionSecret!);
    const head = (sealed: Uint8Array) => Uint8Array.from([1, INBOX, ...id, ...sealed]);
    const forged = [
      head(new Uint8Array(60).fill(7)), // does not open
      head(sealFrame(keys.issuerToAcceptor, INBOX, new Uint8Array(40).fill(1))), // opens, not an extension
      head(new Uint8Array(600)), // larger than any inbox frame
      buildInboxFrame(keys.acceptorToIssuer, id, run.bobInbox.extensionFor(id)), // the other direction
    ];
    for (const frame of forged) {
      const [bobBefore, aliceBefore] = [run.acceptor.state, run.issuer.state];
      run.acceptor.step({ type: 'frameReceived', frame });
      expect(run.acceptor.state).toBe(bobBefore);
      if (frame !== forged[3]) run.issuer.step({ type: 'frameReceived', frame });
      expect(run.issuer.state).toBe(aliceBefore);
    }
    expect([run.issuer.state.status, run.issuer.state.failedAttempts]).toEqual(['pending', 0]);
    // Alice's own frame reflected into her mailbox does not open there; no guess is counted.
    run.issuer.step({ type: 'frameReceived', frame: held[0]! });
    expect(run.issuer.state.failedAttempts).toBe(0);
    // Her real frame, then a second, different one the relay cannot make but a test can: the first stays.
    run.acceptor.step({ type: 'frameReceived', frame: held[0]! });
    const other = { ...run.aliceInbox.extensionFor(id), nextKeyCommitment: new Uint8Array(32).fill(5) };
    run.acceptor.step({ type: 'frameReceived', frame: buildInboxFrame(keys.issuerToAcceptor, id, other) });
    run.exchange.tamper = (frame) => [frame];
    run.acceptor.step({ type: 'frameReceived', frame: held[1]! });
    expect(effectsOf(run.bob, 'pin')[0]!.peerInbox).toEqual(run.aliceInbox.extensionFor(id));
    runUntilQuiet(run.issuer, [run.acceptor]);
    expect(run.session().phase).toBe('completed');
    expect(effectsOf(run.alice, 'confirmPin')[0]!.peerInbox).toEqual(run.bobInbox.extensionFor(id));
    expect(run.issuer.state.failedAttempts).toBe(0);
  });

  it('an inbox frame that comes after the welcome is not taken: the pin was decided', () => {
    const run = pairing('url', { issuer: true, acceptor: true });
    let held: Uint8Array | undefined;
    run.exchange.tamper = (frame) => {
      if (frame[1] !== INBOX || held) return [frame];
      held = frame;
      return [];
    };
    runUntilQuiet(run.issuer, [run.acceptor]);
    const paired = run.acceptor.state;
    expect(held?.[1]).toBe(INBOX);
    expect(effectsOf(run.bob, 'pin')[0]!.peerInbox).toBeUndefined();
    run.acceptor.step({ type: 'frameReceived', frame: held! });
    expect(run.acceptor.state).toBe(paired);
    expect(typesSent(run.bob)).not.toContain(INBOX);
  });
});
