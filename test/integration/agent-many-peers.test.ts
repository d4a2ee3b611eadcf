import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PairlinkClient } from '../../client/index.js';
import { type AgentProcess, startAgent, testRoot } from '../support/agent-process.js';
import { addSyntheticPeers } from '../support/many-peers.js';
import { gauge } from '../support/relay-http.js';
import { type RelayProcess, startRelayProcess } from '../support/relay-process.js';
import { waitFor } from '../support/wait-for.js';

/**
 * Issue #27 item 1: 10,000 peers' inboxes on one agent. The hub's first 9,999 peers are written
 * into its sealed state while it is stopped (test/support/many-peers.ts: real cards and keys,
 * each with its own write capability to the hub's inbox, owed as a writer), since 9,999 real
 * pairings would take minutes of CPU; the 10,000th pairs for real. The relay's per-address rate
 * limit is lifted (all of this is one loopback address): what is measured is the agent.
 */
const SYNTHETIC = 9_999;
const WRITERS = 'pairlink_relay_inbox_writers';
const running: { relay?: RelayProcess; agents: AgentProcess[]; clients: PairlinkClient[] } = {
  agents: [],
  clients: [],
};
afterAll(async () => {
  for (const client of running.clients) client.close();
  await Promise.all(running.agents.map((a) => a.stop()));
  await running.relay?.stop();
});

/** The sealed state's files in an agent's home (snapshot and log), in bytes. */
function stateBytes(home: string): number {
  return readdirSync(home)
    .filter((f) => f.startsWith('state'))
    .reduce((sum, f) => sum + statSync(join(home, f)).size, 0);
}

describe('one agent with 10,000 peers, each a writer of its inbox', () => {
  it('the relay holds 10,000 writers, the 10,000th peer is answered, an unpair revokes only its own', async () => {
    running.relay = await startRelayProcess([], {
      PAIRLINK_RELAY_LIMITS: JSON.stringify({ ipRatePerSecond: 1e6, ipBurst: 1e6 }),
    });
    const relay = running.relay;
    const writers = async () => (await gauge(relay.url, WRITERS)) ?? 0;
    const root = testRoot();
    const hub = await startAgent(root, 'hub', relay.url);
    running.agents.push(hub);
    await waitFor(async () => (await gauge(relay.url, 'pairlink_relay_inboxes')) === 1, "the hub's inbox");
    await hub.stop();
    await addSyntheticPeers(hub.home, 'hub', relay.url, SYNTHETIC);
    const sealedBefore = stateBytes(hub.home);

    const started = performance.now();
    await hub.restart();
    const hubClient = await PairlinkClient.connect({ socket: hub.socket });
    running.clients.push(hubClient);
    // While the writers go in, the agent answers: agent.info between two gauge readings that
    // both show the adding under way.
    let answeredMidway = 0;
    await waitFor(
      async () => {
        const before = await writers();
        await hubClient.call('agent.info', {});
        const after = await writers();
        if (before > 0 && after < SYNTHETIC) answeredMidway++;
        return after === SYNTHETIC;
      },
      `${SYNTHETIC} writers`,
      { deadlineMs: 120_000 },
    );
    const addSeconds = (performance.now() - started) / 1000;
    expect(answeredMidway).toBeGreaterThan(0);
    console.log(
      `${SYNTHETIC} writers added in ${addSeconds.toFixed(1)} s; sealed state ${sealedBefore} bytes (${(sealedBefore / SYNTHETIC).toFixed(0)} per peer)`,
    );

    // The 10,000th peer pairs for real, and its ping is read, applied and answered.
    const alice = await startAgent(root, 'alice', relay.url);
    running.agents.push(alice);
    const aliceClient = await PairlinkClient.connect({ socket: alice.socket });
    running.clients.push(aliceClient);
    const invite = await hubClient.call('invite.create', {});
    const accepted = await aliceClient.call('invite.accept', { invite: invite.url!, waitSeconds: 60 });
    expect(accepted.status).toBe('paired');
    // The gauge sums every inbox on the relay: the hub's 10,000 writers, and alice's one (the hub).
    await waitFor(async () => (await writers()) === SYNTHETIC + 2, "the 10,000th writer, and alice's own");
    const hubDid = (await hubClient.call('agent.info', {})).did;
    const aliceDid = (await aliceClient.call('agent.info', {})).did;
    const ping = await aliceClient.call('peer.ping', { did: hubDid, waitSeconds: 60 });
    expect(ping.reachable).toBe(true);

    // Unpairing it revokes its capability alone, once alice's receipt is in. Alice, told, keeps the
    // hub's capability at hers until the unpair expires (PROTOCOL.md §11.8: a retry after a lost
    // receipt must still reach her), so one writer of hers is left.
    const removed = await hubClient.call('peer.remove', { did: aliceDid });
    expect(removed).toEqual({ removed: true, notified: true });
    await waitFor(
      async () => (await aliceClient.call('peer.list', {})).length === 0,
      'alice heard the unpair',
    );
    await waitFor(async () => (await writers()) === SYNTHETIC + 1, 'its writer revoked at the hub');
    const peers = await hubClient.call('peer.list', {});
    expect(peers.length).toBe(SYNTHETIC);
    expect(await writers()).toBe(SYNTHETIC + 1);
  }, 240_000);
});
