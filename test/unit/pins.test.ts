import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { applyPins, withPins } from '../../agent/pins.js';
import type { AgentState, PeerRecord } from '../../agent/state/agent-state.js';
import { toHex } from '../../src/encoding/hex.js';
import type { Effect } from '../../src/handshake/effects.js';
import { type Card, issueCard } from '../../src/identity/card.js';
import { Identity } from '../../src/identity/identity.js';
import type { InboxExtension } from '../../src/notice/inbox.js';

/** The pins after a pairing again with a peer pinned before (agent/pins.ts, PROTOCOL.md §11.1). */
const NOW = 1_800_000_000;
const random = (n: number) => new Uint8Array(randomBytes(n));
const ben = Identity.generate(random).identity;
const card: Card = issueCard(ben, 'ben', 'https://relay.example.org', NOW);
const extension = (): InboxExtension => ({
  nextKeyCommitment: random(32),
  inbox: { relayUrl: 'https://relay.example.org', mailboxId: random(16), writeCapability: random(16) },
});
const first = extension();
const pinned: PeerRecord = {
  did: card.did,
  name: 'ben',
  card: card.bytes,
  pairedAt: new Date(NOW * 1000).toISOString(),
  relayUrl: card.relayUrl,
  relation: 'peer',
  confirmed: true,
  session: 'aa',
  inbox: first.inbox,
  nextKeyCommitment: first.nextKeyCommitment,
};
const session = random(16);
const pin = (peerInbox?: InboxExtension, handed?: Uint8Array, confirmed = false): Effect => ({
  type: 'pin',
  sessionId: session,
  peer: card,
  mode: 'peer',
  confirmed,
  ...(peerInbox ? { peerInbox } : {}),
  ...(handed ? { handedWriteCapability: handed } : {}),
});

describe('pinning a peer again', () => {
  it('as issuer: the acceptor’s inbox that comes with the ack is recorded, though the peer was confirmed before', () => {
    const second = extension();
    const afterWelcome = applyPins([pinned], [pin()], 'did:key:self', NOW + 60);
    const afterAck = applyPins(
      afterWelcome,
      [{ type: 'confirmPin', sessionId: session, did: card.did, peerInbox: second }],
      'did:key:self',
      NOW + 61,
    );
    expect(afterAck[0]?.inbox).toEqual(second.inbox);
    expect(afterAck[0]?.nextKeyCommitment).toEqual(second.nextKeyCommitment);
    expect(afterAck[0]?.session).toBe(toHex(session));
  });

  it('without an inbox frame that opened, keeps the inbox and commitment the last pairing handed over', () => {
    const again = applyPins([pinned], [pin()], 'did:key:self', NOW + 60);
    expect(again[0]?.inbox).toEqual(first.inbox);
    expect(again[0]?.nextKeyCommitment).toEqual(first.nextKeyCommitment);
    // And a withdrawal by that session takes nothing from a peer confirmed before.
    const withdrawn = applyPins(
      again,
      [{ type: 'unpin', sessionId: session, did: card.did }],
      'did:key:self',
      NOW + 61,
    );
    expect(withdrawn).toHaveLength(1);
  });
});

describe('the capability a pairing again replaces', () => {
  const old = random(16);
  const state = {
    version: 1,
    name: 'ann',
    createdAt: NOW,
    peers: [{ ...pinned, handedWriteCapability: old, writerAdded: true }],
    invites: [],
    accepts: [],
    inbox: {
      relayUrl: 'https://relay.example.org',
      mailboxId: random(16),
      readCapability: random(16),
      expiresAt: NOW + 3600,
    },
  } satisfies AgentState;
  /** `before` after `effects`, as the step engine saves it: the pins, and what is owed for revocation. */
  const step = (before: AgentState, effects: Effect[]) =>
    withPins(before, applyPins(before.peers, effects, 'did:key:self', NOW + 60));
  const revoking = (s: AgentState) => (s.inbox?.revoking ?? []).map(toHex);

  it('as issuer: stays a writer until the ack confirms the pin, and for good if the acceptor gives up', () => {
    const pinned = step(state, [pin(undefined, random(16))]);
    expect(revoking(pinned)).toEqual([]); // the acceptor may still hold only the old one
    const withdrawn = step(pinned, [{ type: 'unpin', sessionId: session, did: card.did }]);
    expect(revoking(withdrawn)).toEqual([]); // it gave up before the welcome: its pin holds `old`
    const acked = step(pinned, [{ type: 'confirmPin', sessionId: session, did: card.did }]);
    expect(revoking(acked)).toEqual([toHex(old)]);
    expect(acked.peers[0]?.handedBefore).toBeUndefined();
  });

  it('as acceptor: revoked at pin time (the issuer pinned first, so it holds the new one)', () => {
    const pinned = step(state, [pin(undefined, random(16), true)]);
    expect(revoking(pinned)).toEqual([toHex(old)]);
  });

  it('handed again (the same peer gets the capability it holds): still a writer, nothing kept or owed', () => {
    // 100 pairings again in a row on the issuer, none acked yet (concurrent re-pairings).
    let s: AgentState = state;
    for (let i = 0; i < 100; i++) s = step(s, [pin(undefined, Uint8Array.from(old))]);
    const again = step(s, [pin(undefined, Uint8Array.from(old), true)]);
    expect([s, again].map((x) => [x.peers[0]?.handedBefore, x.peers[0]?.writerAdded, revoking(x)])).toEqual([
      [undefined, true, []],
      [undefined, true, []],
    ]);
  });
});
