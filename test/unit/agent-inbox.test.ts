import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import { INBOX_RENEW_BELOW_SECONDS, INBOX_TTL_SECONDS } from '../../agent/agent-inbox.js';
import type { RelayTransport, RelayTransportHandlers } from '../../agent/relay-transport.js';
import type { PeerRecord } from '../../agent/state/agent-state.js';
import { encodeBase64url } from '../../src/encoding/base64url.js';
import { toHex } from '../../src/encoding/hex.js';
import { FRAME_TYPE } from '../../src/handshake/frames.js';
import { FakeRelay, ManualClock } from '../support/fake-relay.js';
import { agentOn, eventually, logLines } from '../support/hosted-agent.js';

/**
 * The agent's inbox (issue #27; PROTOCOL.md §11.1, RELAY.md Inboxes) with a real Agent on the fake
 * relay and a manual clock: made at start, handed to each peer with a capability of its own that
 * the relay then takes as a writer, kept alive, made again when the relay loses it.
 */
const START = 1_800_000_000;
const b64 = (bytes: Uint8Array | undefined) => (bytes ? encodeBase64url(bytes) : undefined);

async function pairOn(issuer: Agent, acceptor: Agent) {
  const invite = await issuer.createInvite({});
  await acceptor.startAccept(invite.url!, false);
  await eventually(
    () =>
      issuer.snapshot.peers.some((p) => p.did === acceptor.did && p.confirmed) &&
      acceptor.snapshot.peers.some((p) => p.did === issuer.did),
  );
  expect(issuer.snapshot.peers.find((p) => p.did === acceptor.did)?.confirmed).toBe(true);
}

const peerOf = (agent: Agent, other: Agent): PeerRecord =>
  agent.snapshot.peers.find((p) => p.did === other.did)!;
const inboxOf = (agent: Agent) => agent.snapshot.inbox;
const writersOf = (relay: FakeRelay, agent: Agent) =>
  [...(relay.inbox(b64(inboxOf(agent)?.mailboxId)!)?.writers ?? [])].sort();

/** Until every handed capability is a writer at the relay. */
const writersSettled = (...agents: Agent[]) =>
  agents.every((a) => a.snapshot.peers.every((p) => p.writerAdded !== false));

/** A fake relay that runs `onInboxMade` the moment it has made an inbox (to copy a disk then: a crash). */
class WatchedRelay extends FakeRelay {
  onInboxMade: (() => void) | null = null;
  override transport(handlers: RelayTransportHandlers): RelayTransport {
    const transport = super.transport(handlers);
    const createInbox = transport.createInbox.bind(transport);
    transport.createInbox = async (...args) => {
      const made = await createInbox(...args);
      this.onInboxMade?.();
      return made;
    };
    return transport;
  }
}

describe("the agent's inbox", () => {
  it('both agents make an inbox; each pin holds the other’s inbox and commitment and the capability handed to it, and the relay has exactly those writers', async () => {
    const relay = new FakeRelay();
    const clock = new ManualClock(START);
    const { agent: alice } = await agentOn(relay, clock, 'alice');
    const { agent: bob } = await agentOn(relay, clock, 'bob');
    await eventually(() => relay.inboxIds.length === 2);
    expect(relay.inboxIds.sort()).toEqual(
      [b64(inboxOf(alice)?.mailboxId), b64(inboxOf(bob)?.mailboxId)].sort(),
    );
    await pairOn(alice, bob);
    await eventually(() => writersSettled(alice, bob));
    const bobAtAlice = peerOf(alice, bob);
    const aliceAtBob = peerOf(bob, alice);
    // Each holds the other's inbox, with the very capability the other handed it.
    expect(b64(bobAtAlice.inbox?.mailboxId)).toBe(b64(inboxOf(bob)?.mailboxId));
    expect(b64(aliceAtBob.inbox?.mailboxId)).toBe(b64(inboxOf(alice)?.mailboxId));
    expect(b64(bobAtAlice.inbox?.writeCapability)).toBe(b64(aliceAtBob.handedWriteCapability));
    expect(b64(aliceAtBob.inbox?.writeCapability)).toBe(b64(bobAtAlice.handedWriteCapability));
    expect(bobAtAlice.inbox?.relayUrl).toBe('http://relay.test');
    expect(bobAtAlice.nextKeyCommitment).toHaveLength(32);
    expect(aliceAtBob.nextKeyCommitment).toHaveLength(32);
    expect(b64(bobAtAlice.nextKeyCommitment)).not.toBe(b64(aliceAtBob.nextKeyCommitment));
    expect(writersOf(relay, alice)).toEqual([b64(bobAtAlice.handedWriteCapability)]);
    expect(writersOf(relay, bob)).toEqual([b64(aliceAtBob.handedWriteCapability)]);
    // Both frames went over the relay: each side's inbox frame before its welcome and its ack.
    const types = relay.posts.map((p) => p[1]);
    expect(types.filter((t) => t === FRAME_TYPE.inbox)).toHaveLength(2);
    await Promise.all([alice.stop(), bob.stop()]);
  });

  it('the commitment stays across a restart; a peer that hands no inbox is pinned without one, and the relay that keeps none is said once', async () => {
    const relay = new FakeRelay();
    const clock = new ManualClock(START);
    // Alice's relay is an older one when she starts: she hands over no inbox, as an old peer.
    relay.keepsInboxes = false;
    const { lines, log } = logLines();
    const { agent: alice } = await agentOn(relay, clock, 'alice', undefined, log);
    await eventually(() => lines.some((l) => l.includes('keeps no inboxes')));
    relay.keepsInboxes = true;
    const { agent: bob, home } = await agentOn(relay, clock, 'bob');
    await eventually(() => relay.inboxIds.length === 1);
    await pairOn(alice, bob); // alice issues: she sends none, so bob sends none
    const commitment = b64(peerOf(bob, alice).nextKeyCommitment);
    expect(commitment).toBeUndefined();
    expect(peerOf(alice, bob).inbox).toBeUndefined();
    expect(peerOf(bob, alice).inbox).toBeUndefined();
    expect(peerOf(bob, alice).handedWriteCapability).toBeUndefined();
    await bob.stop();
    const { agent: bobAgain } = await agentOn(relay, clock, 'bob', home);
    const { agent: carol } = await agentOn(relay, clock, 'carol');
    await pairOn(bobAgain, carol);
    await pairOn(carol, alice); // carol hands hers; alice hands none back
    await eventually(() => writersSettled(bobAgain, carol));
    expect(peerOf(alice, carol).inbox).toBeDefined();
    expect(peerOf(carol, alice).inbox).toBeUndefined();
    // Bob's commitment, made once, is the one carol got after bob's restart.
    const bobInboxFrameCommitment = b64(peerOf(carol, bobAgain).nextKeyCommitment);
    const { agent: dave } = await agentOn(relay, clock, 'dave');
    await pairOn(bobAgain, dave);
    expect(b64(peerOf(dave, bobAgain).nextKeyCommitment)).toBe(bobInboxFrameCommitment);
    expect(lines.filter((l) => l.includes('keeps no inboxes'))).toHaveLength(1);
    await Promise.all([alice.stop(), bobAgain.stop(), carol.stop(), dave.stop()]);
  });

  it('a relay that lost the inbox: made again under the same id, every writer added again', async () => {
    const relay = new FakeRelay();
    const clock = new ManualClock(START);
    const { agent: alice } = await agentOn(relay, clock, 'alice');
    const { agent: bob } = await agentOn(relay, clock, 'bob');
    await pairOn(alice, bob);
    await eventually(() => writersSettled(alice, bob) && writersOf(relay, alice).length === 1);
    const before = { id: b64(inboxOf(alice)?.mailboxId), writers: writersOf(relay, alice) };
    expect(before.writers).toEqual([b64(peerOf(alice, bob).handedWriteCapability)]);
    relay.loseEverything(); // a memory relay's restart: the watch answers not_found
    await eventually(() => writersOf(relay, alice).length === 1 && writersOf(relay, bob).length === 1);
    expect(b64(inboxOf(alice)?.mailboxId)).toBe(before.id);
    expect(writersOf(relay, alice)).toEqual(before.writers);
    await Promise.all([alice.stop(), bob.stop()]);
  });

  it('a crash while the relay makes the lost inbox again: the agent started from its disk makes it again with every writer', async () => {
    const relay = new WatchedRelay();
    const clock = new ManualClock(START);
    const { agent: alice, home } = await agentOn(relay, clock, 'alice');
    const { agent: bob } = await agentOn(relay, clock, 'bob');
    await pairOn(alice, bob);
    await eventually(() => writersSettled(alice, bob) && writersOf(relay, alice).length === 1);
    const bobsCapability = b64(peerOf(alice, bob).handedWriteCapability);
    // The relay loses everything; alice's disk is copied the moment it has her inbox again, and
    // she dies before adding any writer to it.
    const crashed = mkdtempSync(join(tmpdir(), 'pl-host-alice-crashed-'));
    let copied = false;
    relay.onInboxMade = () => {
      relay.onInboxMade = null;
      cpSync(home, crashed, { recursive: true });
      copied = true;
    };
    relay.failNext('addInboxWriter');
    relay.loseEverything();
    await eventually(() => copied && relay.failuresPending === 0);
    expect(copied).toBe(true);
    await alice.stop();
    expect(writersOf(relay, alice)).toEqual([]);
    // Started from that disk, she finds the inbox at the relay: bob must be its writer again.
    const { agent: back } = await agentOn(relay, clock, 'alice', crashed);
    await eventually(() => writersOf(relay, back).length === 1);
    expect(writersOf(relay, back)).toEqual([bobsCapability]);
    await Promise.all([back.stop(), bob.stop()]);
  });

  it('a loss heard over HTTP before the watch heard it: the inbox made again is watched from its first message', async () => {
    const relay = new FakeRelay();
    const clock = new ManualClock(START);
    const { lines, log } = logLines();
    const { agent: alice } = await agentOn(relay, clock, 'alice', undefined, log);
    const { agent: bob } = await agentOn(relay, clock, 'bob');
    await pairOn(alice, bob);
    await eventually(() => writersSettled(alice, bob));
    // A ping: alice's watch is past her inbox's first message, and she trimmed it.
    expect((await bob.pingPeer(alice.did, 5)).reachable).toBe(true);
    clock.advance(1);
    await eventually(() => inboxOf(alice)?.trimmedThrough === 1);
    // The relay restarts; the renewal, not the watch, finds alice's inbox gone, and she makes it again.
    relay.loseEverything(false);
    clock.advance(INBOX_TTL_SECONDS - INBOX_RENEW_BELOW_SECONDS + 1);
    await eventually(() => lines.some((l) => l.includes('INVITE_NOT_FOUND')));
    clock.advance(60);
    await eventually(() => writersOf(relay, alice).length === 1);
    // Its first message is bob's unpair.
    expect(await bob.removePeer(alice.did)).toEqual({ removed: true, notified: true });
    await eventually(() => alice.snapshot.peers.length === 0);
    expect(alice.snapshot.peers).toEqual([]);
    await Promise.all([alice.stop(), bob.stop()]);
  });

  it('a pairing again hands the capability the peer holds: one writer per peer, none added or revoked, on either side', async () => {
    const relay = new FakeRelay();
    const clock = new ManualClock(START);
    const { agent: alice } = await agentOn(relay, clock, 'alice');
    const { agent: bob } = await agentOn(relay, clock, 'bob');
    await pairOn(alice, bob);
    await eventually(() => writersSettled(alice, bob));
    const first = [peerOf(alice, bob).handedWriteCapability, peerOf(bob, alice).handedWriteCapability];
    const opsBefore = relay.writerOps;
    await pairOn(bob, alice); // again, the other way round
    await pairOn(alice, bob); // and again
    clock.advance(1); // a tick: anything owed would be revoked now
    await eventually(() => writersSettled(alice, bob));
    expect({
      handed: [b64(peerOf(alice, bob).handedWriteCapability), b64(peerOf(bob, alice).handedWriteCapability)],
      revoking: [alice, bob].map((a) => inboxOf(a)?.revoking ?? []),
      kept: [peerOf(alice, bob).handedBefore, peerOf(bob, alice).handedBefore],
      writers: [writersOf(relay, alice), writersOf(relay, bob)],
      writerOps: relay.writerOps - opsBefore,
    }).toEqual({
      handed: first.map(b64),
      revoking: [[], []],
      kept: [undefined, undefined],
      writers: [[b64(first[0])], [b64(first[1])]],
      writerOps: 0,
    });
    await Promise.all([alice.stop(), bob.stop()]);
  });

  it('renews the inbox well before it lapses', async () => {
    const clock = new ManualClock(START);
    const relay = new FakeRelay(clock);
    const { agent } = await agentOn(relay, clock, 'alice');
    await eventually(() => inboxOf(agent) !== undefined);
    const made = inboxOf(agent)!.expiresAt;
    expect(made).toBe(START + INBOX_TTL_SECONDS);
    clock.advance(INBOX_TTL_SECONDS - INBOX_RENEW_BELOW_SECONDS - 10); // not yet due
    expect(inboxOf(agent)!.expiresAt).toBe(made);
    clock.advance(20); // due: less than the renewal margin is left
    await eventually(() => inboxOf(agent)!.expiresAt > made);
    expect(inboxOf(agent)!.expiresAt).toBe(clock.seconds + INBOX_TTL_SECONDS);
    expect(relay.inbox(b64(inboxOf(agent)!.mailboxId)!)?.expiresAt).toBe(inboxOf(agent)!.expiresAt);
    await agent.stop();
  });

  it('a restart between the pin and the welcome hands the peer the same capability, and no second writer', async () => {
    const relay = new FakeRelay();
    const clock = new ManualClock(START);
    const { agent: alice, home } = await agentOn(relay, clock, 'alice');
    const { agent: bob } = await agentOn(relay, clock, 'bob');
    await eventually(() => relay.inboxIds.length === 2);
    // The relay loses alice's inbox frame and welcome: she has pinned, and crashes before they land.
    relay.dropPost = (body) => body[1] === FRAME_TYPE.inbox || body[1] === FRAME_TYPE.welcome;
    const invite = await alice.createInvite({});
    await bob.startAccept(invite.url!, false);
    await eventually(
      () => alice.snapshot.peers.length === 1 && relay.posts.some((p) => p[1] === FRAME_TYPE.welcome),
    );
    const handed = b64(alice.snapshot.peers[0]!.handedWriteCapability);
    await alice.stop();
    relay.dropPost = () => false;
    const { agent: back } = await agentOn(relay, clock, 'alice', home);
    await eventually(() => bob.snapshot.peers.length === 1 && back.snapshot.peers[0]?.confirmed === true);
    await eventually(() => writersSettled(back));
    expect(b64(peerOf(bob, back).inbox?.writeCapability)).toBe(handed);
    expect(b64(peerOf(back, bob).handedWriteCapability)).toBe(handed);
    expect(writersOf(relay, back)).toEqual([handed]);
    await Promise.all([back.stop(), bob.stop()]);
  });

  it('no capability reaches the log', async () => {
    const relay = new FakeRelay();
    const clock = new ManualClock(START);
    const { lines, log } = logLines();
    const { agent: alice } = await agentOn(relay, clock, 'alice', undefined, log);
    const { agent: bob } = await agentOn(relay, clock, 'bob', undefined, log);
    await pairOn(alice, bob);
    relay.loseEverything();
    await eventually(() => writersOf(relay, alice).length === 1 && writersSettled(alice, bob));
    await Promise.all([alice.stop(), bob.stop()]);
    expect(lines.some((l) => l.includes('lost the inbox'))).toBe(true);
    const secrets = [alice, bob].flatMap((a) => [
      a.snapshot.inbox!.readCapability,
      ...a.snapshot.peers.flatMap((p) => [p.handedWriteCapability!, p.inbox!.writeCapability]),
    ]);
    const text = lines.join('\n');
    for (const secret of secrets) {
      expect(text).not.toContain(encodeBase64url(secret));
      expect(text).not.toContain(toHex(secret));
      expect(text).not.toContain(Buffer.from(secret).toString('base64'));
    }
  });
});
