import type { Logger } from 'pino';
import type { RelayClient, RelaySocket } from '../relay/relay-client.js';
import { toHex } from '../src/encoding/hex.js';
import type { PairlinkError } from '../src/errors.js';
import type { Effect } from '../src/handshake/effects.js';
import type { InviteProgress } from '../src/rpc/protocol.js';

/** Whose effects these are: an invite (with its mailbox read capability) or an accept. */
export type EffectOwner =
  | { kind: 'invite'; id: string; readCapability: Uint8Array }
  | { kind: 'accept'; id: string };

/** What the runner needs from the agent. */
export interface EffectRunnerDeps {
  readonly relay: RelayClient;
  readonly socket: RelaySocket;
  readonly now: () => number;
  readonly logger: Logger;
  readonly emit: (progress: Omit<InviteProgress, 'at'>) => void;
  readonly acceptReadCapability: (acceptId: string) => Uint8Array;
  /** Feeds `issuerMailboxGone` to an accept whose hello the relay refused. */
  readonly issuerMailboxGone: (acceptId: string) => Promise<void>;
}

/**
 * Performs the relay side of machine effects (create, watch and delete mailboxes; post frames;
 * report progress), after the state that caused them is saved. One chain per invite or accept
 * keeps each one's effects in order; different ones run concurrently.
 */
export class EffectRunner {
  private readonly chains = new Map<string, Promise<void>>();

  constructor(private readonly deps: EffectRunnerDeps) {}

  schedule(effects: readonly Effect[], owner: EffectOwner): void {
    if (effects.length === 0) return;
    const key = `${owner.kind}:${owner.id}`;
    const chain = (this.chains.get(key) ?? Promise.resolve()).then(() => this.perform(effects, owner));
    const tracked = chain.finally(() => {
      if (this.chains.get(key) === tracked) this.chains.delete(key);
    });
    this.chains.set(key, tracked);
  }

  /** Resolves when every scheduled effect has run. */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.chains.values()]);
  }

  private async perform(effects: readonly Effect[], owner: EffectOwner): Promise<void> {
    for (const effect of effects) {
      try {
        switch (effect.type) {
          case 'openMailbox': {
            const ttl = Math.max(60, effect.expiresAt - this.deps.now());
            await this.deps.relay.createMailbox(
              effect.mailbox.mailboxId,
              effect.mailbox.readCapability,
              effect.mailbox.writeCapability,
              ttl,
            );
            this.deps.socket.watch(effect.mailbox.mailboxId, effect.mailbox.readCapability, 0);
            break;
          }
          case 'send':
            try {
              await this.send(effect.to.mailboxId, effect.to.writeCapability, effect.frame);
            } catch (error) {
              // The issuer's mailbox is gone: tell the acceptor machine now instead of timing out.
              if (owner.kind === 'accept' && (error as PairlinkError).code === 'INVITE_NOT_FOUND') {
                await this.deps.issuerMailboxGone(owner.id);
                return;
              }
              throw error;
            }
            break;
          case 'closeMailbox': {
            this.deps.socket.unwatch(effect.mailboxId);
            const readCap =
              owner.kind === 'invite' ? owner.readCapability : this.deps.acceptReadCapability(owner.id);
            await this.deps.relay.deleteMailbox(effect.mailboxId, readCap).catch(() => undefined);
            break;
          }
          case 'progress':
            this.deps.emit({
              id: owner.id,
              role: owner.kind === 'invite' ? 'issuer' : 'acceptor',
              status: effect.status,
              ...(effect.sessionId ? { sessionId: toHex(effect.sessionId) } : {}),
              ...(effect.peer ? { peer: { did: effect.peer.did, name: effect.peer.name } } : {}),
              ...(effect.code ? { error: { code: effect.code, message: effect.code } } : {}),
            });
            break;
          default:
            break; // pin, sasReady and importIdentity were applied to the state before it was saved
        }
      } catch (error) {
        this.deps.logger.warn(
          { effect: effect.type, err: (error as Error).message },
          'effect failed; the machine will retry or time out',
        );
      }
    }
  }

  /** Posts a frame, over the socket when connected, else over HTTP; one retry after a pause. */
  private async send(mailboxId: Uint8Array, writeCap: Uint8Array, frame: Uint8Array): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        if (this.deps.socket.connected) await this.deps.socket.post(mailboxId, writeCap, frame);
        else await this.deps.relay.post(mailboxId, writeCap, frame);
        return;
      } catch (error) {
        if (attempt >= 1 || (error as PairlinkError).code === 'INVITE_NOT_FOUND') throw error;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }
}
