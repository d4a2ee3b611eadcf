import { describe, expect, it } from 'vitest';
import { toHex } from '../../src/encoding/hex.js';
import { acceptorWakeAt } from '../../src/handshake/acceptor.js';
import {
  acceptorDeadline,
  ackDeadline,
  EVICTABLE_AFTER_SECONDS,
  ISSUER_SESSION_TIMEOUT_SECONDS,
} from '../../src/handshake/deadlines.js';
import { encodeFrame, FRAME_TYPE } from '../../src/handshake/frames.js';
import { issuerWakeAt, MAX_CONCURRENT_SESSIONS } from '../../src/handshake/issuer.js';
import { mintUrlInvite } from '../../src/handshake/mint.js';
import { resolveInvitePolicy } from '../../src/invite/invite-policy.js';
import { parseInviteUrl } from '../../src/invite/invite-url.js';
import {
  AcceptorDriver,
  effectsOf,
  IssuerDriver,
  MemoryExchange,
  makeParty,
  runUntilQuiet,
} from '../support/pairing-harness.js';

const NOW = 1_800_000_000;

function setup(policy: Parameters<typeof resolveInvitePolicy>[0] = {}) {
  const exchange = new MemoryExchange(NOW);
  const alice = makeParty('alice', NOW);
  const minted = mintUrlInvite(
    alice.identity,
    resolveInvitePolicy(policy),
    'https://relay.example',
    NOW,
    alice.random,
  );
  const issuer = new IssuerDriver(alice, minted.issuer, exchange);
  const accept = (name: string) =>
    new AcceptorDriver(
      makeParty(name, NOW),
      { form: 'url', invite: parseInviteUrl(minted.webUrl, NOW) },
      false,
      exchange,
    );
  return { exchange, alice, minted, issuer, accept };
}

const frameTypes = (party: ReturnType<typeof makeParty>) => effectsOf(party, 'send').map((e) => e.frame[1]);
const lastSession = (issuer: IssuerDriver) => Object.values(issuer.state.sessions).at(-1)!;

describe('both or neither: the ack', () => {
  it('the issuer pins unconfirmed at the confirm, and confirms on the ack; the acceptor pins confirmed', () => {
    const { alice, issuer, accept } = setup();
    const bob = accept('bob');
    runUntilQuiet(issuer, [bob]);
    expect(effectsOf(alice, 'pin').map((p) => p.confirmed)).toEqual([false]);
    expect(effectsOf(bob.party, 'pin').map((p) => p.confirmed)).toEqual([true]);
    expect(effectsOf(alice, 'confirmPin')).toHaveLength(1);
    expect(lastSession(issuer).phase).toBe('completed');
    expect(frameTypes(bob.party)).toEqual([FRAME_TYPE.hello, FRAME_TYPE.confirm, FRAME_TYPE.ack]);
  });

  it('a lost welcome: the acceptor resends its confirm, the issuer its welcome, and both end paired', () => {
    const { exchange, alice, issuer, accept } = setup();
    const bob = accept('bob');
    let dropped = 0;
    exchange.tamper = (frame) => (frame[1] === FRAME_TYPE.welcome && dropped++ === 0 ? [] : [frame]);
    runUntilQuiet(issuer, [bob]);
    expect(bob.state.phase).toBe('awaitingWelcome');
    expect(issuer.state.status).toBe('used'); // used, but its mailbox stays open: an ack is due
    expect(effectsOf(alice, 'closeMailbox')).toHaveLength(0);
    exchange.now = bob.state.resendAt;
    bob.step({ type: 'clockTicked' });
    runUntilQuiet(issuer, [bob]);
    expect(bob.state.phase).toBe('paired');
    expect(lastSession(issuer).phase).toBe('completed');
    expect(effectsOf(alice, 'closeMailbox')).toHaveLength(1);
  });

  it('a lost ack: the issuer re-reads its mailbox on a backoff, and past its deadline the pin is marked unconfirmed', () => {
    const { exchange, alice, issuer, accept } = setup();
    const bob = accept('bob');
    exchange.tamper = (frame) => (frame[1] === FRAME_TYPE.ack ? [] : [frame]);
    runUntilQuiet(issuer, [bob]);
    expect(lastSession(issuer).phase).toBe('awaitingAck');
    exchange.now = lastSession(issuer).resyncAt!;
    issuer.step({ type: 'clockTicked' });
    expect(effectsOf(alice, 'resync')).toHaveLength(1);
    exchange.now = ackDeadline(issuer.state.expiresAt);
    issuer.step({ type: 'clockTicked' });
    expect(lastSession(issuer).phase).toBe('unconfirmed');
    expect(effectsOf(alice, 'progress').at(-1)!.status).toBe('unconfirmed');
    expect(effectsOf(alice, 'unpin')).toHaveLength(0); // the pin stays, marked
  });

  it('an acceptor that times out before any welcome withdraws with a sealed abort, and the issuer unpins', () => {
    const { exchange, alice, issuer, accept } = setup();
    const bob = accept('bob');
    exchange.tamper = (frame) => (frame[1] === FRAME_TYPE.welcome ? [] : [frame]);
    runUntilQuiet(issuer, [bob]);
    exchange.now = acceptorDeadline(bob.state.target.form === 'url' ? bob.state.target.invite.expiresAt : 0);
    bob.step({ type: 'clockTicked' });
    expect(bob.state.failure).toBe('TIMEOUT');
    expect(frameTypes(bob.party).at(-1)).toBe(FRAME_TYPE.sealedAbort);
    issuer.drain();
    expect(effectsOf(alice, 'unpin')).toHaveLength(1);
    expect(lastSession(issuer).phase).toBe('failed');
  });
});

describe('forged and out-of-order frames', () => {
  it('a clear abort after the reply is ignored by the acceptor and by an issuer that has pinned', () => {
    const { exchange, alice, issuer, accept } = setup();
    const bob = accept('bob');
    exchange.tamper = (frame) => (frame[1] === FRAME_TYPE.welcome ? [] : [frame]);
    runUntilQuiet(issuer, [bob]);
    const sessionId = bob.state.sessionId;
    const forged = encodeFrame({ type: 'abort', sessionId, reason: 'INVITE_CANCELLED' });
    bob.step({ type: 'frameReceived', frame: forged });
    expect(bob.state.phase).toBe('awaitingWelcome');
    issuer.step({ type: 'frameReceived', frame: forged });
    expect(lastSession(issuer).phase).toBe('awaitingAck');
    expect(effectsOf(alice, 'unpin')).toHaveLength(0);
    // A sealed abort that does not open (the relay cannot seal) is ignored as well.
    const fake = encodeFrame({ type: 'sealedAbort', sessionId, sealed: new Uint8Array(17) });
    issuer.step({ type: 'frameReceived', frame: fake });
    bob.step({ type: 'frameReceived', frame: fake });
    expect([lastSession(issuer).phase, bob.state.phase]).toEqual(['awaitingAck', 'awaitingWelcome']);
  });

  it('a welcome before the reply is ignored; the reply then the welcome still pair', () => {
    const { exchange, issuer, accept } = setup();
    const bob = accept('bob');
    exchange.tamper = (frame) => (frame[1] === FRAME_TYPE.reply ? [] : [frame]);
    issuer.drain(); // the issuer answered the hello, but the reply is delayed
    const early = encodeFrame({
      type: 'welcome',
      sessionId: bob.state.sessionId,
      sealed: new Uint8Array(96),
    });
    bob.step({ type: 'frameReceived', frame: early });
    expect(bob.state.phase).toBe('awaitingReply');
    expect(effectsOf(bob.party, 'pin')).toHaveLength(0);
    exchange.tamper = (frame) => [frame];
    exchange.now = bob.state.resendAt; // the resent hello brings the stored reply again
    bob.step({ type: 'clockTicked' });
    runUntilQuiet(issuer, [bob]);
    expect(bob.state.phase).toBe('paired');
    // A replayed old welcome now only makes the acceptor answer with the same ack.
    const sends = effectsOf(bob.party, 'send').length;
    const welcome = effectsOf(issuer.party, 'send').find((e) => e.frame[1] === FRAME_TYPE.welcome)!.frame;
    bob.step({ type: 'frameReceived', frame: welcome });
    expect(
      effectsOf(bob.party, 'send')
        .slice(sends)
        .map((e) => e.frame[1]),
    ).toEqual([FRAME_TYPE.ack]);
  });
});

describe('deadlines and slots', () => {
  it('the acceptor resends after 2, 4, 8, then every 16 s, and times out at its deadline', () => {
    const { exchange, issuer, accept } = setup();
    const bob = accept('bob');
    exchange.tamper = () => []; // the relay loses everything
    const gaps: number[] = [];
    let last = NOW;
    for (let i = 0; i < 5; i++) {
      exchange.now = bob.state.resendAt;
      gaps.push(exchange.now - last);
      last = exchange.now;
      bob.step({ type: 'clockTicked' });
    }
    expect(gaps).toEqual([2, 4, 8, 16, 16]);
    exchange.now = acceptorDeadline(bob.state.target.form === 'url' ? bob.state.target.invite.expiresAt : 0);
    bob.step({ type: 'clockTicked' });
    expect(bob.state.failure).toBe('TIMEOUT');
    expect(issuer.state.sessions).toEqual({});
  });

  it('a silent session times out; the 17th hello evicts an idle one, or gets CROWDED while all are fresh', () => {
    const { exchange, issuer, accept } = setup({ uses: 5 });
    const parked = Array.from({ length: MAX_CONCURRENT_SESSIONS }, (_, i) => accept(`stranger${i}`));
    issuer.drain(); // 16 hellos, none of them will confirm
    expect(Object.keys(issuer.state.sessions)).toHaveLength(MAX_CONCURRENT_SESSIONS);
    const late = accept('late');
    issuer.drain();
    late.drain();
    expect(late.state.failure).toBe('CROWDED'); // all 16 are fresh: refused at once, not ignored
    exchange.now = NOW + EVICTABLE_AFTER_SECONDS;
    const bob = accept('bob');
    runUntilQuiet(issuer, [bob]);
    expect(bob.state.phase).toBe('paired'); // an idle stranger was evicted for it
    const evicted = parked.filter((p) => {
      p.drain();
      return p.state.failure === 'CROWDED';
    });
    expect(evicted).toHaveLength(1);
    exchange.now = NOW + ISSUER_SESSION_TIMEOUT_SECONDS;
    issuer.step({ type: 'clockTicked' });
    const open = Object.values(issuer.state.sessions).filter((s) => s.phase === 'awaitingConfirm');
    expect(open).toHaveLength(0); // every parked hello timed out
    expect(issuer.state.status).toBe('pending');
  });

  it("a clock tick before a machine's wake time never changes it (the agent skips those records)", () => {
    const { exchange, issuer, accept } = setup({ uses: 2 });
    const bob = accept('bob');
    const carol = accept('carol');
    exchange.tamper = (frame) => (frame[1] === FRAME_TYPE.ack ? [] : [frame]);
    runUntilQuiet(issuer, [bob]);
    issuer.drain();
    for (const t of [0, 1, 3, 9, 30, 130, 400, 800, 2000]) {
      exchange.now = NOW + t;
      for (const machine of [issuer, bob, carol]) {
        const wake =
          machine === issuer ? issuerWakeAt(issuer.state) : acceptorWakeAt((machine as AcceptorDriver).state);
        if (exchange.now >= wake) {
          machine.step({ type: 'clockTicked' });
          continue;
        }
        const before = JSON.stringify(machine.state, (_k, v) => (v instanceof Uint8Array ? toHex(v) : v));
        const effects = machine.party.effects.length;
        machine.step({ type: 'clockTicked' });
        expect(JSON.stringify(machine.state, (_k, v) => (v instanceof Uint8Array ? toHex(v) : v))).toBe(
          before,
        );
        expect(machine.party.effects.length).toBe(effects);
      }
    }
  });
});

describe('failed relay effects go back to the machine', () => {
  it('a reply box lost while awaiting the welcome, whose re-open fails, is re-opened by the next resend', () => {
    const { exchange, issuer, accept } = setup();
    const bob = accept('bob');
    exchange.tamper = (frame) => (frame[1] === FRAME_TYPE.welcome ? [] : [frame]);
    runUntilQuiet(issuer, [bob]);
    expect(bob.state.phase).toBe('awaitingWelcome');
    bob.step({ type: 'mailboxLost' });
    const reopen = effectsOf(bob.party, 'openMailbox').at(-1)!;
    bob.step({ type: 'effectFailed', effect: reopen, code: 'RELAY_UNREACHABLE' });
    exchange.now = bob.state.resendAt;
    const before = bob.party.effects.length;
    bob.step({ type: 'clockTicked' });
    // Seed 844 of the fault runs: the box was never watched again, so every welcome sat unread.
    expect(bob.party.effects.slice(before).map((e) => e.type)).toEqual(['openMailbox', 'send', 'resync']);
  });

  it('a failed open of the reply box is retried with the hello, and a gone issuer mailbox ends the accept', () => {
    const { exchange, accept } = setup();
    const bob = accept('bob');
    const open = effectsOf(bob.party, 'openMailbox')[0]!;
    bob.step({ type: 'effectFailed', effect: open, code: 'RELAY_UNREACHABLE' });
    expect(bob.state.phase).toBe('awaitingReply');
    exchange.now = bob.state.resendAt;
    const before = bob.party.effects.length;
    bob.step({ type: 'clockTicked' });
    expect(bob.party.effects.slice(before).map((e) => e.type)).toEqual(['openMailbox', 'send', 'resync']);
    const hello = effectsOf(bob.party, 'send').at(-1)!;
    bob.step({ type: 'effectFailed', effect: hello, code: 'INVITE_NOT_FOUND' });
    expect(bob.state.failure).toBe('INVITE_NOT_FOUND');
  });
});
