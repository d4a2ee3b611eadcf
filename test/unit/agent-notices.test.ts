import { randomBytes } from 'node:crypto';
import type pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import { firstCounter } from '../../agent/notice-outbox.js';
import type { PeerRecord } from '../../agent/state/agent-state.js';
import { encodeBase64url } from '../../src/encoding/base64url.js';
import { readVerifiedCard } from '../../src/identity/card.js';
import { Identity } from '../../src/identity/identity.js';
import { sealNotice } from '../../src/notice/envelope.js';
import type { PeerRemoved } from '../../src/rpc/protocol.js';
import { FakeRelay, ManualClock } from '../support/fake-relay.js';
import { agentOn, eventually, logLines } from '../support/hosted-agent.js';

/**
 * Notices between two real Agents on the fake relay and a manual clock (issue #27; PROTOCOL.md
 * §11.3–11.5): an unpair reaches the peer, once, whatever the relay or a restart does to it.
 */
const START = 1_800_000_000;
/** Past any retry's backoff (at most an hour, §11.4). */
const HOUR = 3600;
const b64 = (bytes: Uint8Array) => encodeBase64url(bytes);

async function pairOn(issuer: Agent, acceptor: Agent) {
  const invite = await issuer.createInvite({});
  await acceptor.startAccept(invite.url!, false);
  await eventually(
    () =>
      issuer.snapshot.peers.some((p) => p.did === acceptor.did && p.confirmed && p.writerAdded) &&
      acceptor.snapshot.peers.some((p) => p.did === issuer.did && p.writerAdded),
  );
  expect(peerOf(issuer, acceptor)?.inbox).toBeDefined();
  expect(peerOf(acceptor, issuer)?.inbox).toBeDefined();
}

const peerOf = (agent: Agent, other: Agent): PeerRecord | undefined =>
  agent.snapshot.peers.find((p) => p.did === other.did);
const inboxId = (agent: Agent) => b64(agent.snapshot.inbox!.mailboxId);
const removals = (agent: Agent) => {
  const seen: PeerRemoved[] = [];
  agent.onPeerRemoved((r) => seen.push(r));
  return seen;
};
const auditEvents = async (agent: Agent, event: string) =>
  (await agent.history(undefined, 1000)).entries.filter((e) => e.event === event);

/** Two paired agents, alice and bob, on one fake relay; bob's home kept to restart him. */
async function pair(relay = new FakeRelay(), clock = new ManualClock(START), bobLog?: pino.Logger) {
  const { agent: alice, home: aliceHome } = await agentOn(relay, clock, 'alice');
  const { agent: bob, home: bobHome } = await agentOn(relay, clock, 'bob', undefined, bobLog);
  await pairOn(alice, bob);
  return { relay, clock, alice, bob, aliceHome, bobHome };
}

describe('notices between agents', () => {
  it('an unpair on alice removes her from bob with reason peer, in his audit log; her notice goes with its receipt, and each revokes the other’s capability', async () => {
    const { relay, clock, alice, bob } = await pair();
    const heard = removals(bob);
    const aliceCap = b64(peerOf(alice, bob)!.handedWriteCapability!);
    const bobCap = b64(peerOf(bob, alice)!.handedWriteCapability!);
    expect(await alice.removePeer(bob.did)).toEqual({ removed: true, notified: true });
    expect(peerOf(alice, bob)).toBeUndefined();
    await eventually(() => peerOf(bob, alice) === undefined);
    expect(peerOf(bob, alice)).toBeUndefined();
    expect(heard).toEqual([expect.objectContaining({ did: alice.did, name: 'alice', reason: 'peer' })]);
    const byPeer = await auditEvents(bob, 'unpairedByPeer');
    expect(byPeer).toEqual([expect.objectContaining({ peer: { did: alice.did, name: 'alice' } })]);
    expect(await auditEvents(bob, 'noticeReceived')).toEqual([
      expect.objectContaining({ notice: 'unpair', verdict: 'applied' }),
    ]);
    await eventually(() => (alice.snapshot.outbox ?? []).length === 0);
    expect(alice.snapshot.outbox).toEqual([]);
    // The inbox's pass (once a second) revokes what is owed: alice's after the receipt, bob's once
    // a retry of her unpair can no longer come (its expiry, PROTOCOL.md §11.8).
    clock.advance(1);
    await eventually(() => !relay.inbox(inboxId(alice))!.writers.includes(aliceCap));
    expect(relay.inbox(inboxId(bob))!.writers).toContain(bobCap);
    clock.advance(31 * 86_400);
    await eventually(
      () =>
        !relay.inbox(inboxId(alice))!.writers.includes(aliceCap) &&
        !relay.inbox(inboxId(bob))!.writers.includes(bobCap),
    );
    expect(relay.inbox(inboxId(alice))!.writers).not.toContain(aliceCap);
    expect(relay.inbox(inboxId(bob))!.writers).not.toContain(bobCap);
    await Promise.all([alice.stop(), bob.stop()]);
  });

  it('bob stopped during the unpair hears it when he starts again; a notice the relay dropped is posted again', async () => {
    const { relay, clock, alice, bob, bobHome } = await pair();
    await bob.stop();
    let dropped = 0;
    relay.dropPost = () => dropped++ === 0;
    expect((await alice.removePeer(bob.did)).notified).toBe(true);
    await eventually(() => dropped === 1 && alice.snapshot.outbox?.[0]?.attempts === 1);
    clock.advance(HOUR);
    await eventually(() => alice.snapshot.outbox?.[0]?.attempts === 2);
    const { agent: bob2 } = await agentOn(relay, clock, 'bob', bobHome);
    const heard = removals(bob2);
    await eventually(() => peerOf(bob2, alice) === undefined && (alice.snapshot.outbox ?? []).length === 0);
    expect(peerOf(bob2, alice)).toBeUndefined();
    expect(alice.snapshot.outbox).toEqual([]);
    expect(heard.map((r) => r.reason)).toEqual(['peer']);
    await Promise.all([alice.stop(), bob2.stop()]);
  });

  it('the same notice twice (a retry, a replay) is applied once: one peer.removed, one audit entry', async () => {
    const { relay, alice, bob } = await pair();
    const heard = removals(bob);
    // The relay delivers alice's unpair twice before bob has read the first.
    relay.holdPost = () => true;
    await alice.removePeer(bob.did);
    await eventually(() => relay.posts.length > 0 && alice.snapshot.outbox?.[0]?.attempts === 1);
    const unpair = alice.snapshot.outbox![0]!.bytes;
    relay.holdPost = () => false;
    relay.inject(inboxId(bob), unpair);
    relay.release();
    await eventually(() => peerOf(bob, alice) === undefined && (alice.snapshot.outbox ?? []).length === 0);
    // Later replays too (the pin is gone: refused as from an unknown sender).
    relay.inject(inboxId(bob), unpair);
    await eventually(() => (bob.snapshot.inbox?.readThrough ?? 0) >= 3);
    expect(heard).toHaveLength(1);
    expect(await auditEvents(bob, 'unpairedByPeer')).toHaveLength(1);
    await Promise.all([alice.stop(), bob.stop()]);
  });

  it('an unpair of an earlier pairing that the relay replays after the two paired again is a duplicate, not an unpair of the new pairing', async () => {
    const { relay, clock, alice, bob } = await pair();
    expect((await alice.pingPeer(bob.did, 5)).reachable).toBe(true);
    await alice.removePeer(bob.did);
    const oldUnpair = alice.snapshot.outbox![0]!.bytes;
    await eventually(() => peerOf(bob, alice) === undefined && (alice.snapshot.outbox ?? []).length === 0);
    // A day later they pair again; bob kept alice's counters, and alice's new sequence starts above.
    clock.advance(24 * HOUR);
    await pairOn(alice, bob);
    const heard = removals(bob);
    const read = bob.snapshot.inbox!.readThrough ?? 0;
    relay.inject(inboxId(bob), oldUnpair);
    await eventually(() => (bob.snapshot.inbox?.readThrough ?? 0) > read);
    expect(peerOf(bob, alice)).toBeDefined();
    expect(heard).toEqual([]);
    // And the new pairing's own notices still arrive: a ping, then an unpair.
    expect((await alice.pingPeer(bob.did, 5)).reachable).toBe(true);
    await alice.removePeer(bob.did);
    await eventually(() => peerOf(bob, alice) === undefined && heard.length > 0);
    expect(heard.map((r) => r.reason)).toEqual(['peer']);
    await Promise.all([alice.stop(), bob.stop()]);
  });

  it('a pairing’s first counter is never below its time, so an agent that kept nothing of an earlier pairing starts above the counters its peer kept', () => {
    const pairedAt = new Date(START * 1000).toISOString();
    expect(firstCounter({ pairedAt })).toBe(START);
    expect(firstCounter({ pairedAt, nextCounter: START + 5 })).toBe(START + 5);
    expect(firstCounter({ pairedAt, nextCounter: 7 })).toBe(START);
  });

  it('a notice from a stranger or from a removed peer is refused and changes nothing; garbage is skipped and trimmed', async () => {
    const { lines, log } = logLines();
    const { relay, clock, alice, bob } = await pair(undefined, undefined, log);
    // A stranger's unpair, sealed to bob and signed by a key he never pinned (a writer could post it).
    const random = (n: number) => new Uint8Array(randomBytes(n));
    const stranger = Identity.generate(random).identity;
    const bobCard = readVerifiedCard(peerOf(alice, bob)!.card);
    const notice = {
      sender: stranger.signing.publicKey,
      receiver: bobCard.signingKey,
      counter: 1,
      sentAt: START,
      expiresAt: START + HOUR,
      body: { kind: 'unpair' as const },
    };
    const before = JSON.stringify(bob.snapshot.peers);
    relay.inject(inboxId(bob), sealNotice(notice, stranger.signing, bobCard.agreementKey, random));
    relay.inject(inboxId(bob), new Uint8Array(300).fill(7));
    relay.inject(inboxId(bob), Uint8Array.of(1, 2, 3));
    await eventually(() => (bob.snapshot.inbox?.readThrough ?? 0) >= 3);
    expect(bob.snapshot.inbox?.readThrough).toBe(3);
    expect(JSON.stringify(bob.snapshot.peers)).toBe(before);
    expect(lines.some((l) => l.includes('"verdict":"unknownSender"') && l.includes('"kind":"unpair"'))).toBe(
      true,
    );
    clock.advance(1);
    await eventually(() => relay.inbox(inboxId(bob))!.held === 0);
    expect(relay.inbox(inboxId(bob))!.held).toBe(0);
    await eventually(() => bob.snapshot.inbox?.trimmedThrough === 3);
    // A removed peer: alice pings bob, the relay holds the ping, bob unpairs alice locally, then
    // the relay delivers it.
    relay.holdPost = () => true;
    const posted = relay.posts.length;
    const ping = alice.pingPeer(bob.did, 1);
    await eventually(() => relay.posts.length > posted);
    relay.holdPost = () => false;
    expect(await bob.removePeer(alice.did, true)).toEqual({ removed: true, notified: false });
    relay.release();
    expect(await ping).toEqual({ reachable: false });
    expect(lines.some((l) => l.includes('"verdict":"unknownSender"') && l.includes('"kind":"ping"'))).toBe(
      true,
    );
    expect(lines.join('\n')).not.toMatch(/stack/);
    await Promise.all([alice.stop(), bob.stop()]);
  });

  it('a ping is answered with its pong and notes the last contact', async () => {
    const { alice, bob } = await pair();
    expect(peerOf(alice, bob)!.lastContact).toBeUndefined();
    const pong = await alice.pingPeer(bob.did, 5);
    expect(pong.reachable).toBe(true);
    expect(pong.rttMs).toBeGreaterThanOrEqual(0);
    expect(peerOf(alice, bob)!.lastContact).toBe(new Date(START * 1000).toISOString());
    expect(peerOf(bob, alice)!.lastCounter).toBe(START);
    await Promise.all([alice.stop(), bob.stop()]);
  });

  it('alice restarted after saving her unpair and before it reached the relay reposts the same bytes; bob applies it once', async () => {
    const { relay, clock, alice, bob, aliceHome } = await pair();
    const heard = removals(bob);
    relay.failNext('post');
    await alice.removePeer(bob.did);
    await eventually(() => alice.snapshot.outbox?.[0]?.attempts === 1);
    const saved = alice.snapshot.outbox![0]!.bytes;
    expect(relay.posts.some((p) => b64(p) === b64(saved))).toBe(false);
    await alice.stop();
    const { agent: alice2 } = await agentOn(relay, clock, 'alice', aliceHome);
    expect(b64(alice2.snapshot.outbox![0]!.bytes)).toBe(b64(saved));
    clock.advance(HOUR);
    await eventually(() => peerOf(bob, alice2) === undefined && (alice2.snapshot.outbox ?? []).length === 0);
    expect(relay.posts.filter((p) => b64(p) === b64(saved))).toHaveLength(1);
    expect(heard.map((r) => r.reason)).toEqual(['peer']);
    await Promise.all([alice2.stop(), bob.stop()]);
  });

  it('16 notices wait for a peer at most: the 17th is refused to its caller with NOTICE_QUEUE_FULL', async () => {
    const { alice, bob } = await pair();
    await bob.stop();
    const pings = Array.from({ length: 16 }, () => alice.pingPeer(bob.did, 1));
    await expect(alice.pingPeer(bob.did, 1)).rejects.toMatchObject({ code: 'NOTICE_QUEUE_FULL' });
    expect(alice.snapshot.outbox).toHaveLength(16);
    expect(await Promise.all(pings)).toEqual(Array(16).fill({ reachable: false }));
    // Unanswered pings are not kept: the queue is free for an unpair.
    await eventually(() => (alice.snapshot.outbox ?? []).length === 0);
    expect((await alice.removePeer(bob.did)).notified).toBe(true);
    await alice.stop();
  });

  it('a peer without an inbox, or --local-only, is unpaired here only and keeps its pin', async () => {
    const relay = new FakeRelay();
    const clock = new ManualClock(START);
    const { agent: alice } = await agentOn(relay, clock, 'alice');
    const { agent: bob } = await agentOn(relay, clock, 'bob');
    await pairOn(alice, bob);
    expect(await alice.removePeer(bob.did, true)).toEqual({ removed: true, notified: false });
    clock.advance(HOUR);
    expect(alice.snapshot.outbox ?? []).toEqual([]);
    expect(peerOf(bob, alice)).toBeDefined();
    relay.keepsInboxes = false;
    const { agent: old } = await agentOn(relay, clock, 'old');
    const invite = await alice.createInvite({});
    await old.startAccept(invite.url!, false);
    await eventually(() => peerOf(alice, old)?.confirmed === true && peerOf(old, alice) !== undefined);
    expect(peerOf(alice, old)!.inbox).toBeUndefined();
    expect(await alice.removePeer(old.did)).toEqual({ removed: true, notified: false });
    expect(peerOf(old, alice)).toBeDefined();
    await Promise.all([alice.stop(), bob.stop(), old.stop()]);
  });

  it('a restart reads the inbox from after what was read and saved, not again from the start', async () => {
    const { relay, clock, alice, bob, bobHome } = await pair();
    // The relay keeps what bob read (his trims fail), so a restart could read it again.
    relay.failNext('trimInbox');
    relay.failNext('trimInbox');
    expect((await alice.pingPeer(bob.did, 5)).reachable).toBe(true);
    expect(relay.inbox(inboxId(bob))!.held).toBe(1);
    const readThrough = bob.snapshot.inbox!.readThrough;
    await bob.stop();
    const { agent: bob2 } = await agentOn(relay, clock, 'bob', bobHome);
    expect(bob2.snapshot.inbox!.readThrough).toBe(readThrough);
    expect((await alice.pingPeer(bob2.did, 5)).reachable).toBe(true);
    // Read again from the start, the first ping would have been receipted a second time.
    const receipts = (await auditEvents(alice, 'noticeReceived')).filter((e) => e.notice === 'receipt');
    expect(receipts).toHaveLength(2);
    expect(peerOf(bob2, alice)!.lastCounter).toBe(START + 1);
    await Promise.all([alice.stop(), bob2.stop()]);
  });

  it('a flood of 1,000 messages that do not open is read, skipped and trimmed; a ping behind it is answered', async () => {
    const { relay, clock, alice, bob } = await pair();
    for (let i = 0; i < 1000; i++) relay.inject(inboxId(bob), new Uint8Array(randomBytes(200 + (i % 300))));
    expect((await alice.pingPeer(bob.did, 30)).reachable).toBe(true);
    expect(bob.snapshot.inbox!.readThrough).toBe(1001);
    clock.advance(1);
    await eventually(() => relay.inbox(inboxId(bob))!.held === 0);
    expect(relay.inbox(inboxId(bob))!.held).toBe(0);
    expect(peerOf(bob, alice)).toBeDefined();
    await Promise.all([alice.stop(), bob.stop()]);
  });
});
