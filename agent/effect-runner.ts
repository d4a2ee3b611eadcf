import type { Logger } from 'pino';
import { equalBytesConstantTime } from '../src/crypto/constant-time.js';
import { toHex } from '../src/encoding/hex.js';
import { type ErrorCode, PairlinkError } from '../src/errors.js';
import type { Effect, RelayEffect } from '../src/handshake/effects.js';
import type { InviteProgress } from '../src/rpc/protocol.js';
import type { RelayPool } from './relay-pool.js';
import type { RelayTransport } from './relay-transport.js';

/** Whose effects these are: an invite or an accept, with the mailbox it reads and its read capability. */
export interface EffectOwner {
  readonly kind: 'invite' | 'accept';
  readonly id: string;
  readonly mailboxId: Uint8Array;
  readonly readCapability: Uint8Array;
  /** The relay (pool key) its mailboxes live on: for an accept, the invite's relay. */
  readonly relay: string;
}

/** What the runner needs from the agent. */
export interface EffectRunnerDeps {
  readonly relays: RelayPool;
  readonly now: () => number;
  readonly logger: Logger;
  readonly emit: (progress: Omit<InviteProgress, 'at'>) => void;
  /** A relay effect failed: feed `effectFailed` to the owner's machine (the rest of the batch was skipped). */
  readonly failed: (owner: EffectOwner, effect: RelayEffect, code: ErrorCode) => Promise<void>;
  /** The relay took a frame sent with `track`: feed `frameDelivered` to the owner's machine. */
  readonly delivered: (owner: EffectOwner, frame: Uint8Array) => Promise<void>;
  /** Whether the owner's machine has failed (an accept that gave up); false when not known. */
  readonly hasFailed?: (owner: EffectOwner) => boolean;
}

const isRelayEffect = (effect: Effect): effect is RelayEffect =>
  effect.type === 'openMailbox' ||
  effect.type === 'closeMailbox' ||
  effect.type === 'send' ||
  effect.type === 'resync';

/** The sends from `effects[start]` on that go to the same mailbox with the same capability, in a row. */
function sendsInRow(effects: readonly Effect[], start: number): RelayEffect[] {
  const first = effects[start] as Extract<Effect, { type: 'send' }>;
  const run: RelayEffect[] = [first];
  for (let i = start + 1; i < effects.length; i++) {
    const next = effects[i]!;
    if (
      next.type !== 'send' ||
      !equalBytesConstantTime(next.to.mailboxId, first.to.mailboxId) ||
      !equalBytesConstantTime(next.to.writeCapability, first.to.writeCapability)
    )
      break;
    run.push(next);
  }
  return run;
}

/**
 * Performs the relay side of machine effects (open, close and re-read mailboxes; post frames;
 * report progress), after the state that caused them is saved. One chain per invite or accept
 * keeps each one's effects in order; different ones run concurrently. The first relay effect of a
 * batch that fails ends the batch's relay work (a hello must not go out when its reply mailbox
 * could not be opened) and is reported to the machine, which decides: retry later or give up.
 * Sends in a row to one mailbox go together (RelayTransport.postInOrder): none is stored after
 * one the relay refused, so that still holds without a round trip between them.
 */
export class EffectRunner {
  private readonly chains = new Map<string, Promise<void>>();

  constructor(private readonly deps: EffectRunnerDeps) {}

  /**
   * Queues a batch behind the owner's earlier ones. With `saved` (the save of the state that made
   * them), opening mailboxes may start at once, since creating one is safe to repeat, and every
   * other effect waits for the save; if it fails, the rest of the batch is dropped (the agent
   * re-runs the owner's machine once a save succeeds).
   */
  schedule(effects: readonly Effect[], owner: EffectOwner, saved?: Promise<void>): void {
    if (effects.length === 0) return;
    const key = `${owner.kind}:${owner.id}`;
    // Resends queued behind a slow relay call (a silent relay holds each for its whole deadline)
    // are dropped once the machine has failed meanwhile: its failure is reported without
    // waiting for each of them to time out. The failing step's own effects run in full.
    const queuedWhileRunning = !this.deps.hasFailed?.(owner);
    const chain = (this.chains.get(key) ?? Promise.resolve()).then(() =>
      this.perform(effects, owner, saved, queuedWhileRunning),
    );
    const tracked = chain.finally(() => {
      if (this.chains.get(key) === tracked) this.chains.delete(key);
    });
    this.chains.set(key, tracked);
  }

  /** Resolves when every scheduled effect has run. */
  async idle(): Promise<void> {
    while (this.chains.size > 0) await Promise.allSettled([...this.chains.values()]);
  }

  private async perform(
    effects: readonly Effect[],
    owner: EffectOwner,
    saved: Promise<void> | undefined,
    queuedWhileRunning: boolean,
  ): Promise<void> {
    let failure: { effect: RelayEffect; code: ErrorCode } | null = null;
    const delivered: Uint8Array[] = [];
    let gate = saved;
    for (let i = 0; i < effects.length; i++) {
      const effect = effects[i]!;
      if (gate && effect.type !== 'openMailbox') {
        const ok = await gate.then(
          () => true,
          () => false,
        );
        if (!ok) return;
        gate = undefined;
      }
      if (!isRelayEffect(effect)) {
        if (effect.type === 'progress') this.progress(effect, owner);
        continue; // pin, sasReady and importIdentity were applied to the state before it was saved
      }
      if (failure || (queuedWhileRunning && this.deps.hasFailed?.(owner))) continue;
      // Frames in a row to one mailbox (an inbox frame and the welcome or ack after it) go
      // together, each stored only after the one before it (RelayTransport.postInOrder).
      const run = effect.type === 'send' ? sendsInRow(effects, i) : [effect];
      i += run.length - 1;
      const outcomes = await this.performRun(run, owner);
      for (const [j, outcome] of outcomes.entries()) {
        const done = run[j]!;
        if (outcome.status === 'rejected') {
          failure = { effect: done, code: this.failureCode(done, owner, outcome.reason) };
          break;
        }
        if (done.type === 'send' && done.track) delivered.push(done.frame);
      }
    }
    const report = (done: Promise<void>) =>
      done.catch((error: Error) =>
        this.deps.logger.warn({ err: error.message }, 'reporting an effect failed'),
      );
    for (const frame of delivered) await report(this.deps.delivered(owner, frame));
    if (failure) await report(this.deps.failed(owner, failure.effect, failure.code));
  }

  /**
   * Runs one effect, or sends in a row to one mailbox together, on the owner's relay: how each
   * ended, in order (a post fails when the one before it did, so the first failure is the cause).
   */
  private async performRun(
    run: readonly RelayEffect[],
    owner: EffectOwner,
  ): Promise<PromiseSettledResult<void>[]> {
    const first = run[0]!;
    try {
      if (run.length === 1) return [{ status: 'fulfilled', value: await this.performRelay(first, owner) }];
      const to = (first as Extract<RelayEffect, { type: 'send' }>).to;
      const frames = run.map((e) => (e as Extract<RelayEffect, { type: 'send' }>).frame);
      return await this.deps.relays.holding(owner.relay, (relay) =>
        Promise.allSettled(relay.postInOrder(to.mailboxId, to.writeCapability, frames)),
      );
    } catch (reason) {
      return [{ status: 'rejected', reason }];
    }
  }

  /** A failed relay effect's code, logged: the machine decides what follows (retry, or give up). */
  private failureCode(effect: RelayEffect, owner: EffectOwner, error: unknown): ErrorCode {
    const code = error instanceof PairlinkError ? error.code : 'INTERNAL';
    if (code === 'INTERNAL')
      this.deps.logger.error({ err: (error as Error).message, effect: effect.type }, 'relay effect failed');
    else
      this.deps.logger.debug(
        { code, effect: effect.type, owner: owner.id },
        'relay effect failed; the machine decides',
      );
    return code;
  }

  /** On the owner's relay, held open while the effect runs (the pool reopens it if it was closed). */
  private performRelay(effect: RelayEffect, owner: EffectOwner): Promise<void> {
    return this.deps.relays.holding(owner.relay, (relay) => this.performOn(relay, effect, owner));
  }

  private async performOn(relay: RelayTransport, effect: RelayEffect, owner: EffectOwner): Promise<void> {
    switch (effect.type) {
      case 'openMailbox': {
        const ttl = Math.max(60, effect.expiresAt - this.deps.now());
        // Idempotent (the port's contract): an earlier attempt may have made it.
        await relay.createMailbox(
          effect.mailbox.mailboxId,
          effect.mailbox.readCapability,
          effect.mailbox.writeCapability,
          ttl,
        );
        relay.watch(effect.mailbox.mailboxId, effect.mailbox.readCapability, 0);
        return;
      }
      case 'send':
        return relay.post(effect.to.mailboxId, effect.to.writeCapability, effect.frame);
      case 'resync':
        return relay.resync(owner.mailboxId);
      case 'closeMailbox':
        relay.unwatch(effect.mailboxId);
        return relay.deleteMailbox(effect.mailboxId, owner.readCapability);
    }
  }

  private progress(effect: Extract<Effect, { type: 'progress' }>, owner: EffectOwner): void {
    this.deps.emit({
      id: owner.id,
      role: owner.kind === 'invite' ? 'issuer' : 'acceptor',
      status: effect.status,
      ...(effect.sessionId ? { sessionId: toHex(effect.sessionId) } : {}),
      ...(effect.peer ? { peer: { did: effect.peer.did, name: effect.peer.name } } : {}),
      ...(effect.code ? { error: { code: effect.code, message: effect.code } } : {}),
      ...(effect.sas ? { sas: { digits: effect.sas.digits, emoji: effect.sas.emoji } } : {}),
    });
  }
}
