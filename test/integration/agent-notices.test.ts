import { describe, expect, it } from 'vitest';
import type { AgentProcess } from '../support/agent-process.js';
import { eventStream, relayWithAgents, startAgent } from '../support/agent-process.js';
import { startRelayProcess } from '../support/relay-process.js';
import { waitFor } from '../support/wait-for.js';

/**
 * Issue #27 with real processes: two agents pair over a real relay; `pairlink unpair` on one
 * reaches the other, also when it was stopped during the unpair; `--local-only` does not.
 */
const fleet = relayWithAgents();

interface Peer {
  did: string;
  name: string;
  inbox: boolean;
  lastContact?: string;
}
interface Entry {
  event: string;
  notice?: string;
  verdict?: string;
  peer?: { did: string; name: string };
}

const didOf = async (agent: AgentProcess) => (await agent.json<{ did: string }>(['whoami'])).value.did;
const peersOf = async (agent: AgentProcess) => (await agent.json<Peer[]>(['peers'])).value;
const logOf = async (agent: AgentProcess) => (await agent.json<Entry[]>(['log'])).value;

async function pair(issuer: AgentProcess, acceptor: AgentProcess): Promise<void> {
  const invite = (await issuer.json<{ url: string }>(['invite'])).value;
  expect((await acceptor.json<{ status: string }>(['accept', invite.url])).value.status).toBe('paired');
  await waitFor(async () => {
    const peers = await peersOf(issuer);
    return peers.some((p) => p.name === acceptor.name && p.inbox);
  }, `${issuer.name} pins ${acceptor.name} with an inbox`);
}

describe('an unpair reaches the peer', () => {
  it('alice unpairs bob: bob no longer lists her, his events say reason peer, his log unpaired by the peer', async () => {
    const [alice, bob] = await Promise.all([fleet.agent('alice'), fleet.agent('bob')]);
    await pair(alice, bob);
    const aliceDid = await didOf(alice);
    const events = await eventStream(bob);
    const ping = await alice.json<{ reachable: boolean; rttMs?: number }>(['ping', await didOf(bob)]);
    expect(ping.value.reachable).toBe(true);
    expect((await peersOf(alice))[0]?.lastContact).toMatch(/^\d{4}-/);
    const unpaired = await alice.json<{ removed: boolean; notified: boolean }>(['unpair', await didOf(bob)]);
    expect(unpaired.value).toEqual({ removed: true, notified: true });
    await waitFor(async () => (await peersOf(bob)).length === 0, 'bob unpins alice');
    await waitFor(() => events.lines.some((l) => l.includes('peer.removed')), 'the removal event');
    events.child.kill('SIGTERM');
    const removal = events.lines
      .map((l) => JSON.parse(l) as { method: string; params: Record<string, unknown> })
      .find((e) => e.method === 'peer.removed');
    expect(removal?.params).toMatchObject({ did: aliceDid, name: 'alice', reason: 'peer' });
    expect((await logOf(bob)).filter((e) => e.event === 'unpairedByPeer')).toEqual([
      expect.objectContaining({ peer: { did: aliceDid, name: 'alice' } }),
    ]);
  }, 90_000);

  it('bob stopped during the unpair unpins alice once he is started again', async () => {
    const [alice, bob] = await Promise.all([fleet.agent('ann'), fleet.agent('ben')]);
    await pair(alice, bob);
    const bobDid = await didOf(bob);
    await bob.stop();
    expect((await alice.json<{ notified: boolean }>(['unpair', bobDid])).value.notified).toBe(true);
    await bob.restart();
    await waitFor(async () => (await peersOf(bob)).length === 0, 'ben unpins ann');
    // Ann hears ben's receipt: her notice is answered.
    await waitFor(
      async () => (await logOf(alice)).some((e) => e.event === 'noticeReceived' && e.notice === 'receipt'),
      "ann hears ben's receipt",
    );
  }, 90_000);

  it('--local-only unpins alice’s side only: bob keeps her pin and no unpair is sent', async () => {
    const [alice, bob] = await Promise.all([fleet.agent('amy'), fleet.agent('bill')]);
    await pair(alice, bob);
    const unpaired = await alice.json<{ notified: boolean }>(['unpair', await didOf(bob), '--local-only']);
    expect(unpaired.value).toEqual({ removed: true, notified: false });
    // Bob's ping to alice is a round trip through her inbox: she refuses it, so no pong.
    const ping = await bob.json<{ reachable: boolean }>(['ping', await didOf(alice), '--wait', '2']);
    expect(ping.value.reachable).toBe(false);
    expect((await peersOf(bob)).map((p) => p.name)).toEqual(['amy']);
    expect((await logOf(alice)).filter((e) => e.event === 'noticeSent' && e.notice === 'unpair')).toEqual([]);
  }, 90_000);
});

describe('an agent that moves to another relay', () => {
  it('tells its peer, which pings and unpairs it on the new relay, with no re-pairing', async () => {
    const second = await startRelayProcess();
    try {
      const [alice, bob] = await Promise.all([fleet.agent('ada'), fleet.agent('bea')]);
      await pair(alice, bob);
      const aliceDid = await didOf(alice);
      await alice.stop();
      // The same home, started on the second relay.
      const moved = await startAgent(fleet.root, 'ada', second.url);
      try {
        await waitFor(
          async () =>
            (await logOf(moved)).some((e) => e.event === 'noticeReceived' && e.notice === 'receipt'),
          "ada hears bea's receipt of the move",
        );
        const ping = await bob.json<{ reachable: boolean }>(['ping', aliceDid]);
        expect(ping.value.reachable).toBe(true);
        expect((await moved.json<{ notified: boolean }>(['unpair', await didOf(bob)])).value.notified).toBe(
          true,
        );
        await waitFor(async () => (await peersOf(bob)).length === 0, 'bea unpins ada');
        expect(moved.logs.join('\n')).toContain('every peer is told');
      } finally {
        await moved.stop();
      }
    } finally {
      await second.stop();
    }
  }, 90_000);
});
