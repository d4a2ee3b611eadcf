import { PairlinkError } from '../src/errors.js';
import type { PeerRemoved } from '../src/rpc/protocol.js';
import type { AgentEvents } from './agent-events.js';
import type { AuditTrail } from './audit-trail.js';
import { KEPT_UNSAVED, notSaved, type SaveFailureLog } from './failed-saves.js';
import { NoticeOutbox, type NoticeOutboxDeps } from './notice-outbox.js';
import { NoticeReader, type NoticeReaderDeps, withoutPeer } from './notice-reader.js';
import type { AgentClock } from './relay-transport.js';
import type { PeerRecord } from './state/agent-state.js';
import type { DurableState } from './state/durable-state.js';

/** How long `peer.ping` waits for the pong unless told (seconds). */
export const DEFAULT_PING_WAIT_SECONDS = 30;

export interface PeerLifecycleDeps {
  readonly store: DurableState;
  readonly outbox: NoticeOutbox;
  readonly events: AgentEvents;
  readonly clock: Pick<AgentClock, 'now'>;
  readonly logFailure: SaveFailureLog;
  audit(): AuditTrail | null;
  /** Every invite refuses `did` from now on (its machine's `peerRemoved` step). */
  refuseInInvites(did: string): void;
}

/** What `peer.remove` answers. */
export interface Unpaired {
  readonly removed: boolean;
  /** An unpair notice is on its way to the peer. */
  readonly notified: boolean;
}

const iso = (seconds: number) => new Date(seconds * 1000).toISOString();

/**
 * A pin's end and its pings (PROTOCOL.md §11.3): an unpair here tells the peer with a notice (a
 * peer without an inbox, or `localOnly`, is unpinned here only, as before notices), an unpair
 * notice from the peer removes it here (notice-reader.ts), and a ping waits for its pong.
 */
export class PeerLifecycle {
  constructor(private readonly deps: PeerLifecycleDeps) {}

  /**
   * Unpairs `did`: the pin goes and, unless `localOnly` or the peer has no inbox, an unpair
   * notice is queued in the same save (it stays, departing, until its receipt or its expiry).
   */
  async remove(did: string, localOnly: boolean): Promise<Unpaired> {
    const { store, outbox } = this.deps;
    const removed = store.state.peers.find((p) => p.did === did);
    if (!removed) return { removed: false, notified: false };
    const notify = !localOnly && removed.inbox !== undefined && removed.relation !== 'device';
    // Queued first (it may be refused: a full queue), so a refusal changes nothing.
    const queued = notify
      ? outbox.queue(store.state, removed, 'unpair', removed.handedWriteCapability)
      : null;
    store.update((s) => withoutPeer(queued ? queued.state : s, removed, 'local'));
    const event: PeerRemoved = { did, name: removed.name, at: iso(this.deps.clock.now()), reason: 'local' };
    this.deps.audit()?.unpaired(removed, event.at);
    // Waits first, so "unpaired" is told before what the invites report about it.
    const saved = store.persist();
    // In the same save: every invite minted before now refuses this peer from here on, and a
    // session still waiting for this peer's ack ends (a late ack announces nothing).
    this.deps.refuseInInvites(did);
    // Told once it is on disk: now, or after a full disk, once a later save gets there.
    store.whenSaved(() => {
      this.deps.events.peerRemoved(event);
      if (queued) outbox.tick(this.deps.clock.now());
    });
    await saved.catch((error: unknown) => {
      throw notSaved(error, KEPT_UNSAVED);
    });
    return { removed: true, notified: queued !== null };
  }

  /** The peer unpaired us (its notice applied and saved): invites refuse it, subscribers hear it. */
  removedByPeer(peer: PeerRecord, at: string): void {
    this.deps.refuseInInvites(peer.did);
    this.deps.events.peerRemoved({ did: peer.did, name: peer.name, at, reason: 'peer' });
  }

  /**
   * Pings `did` and waits up to `waitSeconds` (real time) for the pong: reachable with the round
   * trip, or not. PEER_NOT_FOUND for no such pin; a peer without an inbox is never reachable.
   */
  async ping(did: string, waitSeconds: number): Promise<{ reachable: boolean; rttMs?: number }> {
    const { store, outbox } = this.deps;
    const peer = store.state.peers.find((p) => p.did === did);
    if (!peer) throw new PairlinkError('PEER_NOT_FOUND', `no pinned peer ${did}`);
    if (!peer.inbox || peer.relation === 'device') return { reachable: false };
    const queued = outbox.queue(store.state, peer, 'ping');
    store.update(() => queued.state);
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    let stopListening: () => void = () => undefined;
    const pong = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), waitSeconds * 1000);
      stopListening = outbox.onAnswered((from, counter) => {
        if (from === did && counter === queued.notice.counter) resolve(true);
      });
    });
    try {
      await store.persist().catch((error: unknown) => {
        throw notSaved(error, 'the ping was not sent');
      });
      outbox.tick(this.deps.clock.now());
      const reachable = await pong;
      if (!reachable) {
        // An unanswered ping is not retried for 30 days: it would hold up the peer's queue (an
        // unpair behind it) for nothing. The gap it leaves in the counters is harmless (§11.4).
        store.update((s) => outbox.received(s, did, queued.notice.counter));
        this.deps.logFailure(store.persist());
      }
      return reachable ? { reachable, rttMs: Math.round(performance.now() - started) } : { reachable };
    } finally {
      clearTimeout(timer);
      stopListening();
    }
  }
}

/** The agent's notice parts, wired: its outbox, the reader of its inbox, and the pins' lifecycle. */
export function startNotices(
  deps: NoticeOutboxDeps & Omit<PeerLifecycleDeps, 'outbox'> & Pick<NoticeReaderDeps, 'previousIdentity'>,
) {
  const outbox = new NoticeOutbox(deps);
  const lifecycle = new PeerLifecycle({ ...deps, outbox });
  const reader = new NoticeReader({
    ...deps,
    outbox,
    removedByPeer: (peer, at) => lifecycle.removedByPeer(peer, at),
    rotatedPeer: (previous, pin, reason, at) =>
      deps.events.peerRotated({ did: pin.did, previousDid: previous.did, name: pin.name, reason, at }),
    movedPeer: (peer, at) =>
      deps.events.peerMoved({ did: peer.did, name: peer.name, relayUrl: peer.inbox?.relayUrl ?? '', at }),
  });
  return { outbox, lifecycle, reader };
}
