import { afterAll, describe, expect, it } from 'vitest';
import { type AgentProcess, startAgent, testRoot } from '../support/agent-process.js';
import { freePort } from '../support/free-port.js';
import { type RelayProcess, startRelayProcess } from '../support/relay-process.js';
import { waitFor } from '../support/wait-for.js';

/**
 * Issue #27, the agent's inbox with real processes: two agents on a real memory relay each make
 * an inbox, hand it to the other when they pair, and the relay holds each handed capability as a
 * writer; after the relay restarts (losing everything), each agent makes its inbox again and adds
 * its writer back.
 */
interface Peer {
  did: string;
  name: string;
  confirmed: boolean;
  inbox: boolean;
}

/** A gauge from the relay's /metrics (loopback). */
async function gauge(relay: RelayProcess, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${relay.url}/metrics`)).text();
  const line = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return line ? Number(line[1]) : undefined;
}

const running: { relay?: RelayProcess; agents: AgentProcess[] } = { agents: [] };
afterAll(async () => {
  await Promise.all(running.agents.map((a) => a.stop()));
  await running.relay?.stop();
});

describe('two agents hand each other their inboxes over a real relay', () => {
  it('each lists the other with an inbox, the relay holds one writer per inbox, and a relay restart gets them back', async () => {
    const port = await freePort();
    running.relay = await startRelayProcess(['--port', String(port)]);
    const root = testRoot();
    const [alice, bob] = await Promise.all([
      startAgent(root, 'alice', running.relay.url),
      startAgent(root, 'bob', running.relay.url),
    ]);
    running.agents.push(alice, bob);
    const relay = () => running.relay!;
    await waitFor(async () => (await gauge(relay(), 'pairlink_relay_inboxes')) === 2, 'both inboxes');

    const invite = await alice.json<{ url: string }>(['invite']);
    const accepted = await bob.json<{ status: string }>(['accept', invite.value.url]);
    expect(accepted.value.status).toBe('paired');
    await waitFor(
      async () => (await alice.json<Peer[]>(['peers'])).value[0]?.confirmed === true,
      "alice's pin confirmed",
    );
    const [alicePeers, bobPeers] = [await alice.json<Peer[]>(['peers']), await bob.json<Peer[]>(['peers'])];
    expect(alicePeers.value.map((p) => [p.name, p.inbox])).toEqual([['bob', true]]);
    expect(bobPeers.value.map((p) => [p.name, p.inbox])).toEqual([['alice', true]]);
    await waitFor(async () => (await gauge(relay(), 'pairlink_relay_inbox_writers')) === 2, 'both writers');

    // A memory relay that restarts has lost both inboxes: each agent makes its own again, writer too.
    await relay().stop();
    running.relay = await startRelayProcess(['--port', String(port)]);
    await waitFor(async () => (await gauge(relay(), 'pairlink_relay_inbox_writers')) === 2, 'writers again');
    expect(await gauge(relay(), 'pairlink_relay_inboxes')).toBe(2);
  });
});
