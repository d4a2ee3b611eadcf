import { handedCapabilities } from './pins.js';
import type { RelayTransport } from './relay-transport.js';
import type { InboxRecord, PeerRecord } from './state/agent-state.js';
import type { DurableState } from './state/durable-state.js';

/**
 * Writer additions in flight at once: 10,000 writers one round trip at a time took 9.7 s on
 * loopback (a busy 2-core machine), and take RTT × 10,000 to a relay far away.
 */
const WRITERS_IN_FLIGHT = 8;

/**
 * Who may post to our inbox, as the relay must hold it (agent-inbox.ts runs these in its passes):
 * one capability per current peer, plus those still owed a post (a departing peer's receipt, a
 * re-pairing waiting for its ack). Each change is made in memory and rides the next save, as
 * adding or revoking a writer again is harmless.
 */
export class InboxWriters {
  constructor(
    private readonly store: DurableState,
    private readonly relay: () => RelayTransport,
  ) {}

  /**
   * Registers every handed capability the relay does not hold yet, WRITERS_IN_FLIGHT requests at
   * a time, each batch marked added in one change (10,000 owed: not 10,000 scans of the peers).
   * `progressed` runs after a batch that added any: a refusal after it (the relay's rate limit, as
   * a restarted memory relay's 10,000 writers meet it) is retried after the first backoff, not
   * after one doubled per pass, so the writers go in at the pace the relay allows.
   */
  async addOwed(inbox: InboxRecord, progressed: () => void): Promise<void> {
    const owed = this.store.state.peers.filter((p) => p.writerAdded === false && p.handedWriteCapability);
    for (let i = 0; i < owed.length; i += WRITERS_IN_FLIGHT) {
      const batch = owed.slice(i, i + WRITERS_IN_FLIGHT);
      const results = await Promise.allSettled(
        batch.map((peer) =>
          this.relay().addInboxWriter(inbox.mailboxId, inbox.readCapability, peer.handedWriteCapability!),
        ),
      );
      const added = batch.filter((_, j) => results[j]!.status === 'fulfilled');
      if (added.length > 0) {
        this.markAdded(added);
        progressed();
      }
      const refused = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (refused) throw refused.reason;
    }
  }

  /**
   * The inbox was made again (the relay lost it with every writer; its peers owed again first):
   * who is no pin but may still post is a writer again at once — a peer we unpaired (its receipt),
   * one that unpaired us (its retry, after a lost receipt), and a peer's earlier capability while
   * a pairing again waits for its ack (pins.ts).
   */
  async madeAgain(existing: InboxRecord, mailboxId: Uint8Array, readCapability: Uint8Array): Promise<void> {
    const departing = (this.store.state.outbox ?? []).flatMap((n) => n.revokeAfter ?? []);
    const departed = existing.unpairedBy?.flatMap((d) => handedCapabilities(d.peer)) ?? [];
    const earlier = this.store.state.peers.flatMap((p) => p.handedBefore ?? []);
    for (const cap of [...departing, ...departed, ...earlier])
      await this.relay().addInboxWriter(mailboxId, readCapability, cap);
  }

  /** Every peer we handed a capability is owed as a writer again (the relay lost them all). */
  oweAgain(): void {
    this.store.update((s) => ({
      ...s,
      peers: s.peers.map((p): PeerRecord => (p.handedWriteCapability ? { ...p, writerAdded: false } : p)),
    }));
  }

  /** The relay holds these peers' capabilities now (a peer re-paired meanwhile holds another: untouched). */
  private markAdded(peers: readonly PeerRecord[]): void {
    const added = new Map(peers.map((p) => [p.did, p.handedWriteCapability]));
    this.store.update((s) => ({
      ...s,
      peers: s.peers.map((p) =>
        added.has(p.did) && added.get(p.did) === p.handedWriteCapability ? { ...p, writerAdded: true } : p,
      ),
    }));
  }
}
