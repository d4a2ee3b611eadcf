import { describe, expect, it } from 'vitest';
import { wipeFinishedIssuer } from '../../agent/state/wipe-finished.js';
import { toHex } from '../../src/encoding/hex.js';
import { startAcceptor, stepAcceptor } from '../../src/handshake/acceptor.js';
import type { Effect } from '../../src/handshake/effects.js';
import { type IssuerState, stepIssuer } from '../../src/handshake/issuer.js';
import { codeSetup, contextOf, makeParty, urlSetup } from '../support/pairing-harness.js';

// A replayable step's frames may leave before the step is saved (agent saveThenRun): after a
// crash the agent re-runs the step from the state it saved before, and the frames it sends must
// be the very same bytes, or the other side, which already acted on the first ones, is stranded.

const NOW = 1_800_000_000;
const sent = (effects: readonly Effect[]) =>
  effects.filter((e): e is Extract<Effect, { type: 'send' }> => e.type === 'send').map((e) => toHex(e.frame));

describe.each(['url', 'code'] as const)('replayable steps (%s form)', (form) => {
  const setup = () => (form === 'url' ? urlSetup() : codeSetup());

  function hello() {
    const { issuer, target } = setup();
    const bob = makeParty('bob', NOW);
    const started = startAcceptor(target(), false, contextOf(bob, NOW));
    const helloFrame = started.effects.find(
      (e): e is Extract<Effect, { type: 'send' }> => e.type === 'send',
    )!;
    return { issuer, bob, started, helloFrame: helloFrame.frame };
  }

  it('a seeded issuer answers the same hello with the same reply, even with other randomness', () => {
    const { issuer, helloFrame } = hello();
    const seeded: IssuerState = { ...issuer.state, ephemeralSeed: new Uint8Array(32).fill(9) };
    const first = stepIssuer(
      seeded,
      { type: 'frameReceived', frame: helloFrame },
      contextOf(makeParty('alice', NOW), NOW),
    );
    const again = stepIssuer(
      seeded,
      { type: 'frameReceived', frame: helloFrame },
      { ...contextOf(makeParty('alice', NOW), NOW + 3), random: (n: number) => new Uint8Array(n).fill(1) },
    );
    expect(first.replayable).toBe(true);
    expect(sent(first.effects)).toHaveLength(1);
    expect(sent(again.effects)).toEqual(sent(first.effects));
  });

  it('without a seed (a state from an older version) the reply is not replayable', () => {
    const { issuer, helloFrame } = hello();
    const { ephemeralSeed: _seed, ...unseeded } = issuer.state;
    const first = stepIssuer(
      unseeded,
      { type: 'frameReceived', frame: helloFrame },
      contextOf(makeParty('alice', NOW), NOW),
    );
    expect(first.replayable).toBeFalsy();
  });

  it('the acceptor answers the same reply with the same confirm', () => {
    const { issuer, bob, started, helloFrame } = hello();
    const seeded: IssuerState = { ...issuer.state, ephemeralSeed: new Uint8Array(32).fill(9) };
    const replied = stepIssuer(
      seeded,
      { type: 'frameReceived', frame: helloFrame },
      contextOf(makeParty('alice', NOW), NOW),
    );
    const replyFrame = replied.effects.find(
      (e): e is Extract<Effect, { type: 'send' }> => e.type === 'send',
    )!.frame;
    const first = stepAcceptor(
      started.state,
      { type: 'frameReceived', frame: replyFrame },
      contextOf(bob, NOW),
    );
    const again = stepAcceptor(
      started.state,
      { type: 'frameReceived', frame: replyFrame },
      contextOf(bob, NOW + 5),
    );
    expect(first.replayable).toBe(true);
    expect(first.state.phase).toBe('awaitingWelcome');
    expect(sent(again.effects)).toEqual(sent(first.effects));
  });

  it('the seed is wiped with the invite secret when the invite ends', () => {
    const { issuer } = hello();
    const ended = wipeFinishedIssuer({
      ...issuer.state,
      status: 'cancelled',
      ephemeralSeed: new Uint8Array(32).fill(9),
    });
    expect(ended.ephemeralSeed?.length).toBe(0);
  });
});
