import type { RandomSource } from '../crypto/random.js';
import { toHex } from '../encoding/hex.js';
import { issueCard } from '../identity/card.js';
import { Identity, type IdentitySecrets } from '../identity/identity.js';
import {
  type AcceptorEvent,
  type AcceptorState,
  type AcceptTarget,
  startAcceptor,
  stepAcceptor,
} from './acceptor.js';
import type { Effect, StepContext } from './effects.js';
import { type IssuerEvent, type IssuerState, type IssuerStepContext, stepIssuer } from './issuer.js';

/**
 * An in-memory host for the two state machines: no relay, no disk. Used by `pairlink demo`, the
 * crypto benchmark and the unit tests, so all three drive the machines the same way.
 */

/** A party in an in-memory pairing: its identity, card and everything its machine asked for. */
export interface Party {
  readonly name: string;
  readonly identity: Identity;
  readonly secrets: IdentitySecrets;
  readonly card: Uint8Array;
  readonly random: RandomSource;
  readonly effects: Effect[];
}

/** A party with a fresh identity drawn from `random` and a card for `relayUrl`. */
export function newParty(name: string, relayUrl: string, now: number, random: RandomSource): Party {
  const { identity, secrets } = Identity.generate(random);
  return {
    name,
    identity,
    secrets,
    card: issueCard(identity, name, relayUrl, now).bytes,
    random,
    effects: [],
  };
}

/** The step context of `party` at `now`, including the device bundle for device invites. */
export function contextOf(party: Party, now: number): IssuerStepContext & StepContext {
  return {
    identity: party.identity,
    card: party.card,
    now,
    random: party.random,
    deviceBundle: () => ({ ...party.secrets, name: party.name }),
  };
}

/**
 * The host side of the machines, in memory: mailboxes are queues keyed by id, `send` effects append
 * to them, and `deliver` feeds queued frames to whichever machine reads that mailbox. `tamper`
 * lets a test play the relay: drop, duplicate or rewrite frames.
 */
export class MemoryExchange {
  readonly queues = new Map<string, Uint8Array[]>();
  now: number;
  tamper: (frame: Uint8Array, toMailbox: string) => Uint8Array[] = (frame) => [frame];

  constructor(now: number) {
    this.now = now;
  }

  perform(party: Party, effects: readonly Effect[]): void {
    for (const effect of effects) {
      party.effects.push(effect);
      if (effect.type === 'send') {
        const key = toHex(effect.to.mailboxId);
        const queue = this.queues.get(key) ?? [];
        queue.push(...this.tamper(effect.frame, key));
        this.queues.set(key, queue);
      }
    }
  }

  take(mailboxId: Uint8Array): Uint8Array[] {
    const key = toHex(mailboxId);
    const frames = this.queues.get(key) ?? [];
    this.queues.set(key, []);
    return frames;
  }
}

export class IssuerDriver {
  constructor(
    readonly party: Party,
    public state: IssuerState,
    readonly exchange: MemoryExchange,
  ) {}

  step(event: IssuerEvent): void {
    const { state, effects } = stepIssuer(this.state, event, contextOf(this.party, this.exchange.now));
    this.state = state;
    this.exchange.perform(this.party, effects);
  }

  /** Processes every frame waiting in the invite mailbox; returns how many there were. */
  drain(): number {
    const frames = this.exchange.take(this.state.mailboxId);
    for (const frame of frames) this.step({ type: 'frameReceived', frame });
    return frames.length;
  }
}

export class AcceptorDriver {
  state: AcceptorState;

  constructor(
    readonly party: Party,
    target: AcceptTarget,
    requireSas: boolean,
    readonly exchange: MemoryExchange,
  ) {
    const started = startAcceptor(target, requireSas, contextOf(party, exchange.now));
    this.state = started.state;
    exchange.perform(party, started.effects);
  }

  step(event: AcceptorEvent): void {
    const { state, effects } = stepAcceptor(this.state, event, contextOf(this.party, this.exchange.now));
    this.state = state;
    this.exchange.perform(this.party, effects);
  }

  drain(): number {
    const frames = this.exchange.take(this.state.replyBox.mailboxId);
    for (const frame of frames) this.step({ type: 'frameReceived', frame });
    return frames.length;
  }
}

/** Delivers frames back and forth until both mailboxes stay empty. */
export function runUntilQuiet(issuer: IssuerDriver, acceptors: readonly AcceptorDriver[]): void {
  for (let round = 0; round < 50; round++) {
    let moved = issuer.drain();
    for (const acceptor of acceptors) moved += acceptor.drain();
    if (moved === 0) return;
  }
  throw new Error('pairing did not settle');
}

export function effectsOf<T extends Effect['type']>(party: Party, type: T): Extract<Effect, { type: T }>[] {
  return party.effects.filter((e): e is Extract<Effect, { type: T }> => e.type === type);
}
