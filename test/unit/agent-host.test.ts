import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DurableState } from '../../agent/state/durable-state.js';
import { acceptorDeadline } from '../../src/handshake/deadlines.js';
import { FRAME_TYPE } from '../../src/handshake/frames.js';
import { FakeRelay, ManualClock } from '../support/fake-relay.js';
import { agentOn, eventually } from '../support/hosted-agent.js';

/**
 * The Agent as a host of the machines, with a fake relay and a manual clock: effects after a
 * failure, retries, deadlines and restarts, without sleeps or processes. (The handshake
 * machines' own cases are in handshake-faults.test.ts.)
 */
const posted = (relay: FakeRelay) => relay.posts.map((p) => p[1]);

describe('the agent hosting the machines (fake relay, manual clock)', () => {
  it('a failed reply-box open stops the hello; the retry opens it, sends the hello, and the pairing completes', async () => {
    const relay = new FakeRelay();
    const clock = new ManualClock(1_800_000_000);
    const { agent: alice } = await agentOn(relay, clock, 'alice');
    const { agent: bob } = await agentOn(relay, clock, 'bob');
    const invite = await alice.createInvite({});
    relay.failNext('createMailbox');
    const accept = await bob.startAccept(invite.url!, false);
    await eventually(() => relay.failuresPending === 0); // the open was tried, and failed
    expect(posted(relay)).toEqual([]); // nothing ran after the failed open
    clock.advance(2);
    await eventually(() => alice.snapshot.peers[0]?.confirmed === true && bob.snapshot.accepts.length === 0);
    expect(bob.findAccept(accept.id).acceptor.phase).toBe('paired');
    // Each side's inbox frame (PROTOCOL.md §11.1) goes just before its welcome and its ack.
    expect(posted(relay)).toEqual([
      FRAME_TYPE.hello,
      FRAME_TYPE.reply,
      FRAME_TYPE.confirm,
      FRAME_TYPE.inbox,
      FRAME_TYPE.welcome,
      FRAME_TYPE.inbox,
      FRAME_TYPE.ack,
    ]);
    expect(alice.snapshot.peers.map((p) => [p.name, p.confirmed])).toEqual([['bob', true]]);
    expect(bob.snapshot.peers.map((p) => [p.name, p.confirmed])).toEqual([['alice', true]]);
    await Promise.all([alice.stop(), bob.stop()]);
  });

  it('a relay that loses every hello: resends with backoff, then TIMEOUT at the deadline, nothing pinned', async () => {
    const relay = new FakeRelay();
    const clock = new ManualClock(1_800_000_000);
    const { agent: alice } = await agentOn(relay, clock, 'alice');
    const { agent: bob } = await agentOn(relay, clock, 'bob');
    const invite = await alice.createInvite({ ttlSeconds: 60 });
    relay.dropPost = () => true;
    const accept = await bob.startAccept(invite.url!, false);
    // Each tick comes once the post before it went out: a tick before that would find nothing due.
    await eventually(() => relay.posts.length === 1);
    for (const [i, step] of [2, 4, 8, 16].entries()) {
      clock.advance(step);
      await eventually(() => relay.posts.length === i + 2);
    }
    expect(posted(relay)).toEqual([1, 1, 1, 1, 1]); // the hello, and four resends at 2, 4, 8, 16 s
    clock.seconds = acceptorDeadline(invite.issuer.expiresAt) - 1;
    clock.advance(1);
    await eventually(() => bob.snapshot.accepts.length === 0);
    expect(bob.findAccept(accept.id).acceptor.failure).toBe('TIMEOUT');
    expect(bob.snapshot.accepts).toHaveLength(0); // final, so in the history
    expect([alice.snapshot.peers, bob.snapshot.peers]).toEqual([[], []]);
    await Promise.all([alice.stop(), bob.stop()]);
  });

  it('a failed save rejects its waiters (so no effect runs) and the next save writes it after all', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pl-save-'));
    const file = join(dir, 'state.json');
    const key = new Uint8Array(32).fill(3);
    const initial = () => ({
      version: 1 as const,
      name: 'a',
      createdAt: 1,
      peers: [],
      invites: [],
      accepts: [],
    });
    const state = await DurableState.load(file, key, initial);
    rmSync(dir, { recursive: true }); // the first save (a snapshot) has nowhere to go
    state.update((s) => ({ ...s, name: 'renamed' }));
    await expect(state.persist()).rejects.toThrow();
    mkdirSync(dir, { mode: 0o700 });
    await state.persist();
    await state.close();
    const reloaded = await DurableState.load(file, key, initial);
    expect(reloaded.state.name).toBe('renamed');
    await reloaded.close();
  });

  it('a save that fails while the relay is still creating the mailbox fails invite.create, and nothing is left unhandled', async () => {
    const relay = new FakeRelay();
    const clock = new ManualClock(1_800_000_000);
    const { agent, home } = await agentOn(relay, clock, 'ann');
    // A long label takes the log past 1 MiB, so the next save compacts: into a directory that is
    // gone, so it fails at once, as a save does on a full disk.
    await agent.createInvite({ label: 'x'.repeat(1_200_000) });
    rmSync(home, { recursive: true });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const release = relay.holdCreateMailbox();
      const outcome = agent.createInvite({}).then(
        () => null,
        (error: Error) => error,
      );
      // The save starts on the next turn and fails there; Node reports an unhandled rejection
      // after that turn. Only then does the relay answer.
      for (let turn = 0; turn < 3; turn++) await new Promise((r) => setImmediate(r));
      release();
      expect(await outcome).toMatchObject({ code: 'ENOENT' });
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    mkdirSync(home, { mode: 0o700 });
    await agent.stop();
  });

  it('a relay that lost its state: the link invite and the reply box are re-created, and the pairing completes', async () => {
    const relay = new FakeRelay();
    const clock = new ManualClock(1_800_000_000);
    const { agent: alice } = await agentOn(relay, clock, 'alice');
    const { agent: bob } = await agentOn(relay, clock, 'bob');
    const invite = await alice.createInvite({});
    relay.dropPost = (body) => body[1] === FRAME_TYPE.reply;
    const accept = await bob.startAccept(invite.url!, false);
    await eventually(() => posted(relay).includes(FRAME_TYPE.reply)); // sent, and lost
    relay.loseEverything();
    relay.dropPost = () => false;
    // Both agents hear their mailboxes are gone and open them again, before the tick resends.
    await eventually(() => relay.mailboxCount === 2);
    clock.advance(2);
    await eventually(() => alice.snapshot.peers[0]?.confirmed === true);
    expect(bob.findAccept(accept.id).acceptor.phase).toBe('paired');
    expect(alice.snapshot.peers.map((p) => [p.name, p.confirmed])).toEqual([['bob', true]]);
    await Promise.all([alice.stop(), bob.stop()]);
  });
});

describe('a memory relay that restarted while the acceptor ran', () => {
  it('restarted less than a second after the acceptor started: the hello that finds the link gone waits for the issuer to put it back', async () => {
    // The clock near real time: the relay's answer is compared with when the agent started.
    const relay = new FakeRelay();
    const clock = new ManualClock(Math.floor(Date.now() / 1000));
    const { agent: alice, home } = await agentOn(relay, clock, 'alice');
    const { agent: bob } = await agentOn(relay, clock, 'bob');
    const invite = await alice.createInvite({});
    await alice.stop();
    // The relay restarts 1 ms after bob started, in the same second (a fast machine): it lost
    // the link's mailbox, and nobody puts it back before bob's hello comes.
    relay.loseEverything();
    relay.storeSinceMs = bob.startedAt.getTime() + 1;
    const accept = await bob.startAccept(invite.url!, false);
    await eventually(() => bob.findAccept(accept.id).acceptor.relayLost === true);
    expect(bob.findAccept(accept.id).acceptor.phase).not.toBe('failed');
    const { agent: back } = await agentOn(relay, clock, 'alice', home);
    await eventually(() => relay.mailboxCount === 2); // the issuer put the link's mailbox back
    clock.advance(2);
    await eventually(() => back.snapshot.peers[0]?.confirmed === true);
    expect(bob.snapshot.peers.map((p) => [p.name, p.confirmed])).toEqual([['alice', true]]);
    await Promise.all([back.stop(), bob.stop()]);
  });
});

describe('events and the audit log agree with the pins', () => {
  it('an ack the relay releases after the operator unpaired an unconfirmed peer: no "paired" event or entry after "unpaired"', async () => {
    const relay = new FakeRelay();
    const clock = new ManualClock(1_800_000_000);
    const { agent: alice } = await agentOn(relay, clock, 'alice');
    const { agent: bob } = await agentOn(relay, clock, 'bob');
    const statuses: string[] = [];
    alice.onProgress((p) => statuses.push(p.status));
    alice.onPeerRemoved(() => statuses.push('unpaired'));
    const invite = await alice.createInvite({});
    relay.holdPost = (body) => body[1] === FRAME_TYPE.ack;
    await bob.startAccept(invite.url!, false);
    // Alice pinned bob (unconfirmed) and welcomed him; bob pinned alice and sent his ack, which waits.
    await eventually(() => relay.posts.some((p) => p[1] === FRAME_TYPE.ack));
    expect(alice.snapshot.peers.map((p) => [p.name, p.confirmed])).toEqual([['bob', false]]);
    expect(await alice.removePeer(bob.did)).toMatchObject({ removed: true });
    relay.release();
    await eventually(() => alice.snapshot.invites.length === 0); // the invite has nothing left to wait for
    // Its last report: a late "paired" would come before it, from the same steps.
    await eventually(() => statuses.includes('failed'));
    expect(alice.snapshot.peers).toEqual([]);
    // What the invite reports after the unpair: its session ended, nothing paired.
    expect(statuses.slice(statuses.indexOf('unpaired'))).toEqual(['unpaired', 'failed']);
    const events = (await alice.history(undefined, 100)).entries.map((e) => [e.event, e.code]);
    expect(events.slice(events.findIndex(([e]) => e === 'unpaired'))).toEqual([
      ['unpaired', undefined],
      ['failed', 'PEER_REMOVED'],
    ]);
    await Promise.all([alice.stop(), bob.stop()]);
  });
});
