import { describe, expect, it } from 'vitest';
import { decodeStateJson, encodeStateJson } from '../../agent/state/state-codec.js';
import { toHex } from '../../src/encoding/hex.js';
import { type AcceptorState, acceptorWakeAt, stepAcceptor } from '../../src/handshake/acceptor.js';
import type { Effect, Step, StepContext } from '../../src/handshake/effects.js';
import { type IssuerState, issuerWakeAt, stepIssuer } from '../../src/handshake/issuer.js';
import type { InboxExtension } from '../../src/notice/inbox.js';
import { INBOX_FRAME_TYPE } from '../../src/notice/inbox.js';
import { inboxPairing } from '../support/inbox-party.js';
import { contextOf, effectsOf, type Party } from '../support/pairing-harness.js';

// A crash at any step of a pairing in which both sides hand over inboxes (PROTOCOL.md §11.1): the
// agent saves a step's state before its relay effects (pins in the same save), or, for a replayable
// step, may run the effects first and lose the state. Either way the restarted machine must post
// the very inbox frame it posted before (one plaintext per key and nonce), never ask its host for
// a second inbox, and both sides must end pinned with each other's inbox.

type StepFn<S> = (
  state: S,
  event: { type: 'frameReceived'; frame: Uint8Array } | { type: 'resumed' | 'clockTicked' },
  ctx: StepContext,
) => Step<S>;

const RELAY_EFFECTS = new Set<Effect['type']>(['openMailbox', 'closeMailbox', 'send', 'resync']);

/** An inbox that hands out a fresh capability at every call, and remembers what it handed. */
function freshInboxes(party: Party, base: (sessionId: Uint8Array) => InboxExtension) {
  const handed: InboxExtension[] = [];
  const inboxFor = (sessionId: Uint8Array): InboxExtension => {
    const extension = base(sessionId);
    const fresh = {
      ...extension,
      inbox: { ...extension.inbox, writeCapability: new Uint8Array(16).fill(handed.length + 1) },
    };
    handed.push(fresh);
    return fresh;
  };
  return { party: { ...party, inboxFor }, handed };
}

/** One machine as its agent holds it: the party (with its host's inbox) and the saved state. */
interface Held<S> {
  readonly party: Party;
  state: S;
}

function crashRun(form: 'url' | 'code', crashAt: number) {
  const run = inboxPairing(form, { issuer: true, acceptor: true });
  const alice = freshInboxes(run.alice, run.aliceInbox.extensionFor);
  const bob = freshInboxes(run.bob, run.bobInbox.extensionFor);
  const { exchange } = run;
  const issuer: Held<IssuerState> = { party: alice.party, state: run.issuer.state };
  const acceptor: Held<AcceptorState> = { party: bob.party, state: run.acceptor.state };
  let steps = 0;
  let crashed = false;

  /** Steps `held`; at step `crashAt` its agent crashes and restarts (its state read back from disk). */
  function stepOne<S>(
    held: Held<S>,
    event: 'resumed' | 'clockTicked' | Uint8Array,
    machine: StepFn<S>,
  ): void {
    const input =
      event instanceof Uint8Array ? { type: 'frameReceived' as const, frame: event } : { type: event };
    const step = machine(held.state, input, contextOf(held.party, exchange.now));
    if (++steps !== crashAt) {
      held.state = step.state;
      exchange.perform(held.party, step.effects);
      return;
    }
    crashed = true;
    if (step.replayable) {
      exchange.perform(held.party, step.effects); // on the wire; the save is lost
    } else {
      held.state = step.state; // saved with its pins; the relay effects are lost
      exchange.perform(
        held.party,
        step.effects.filter((e) => !RELAY_EFFECTS.has(e.type)),
      );
    }
    held.state = decodeStateJson<S>(encodeStateJson(held.state));
    stepOne(held, 'resumed', machine);
  }
  const stepIssuerHeld = (event: 'resumed' | 'clockTicked' | Uint8Array) =>
    stepOne(issuer, event, stepIssuer);
  const stepAcceptorHeld = (event: 'resumed' | 'clockTicked' | Uint8Array) =>
    stepOne(acceptor, event, stepAcceptor);

  const sessionOf = () => Object.values(issuer.state.sessions)[0];
  const settled = () => acceptor.state.phase === 'paired' && sessionOf()?.phase === 'completed';
  for (let round = 0; round < 40 && !settled(); round++) {
    const toIssuer = exchange.take(issuer.state.mailboxId);
    for (const frame of toIssuer) stepIssuerHeld(frame);
    const toAcceptor = exchange.take(acceptor.state.replyBox.mailboxId);
    for (const frame of toAcceptor) stepAcceptorHeld(frame);
    if (toIssuer.length + toAcceptor.length > 0) continue;
    // Quiet: the clock brings the next resend.
    exchange.now = Math.max(
      exchange.now + 1,
      Math.min(issuerWakeAt(issuer.state), acceptorWakeAt(acceptor.state)),
    );
    stepIssuerHeld('clockTicked');
    stepAcceptorHeld('clockTicked');
  }
  return { alice, bob, acceptor, steps, crashed, sessionOf };
}

const inboxFrames = (party: Party) =>
  effectsOf(party, 'send')
    .filter((e) => e.frame[1] === INBOX_FRAME_TYPE)
    .map((e) => toHex(e.frame));

describe.each(['url', 'code'] as const)('a crash at any step keeps the inbox frames (%s form)', (form) => {
  it('every crash point ends with both pins carrying the other side’s inbox, and one inbox frame per side', () => {
    const clean = crashRun(form, 0);
    expect(clean.crashed).toBe(false);
    expect(clean.steps).toBeGreaterThan(5);
    for (let crashAt = 1; crashAt <= clean.steps; crashAt++) {
      const { alice, bob, acceptor, crashed, sessionOf } = crashRun(form, crashAt);
      const where = `crash at step ${crashAt}`;
      expect(crashed, where).toBe(true);
      expect([acceptor.state.phase, sessionOf()?.phase], where).toEqual(['paired', 'completed']);
      // Each side drew its inbox once, and every post of its frame is the same bytes.
      expect([alice.handed.length, bob.handed.length], where).toEqual([1, 1]);
      expect(new Set(inboxFrames(alice.party)).size, where).toBe(1);
      expect(new Set(inboxFrames(bob.party)).size, where).toBe(1);
      expect(
        effectsOf(bob.party, 'pin').map((p) => p.peerInbox),
        where,
      ).toEqual([alice.handed[0]]);
      expect(effectsOf(bob.party, 'pin')[0]!.handedWriteCapability, where).toEqual(
        bob.handed[0]!.inbox.writeCapability,
      );
      expect(effectsOf(alice.party, 'confirmPin').at(-1)!.peerInbox, where).toEqual(bob.handed[0]);
    }
  });
});
