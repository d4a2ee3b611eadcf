import type { Logger } from 'pino';
import type { RandomSource } from '../src/crypto/random.js';
import { PairlinkError } from '../src/errors.js';
import { readVerifiedCard } from '../src/identity/card.js';
import type { Identity } from '../src/identity/identity.js';
import { type Notice, sealNotice } from '../src/notice/envelope.js';
import type { Inbox } from '../src/notice/inbox.js';
import type { NoticeBody, RotateBody } from '../src/notice/notice-body.js';
import { type BackoffSchedule, backoffDelayMs } from '../src/retry-backoff.js';
import type { AuditTrail } from './audit-trail.js';
import type { SaveFailureLog } from './failed-saves.js';
import type { RelayPool } from './relay-pool.js';
import type { AgentClock } from './relay-transport.js';
import type { AgentState, OutgoingNotice, PeerRecord } from './state/agent-state.js';
import type { DurableState } from './state/durable-state.js';

/** How long a notice is retried (PROTOCOL.md §11.2: agents use 30 days). */
export const NOTICE_TTL_SECONDS = 30 * 86_400;
/** Notices queued per peer, the one in flight included (§11.4). */
export const MAX_QUEUED_PER_PEER = 16;
/** §11.4's retry schedule: from 30 s, doubling to 1 h, equal jitter. */
export const NOTICE_BACKOFF: BackoffSchedule = { baseMs: 30_000, ceilingMs: 3_600_000 };

export interface NoticeOutboxDeps {
  readonly store: DurableState;
  /** The peer's inbox may live on any relay: opened (and held) through the pool. */
  readonly relays: Pick<RelayPool, 'holding'>;
  /** Throws RELAY_REFUSED when the relay-URL policy refuses a peer's inbox relay. */
  refuseRelay(url: string): void;
  /** Our identity: it signs every notice. */
  identity(): Identity;
  readonly clock: Pick<AgentClock, 'now'>;
  readonly random: RandomSource;
  readonly logger: Logger;
  readonly logFailure: SaveFailureLog;
  audit(): AuditTrail | null;
}

const iso = (seconds: number) => new Date(seconds * 1000).toISOString();

/**
 * The agent's outgoing notices (PROTOCOL.md §11.4). A notice is sealed and signed once, when it is
 * queued, and saved in `state.outbox` in the same save as what it announces (an unpair removes the
 * pin in that save): so a crash between the save and the post reposts the same bytes, and the
 * receiver's counter makes the repost harmless. Per peer one counted notice is in flight, the
 * oldest; it is reposted with NOTICE_BACKOFF until its receipt or its expiry. The outbox lives
 * apart from the pins because an unpair notice outlives the pin it ends. Receipts are not queued:
 * each is posted once, and a lost one costs the sender a retry, which is answered again.
 */
export class NoticeOutbox {
  /** Peers (dids) whose head notice is being posted now. */
  private readonly posting = new Set<string>();
  private readonly answered = new Set<(did: string, counter: number) => void>();

  constructor(private readonly deps: NoticeOutboxDeps) {}

  /**
   * `state` with a `kind` notice to `peer` queued (sealed now, counter from the pin), for the
   * caller to save in its own change; NOTICE_QUEUE_FULL when 16 are waiting for that peer. The
   * peer must have an inbox.
   */
  queue(
    state: AgentState,
    peer: PeerRecord,
    kind: 'unpair' | 'ping',
    revokeAfter?: Uint8Array,
  ): { state: AgentState; notice: OutgoingNotice } {
    return this.enqueue(state, peer, { kind }, revokeAfter);
  }

  /** `state` with an inbox-moved notice to `peer` queued (§11.3): our new inbox, its capability. */
  queueMove(
    state: AgentState,
    peer: PeerRecord,
    inbox: Inbox,
  ): { state: AgentState; notice: OutgoingNotice } {
    return this.enqueue(state, peer, { kind: 'inboxMoved', inbox });
  }

  /**
   * `state` with a rotation queued to `peer` (PROTOCOL.md §11.6): signed by our new identity (the
   * key it reveals), under `formerKey`, the key the peer still pins, as its sender.
   */
  queueRotation(
    state: AgentState,
    peer: PeerRecord,
    body: RotateBody,
    formerKey: Uint8Array,
  ): { state: AgentState; notice: OutgoingNotice } {
    return this.enqueue(state, peer, body, undefined, formerKey);
  }

  private enqueue(
    state: AgentState,
    peer: PeerRecord,
    body:
      | { readonly kind: 'unpair' | 'ping' }
      | { readonly kind: 'inboxMoved'; readonly inbox: Inbox }
      | RotateBody,
    revokeAfter?: Uint8Array,
    sender?: Uint8Array,
  ): { state: AgentState; notice: OutgoingNotice } {
    const kind = body.kind;
    if (!peer.inbox) throw new RangeError('a notice goes only to a peer with an inbox');
    const outbox = state.outbox ?? [];
    if (outbox.filter((n) => n.did === peer.did).length >= MAX_QUEUED_PER_PEER)
      throw new PairlinkError('NOTICE_QUEUE_FULL', `${MAX_QUEUED_PER_PEER} notices wait for ${peer.name}`);
    const now = this.deps.clock.now();
    const counter = firstCounter(peer);
    const bytes = this.seal(peer, body, counter, now, sender);
    const notice: OutgoingNotice = {
      did: peer.did,
      name: peer.name,
      kind,
      counter,
      peerKey: readVerifiedCard(peer.card).signingKey,
      ...(revokeAfter ? { revokeAfter } : {}),
      ...(revokeAfter && peer.writerAdded === false ? { writerOwed: true as const } : {}),
      inbox: peer.inbox,
      bytes,
      expiresAt: now + NOTICE_TTL_SECONDS,
      attempts: 0,
      nextAttemptAt: now,
    };
    this.deps.audit()?.notice('noticeSent', peer, kind, 'queued', iso(now));
    return {
      notice,
      state: {
        ...state,
        outbox: [...outbox, notice],
        peers: state.peers.map((p) => (p.did === peer.did ? { ...p, nextCounter: counter + 1 } : p)),
      },
    };
  }

  /** `state` without the notice `counter` to `did`, which its receipt answered. */
  received(state: AgentState, did: string, counter: number): AgentState {
    return withoutNotices(state, (n) => n.did === did && n.counter === counter);
  }

  /** A receipt was applied and saved: wakes whoever waits for it (a ping), then the peer's next notice. */
  answeredBy(did: string, counter: number): void {
    for (const listener of this.answered) listener(did, counter);
    this.tick(this.deps.clock.now());
  }

  /** Calls `listener` for every receipt heard (the peer's did and the counter it answers). */
  onAnswered(listener: (did: string, counter: number) => void): () => boolean {
    this.answered.add(listener);
    return () => this.answered.delete(listener);
  }

  /**
   * Posts a receipt for the notice `counter` to `peer` once; a failure is one debug line (the peer
   * retries). Audited unless it answers a duplicate (a replay must not grow the audit log).
   */
  sendReceipt(peer: PeerRecord, counter: number, audited: boolean): void {
    if (!peer.inbox) return;
    const inbox = peer.inbox;
    const now = this.deps.clock.now();
    const bytes = this.seal(peer, { kind: 'receipt', counter }, 0, now);
    if (audited) this.deps.audit()?.notice('noticeSent', peer, 'receipt', 'queued', iso(now));
    this.deps.logFailure(
      this.post(inbox, bytes).then(
        () => this.deps.logger.debug({ peer: peer.did, counter }, 'a receipt was posted to the peer’s inbox'),
        (error: unknown) => {
          if (!(error instanceof PairlinkError)) throw error;
          this.deps.logger.debug(
            { code: error.code },
            'a receipt did not reach the peer (it will send again)',
          );
        },
      ),
    );
  }

  /** Once a second: each peer's oldest notice, when due, posted again; expired ones given up. */
  tick(now: number): void {
    const outbox = this.deps.store.state.outbox ?? [];
    const expired = outbox.filter((n) => now > n.expiresAt);
    if (expired.length > 0) {
      for (const notice of expired)
        this.deps.logger.warn(
          { peer: notice.did, kind: notice.kind },
          'a notice was not answered within 30 days; gave up on it',
        );
      this.deps.store.update((s) => withoutNotices(s, (n) => expired.includes(n)));
      this.deps.logFailure(this.deps.store.persist());
    }
    const heads = new Map<string, OutgoingNotice>();
    for (const notice of this.deps.store.state.outbox ?? [])
      if (!heads.has(notice.did)) heads.set(notice.did, notice);
    for (const notice of heads.values())
      if (notice.nextAttemptAt <= now && !this.posting.has(notice.did)) this.attempt(notice);
  }

  /** Notices still on their way to `did` (departing ones included). */
  pending(did: string): readonly OutgoingNotice[] {
    return (this.deps.store.state.outbox ?? []).filter((n) => n.did === did);
  }

  private attempt(notice: OutgoingNotice): void {
    this.posting.add(notice.did);
    const work = (async () => {
      // Only what is on disk goes out: a crash after the post must find the notice to retry.
      await this.deps.store.persist();
      let failure: PairlinkError | null = null;
      try {
        // To where the peer's inbox is now: it may have moved since this was queued (§11.3).
        const pinned = this.deps.store.state.peers.find((p) => p.did === notice.did);
        await this.post(pinned?.inbox ?? notice.inbox, notice.bytes);
        this.deps.logger.debug(
          { peer: notice.did, kind: notice.kind, counter: notice.counter, attempt: notice.attempts + 1 },
          'a notice was posted to the peer’s inbox',
        );
      } catch (error) {
        if (!(error instanceof PairlinkError)) throw error;
        failure = error;
      }
      const now = this.deps.clock.now();
      const delay = backoffDelayMs(notice.attempts, NOTICE_BACKOFF, this.deps.random(1)[0]! / 256);
      const next: OutgoingNotice = {
        ...notice,
        attempts: notice.attempts + 1,
        nextAttemptAt: now + Math.ceil(delay / 1000),
      };
      if (failure)
        this.deps.logger.info(
          { peer: notice.did, kind: notice.kind, code: failure.code },
          'a notice did not reach the peer’s inbox; trying again later',
        );
      // Its receipt may have come (and removed it) while it was being posted.
      this.deps.store.update((s) => ({
        ...s,
        outbox: (s.outbox ?? []).map((n) =>
          n.did === notice.did && n.counter === notice.counter ? next : n,
        ),
      }));
      await this.deps.store.persist();
    })().finally(() => this.posting.delete(notice.did));
    this.deps.logFailure(work);
  }

  /** Posts to a peer's inbox on whichever relay it lives, after the relay-URL policy allows it. */
  private async post(inbox: OutgoingNotice['inbox'], bytes: Uint8Array): Promise<void> {
    this.deps.refuseRelay(inbox.relayUrl);
    await this.deps.relays.holding(inbox.relayUrl, (relay) =>
      relay.post(inbox.mailboxId, inbox.writeCapability, bytes),
    );
  }

  private seal(
    peer: PeerRecord,
    body: NoticeBody,
    counter: number,
    now: number,
    sender?: Uint8Array,
  ): Uint8Array {
    const card = readVerifiedCard(peer.card);
    const self = this.deps.identity();
    const notice: Notice = {
      sender: sender ?? self.signing.publicKey,
      receiver: card.signingKey,
      counter,
      sentAt: now,
      expiresAt: now + NOTICE_TTL_SECONDS,
      body,
    };
    return sealNotice(notice, self.signing, card.agreementKey, this.deps.random);
  }
}

/**
 * `state` without the notices `gone` picks; an unpair's capability to our inbox, kept for its
 * receipt, is owed as a revocation at our relay from then on (agent-inbox.ts).
 */
export function withoutNotices(state: AgentState, gone: (notice: OutgoingNotice) => boolean): AgentState {
  const outbox = state.outbox ?? [];
  const dropped = outbox.filter(gone);
  if (dropped.length === 0) return state;
  const revoke = dropped.flatMap((n) => (n.revokeAfter ? [n.revokeAfter] : []));
  return withRevocations({ ...state, outbox: outbox.filter((n) => !gone(n)) }, revoke);
}

/** `state` with `capabilities` owed as revocations at our relay (nothing when we have no inbox). */
export function withRevocations(state: AgentState, capabilities: readonly Uint8Array[]): AgentState {
  const inbox = state.inbox;
  if (!inbox || capabilities.length === 0) return state;
  return { ...state, inbox: { ...inbox, revoking: [...(inbox.revoking ?? []), ...capabilities] } };
}

/**
 * The counter `peer`'s next counted notice takes (§11.4): the pin's own sequence, but never below
 * the pairing's time in seconds, so a new pairing of the same two identities starts above every
 * counter of an earlier one (which the peer may still hold as its `last`: §11.4) even when this
 * agent kept nothing of it.
 */
export function firstCounter(peer: Pick<PeerRecord, 'nextCounter' | 'pairedAt'>): number {
  return Math.max(peer.nextCounter ?? 1, Math.floor(Date.parse(peer.pairedAt) / 1000) || 1);
}
