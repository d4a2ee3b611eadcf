import type { Logger } from 'pino';
import { PairlinkError } from '../src/errors.js';
import { readVerifiedCard } from '../src/identity/card.js';
import { encodeDidKey, type Identity } from '../src/identity/identity.js';
import { type OpenedNotice, openNotice } from '../src/notice/envelope.js';
import type { RotationReason } from '../src/notice/notice-body.js';
import { judgeNotice, type PeerTrust } from '../src/notice/verdict.js';
import type { AuditTrail } from './audit-trail.js';
import { type NoticeOutbox, withoutNotices, withRevocations } from './notice-outbox.js';
import { applyPeerRotation, rotatedPin } from './peer-rotation.js';
import type { AgentClock } from './relay-transport.js';
import type { AgentState, FormerCounters, PeerRecord } from './state/agent-state.js';

/**
 * What reading one inbox message does: a change of the state, which the inbox saves together with
 * how far it has read, and what follows once that save is on disk (a receipt, a notification).
 * Both-or-neither: a crash before the save re-reads the message; after it, the counter makes the
 * sender's retry a duplicate, which is receipted again.
 */
export interface Reading {
  change(state: AgentState): AgentState;
  after(): void;
}

export interface NoticeReaderDeps {
  identity(): Identity;
  /** The identity we rotated away from, while notices sealed to it may still come (§11.2). */
  previousIdentity(): Identity | null;
  /** A peer's rotation was applied and saved (peer-rotation.ts): tell subscribers. */
  rotatedPeer(previous: PeerRecord, pin: PeerRecord, reason: RotationReason, at: string): void;
  /** A peer's inbox moved (its notice applied and saved): subscribers hear it. */
  movedPeer(peer: PeerRecord, at: string): void;
  readonly outbox: NoticeOutbox;
  readonly clock: Pick<AgentClock, 'now'>;
  readonly logger: Logger;
  audit(): AuditTrail | null;
  /** The peer unpaired us: saved: tell subscribers (reason 'peer') and every invite to refuse it. */
  removedByPeer(peer: PeerRecord, at: string): void;
}

const NOTHING: Reading = { change: (state) => state, after: () => undefined };
const iso = (seconds: number) => new Date(seconds * 1000).toISOString();

/**
 * Reads the notices posted to the agent's inbox (PROTOCOL.md §11.5): opens each with our X25519
 * key, finds its sender among the pins, asks `judgeNotice` whether to believe it, and turns the
 * verdict into a Reading. Everything here is synchronous and bounded: a message that does not
 * open costs one X25519 and is skipped (the inbox trims it with the rest), so a flood of garbage
 * is never a crash or a queue.
 */
export class NoticeReader {
  constructor(private readonly deps: NoticeReaderDeps) {}

  /** What the message `body` does, judged against `state` (the state it will change). */
  read(state: AgentState, body: Uint8Array): Reading {
    const self = this.deps.identity();
    const previous = this.deps.previousIdentity();
    let opened: OpenedNotice | null;
    try {
      opened = openNotice(body, self.agreement) ?? (previous && openNotice(body, previous.agreement));
    } catch (error) {
      if (!(error instanceof PairlinkError)) throw error;
      opened = null;
    }
    if (opened === null) {
      this.deps.logger.debug('a message in the inbox that is no notice for this agent; skipped');
      return NOTHING;
    }
    const { notice } = opened;
    const did = encodeDidKey(notice.sender);
    const peer = state.peers.find((p) => p.did === did) ?? null;
    const now = this.deps.clock.now();
    // A peer whose unpair we applied: only a retry of it is believed (and receipted again).
    const gone =
      peer === null && notice.body.kind !== 'receipt'
        ? state.inbox?.unpairedBy?.find((d) => d.peer.did === did)?.peer
        : undefined;
    // A peer we unpaired is no pin any more, but its receipt of our unpair is still believed.
    const departing =
      peer === null && notice.body.kind === 'receipt'
        ? (state.outbox ?? []).find((n) => n.did === did)
        : undefined;
    const known = peer ?? gone;
    const trusted = known ? trust(known) : departing ? departed(departing.peerKey) : null;
    const ownKeys = [self.signing.publicKey, ...(previous ? [previous.signing.publicKey] : [])];
    const verdict = judgeNotice(opened, { ownKeys, peer: trusted, now });
    const kind = notice.body.kind;
    const from = peer ? 'pin' : gone ? 'unpaired us' : departing ? 'departing' : 'unknown';
    this.deps.logger.debug(
      { kind, counter: notice.counter, from, verdict: verdict.outcome },
      'a notice read',
    );
    if (verdict.outcome === 'refused' || verdict.outcome === 'expired') {
      const said = verdict.outcome === 'refused' ? verdict.reason : 'expired';
      this.deps.logger.info({ kind, verdict: said }, 'a notice in the inbox was not taken');
      this.deps.audit()?.notice('noticeReceived', peer, kind, said, iso(now));
      return NOTHING;
    }
    const body2 = notice.body;
    if (gone) {
      if (verdict.outcome === 'duplicate')
        return { change: (s) => s, after: () => this.deps.outbox.sendReceipt(gone, notice.counter, false) };
      this.deps.logger.info({ kind, verdict: 'unknownSender' }, 'a notice in the inbox was not taken');
      this.deps.audit()?.notice('noticeReceived', null, kind, 'unknownSender', iso(now));
      return NOTHING;
    }
    if (peer === null) {
      // Only a departing peer's receipt gets here.
      if (body2.kind !== 'receipt') throw new RangeError('only a receipt is believed from a departing peer');
      this.deps.audit()?.notice('noticeReceived', { did, name: departing!.name }, kind, 'applied', iso(now));
      return {
        change: (s) => this.deps.outbox.received(s, did, body2.counter),
        after: () => this.deps.outbox.answeredBy(did, body2.counter),
      };
    }
    const sender = peer;
    const contacted = (s: AgentState, lastCounter?: number): AgentState => ({
      ...s,
      peers: s.peers.map((p) =>
        p.did === did ? { ...p, lastContact: iso(now), ...(lastCounter ? { lastCounter } : {}) } : p,
      ),
    });
    if (verdict.outcome === 'duplicate') {
      this.deps.logger.debug({ kind }, 'a notice already applied came again; receipted again');
      return {
        change: (s) => contacted(s),
        after: () => this.deps.outbox.sendReceipt(sender, notice.counter, false),
      };
    }
    if (body2.kind === 'receipt') {
      this.deps.audit()?.notice('noticeReceived', sender, kind, 'applied', iso(now));
      return {
        change: (s) => this.deps.outbox.received(contacted(s), did, body2.counter),
        after: () => this.deps.outbox.answeredBy(did, body2.counter),
      };
    }
    if (body2.kind === 'rotate' && verdict.outcome === 'apply' && verdict.card) {
      const at = iso(now);
      const rotation = {
        card: verdict.card,
        nextKeyCommitment: body2.nextKeyCommitment,
        lastCounter: notice.counter,
        reason: body2.reason,
      };
      const pin = rotatedPin(sender, rotation);
      this.deps.audit()?.notice('noticeReceived', sender, kind, 'applied', at);
      this.deps.audit()?.rotated(pin, sender.did, body2.reason, at);
      this.deps.logger.info(
        { peer: sender.did, now: pin.did, reason: body2.reason },
        'a peer rotated its keys; re-pinned',
      );
      return {
        change: (s) => applyPeerRotation(contacted(s), sender, rotation, at).state,
        after: () => {
          this.deps.outbox.sendReceipt(pin, notice.counter, true);
          this.deps.rotatedPeer(sender, pin, body2.reason, at);
        },
      };
    }
    if (body2.kind === 'inboxMoved') {
      // The peer's home relay changed: its notices and receipts go to its new inbox from now on,
      // this notice's receipt first (the old inbox is no longer read).
      this.deps.audit()?.notice('noticeReceived', sender, kind, 'applied', iso(now));
      const moved: PeerRecord = { ...sender, inbox: body2.inbox };
      return {
        change: (s) => {
          const seen = contacted(s, notice.counter);
          return {
            ...seen,
            peers: seen.peers.map((p) => (p.did === did ? { ...p, inbox: body2.inbox } : p)),
          };
        },
        after: () => {
          this.deps.outbox.sendReceipt(moved, notice.counter, true);
          this.deps.movedPeer(moved, iso(now));
        },
      };
    }
    if (body2.kind === 'rotate') {
      // An applied rotation always carries its verified card (verdict.ts); without one it is not
      // taken: not applied, not receipted (the sender retries).
      this.deps.logger.info({ kind, verdict: 'unsupported' }, 'a notice in the inbox was not taken');
      this.deps.audit()?.notice('noticeReceived', sender, kind, 'unsupported', iso(now));
      return NOTHING;
    }
    this.deps.audit()?.notice('noticeReceived', sender, kind, 'applied', iso(now));
    const receipt = () => this.deps.outbox.sendReceipt(sender, notice.counter, true);
    if (body2.kind === 'ping') return { change: (s) => contacted(s, notice.counter), after: receipt };
    // An unpair: the sender goes, its capability to our inbox is revoked, our notices to it dropped.
    const at = iso(now);
    this.deps.audit()?.unpairedByPeer(sender, at);
    return {
      // Its counters are kept with the unpair's own (§11.4): a replay of it after a new pairing is
      // a duplicate; and it stays in the inbox's unpairedBy until the unpair expires.
      change: (s) => withoutPeer(s, sender, { counter: notice.counter, until: notice.expiresAt }),
      after: () => {
        receipt();
        this.deps.removedByPeer(sender, at);
      },
    };
  }
}

/** What `judgeNotice` needs of a pin. */
function trust(peer: PeerRecord): PeerTrust {
  const card = readVerifiedCard(peer.card);
  return {
    signingKey: card.signingKey,
    agreementKey: card.agreementKey,
    nextKeyCommitment: peer.nextKeyCommitment ?? null,
    lastCounter: peer.lastCounter ?? 0,
  };
}

/** A departing peer as `judgeNotice` sees it: its key only (only its receipts get this far). */
function departed(signingKey: Uint8Array): PeerTrust {
  return { signingKey, agreementKey: new Uint8Array(32), nextKeyCommitment: null, lastCounter: 0 };
}

/**
 * `state` without `peer`'s pin. Unpaired by the peer (its unpair `counter`, expiring `until`): our
 * notices to it go too, and it stays in the inbox's `unpairedBy` until then, its write capability
 * to our inbox with it, so that a retry after a lost receipt reaches us and is receipted again;
 * agent-inbox.ts revokes the capability then. Unpaired here (`local`): the capability is revoked
 * with the caller's unpair notice, if one was queued, else now.
 */
export function withoutPeer(
  state: AgentState,
  peer: PeerRecord,
  by: { counter: number; until: number } | 'local',
): AgentState {
  const remembered = by === 'local' ? peer : { ...peer, lastCounter: by.counter };
  const rest = {
    ...state,
    peers: state.peers.filter((p) => p.did !== peer.did),
    formerCounters: rememberCounters(state.formerCounters, remembered),
  };
  const cap = peer.handedWriteCapability;
  if (by !== 'local') {
    const kept = withoutNotices(rest, (n) => n.did === peer.did);
    const inbox = kept.inbox;
    if (!inbox) return kept;
    const others = (inbox.unpairedBy ?? []).filter((d) => d.peer.did !== peer.did);
    const gone = { peer: { ...peer, lastCounter: by.counter }, until: by.until };
    return { ...kept, inbox: { ...inbox, unpairedBy: [...others, gone] } };
  }
  const waits = (state.outbox ?? []).some((n) => n.did === peer.did && n.revokeAfter !== undefined);
  // What earlier pairings handed, not yet revoked (a pairing again waiting for its ack), goes now.
  return withRevocations(rest, [...(peer.handedBefore ?? []), ...(waits || !cap ? [] : [cap])]);
}

/** How many unpaired peers' counters an agent keeps (the oldest go first). */
export const MAX_FORMER_COUNTERS = 4096;

/**
 * `former` with `peer`'s counters last (§11.4: a new pairing of the same two identities goes on
 * from them). Bounded: a peer unpaired 4,096 unpairs ago starts over, as a new peer does.
 */
function rememberCounters(
  former: readonly FormerCounters[] | undefined,
  peer: PeerRecord,
): readonly FormerCounters[] {
  const kept = (former ?? []).filter((f) => f.did !== peer.did);
  const entry = { did: peer.did, lastCounter: peer.lastCounter ?? 0, nextCounter: peer.nextCounter ?? 1 };
  return [...kept.slice(Math.max(0, kept.length + 1 - MAX_FORMER_COUNTERS)), entry];
}
