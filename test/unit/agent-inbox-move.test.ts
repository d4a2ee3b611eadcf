import { describe, expect, it } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import type { PeerMoved } from '../../src/rpc/protocol.js';
import { FakeRelay, ManualClock } from '../support/fake-relay.js';
import { agentOn, eventually, FAKE_RELAY_URL } from '../support/hosted-agent.js';

/**
 * An agent that changes its home relay (issue #27, PROTOCOL.md §11.3 inbox-moved): its inbox moves
 * with it and every peer hears where, now or when it comes back; nothing sent either way is lost.
 */
const START = 1_800_000_000;
const HOUR = 3600;
const SECOND_RELAY = 'http://relay-two.test';

async function twoRelays() {
  const first = new FakeRelay();
  const second = new FakeRelay();
  const relays = { [FAKE_RELAY_URL]: first, [SECOND_RELAY]: second };
  const clock = new ManualClock(START);
  const on = (name: string, home?: string, relayUrl = FAKE_RELAY_URL) =>
    agentOn(first, clock, name, home, undefined, { relayUrl, relays });
  const { agent: alice, home: aliceHome } = await on('alice');
  const { agent: bob, home: bobHome } = await on('bob');
  const invite = await alice.createInvite({});
  await bob.startAccept(invite.url!, false);
  await eventually(
    () => peerOf(alice, bob)?.writerAdded === true && peerOf(bob, alice)?.writerAdded === true,
  );
  expect(peerOf(bob, alice)?.inbox?.relayUrl).toBe(FAKE_RELAY_URL);
  return { first, second, clock, on, alice, bob, aliceHome, bobHome };
}

const peerOf = (agent: Agent, other: Agent) => agent.snapshot.peers.find((p) => p.did === other.did);

describe('an agent that moves to another relay', () => {
  it('makes its inbox there and tells every peer, which posts there from then on', async () => {
    const { second, on, alice, bob, aliceHome } = await twoRelays();
    const heard: PeerMoved[] = [];
    bob.events.onPeerMoved((moved) => heard.push(moved));
    await alice.stop();
    const { agent: moved } = await on('alice', aliceHome, SECOND_RELAY);
    await eventually(() => moved.snapshot.inbox?.relayUrl === SECOND_RELAY);
    expect(moved.snapshot.inbox?.relayUrl).toBe(SECOND_RELAY);
    // Bob re-pins alice's inbox on the second relay; his receipt reaches her there.
    await eventually(
      () =>
        peerOf(bob, moved)?.inbox?.relayUrl === SECOND_RELAY && (moved.snapshot.outbox ?? []).length === 0,
    );
    expect(peerOf(bob, moved)?.inbox?.relayUrl).toBe(SECOND_RELAY);
    expect(moved.snapshot.outbox).toEqual([]);
    await eventually(() => heard.length > 0);
    expect(heard).toEqual([
      expect.objectContaining({ did: moved.did, name: 'alice', relayUrl: SECOND_RELAY }),
    ]);
    // The capability bob now holds is a writer of the new inbox, drawn for him alone.
    const handed = peerOf(moved, bob)!.handedWriteCapability!;
    expect(Buffer.from(peerOf(bob, moved)!.inbox!.writeCapability).equals(Buffer.from(handed))).toBe(true);
    const inboxId = Buffer.from(moved.snapshot.inbox!.mailboxId).toString('base64url');
    await eventually(
      () => second.inbox(inboxId)?.writers.includes(Buffer.from(handed).toString('base64url')) ?? false,
    );
    // Both ways still work: bob's ping reaches the moved inbox, alice's unpair reaches bob.
    expect((await bob.pingPeer(moved.did, 5)).reachable).toBe(true);
    expect((await moved.removePeer(bob.did)).notified).toBe(true);
    await eventually(() => peerOf(bob, moved) === undefined);
    expect(peerOf(bob, moved)).toBeUndefined();
    await Promise.all([moved.stop(), bob.stop()]);
  });

  it('a peer offline during the move catches up when it comes back', async () => {
    const { clock, on, alice, bob, aliceHome, bobHome } = await twoRelays();
    await Promise.all([alice.stop(), bob.stop()]);
    const { agent: moved } = await on('alice', aliceHome, SECOND_RELAY);
    await eventually(() => (moved.snapshot.outbox ?? []).some((n) => n.kind === 'inboxMoved'));
    clock.advance(2 * HOUR);
    const { agent: back } = await on('bob', bobHome);
    await eventually(() => peerOf(back, moved)?.inbox?.relayUrl === SECOND_RELAY);
    expect(peerOf(back, moved)?.inbox?.relayUrl).toBe(SECOND_RELAY);
    expect((await back.pingPeer(moved.did, 5)).reachable).toBe(true);
    await Promise.all([moved.stop(), back.stop()]);
  });
});
