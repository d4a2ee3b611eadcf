import type { Card } from '../src/identity/card.js';
import type { RotationReason } from '../src/notice/notice-body.js';
import type { AgentState, PeerRecord, RetiredKey } from './state/agent-state.js';

/**
 * A peer's rotation, as this agent applies it (PROTOCOL.md §11.6): once `judgeNotice` has believed
 * a rotate notice, the peer is re-pinned to the new card and the commitment after it, and its old
 * key is retired: refused as a notice sender (no pin has it any more: *unknown sender*) and as a
 * peer in a pairing (KEY_RETIRED, `isRetired`, checked by the handshake machines before they pin).
 */

/**
 * Retired keys kept (the oldest are forgotten first). A forgotten one is still no pin, so its
 * notices stay refused; only a new pairing by it would no longer be refused by name.
 */
export const MAX_RETIRED_KEYS = 1024;

/** What the pin becomes after an applied rotation. */
export interface AppliedRotation {
  readonly card: Card;
  readonly nextKeyCommitment: Uint8Array;
  readonly lastCounter: number;
  readonly reason: RotationReason;
}

/** True when `did` is a key a rotation retired, ours or a peer's. */
export function isRetired(state: AgentState, did: string): boolean {
  return (state.retiredKeys ?? []).some((k) => k.did === did);
}

/** `state` with `keys` retired, bounded to the newest MAX_RETIRED_KEYS. */
export function withRetired(state: AgentState, keys: readonly RetiredKey[]): AgentState {
  const all = [...(state.retiredKeys ?? []).filter((k) => !keys.some((n) => n.did === k.did)), ...keys];
  return { ...state, retiredKeys: all.slice(-MAX_RETIRED_KEYS) };
}

/** The pin of `peer` after its rotation: its new did, card, keys, name, relay and commitment. */
export function rotatedPin(peer: PeerRecord, rotation: AppliedRotation): PeerRecord {
  const { card } = rotation;
  return {
    ...peer,
    did: card.did,
    name: card.name,
    card: card.bytes,
    relayUrl: card.relayUrl,
    nextKeyCommitment: rotation.nextKeyCommitment,
    lastCounter: rotation.lastCounter,
  };
}

/**
 * `state` with `peer` re-pinned after its rotation and its old key retired, in one change (the
 * caller saves it with how far the inbox was read). Returns the new pin too.
 */
export function applyPeerRotation(
  state: AgentState,
  peer: PeerRecord,
  rotation: AppliedRotation,
  at: string,
): { state: AgentState; pin: PeerRecord } {
  const pin = rotatedPin(peer, rotation);
  const peers = [...state.peers.filter((p) => p.did !== peer.did && p.did !== pin.did), pin];
  const retired: RetiredKey = { did: peer.did, by: pin.did, reason: rotation.reason, at };
  return { state: withRetired({ ...state, peers }, [retired]), pin };
}
