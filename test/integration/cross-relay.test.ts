import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { FileKeystore } from '../../agent/keystore/file-keystore.js';
import { relayConnector } from '../../relay/client/relay-connection.js';
import { type RunningRelay, startRelay } from '../../relay/server/relay-server.js';
import type { PairlinkError } from '../../src/errors.js';
import { waitFor } from '../support/wait-for.js';

/**
 * Two agents, each with its own relay (two relays on loopback, as two organisations would run
 * them): a link is accepted on the relay it names, a code on the relay `relay` names, and the
 * acceptor's record keeps that relay across a restart. The issuer never reaches the acceptor's relay.
 */
const logger = pino({ level: 'silent' });
const running: { stop(): Promise<void> }[] = [];
let relayA: RunningRelay;
let relayB: RunningRelay;

beforeAll(async () => {
  relayA = await startRelay({ host: '127.0.0.1', port: 0, trustProxy: false, logger });
  relayB = await startRelay({ host: '127.0.0.1', port: 0, trustProxy: false, logger });
});
afterAll(async () => {
  for (const r of running.reverse()) await r.stop();
  await relayA?.close();
  await relayB?.close();
});

async function agentOn(relayUrl: string, name: string, home = mkdtempSync(join(tmpdir(), `pl-x-${name}-`))) {
  const agent = await Agent.start({
    stateFile: join(home, 'state.json'),
    keystore: await FileKeystore.open(join(home, 'keystore.json'), `passphrase of ${name}`),
    relayUrl,
    transport: relayConnector(() => undefined),
    name,
    logger,
  });
  running.push(agent);
  return { agent, home };
}

/** Stops an agent before the file ends (a restart); afterAll stops the rest. */
async function stopAgent(agent: Agent): Promise<void> {
  running.splice(running.indexOf(agent), 1);
  await agent.stop();
}

const pinned = (agent: Agent, did: string) => agent.snapshot.peers.some((p) => p.did === did);
const relaysOf = (agent: Agent) => agent.relayUses.map((r) => `${r.home ? 'home' : 'other'} ${r.url}`);

describe('pairing across relays', () => {
  it("A's link, accepted by B whose own relay is another, pairs on A's relay; B closes that relay after", async () => {
    const { agent: a } = await agentOn(relayA.url, 'alice');
    const { agent: b } = await agentOn(relayB.url, 'bob');
    const invite = await a.createInvite({});
    const started = await b.startAccept(invite.url!, false);
    expect(relaysOf(b)).toEqual([`home ${relayB.url}`, `other ${relayA.url}`]);
    const done = await b.waitForAccept(started.id, 20);
    expect(done.acceptor.phase).toBe('paired');
    await waitFor(() => pinned(a, b.did) && pinned(b, a.did), 'both pinned');
    // The issuer never opened the acceptor's relay.
    expect(relaysOf(a)).toEqual([`home ${relayA.url}`]);
    // Closed once nothing runs there (the agent's one-second tick sweeps).
    await waitFor(() => b.relayUses.length === 1, 'relay A closed at B once its accept ended');
    expect(relaysOf(b)).toEqual([`home ${relayB.url}`]);
  });

  it("a code is claimed on the relay `relay` names; without it, on the agent's own (where it is unknown)", async () => {
    const { agent: a } = await agentOn(relayA.url, 'carol');
    const { agent: b } = await agentOn(relayB.url, 'dave');
    const invite = await b.createInvite({ format: 'code' });
    const onOwn = await a.startAccept(invite.code!, false).catch((e: unknown) => e);
    expect((onOwn as PairlinkError).code).toBe('INVITE_NOT_FOUND');
    const started = await a.startAccept(invite.code!, false, relayB.url);
    expect((await a.waitForAccept(started.id, 20)).acceptor.phase).toBe('paired');
    await waitFor(() => pinned(a, b.did) && pinned(b, a.did), 'both pinned');
  });

  it('a link names its relay itself: a different `relay` beside it is refused', async () => {
    const { agent: a } = await agentOn(relayA.url, 'erin');
    const { agent: b } = await agentOn(relayB.url, 'frank');
    const invite = await a.createInvite({});
    const refused = await b.startAccept(invite.url!, false, relayB.url).catch((e: unknown) => e);
    expect((refused as PairlinkError).code).toBe('INVALID_PARAMS');
    expect(b.snapshot.accepts).toHaveLength(0);
  });

  it("the accept record keeps the invite's relay: B restarted while its accept waits resumes on relay A", async () => {
    const alice = await agentOn(relayA.url, 'grace');
    const invite = await alice.agent.createInvite({});
    const aliceDid = alice.agent.did;
    // The issuer is away: B's hello waits in A's mailbox on relay A.
    await stopAgent(alice.agent);
    const bob = await agentOn(relayB.url, 'heidi');
    const started = await bob.agent.startAccept(invite.url!, false);
    await waitFor(
      () => bob.agent.relayUses.some((r) => !r.home && r.watches === 1),
      'B watches its reply box on relay A',
    );
    await stopAgent(bob.agent);
    const bob2 = await agentOn(relayB.url, 'heidi', bob.home);
    expect(relaysOf(bob2.agent)).toEqual([`home ${relayB.url}`, `other ${relayA.url}`]);
    const alice2 = await agentOn(relayA.url, 'grace', alice.home);
    const done = await bob2.agent.waitForAccept(started.id, 30);
    expect(done.acceptor.phase).toBe('paired');
    await waitFor(() => pinned(alice2.agent, bob2.agent.did) && pinned(bob2.agent, aliceDid), 'both pinned');
  });
});

describe('the relay pool is bounded', () => {
  it('past its limit an accept naming yet another relay is refused RELAY_LIMIT at once, and nothing is recorded', async () => {
    const home = mkdtempSync(join(tmpdir(), 'pl-x-limit-'));
    const agent = await Agent.start({
      stateFile: join(home, 'state.json'),
      keystore: await FileKeystore.open(join(home, 'keystore.json'), 'passphrase of ivan'),
      relayUrl: relayB.url,
      transport: relayConnector(() => undefined),
      name: 'ivan',
      logger,
      relayLimit: 2,
    });
    running.push(agent);
    const judy = await agentOn(relayA.url, 'judy');
    const link = (await judy.agent.createInvite({})).url!;
    // Its issuer is away, so the first accept waits on relay A (which stays open meanwhile).
    await stopAgent(judy.agent);
    // Relay A is the second relay: allowed. An invite on a third relay is one too many.
    const first = await agent.startAccept(link, false);
    const third = await startRelay({ host: '127.0.0.1', port: 0, trustProxy: false, logger });
    running.push({ stop: () => third.close() });
    const { agent: c } = await agentOn(third.url, 'ken');
    const refused = await agent.startAccept((await c.createInvite({})).url!, false).catch((e: unknown) => e);
    expect((refused as PairlinkError).code).toBe('RELAY_LIMIT');
    expect(agent.snapshot.accepts.map((x) => x.id)).toEqual([first.id]);
    expect(agent.relayUses).toHaveLength(2);
    // Once the first accept ends, relay A closes and the third relay fits.
    await agentOn(relayA.url, 'judy', judy.home);
    expect((await agent.waitForAccept(first.id, 20)).acceptor.phase).toBe('paired');
    await waitFor(() => agent.relayUses.length === 1, 'relay A closed');
    const later = await agent.startAccept((await c.createInvite({})).url!, false);
    expect((await agent.waitForAccept(later.id, 20)).acceptor.phase).toBe('paired');
  });
});
