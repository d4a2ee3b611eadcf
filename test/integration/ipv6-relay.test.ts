import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { FileKeystore } from '../../agent/keystore/file-keystore.js';
import { checkedRelayLookup } from '../../io/relay-lookup.js';
import { RelayClient } from '../../relay/client/relay-client.js';
import { relayConnector } from '../../relay/client/relay-connection.js';
import { type RunningRelay, startRelay } from '../../relay/server/relay-server.js';
import { waitFor } from '../support/wait-for.js';

/**
 * A relay on the IPv6 loopback, named `http://[::1]:port` (URL keeps the brackets in hostname):
 * its HTTP API is reached, and codes and links pair on it. Skipped, loudly, only on a machine
 * without an IPv6 loopback, and never in CI.
 */
/** The agents' warnings: relay trouble (an HTTP exchange that failed) is logged there. */
const warnings: string[] = [];
const logger = pino({ level: 'warn' }, { write: (line: string) => warnings.push(line) });
const IPV6_LOOPBACK = '00000000000000000000000000000001';
const hasIpv6Loopback =
  existsSync('/proc/net/if_inet6') && readFileSync('/proc/net/if_inet6', 'utf8').includes(IPV6_LOOPBACK);
if (!hasIpv6Loopback) {
  if (process.env.CI) throw new Error('CI must have an IPv6 loopback (::1) for the IPv6 relay tests');
  console.warn('SKIPPED: no IPv6 loopback (::1) on this machine; the IPv6 relay tests did not run');
}

const running: { stop(): Promise<void> }[] = [];
let relay: RunningRelay;

beforeAll(async () => {
  if (hasIpv6Loopback) relay = await startRelay({ host: '::1', port: 0, trustProxy: false, logger });
});
afterAll(async () => {
  for (const r of running.reverse()) await r.stop();
  await relay?.close();
});

async function agentOn(relayUrl: string, name: string) {
  const home = mkdtempSync(join(tmpdir(), `pl-v6-${name}-`));
  const agent = await Agent.start({
    stateFile: join(home, 'state.json'),
    keystore: await FileKeystore.open(join(home, 'keystore.json'), `passphrase of ${name}`),
    relayUrl,
    transport: relayConnector(() => checkedRelayLookup(relayUrl)),
    name,
    logger,
  });
  running.push(agent);
  return agent;
}

const pinned = (agent: Agent, did: string) => agent.snapshot.peers.some((p) => p.did === did);

describe.skipIf(!hasIpv6Loopback)('a relay on the IPv6 loopback', () => {
  it('is named with brackets, and its HTTP API answers', async () => {
    expect(relay.url).toMatch(/^http:\/\/\[::1\]:\d+$/);
    const client = new RelayClient(relay.url, 10_000, { lookup: checkedRelayLookup(relay.url) });
    try {
      await expect(client.storeSince()).resolves.toBeTypeOf('number');
    } finally {
      client.close();
    }
  });

  it('a code made there is accepted there, and both sides pin the other', async () => {
    const a = await agentOn(relay.url, 'alice');
    const b = await agentOn(relay.url, 'bob');
    const invite = await a.createInvite({ format: 'code' });
    const started = await b.startAccept(invite.code!, false);
    expect((await b.waitForAccept(started.id, 20)).acceptor.phase).toBe('paired');
    await waitFor(() => pinned(a, b.did) && pinned(b, a.did), 'both pinned');
  });

  it('a link made there pairs, and no HTTP exchange failed on the way (none fell back to a retry)', async () => {
    const a = await agentOn(relay.url, 'carol');
    const b = await agentOn(relay.url, 'dave');
    const invite = await a.createInvite({});
    const started = await b.startAccept(invite.url!, false);
    expect((await b.waitForAccept(started.id, 20)).acceptor.phase).toBe('paired');
    await waitFor(() => pinned(a, b.did) && pinned(b, a.did), 'both pinned');
    expect(warnings.filter((line) => line.includes('[::1]'))).toEqual([]);
  });
});
