import { describe, expect, it } from 'vitest';
import { toHex } from '../../src/encoding/hex.js';
import { ALLOWED_CLOCK_SKEW_SECONDS } from '../../src/invite/invite-policy.js';
import { parseInviteUrl } from '../../src/invite/invite-url.js';
import { formatShortCode } from '../../src/invite/short-code.js';
import {
  AcceptorDriver,
  codeSetup,
  effectsOf,
  makeParty,
  runUntilQuiet,
  urlSetup,
} from '../support/pairing-harness.js';

const NOW = 1_800_000_000;

function expectPaired(aliceEffects: ReturnType<typeof makeParty>, bobEffects: ReturnType<typeof makeParty>) {
  const alicePins = effectsOf(aliceEffects, 'pin');
  const bobPins = effectsOf(bobEffects, 'pin');
  expect(alicePins).toHaveLength(1);
  expect(bobPins).toHaveLength(1);
  expect(alicePins[0]!.peer.did).toBe(bobEffects.identity.did);
  expect(bobPins[0]!.peer.did).toBe(aliceEffects.identity.did);
  const aliceSas = effectsOf(aliceEffects, 'sasReady')[0]!.sas;
  const bobSas = effectsOf(bobEffects, 'sasReady')[0]!.sas;
  expect(aliceSas).toEqual(bobSas);
  expect(aliceSas.digits).toMatch(/^\d{6}$/);
  expect(aliceSas.emojiNames).toHaveLength(7);
}

describe('pairing through the state machines, in memory', () => {
  it('pairs by invite URL (web form): same session keys and SAS, each pins the other', () => {
    const { exchange, alice, issuer, target } = urlSetup();
    const bob = makeParty('bob', NOW);
    const acceptor = new AcceptorDriver(bob, target(), false, exchange);
    runUntilQuiet(issuer, [acceptor]);
    expect(acceptor.state.phase).toBe('paired');
    expect(issuer.state.status).toBe('used');
    expect(toHex(acceptor.state.sessionSecret!)).toBe(
      toHex(Object.values(issuer.state.sessions)[0]!.sessionSecret),
    );
    expectPaired(alice, bob);
    expect(effectsOf(alice, 'closeMailbox')).toHaveLength(1);
  });

  it('pairs by the custom-scheme URL form too', () => {
    const { exchange, alice, minted, issuer, target } = urlSetup();
    const bob = makeParty('bob', NOW);
    const acceptor = new AcceptorDriver(bob, target(minted.customUrl), false, exchange);
    runUntilQuiet(issuer, [acceptor]);
    expectPaired(alice, bob);
  });

  it('pairs by short code through CPace', () => {
    const { exchange, alice, minted, issuer, target } = codeSetup();
    expect(minted.text).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);
    const bob = makeParty('bob', NOW);
    const acceptor = new AcceptorDriver(
      bob,
      target(minted.text.toLowerCase().replaceAll('-', ' ')),
      false,
      exchange,
    );
    runUntilQuiet(issuer, [acceptor]);
    expect(acceptor.state.phase).toBe('paired');
    expectPaired(alice, bob);
  });

  it('a wrong code fails both sides with WRONG_CODE and pins nothing', () => {
    const { exchange, alice, minted, issuer, target } = codeSetup();
    const bob = makeParty('bob', NOW);
    const wrong = { ...minted.code, secret: minted.code.secret === '00000000' ? '00000001' : '00000000' };
    const acceptor = new AcceptorDriver(bob, target(formatShortCode(wrong)), false, exchange);
    runUntilQuiet(issuer, [acceptor]);
    expect(acceptor.state.phase).toBe('failed');
    expect(acceptor.state.failure).toBe('WRONG_CODE');
    expect(Object.values(issuer.state.sessions)[0]!.failure).toBe('WRONG_CODE');
    expect(effectsOf(alice, 'progress').some((p) => p.status === 'failed' && p.code === 'WRONG_CODE')).toBe(
      true,
    );
    expect(effectsOf(bob, 'progress').some((p) => p.status === 'failed' && p.code === 'WRONG_CODE')).toBe(
      true,
    );
    expect(effectsOf(alice, 'pin')).toHaveLength(0);
    expect(effectsOf(bob, 'pin')).toHaveLength(0);
    expect(issuer.state.status).toBe('pending'); // one guess spent, the right code still works
    expect(issuer.state.failedAttempts).toBe(1);
  });

  it('burns a code invite after three wrong codes', () => {
    const { exchange, alice, minted, issuer, target } = codeSetup();
    for (const guess of ['00000000', '11111111', '22222222']) {
      const bob = makeParty(`guesser${guess}`, NOW);
      const acceptor = new AcceptorDriver(
        bob,
        target(formatShortCode({ ...minted.code, secret: guess })),
        false,
        exchange,
      );
      runUntilQuiet(issuer, [acceptor]);
      expect(acceptor.state.failure).toBe('WRONG_CODE');
    }
    expect(issuer.state.status).toBe('failed');
    expect(issuer.state.failure).toBe('INVITE_BURNED');
    const late = new AcceptorDriver(makeParty('late', NOW), target(), false, exchange);
    runUntilQuiet(issuer, [late]);
    expect(late.state.failure).toBe('INVITE_USED');
    expect(effectsOf(alice, 'pin')).toHaveLength(0);
  });

  it('every hello that never proves the code is a guess: silent guessers burn the invite too', () => {
    // A guesser learns whether its guess was right from the reply alone; it need not say
    // WRONG_CODE. Before, only clear WRONG_CODE aborts counted, so silent guesses were unlimited.
    const { exchange, alice, minted, issuer, target } = codeSetup();
    for (const guess of ['00000000', '11111111', '22222222']) {
      new AcceptorDriver(
        makeParty(`silent${guess}`, NOW),
        target(formatShortCode({ ...minted.code, secret: guess })),
        false,
        exchange,
      );
      issuer.drain(); // the issuer answers; the guesser never speaks again
    }
    expect(issuer.state.status).toBe('pending');
    exchange.now += 121;
    issuer.step({ type: 'clockTicked' });
    expect(issuer.state.failedAttempts).toBe(3);
    expect(issuer.state.status).toBe('failed');
    expect(issuer.state.failure).toBe('INVITE_BURNED');
    expect(
      effectsOf(alice, 'progress').some((p) => p.status === 'failed' && p.code === 'INVITE_BURNED'),
    ).toBe(true);
  });

  it('an ack that arrives after the operator unpaired the unconfirmed peer confirms nothing and reports no pairing', () => {
    const { exchange, alice, issuer, target } = urlSetup();
    const bob = makeParty('bob', NOW);
    const acceptor = new AcceptorDriver(bob, target(), false, exchange);
    issuer.drain(); // hello
    acceptor.drain(); // reply
    issuer.drain(); // confirm: bob pinned, unconfirmed; the welcome goes out
    acceptor.drain(); // welcome: bob pins alice and acks; the ack waits at the relay
    expect(effectsOf(alice, 'pin').map((p) => p.confirmed)).toEqual([false]);
    const before = effectsOf(alice, 'progress').length;
    issuer.step({ type: 'peerRemoved', did: bob.identity.did });
    issuer.drain(); // the late ack
    expect(effectsOf(alice, 'confirmPin')).toEqual([]);
    expect(
      effectsOf(alice, 'progress')
        .slice(before)
        .map((p) => [p.status, p.code]),
    ).toEqual([['failed', 'PEER_REMOVED']]);
    expect(effectsOf(alice, 'closeMailbox')).toHaveLength(1); // nothing left to wait for
  });

  it('a repeat acceptor spends a use, and a peer refused after an unpair is told PEER_REMOVED', () => {
    const { exchange, alice, issuer, target } = urlSetup({ uses: 3 });
    const bob = makeParty('bob', NOW);
    runUntilQuiet(issuer, [new AcceptorDriver(bob, target(), false, exchange)]);
    runUntilQuiet(issuer, [new AcceptorDriver(bob, target(), false, exchange)]);
    expect(issuer.state.usesLeft).toBe(1);
    issuer.step({ type: 'peerRemoved', did: bob.identity.did });
    const again = new AcceptorDriver(bob, target(), false, exchange);
    runUntilQuiet(issuer, [again]);
    expect(again.state.phase).toBe('failed');
    expect(again.state.failure).toBe('PEER_REMOVED');
    expect(issuer.state.usesLeft).toBe(1);
    expect(effectsOf(alice, 'pin')).toHaveLength(2);
    const carol = new AcceptorDriver(makeParty('carol', NOW), target(), false, exchange);
    runUntilQuiet(issuer, [carol]);
    expect(carol.state.phase).toBe('paired');
    expect(issuer.state.usesLeft).toBe(0);
  });

  it('with requireSas, the issuer pins nothing until its operator confirms the SAS', () => {
    const { exchange, alice, issuer, target } = urlSetup({ requireSas: true });
    const bob = makeParty('bob', NOW);
    const acceptor = new AcceptorDriver(bob, target(), false, exchange);
    runUntilQuiet(issuer, [acceptor]);
    expect(effectsOf(alice, 'pin')).toHaveLength(0);
    expect(effectsOf(bob, 'pin')).toHaveLength(0);
    const session = Object.values(issuer.state.sessions)[0]!;
    expect(session.phase).toBe('awaitingSas');
    issuer.step({ type: 'sasConfirmed', sessionId: session.sessionId });
    runUntilQuiet(issuer, [acceptor]);
    expectPaired(alice, bob);
  });

  it('with requireSas on the acceptor, a rejected SAS aborts both sides', () => {
    const { exchange, alice, issuer, target } = urlSetup();
    const bob = makeParty('bob', NOW);
    const acceptor = new AcceptorDriver(bob, target(), true, exchange);
    runUntilQuiet(issuer, [acceptor]);
    expect(acceptor.state.phase).toBe('awaitingSas');
    acceptor.step({ type: 'sasRejected' });
    runUntilQuiet(issuer, [acceptor]);
    expect(acceptor.state.failure).toBe('SAS_REJECTED');
    expect(Object.values(issuer.state.sessions)[0]!.failure).toBe('SAS_REJECTED');
    expect(effectsOf(alice, 'pin')).toHaveLength(0);
  });

  it('device mode transfers the identity after both SAS confirmations', () => {
    const { exchange, alice, issuer, target } = urlSetup({ mode: 'device' });
    const laptop = makeParty('laptop', NOW);
    const acceptor = new AcceptorDriver(laptop, target(), false, exchange);
    runUntilQuiet(issuer, [acceptor]);
    expect(acceptor.state.phase).toBe('awaitingSas'); // device mode forces the acceptor's check
    acceptor.step({ type: 'sasConfirmed' });
    runUntilQuiet(issuer, [acceptor]);
    expect(effectsOf(laptop, 'importIdentity')).toHaveLength(0); // issuer has not confirmed yet
    issuer.step({ type: 'sasConfirmed', sessionId: acceptor.state.sessionId });
    runUntilQuiet(issuer, [acceptor]);
    const [imported] = effectsOf(laptop, 'importIdentity');
    expect(imported).toBeDefined();
    expect(toHex(imported!.bundle.signingSeed)).toBe(toHex(alice.secrets.signingSeed));
    expect(toHex(imported!.bundle.agreementSecret)).toBe(toHex(alice.secrets.agreementSecret));
    expect(effectsOf(alice, 'pin')[0]!.mode).toBe('device');
  });

  it('device mode works by code as well', () => {
    const { exchange, alice, issuer, target } = codeSetup({ mode: 'device' });
    const laptop = makeParty('laptop', NOW);
    const acceptor = new AcceptorDriver(laptop, target(), false, exchange);
    runUntilQuiet(issuer, [acceptor]);
    acceptor.step({ type: 'sasConfirmed' });
    issuer.step({ type: 'sasConfirmed', sessionId: acceptor.state.sessionId });
    runUntilQuiet(issuer, [acceptor]);
    expect(toHex(effectsOf(laptop, 'importIdentity')[0]!.bundle.signingSeed)).toBe(
      toHex(alice.secrets.signingSeed),
    );
  });

  it('duplicated frames are harmless: one pin per side, retransmissions answered with the same bytes', () => {
    const { exchange, alice, issuer, target } = urlSetup();
    exchange.tamper = (frame) => [frame, frame, frame];
    const bob = makeParty('bob', NOW);
    const acceptor = new AcceptorDriver(bob, target(), false, exchange);
    runUntilQuiet(issuer, [acceptor]);
    expectPaired(alice, bob);
    const welcomes = effectsOf(alice, 'send').filter((s) => s.frame[1] === 4);
    expect(new Set(welcomes.map((w) => toHex(w.frame))).size).toBe(1);
  });

  it('reflected frames are ignored (each side drops its own frames sent back to it)', () => {
    const { exchange, alice, issuer, target } = urlSetup();
    const bob = makeParty('bob', NOW);
    const acceptor = new AcceptorDriver(bob, target(), false, exchange);
    const issuerBox = toHex(issuer.state.mailboxId);
    // The relay copies everything sent to either box into the other one as well.
    exchange.tamper = (frame, to) => {
      const other = to === issuerBox ? acceptor.state.replyBox.mailboxId : issuer.state.mailboxId;
      const queue = exchange.queues.get(toHex(other)) ?? [];
      exchange.queues.set(toHex(other), [...queue, frame]);
      return [frame];
    };
    runUntilQuiet(issuer, [acceptor]);
    expectPaired(alice, bob);
  });

  it('a replayed hello with another session id is a new session that no one can finish', () => {
    const { exchange, alice, issuer, target } = urlSetup({ uses: 2 });
    const bob = makeParty('bob', NOW);
    const acceptor = new AcceptorDriver(bob, target(), false, exchange);
    const [hello] = exchange.queues.get(toHex(issuer.state.mailboxId))!;
    const forged = Uint8Array.from(hello!);
    forged[2]! ^= 1; // flip a bit of the session id
    exchange.queues.get(toHex(issuer.state.mailboxId))!.push(forged);
    runUntilQuiet(issuer, [acceptor]);
    expectPaired(alice, bob);
    expect(issuer.state.usesLeft).toBe(1);
  });

  it('multi-use invites count every completed acceptance, a repeat one included, and refuse one too many', () => {
    const { exchange, alice, issuer, target } = urlSetup({ uses: 3 });
    const bob = new AcceptorDriver(makeParty('bob', NOW), target(), false, exchange);
    runUntilQuiet(issuer, [bob]);
    const bobAgain = new AcceptorDriver(bob.party, target(), false, exchange);
    runUntilQuiet(issuer, [bobAgain]);
    expect(bobAgain.state.phase).toBe('paired');
    expect(issuer.state.usesLeft).toBe(1); // the same acceptor twice is two uses
    expect(issuer.state.pairedDids).toHaveLength(1);
    const carol = new AcceptorDriver(makeParty('carol', NOW), target(), false, exchange);
    runUntilQuiet(issuer, [carol]);
    expect(issuer.state.status).toBe('used');
    const dave = new AcceptorDriver(makeParty('dave', NOW), target(), false, exchange);
    runUntilQuiet(issuer, [dave]);
    expect(dave.state.failure).toBe('INVITE_USED');
    expect(effectsOf(alice, 'pin').map((p) => p.peer.name)).toEqual(['bob', 'bob', 'carol']);
  });

  it('cancel aborts an in-flight session and closes the mailbox', () => {
    const { exchange, alice, issuer, target } = urlSetup({ requireSas: true });
    const bob = makeParty('bob', NOW);
    const acceptor = new AcceptorDriver(bob, target(), false, exchange);
    runUntilQuiet(issuer, [acceptor]);
    issuer.step({ type: 'cancelRequested' });
    runUntilQuiet(issuer, [acceptor]);
    expect(issuer.state.status).toBe('cancelled');
    expect(acceptor.state.failure).toBe('INVITE_CANCELLED');
    expect(effectsOf(alice, 'closeMailbox')).toHaveLength(1);
    expect(effectsOf(alice, 'pin')).toHaveLength(0);
  });

  it('expires on the clock, giving in-flight sessions a grace period', () => {
    const { exchange, alice, minted, issuer } = urlSetup({ ttlSeconds: 60 });
    exchange.now = NOW + 59;
    issuer.step({ type: 'clockTicked' });
    expect(issuer.state.status).toBe('pending');
    exchange.now = NOW + 60;
    issuer.step({ type: 'clockTicked' });
    expect(issuer.state.status).toBe('expired');
    expect(effectsOf(alice, 'progress').at(-1)).toMatchObject({ status: 'expired', code: 'INVITE_EXPIRED' });
    // The acceptor refuses it locally once past the expiry by more than the allowed clock skew.
    expect(() => parseInviteUrl(minted.webUrl, NOW + 60 + ALLOWED_CLOCK_SKEW_SECONDS)).toThrow(
      expect.objectContaining({ code: 'INVITE_EXPIRED' }),
    );
  });

  it('a hello arriving after expiry (issuer was offline) is refused with INVITE_EXPIRED', () => {
    const { exchange, issuer, target } = urlSetup({ ttlSeconds: 60 });
    const acceptor = new AcceptorDriver(makeParty('bob', NOW), target(), false, exchange);
    exchange.now = NOW + 61; // the issuer's agent comes back online too late
    runUntilQuiet(issuer, [acceptor]);
    expect(acceptor.state.failure).toBe('INVITE_EXPIRED');
  });

  it('refuses to accept its own invite', () => {
    const { exchange, alice, target } = urlSetup();
    expect(() => new AcceptorDriver(alice, target(), false, exchange)).toThrow(
      expect.objectContaining({ code: 'SELF_PAIRING' }),
    );
  });
});

describe('acceptor: the issuer mailbox disappears', () => {
  it('fails at once with INVITE_NOT_FOUND, pins nothing and closes its reply box', () => {
    const { exchange, target } = urlSetup();
    const bob = makeParty('bob', NOW);
    const acceptor = new AcceptorDriver(bob, target(), false, exchange);
    const hello = effectsOf(bob, 'send')[0]!;
    acceptor.step({ type: 'effectFailed', effect: hello, code: 'INVITE_NOT_FOUND' });
    expect(acceptor.state.failure).toBe('INVITE_NOT_FOUND');
    expect(effectsOf(bob, 'closeMailbox')).toHaveLength(1);
    expect(effectsOf(bob, 'pin')).toHaveLength(0);
  });
});

describe('agent history retention', () => {
  it('keeps only the most recent finished records', async () => {
    const { pruneFinished, FINISHED_RECORDS_KEPT } = await import('../../agent/agent.js');
    const invites = Array.from({ length: FINISHED_RECORDS_KEPT + 5 }, (_, n) => ({ id: `I${n}` }));
    const pruned = pruneFinished({ invites, accepts: [] } as never) as unknown as {
      invites: { id: string }[];
    };
    expect(pruned.invites).toHaveLength(FINISHED_RECORDS_KEPT);
    expect(pruned.invites[0]!.id).toBe('I5'); // the five oldest are gone
    expect(pruned.invites.at(-1)!.id).toBe(`I${FINISHED_RECORDS_KEPT + 4}`);
  });
});

describe('wiping finished sessions (what the agent persists)', () => {
  it('erases secrets of finished sessions and invites, and a duplicate confirm is still answered', async () => {
    const { wipeFinishedIssuer, wipeFinishedAcceptor } = await import('../../agent/state/wipe-finished.js');
    const { exchange, alice, issuer, target } = urlSetup({ uses: 2 });
    const bob = makeParty('bob', NOW);
    const acceptor = new AcceptorDriver(bob, target(), false, exchange);
    let confirm: Uint8Array | undefined;
    exchange.tamper = (frame) => {
      if (frame[1] === 3) confirm = frame;
      return [frame];
    };
    runUntilQuiet(issuer, [acceptor]);
    issuer.state = wipeFinishedIssuer(issuer.state);
    const session = Object.values(issuer.state.sessions)[0]!;
    expect([session.ephemeralSecret.length, session.sessionSecret.length, session.replyFrame.length]).toEqual(
      [0, 0, 0],
    );
    expect(issuer.state.formSecret.form === 'url' && issuer.state.formSecret.secret.length).toBe(16); // still pending: 1 use left
    const welcomes = effectsOf(alice, 'send').length;
    issuer.step({ type: 'frameReceived', frame: confirm! });
    expect(effectsOf(alice, 'send').length).toBe(welcomes + 1); // the stored welcome, resent
    // Paired, but the relay has not taken the ack yet: its bytes are kept for a resend…
    expect(wipeFinishedAcceptor(acceptor.state).lastSentFrame.length).toBe(34);
    // …and once it has, nothing secret or resendable is left.
    acceptor.step({ type: 'frameDelivered', frame: acceptor.state.lastSentFrame });
    const wipedAcceptor = wipeFinishedAcceptor(acceptor.state);
    expect(wipedAcceptor.lastSentFrame.length).toBe(0);
    expect(wipedAcceptor.ephemeralSecret.length).toBe(0);
    expect(wipedAcceptor.sessionSecret).toBeUndefined();
    issuer.step({ type: 'cancelRequested' });
    const finished = wipeFinishedIssuer(issuer.state);
    expect(finished.formSecret.form === 'url' && finished.formSecret.secret.length).toBe(0);
  });
});
