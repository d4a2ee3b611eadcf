import { describe, expect, it } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import type { PeerRemoved } from '../../src/rpc/protocol.js';
import { FakeRelay, ManualClock } from '../support/fake-relay.js';
import { agentOn, eventually } from '../support/hosted-agent.js';

/**
 * The receipt of an unpair lost (PROTOCOL.md §11.4: "a lost receipt costs one more retry, which is
 * answered again"): the side that applied the unpair no longer pins its sender, yet must still
 * take and receipt the retry, also after a memory relay lost both inboxes. Found by the fault
 * suite (test/support/fault-notices.ts): seed 23, the unpaired side crashed right after it applied
 * the unpair, and seed 147, a memory relay restarted before the receipt came back, each ended
 * "still awaiting receipt after 12 hours of retries"; seeds 2111 and 2170 ended so after an
 * unanswered ping, the mark of a receipt path that never opened: an unpair of a peer whose writer
 * the relay had not yet taken left it out for good (the third test).
 */
const START = 1_800_000_000;
/** Past any retry's backoff (at most an hour, §11.4). */
const HOUR = 3600;

const pins = (agent: Agent, other: Agent) => agent.snapshot.peers.some((p) => p.did === other.did);
const queued = (agent: Agent) => (agent.snapshot.outbox ?? []).length;

/** Alice and bob paired; with `writersFail`, neither has added the other as a writer yet. */
async function paired(writersFail = false) {
  const relay = new FakeRelay();
  const clock = new ManualClock(START);
  const { agent: alice } = await agentOn(relay, clock, 'alice');
  const { agent: bob } = await agentOn(relay, clock, 'bob');
  if (writersFail) for (const _ of [alice, bob]) relay.failNext('addInboxWriter');
  const invite = await alice.createInvite({});
  await bob.startAccept(invite.url!, false);
  const added = (p: { writerAdded?: boolean }) => (writersFail ? p.writerAdded === false : p.writerAdded);
  await eventually(
    () =>
      alice.snapshot.peers.some((p) => p.did === bob.did && p.confirmed && added(p)) &&
      bob.snapshot.peers.some((p) => p.did === alice.did && added(p)) &&
      relay.failuresPending === 0,
  );
  expect(relay.failuresPending).toBe(0);
  const heard: PeerRemoved[] = [];
  bob.onPeerRemoved((r) => heard.push(r));
  return { relay, clock, alice, bob, heard };
}

const attempts = (agent: Agent) => agent.snapshot.outbox?.[0]?.attempts ?? 0;

/** Moves the clock an hour at a time (bounded) so alice retries, until her outbox is empty. */
async function retryUntilReceipted(clock: ManualClock, alice: Agent): Promise<void> {
  for (let round = 0; round < 4 && queued(alice) > 0; round++) {
    const before = attempts(alice);
    clock.advance(HOUR);
    await eventually(() => queued(alice) === 0 || attempts(alice) > before);
  }
  await eventually(() => queued(alice) === 0);
}

describe('a lost receipt of an unpair', () => {
  it('the relay drops bob’s receipt: alice’s retry is receipted again, bob applies the unpair once', async () => {
    const { relay, clock, alice, bob, heard } = await paired();
    let dropped = 0;
    // Bob's first post once he no longer pins alice is his receipt.
    relay.dropPost = () => !pins(bob, alice) && dropped++ === 0;
    expect(await alice.removePeer(bob.did)).toEqual({ removed: true, notified: true });
    await eventually(() => dropped === 1);
    expect(dropped).toBe(1);
    expect(queued(alice)).toBe(1);
    await retryUntilReceipted(clock, alice);
    expect(queued(alice)).toBe(0);
    expect(heard.map((r) => r.reason)).toEqual(['peer']);
    const byPeer = (await bob.history(undefined, 1000)).entries.filter((e) => e.event === 'unpairedByPeer');
    expect(byPeer).toHaveLength(1);
    // Past the unpair's expiry bob forgets alice and revokes her capability to his inbox.
    const aliceCap = Buffer.from(bob.snapshot.inbox!.unpairedBy![0]!.peer.handedWriteCapability!);
    clock.advance(31 * 86_400);
    await eventually(() => (bob.snapshot.inbox?.unpairedBy ?? []).length === 0);
    const bobInbox = Buffer.from(bob.snapshot.inbox!.mailboxId).toString('base64url');
    await eventually(() => !relay.inbox(bobInbox)!.writers.includes(aliceCap.toString('base64url')));
    expect(relay.inbox(bobInbox)!.writers).not.toContain(aliceCap.toString('base64url'));
    await Promise.all([alice.stop(), bob.stop()]);
  });

  it('the memory relay loses everything as bob receipts: both inboxes made again, the retry still receipted', async () => {
    const { relay, clock, alice, bob, heard } = await paired();
    let lost = false;
    relay.dropPost = () => {
      if (lost || pins(bob, alice)) return false;
      lost = true;
      relay.loseEverything();
      return true;
    };
    expect((await alice.removePeer(bob.did)).notified).toBe(true);
    await eventually(() => lost && relay.inboxIds.length === 2);
    expect(relay.inboxIds).toHaveLength(2);
    await retryUntilReceipted(clock, alice);
    expect(queued(alice)).toBe(0);
    expect(heard.map((r) => r.reason)).toEqual(['peer']);
    await Promise.all([alice.stop(), bob.stop()]);
  });

  it('alice unpairs bob before her relay took him as a writer: his receipt still gets in', async () => {
    const { clock, alice, bob, heard } = await paired(true);
    expect(alice.snapshot.peers[0]?.writerAdded).toBe(false);
    expect((await alice.removePeer(bob.did)).notified).toBe(true);
    await retryUntilReceipted(clock, alice);
    expect(pins(bob, alice)).toBe(false);
    expect(queued(alice)).toBe(0);
    expect(heard.map((r) => r.reason)).toEqual(['peer']);
    await Promise.all([alice.stop(), bob.stop()]);
  });
});
