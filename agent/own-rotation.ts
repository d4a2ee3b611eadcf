import type { Logger } from 'pino';
import type { RandomSource } from '../src/crypto/random.js';
import { PairlinkError } from '../src/errors.js';
import { Identity } from '../src/identity/identity.js';
import type { RotationReason } from '../src/notice/notice-body.js';
import type { AgentIdentity } from './agent-identity.js';
import type { AuditTrail } from './audit-trail.js';
import type { RotationRedo, RotationStep } from './identity-rotation.js';
import type { NoticeOutbox } from './notice-outbox.js';
import { withRetired } from './peer-rotation.js';
import type { AgentClock } from './relay-transport.js';
import type { AgentState, OwnRotationRecord, PeerRecord } from './state/agent-state.js';
import type { DurableState } from './state/durable-state.js';

/** Own rotations kept in the state. */
export const ROTATIONS_KEPT = 16;

type PeerRef = { readonly did: string; readonly name: string };

/** What a rotation answers its caller (`identity.rotate`, `device.revoke`). */
export interface RotationOutcome {
  readonly did: string;
  readonly previousDid: string;
  readonly reason: RotationReason;
  /** Peers a rotate notice is on its way to. */
  readonly notified: readonly PeerRef[];
  /** Peers that cannot follow (paired without an inbox, or their queue is full): they must re-pair. */
  readonly mustRePair: readonly PeerRef[];
  /** This identity's other devices: they hold the retired key, and must be added again with a device invite. */
  readonly reAddDevices: readonly PeerRef[];
}

export interface OwnRotationDeps {
  readonly self: AgentIdentity;
  readonly store: DurableState;
  readonly outbox: NoticeOutbox;
  readonly clock: Pick<AgentClock, 'now'>;
  readonly random: RandomSource;
  readonly logger: Logger;
  readonly relayUrl: string;
  audit(): AuditTrail | null;
  /** Every pending invite was signed by the old key: cancelled (its acceptors hear INVITE_CANCELLED). */
  cancelInvites(): void;
}

const iso = (seconds: number) => new Date(seconds * 1000).toISOString();
const ref = (p: PeerRecord): PeerRef => ({ did: p.did, name: p.name });
const isDevice = (p: PeerRecord) => p.relation === 'device';

/**
 * This identity's rotation (PROTOCOL.md §11.6), over the keystore's redo entry
 * (identity-rotation.ts): the state step re-issues the card, queues a rotate notice to every peer
 * with an inbox (signed by the revealed key, sent under the old one), retires the old key here too
 * and records the rotation, in one save. It is idempotent (a rotation already recorded is not
 * queued twice), so a start that finds the redo entry runs it again safely.
 */
export class OwnRotation {
  constructor(private readonly deps: OwnRotationDeps) {}

  /** Rotates now; `revoking` is the device record a revocation removes (reason deviceRevoked). */
  async rotate(
    reason: RotationReason,
    revoking?: PeerRecord,
    crash?: (step: RotationStep) => void,
  ): Promise<RotationOutcome> {
    const { self, store } = this.deps;
    const previousDid = self.identity.did;
    const before = store.state.peers;
    const notified: PeerRef[] = [];
    await self.rotate(
      reason,
      this.deps.clock.now(),
      this.deps.random,
      (redo) => this.stateStep(redo, revoking, notified),
      crash,
    );
    const others = before.filter((p) => !isDevice(p));
    return {
      did: self.identity.did,
      previousDid,
      reason,
      notified,
      mustRePair: others.filter((p) => !notified.some((n) => n.did === p.did)).map(ref),
      reAddDevices: before.filter((p) => isDevice(p) && p !== revoking).map(ref),
    };
  }

  /** This identity's devices known here: the records of the device invites this agent issued. */
  devices(): readonly PeerRecord[] {
    return this.deps.store.state.peers.filter(isDevice);
  }

  /**
   * Revokes the device named `nameOrSession` (its name, or its device invite's session id): a
   * rotation with reason deviceRevoked, its record removed in the rotation's save. The device is
   * first saved as `revokingDevice`, so a rotation a kill interrupts, finished at the next start,
   * still removes it. PEER_NOT_FOUND for no such device, or a name two devices share (then name it
   * by its session).
   */
  async revokeDevice(
    nameOrSession: string,
    crash?: (step: RotationStep) => void,
  ): Promise<RotationOutcome & { revoked: PeerRef }> {
    const matches = this.devices().filter((d) => d.name === nameOrSession || d.session === nameOrSession);
    const device = matches[0];
    if (!device || matches.length > 1)
      throw new PairlinkError(
        'PEER_NOT_FOUND',
        device
          ? `${matches.length} devices are named ${nameOrSession}; name one by its session (pairlink devices)`
          : `no device ${nameOrSession} (pairlink devices lists them)`,
      );
    this.deps.store.update((s) => ({ ...s, revokingDevice: device.did }));
    await this.deps.store.persist();
    const outcome = await this.rotate('deviceRevoked', device, crash);
    return { ...outcome, revoked: ref(device) };
  }

  /**
   * At start: a rotation the keystore holds unfinished is finished (its state step, then its redo
   * entry); a device revocation that never began its rotation is forgotten (the device stays).
   */
  async finishAtStart(): Promise<void> {
    const { self, store } = this.deps;
    const pending = self.unfinishedRotation;
    const revoking = store.state.peers.find((p) => p.did === store.state.revokingDevice);
    if (!pending && store.state.revokingDevice !== undefined) {
      store.update(({ revokingDevice: _forgotten, ...s }) => s);
      await store.persist();
    }
    if (!pending) return;
    this.deps.logger.warn('finishing a rotation of this identity that a stop interrupted');
    await self.finishRotation((redo) =>
      this.stateStep(redo, redo.reason === 'deviceRevoked' ? revoking : undefined, []),
    );
  }

  private async stateStep(
    redo: RotationRedo,
    revoking: PeerRecord | undefined,
    notified: PeerRef[],
  ): Promise<void> {
    const { self, store, outbox } = this.deps;
    const state = store.state;
    const former = Identity.fromSecrets({
      signingSeed: redo.old.subarray(0, 32),
      agreementSecret: redo.old.subarray(32, 64),
    });
    const to = self.identity.did;
    self.issueCard(state.name, this.deps.relayUrl, state.createdAt);
    if (state.rotations?.at(-1)?.to !== to) {
      const at = iso(redo.at);
      let next: AgentState = state;
      const body = {
        kind: 'rotate' as const,
        reason: redo.reason,
        card: self.card,
        nextKeyCommitment: self.nextKeyCommitment!,
      };
      for (const peer of state.peers) {
        if (isDevice(peer) || !peer.inbox) continue;
        try {
          next = outbox.queueRotation(next, peer, body, former.signing.publicKey).state;
          notified.push(ref(peer));
        } catch (error) {
          if (!(error instanceof PairlinkError && error.code === 'NOTICE_QUEUE_FULL')) throw error;
          this.deps.logger.warn(
            { peer: peer.did },
            'a rotation could not be queued to a peer: its queue is full',
          );
        }
      }
      const record: OwnRotationRecord = {
        from: former.did,
        to,
        reason: redo.reason,
        at,
        ...(revoking ? { revokedDevice: revoking.name } : {}),
      };
      next = withRetired(next, [{ did: former.did, by: to, reason: redo.reason, at }]);
      const { revokingDevice: _done, ...rest } = next;
      store.update(() => ({
        ...rest,
        peers: rest.peers.filter((p) => p.did !== revoking?.did),
        rotations: [...(next.rotations ?? []), record].slice(-ROTATIONS_KEPT),
      }));
      this.deps.audit()?.rotated({ did: to, name: state.name }, former.did, redo.reason, at);
    }
    this.deps.cancelInvites();
    await store.persist();
    outbox.tick(this.deps.clock.now());
  }
}
