import type { RandomSource } from '../crypto/random.js';
import { toHex } from '../encoding/hex.js';
import { issueCard } from '../identity/card.js';
import { Identity, type IdentitySecrets } from '../identity/identity.js';
import { resolveInvitePolicy } from '../invite/invite-policy.js';
import { parseInviteUrl } from '../invite/invite-url.js';
import { parseShortCode } from '../invite/short-code.js';
import {
  type AcceptorEvent,
  type AcceptorState,
  type AcceptTarget,
  startAcceptor,
  stepAcceptor,
} from './acceptor.js';
import type { Effect, StepContext } from './effects.js';
import { type IssuerEvent, type IssuerState, type IssuerStepContext, stepIssuer } from './issuer.js';
import { mintCodeInvite, mintUrlInvite } from './mint.js';

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
  /** Its inbox for each session's peer (StepContext.inboxFor); absent: it hands over none. */
  readonly inboxFor?: StepContext['inboxFor'];
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
    ...(party.inboxFor ? { inboxFor: party.inboxFor } : {}),
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

/** A minted invite with both machines ready to run in `exchange`. */
export interface InMemoryPairing {
  readonly issuer: IssuerDriver;
  readonly acceptor: AcceptorDriver;
  /** The invite as a person would paste or type it: the web URL or the code. */
  readonly inviteText: string;
  /** The custom-scheme form of a URL invite. */
  readonly customUrl?: string;
}

/**
 * Mints an invite of `form` by `issuer` and starts `acceptor` on it (a code's nameplate is fixed,
 * as no relay assigns one here), so callers only have to run the exchange.
 */
export function setUpPairing(
  form: 'url' | 'code',
  issuer: Party,
  acceptor: Party,
  exchange: MemoryExchange,
  relayUrl = 'https://relay.example',
): InMemoryPairing {
  const now = exchange.now;
  if (form === 'url') {
    const minted = mintUrlInvite(issuer.identity, resolveInvitePolicy({}), relayUrl, now, issuer.random);
    const target: AcceptTarget = { form: 'url', invite: parseInviteUrl(minted.webUrl, now) };
    return {
      issuer: new IssuerDriver(issuer, minted.issuer, exchange),
      acceptor: new AcceptorDriver(acceptor, target, false, exchange),
      inviteText: minted.webUrl,
      customUrl: minted.customUrl,
    };
  }
  const policy = resolveInvitePolicy({ format: 'code' });
  const mailboxId = issuer.random(16);
  const minted = mintCodeInvite(policy, 'K7Q', mailboxId, now, issuer.random);
  const target: AcceptTarget = {
    form: 'code',
    code: parseShortCode(minted.text),
    issuerMailbox: { mailboxId, writeCapability: issuer.random(16) },
    expiresAt: now + policy.ttlSeconds,
  };
  return {
    issuer: new IssuerDriver(issuer, minted.issuer, exchange),
    acceptor: new AcceptorDriver(acceptor, target, false, exchange),
    inviteText: minted.text,
  };
}
