import { equalBytesConstantTime } from '../src/crypto/constant-time.js';
import { toHex } from '../src/encoding/hex.js';
import type { Effect } from '../src/handshake/effects.js';
import type { InboxExtension } from '../src/notice/inbox.js';
import type { AgentState, FormerCounters, PeerRecord } from './state/agent-state.js';

/**
 * The pinned peers after a step's pin effects (`pin`, `confirmPin`, `unpin`), applied in the
 * state in the same save as the step, so a pairing is recorded whole or not at all: with the
 * peer's inbox and commitment, and the capability to our inbox we handed it (a writer owed to
 * our relay until agent-inbox.ts has added it). `peers`
 * itself when the step pins nothing. A pin of this agent's own did (`ownDid`) is never recorded;
 * `now` (seconds) dates a new pin.
 */
export function applyPins(
  peers: readonly PeerRecord[],
  effects: readonly Effect[],
  ownDid: string,
  now: number,
  former: readonly FormerCounters[] = [],
): readonly PeerRecord[] {
  let next = peers;
  for (const effect of effects) {
    if (effect.type === 'pin' && effect.peer.did !== ownDid) {
      const existing = next.find((p) => p.did === effect.peer.did);
      // The issuer's pin of a pairing again is unconfirmed until the ack: what the peer was handed
      // before stays a writer till then. The acceptor pins after the issuer: nothing to keep. A
      // pairing again normally hands the capability the pin holds (agent-inbox.ts), which stays a
      // writer as it was, and is never kept twice.
      const handed = effect.handedWriteCapability;
      const same = (c: Uint8Array | undefined) =>
        c !== undefined && handed !== undefined && equalBytesConstantTime(c, handed);
      const before =
        effect.confirmed || !existing ? [] : handedCapabilities(existing).filter((c) => !same(c));
      const peer: PeerRecord = {
        did: effect.peer.did,
        name: effect.peer.name,
        card: effect.peer.bytes,
        pairedAt: new Date(now * 1000).toISOString(),
        relayUrl: effect.peer.relayUrl,
        relation: effect.mode,
        // A peer already confirmed by an earlier pairing stays confirmed.
        confirmed: effect.confirmed || (existing !== undefined && existing.confirmed !== false),
        session: toHex(effect.sessionId),
        // A pairing again whose inbox frame did not open (yet) keeps what the last one handed over:
        // the same identity, the same inbox and commitment until the peer says otherwise.
        ...peerInbox(effect.peerInbox ?? extensionOf(existing)),
        ...(handed
          ? {
              handedWriteCapability: handed,
              writerAdded: same(existing?.handedWriteCapability) && existing?.writerAdded !== false,
            }
          : {}),
        ...(before.length > 0 ? { handedBefore: before } : {}),
        ...counters(existing ?? former.findLast((f) => f.did === effect.peer.did)),
      };
      next = [...next.filter((p) => p.did !== peer.did), peer];
    } else if (effect.type === 'confirmPin' || effect.type === 'unpin') {
      const session = toHex(effect.sessionId);
      const peer = next.find((p) => p.did === effect.did);
      if (!peer || peer.session !== session) continue;
      // Only the session that made an unconfirmed pin may confirm or withdraw it; the session of a
      // pairing again with a peer confirmed before withdraws nothing, but brings its inbox.
      if (effect.type === 'unpin') {
        if (peer.confirmed === false) next = next.filter((p) => p !== peer);
      } else if (peer.confirmed === false || effect.peerInbox || peer.handedBefore) {
        // Confirmed: the peer holds this pairing's capability, and the earlier ones are revoked.
        const { handedBefore: _revoked, ...confirmed } = peer;
        next = next.map((p) =>
          p === peer ? { ...confirmed, confirmed: true, ...peerInbox(effect.peerInbox) } : p,
        );
      }
    }
  }
  return next;
}

/** Every capability to our inbox a pin's peer may hold: this pairing's, and those before it not yet revoked. */
export function handedCapabilities(peer: PeerRecord): Uint8Array[] {
  return [...(peer.handedBefore ?? []), ...(peer.handedWriteCapability ? [peer.handedWriteCapability] : [])];
}

/**
 * `state` with `peers` (applyPins' result) in place, and every capability we handed that no pin
 * holds any more (a pairing again replaced it and, on the issuer, the ack confirmed it; or a
 * withdrawn pin took it) owed for revocation at our relay (agent-inbox.ts revokes it once this is
 * saved), in the same change: the relay's writers of our inbox stay one per current peer, and
 * more only while a pairing again waits for its ack.
 */
export function withPins(state: AgentState, peers: readonly PeerRecord[]): AgentState {
  const kept = new Set(peers.flatMap((p) => handedCapabilities(p).map(toHex)));
  const dropped = state.peers.flatMap((p) => handedCapabilities(p).filter((c) => !kept.has(toHex(c))));
  if (dropped.length === 0 || !state.inbox) return { ...state, peers };
  return {
    ...state,
    peers,
    inbox: { ...state.inbox, revoking: [...(state.inbox.revoking ?? []), ...dropped] },
  };
}

/** What an existing pin holds of the peer's inbox frame, to keep it. */
function extensionOf(pin: PeerRecord | undefined): InboxExtension | undefined {
  return pin?.inbox && pin.nextKeyCommitment
    ? { inbox: pin.inbox, nextKeyCommitment: pin.nextKeyCommitment }
    : undefined;
}

/** A pin's part from the peer's inbox frame (PROTOCOL.md §11.1): nothing for a peer without one. */
function peerInbox(extension: InboxExtension | undefined): Pick<PeerRecord, 'inbox' | 'nextKeyCommitment'> {
  return extension ? { inbox: extension.inbox, nextKeyCommitment: extension.nextKeyCommitment } : {};
}

/**
 * A new pin's notice counters (PROTOCOL.md §11.4): those of the pin it replaces or of the same
 * peer's last pairing, so a notice of an earlier pairing that a relay replays is a duplicate.
 */
function counters(
  earlier: Pick<PeerRecord, 'lastCounter' | 'nextCounter'> | undefined,
): Pick<PeerRecord, 'lastCounter' | 'nextCounter'> {
  return {
    ...(earlier?.lastCounter ? { lastCounter: earlier.lastCounter } : {}),
    ...(earlier?.nextCounter ? { nextCounter: earlier.nextCounter } : {}),
  };
}
