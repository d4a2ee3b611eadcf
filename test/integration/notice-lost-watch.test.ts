import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { FileKeystore } from '../../agent/keystore/file-keystore.js';
import { RelayConnection } from '../../relay/client/relay-connection.js';
import { ManualClock } from '../support/fake-relay.js';
import { FaultRelay } from '../support/fault-relay.js';
import { waitFor } from '../support/wait-for.js';

/**
 * Issue #27, the fault suite's stuck unpairs: an agent's inbox watch is one WebSocket frame, and a
 * lossy path (the fault proxy's drops) can lose it while the socket itself stays up and answers
 * pings. Nothing then ever reaches the inbox: the unpaired side keeps its pin with `last 0`, and
 * the unpairing side waits for a receipt that never comes, both for good. Two real agents on a
 * real memory relay behind a FaultProxy that drops every watch frame after a cut; the clock is a
 * manual one, so the agents do nothing on their own until it moves.
 */
const root = mkdtempSync(join(tmpdir(), 'pl-lost-watch-'));
const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const stop of cleanup.reverse()) await stop();
  rmSync(root, { recursive: true, force: true });
});

async function agentOn(relayUrl: string, name: string, clock: ManualClock): Promise<Agent> {
  const home = join(root, name);
  const agent = await Agent.start({
    stateFile: join(home, 'state.json'),
    keystore: await FileKeystore.open(join(home, 'keystore.json'), `passphrase of ${name}`),
    relayUrl,
    name,
    logger: pino({ level: 'silent' }),
    clock,
    transport: (url, handlers) => new RelayConnection(url, handlers),
  });
  cleanup.push(() => agent.stop());
  return agent;
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');

describe('an inbox watch the network lost', () => {
  it('is read again as the clock moves on: the unpair is heard and its receipt comes back', {
    timeout: 60_000,
  }, async () => {
    const relay = await FaultRelay.start({ seed: 27, redisPrefix: 'lost-watch:' });
    cleanup.push(() => relay.close());
    const clock = new ManualClock(Math.floor(Date.now() / 1000));
    const [alice, bob] = [await agentOn(relay.url, 'alice', clock), await agentOn(relay.url, 'bob', clock)];
    const invite = await alice.createInvite({ format: 'url', ttlSeconds: 600 });
    await bob.startAccept(invite.url!, false);
    await waitFor(
      () =>
        alice.snapshot.peers[0]?.confirmed === true &&
        [alice, bob].every((a) => a.snapshot.peers[0]?.writerAdded === true),
      'both paired, confirmed, and each writer at the relay',
    );

    // The path loses every watch frame: a cut makes both sockets watch their inboxes again, in vain.
    const inboxes = [alice, bob].map((a) => b64(a.snapshot.inbox!.mailboxId));
    const lost = new Set<string>();
    relay.proxy.setFilter((text) => {
      const watch = /"op":"watch","mailbox":"([\w-]+)"/.exec(text);
      if (!watch) return 'pass';
      lost.add(watch[1]!);
      return 'drop';
    });
    relay.proxy.cutAll();
    await waitFor(() => inboxes.every((i) => lost.has(i)), 'both inbox watches lost');
    relay.proxy.setFilter(null);

    const unpaired = await alice.removePeer(bob.did);
    expect(unpaired).toEqual({ removed: true, notified: true });
    // An hour on: alice's retry is due, and whatever either inbox does about a lost watch.
    clock.advance(3600);
    await waitFor(
      () => bob.snapshot.peers.length === 0 && (alice.snapshot.outbox ?? []).length === 0,
      'bob heard the unpair and alice its receipt',
    );
    expect(bob.snapshot.inbox?.unpairedBy?.map((d) => d.peer.did)).toEqual([alice.did]);
  });
});
