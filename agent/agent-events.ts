import type { InviteProgress, PeerMoved, PeerRemoved, PeerRotated } from '../src/rpc/protocol.js';
import type { PairingLog } from './pairing-log.js';
import type { AcceptRecord } from './state/agent-state.js';

/**
 * What the agent tells its listeners (the RPC server's subscribers, waiting calls): every
 * `invite.progress`, stamped with the time and told to the pairing log too, and every
 * `peer.removed`.
 */
export class AgentEvents {
  private readonly progressListeners = new Set<(progress: InviteProgress) => void>();
  private readonly removalListeners = new Set<(removed: PeerRemoved) => void>();
  private readonly rotationListeners = new Set<(rotated: PeerRotated) => void>();
  private readonly moveListeners = new Set<(moved: PeerMoved) => void>();

  constructor(
    private readonly pairings: PairingLog,
    private readonly now: () => number,
  ) {}

  /** Receives every `invite.progress` notification. */
  onProgress(listener: (progress: InviteProgress) => void): () => void {
    this.progressListeners.add(listener);
    return () => this.progressListeners.delete(listener);
  }

  /** Receives every `peer.removed` notification. */
  onPeerRemoved(listener: (removed: PeerRemoved) => void): () => void {
    this.removalListeners.add(listener);
    return () => this.removalListeners.delete(listener);
  }

  progress(progress: Omit<InviteProgress, 'at'>): void {
    const full: InviteProgress = { ...progress, at: new Date(this.now() * 1000).toISOString() };
    this.pairings.observe(full);
    for (const listener of this.progressListeners) listener(full);
  }

  /** Receives every `peer.rotated` notification. */
  onPeerRotated(listener: (rotated: PeerRotated) => void): () => void {
    this.rotationListeners.add(listener);
    return () => this.rotationListeners.delete(listener);
  }

  peerRotated(rotated: PeerRotated): void {
    for (const listener of this.rotationListeners) listener(rotated);
  }

  /** Receives every `peer.moved` notification. */
  onPeerMoved(listener: (moved: PeerMoved) => void): () => void {
    this.moveListeners.add(listener);
    return () => this.moveListeners.delete(listener);
  }

  peerMoved(moved: PeerMoved): void {
    for (const listener of this.moveListeners) listener(moved);
  }

  peerRemoved(removed: PeerRemoved): void {
    for (const listener of this.removalListeners) listener(removed);
  }

  /** An accept was recorded: the pairing log times it from now. */
  acceptStarted(id: string): void {
    this.pairings.acceptStarted(id);
  }

  /**
   * Resolves when the accept `first` is paired, failed or waiting for the SAS, or after `seconds`,
   * with the accept as its latest step left it: followed step by step (`follow` hands over each
   * record its steps leave, until the function it returns is called) rather than looked up when
   * the event comes, since the save before the event may already have dropped it from the history.
   */
  waitForAccept(
    first: AcceptRecord,
    seconds: number,
    follow: (each: (record: AcceptRecord) => void) => () => void,
  ): Promise<AcceptRecord> {
    let latest = first;
    const key = first.id;
    return new Promise((resolve) => {
      const unfollow = follow((record) => {
        latest = record;
      });
      const done = () => {
        clearTimeout(timer);
        unsubscribe();
        unfollow();
        resolve(latest);
      };
      const unsubscribe = this.onProgress((p) => {
        if (p.id === key && (p.status === 'paired' || p.status === 'failed' || p.status === 'sas')) done();
      });
      // Unref'd: a wait whose client went away must not keep a stopping agent alive for its rest.
      const timer = setTimeout(done, seconds * 1000);
      timer.unref();
      // Already there (a caller that asks after the 'sas' event went out): answer now, not at the timeout.
      const phase = latest.acceptor.phase;
      if (phase === 'paired' || phase === 'failed' || phase === 'awaitingSas') done();
    });
  }
}
