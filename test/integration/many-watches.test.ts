import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { FileKeystore } from '../../agent/keystore/file-keystore.js';
import { relayConnector } from '../../relay/client/relay-connection.js';
import { type RunningRelay, startRelay } from '../../relay/server/relay-server.js';
import { waitFor } from '../support/wait-for.js';

const logger = pino({ level: 'silent' });

async function agentOn(relay: RunningRelay, name: string): Promise<Agent> {
  const home = mkdtempSync(join(tmpdir(), `pl-many-${name}-`));
  return Agent.start({
    stateFile: join(home, 'state.json'),
    keystore: await FileKeystore.open(join(home, 'keystore.json'), `passphrase of ${name}`),
    relayUrl: relay.url,
    transport: relayConnector(() => undefined),
    name,
    logger,
  });
}

describe('an agent with more pending invites than one socket may watch', () => {
  const running: { stop(): Promise<void> }[] = [];
  afterAll(async () => {
    for (const r of running.reverse()) await r.stop();
  });

  it("hears every mailbox past one socket's 256 watches (600 pending invites; PL_MANY_INVITES=10000 for the full figure), then pairings on the first and newest complete", async () => {
    // The relay's defaults cap 256 watches per socket and 500 mailboxes per address; this operator
    // raised the mailbox cap (a bot minting many invites), as docs/RELAY.md describes.
    const relay = await startRelay({
      host: '127.0.0.1',
      port: 0,
      trustProxy: false,
      limits: { maxMailboxesPerIp: 20_000, ipRatePerSecond: 100_000, ipBurst: 100_000 },
      logger,
    });
    running.push({ stop: () => relay.close() });
    const issuer = await agentOn(relay, 'issuer');
    const acceptor = await agentOn(relay, 'acceptor');
    running.push(issuer, acceptor);
    // The agent's own inbox is the first watch (made at start): then one per pending invite.
    await waitFor(() => issuer.relayWatches.watches === 1, "the issuer's inbox watched");
    const invites = [];
    const minting = Date.now();
    const COUNT = Number(process.env.PL_MANY_INVITES ?? 600);
    for (let i = 0; i < COUNT; i++) invites.push(await issuer.createInvite({ ttlSeconds: 3600 }));
    expect(issuer.relayWatches.watches).toBe(COUNT + 1);
    expect(issuer.relayWatches.sockets).toBeGreaterThanOrEqual(3);
    const minted = Date.now() - minting;
    const pairing = Date.now();
    const accept = await acceptor.startAccept(invites.at(-1)!.url!, false);
    const done = await acceptor.waitForAccept(accept.id, 20);
    expect(done.acceptor.phase).toBe('paired');
    console.log(
      `${COUNT} pending invites minted in ${minted} ms on ${issuer.relayWatches.sockets} sockets; a pairing among them took ${Date.now() - pairing} ms`,
    );
    // The first invite's mailbox is on the first socket, the last on another: both are heard.
    const first = await acceptor.startAccept(invites[0]!.url!, false);
    expect((await acceptor.waitForAccept(first.id, 20)).acceptor.phase).toBe('paired');
    // Every invite still pending is watched: all but the two just used (their mailboxes close once
    // their acks arrive, which a mailbox deleted over the socket may already have done). The agent
    // counts a watch when it sends it, the relay when it has read it: wait for the relay to catch up.
    const watchesAtRelay = async () => {
      const metrics = await (await fetch(`${relay.url}/metrics`)).text();
      return Number(/pairlink_relay_watches (\d+)/.exec(metrics)?.[1] ?? -1);
    };
    await waitFor(async () => (await watchesAtRelay()) >= COUNT - 2, `${COUNT - 2} watches at the relay`);
    expect(await watchesAtRelay()).toBeGreaterThanOrEqual(COUNT - 2);
  }, 300_000);
});
