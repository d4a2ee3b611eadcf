import { afterAll, describe, expect, it } from 'vitest';
import { PairlinkClient } from '../../client/index.js';
import { relayWithAgents } from '../support/agent-process.js';
import { call, gauge } from '../support/relay-http.js';
import { waitFor } from '../support/wait-for.js';

/**
 * What one warm pairing (the same two agents pairing again) costs the relay, in requests by
 * route: a guard on counts, never on time (issue #24). Each side's mailbox is created, watched,
 * posted to, unwatched and deleted; a pairing again hands each peer the capability to our inbox
 * it already holds, so no writer is added or revoked. A change that adds a relay request per
 * pairing fails here.
 */
const PER_PAIRING: Record<string, number> = {
  'ws:create': 2,
  'ws:watch': 2,
  'ws:post': 7,
  'ws:unwatch': 2,
  'ws:delete': 2,
};
const PAIRINGS = 5;

/** The relay's requests so far by route, every status, without the metrics' own. */
async function requests(url: string): Promise<Record<string, number>> {
  const { text } = await call(url, 'GET', '/metrics');
  const byRoute: Record<string, number> = {};
  for (const [, route, n] of text.matchAll(
    /pairlink_relay_requests_total\{route="([^"]+)",status="[^"]+"\} (\d+)/g,
  ))
    if (route !== 'metrics') byRoute[route!] = (byRoute[route!] ?? 0) + Number(n);
  return byRoute;
}

function since(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const delta: Record<string, number> = {};
  for (const [route, n] of Object.entries(after))
    if (n > (before[route] ?? 0)) delta[route] = n - (before[route] ?? 0);
  return delta;
}

describe('pairing costs', () => {
  const fleet = relayWithAgents();
  const clients: PairlinkClient[] = [];
  afterAll(() => {
    for (const c of clients) c.close();
  });

  it(`pairing again costs the relay at most ${Object.values(PER_PAIRING).reduce((a, b) => a + b)} requests, by route`, async () => {
    const issuer = await PairlinkClient.connect({ socket: (await fleet.agent('issuer')).socket });
    const acceptor = await PairlinkClient.connect({ socket: (await fleet.agent('acceptor')).socket });
    clients.push(issuer, acceptor);
    const pair = async () => {
      const invite = await issuer.call('invite.create', {});
      const accepted = await acceptor.call('invite.accept', { invite: invite.url!, waitSeconds: 60 });
      expect(accepted.status).toBe('paired');
    };
    // Settled: every pairing's mailboxes are gone, and each inbox holds one writer, the peer's.
    const settled = (before: Record<string, number>, pairings: number) =>
      waitFor(async () => {
        const delta = since(before, await requests(fleet.relay.url));
        const writers = await gauge(fleet.relay.url, 'pairlink_relay_inbox_writers');
        return (delta['ws:delete'] ?? 0) >= 2 * pairings && writers === 2 ? delta : null;
      }, `${pairings} pairings' mailboxes deleted and one writer per inbox`);
    await pair();
    const warm = await settled({}, 1);

    const before = await requests(fleet.relay.url);
    for (let i = 0; i < PAIRINGS; i++) await pair();
    const delta = await settled(before, PAIRINGS);

    const perPairing = Object.fromEntries(Object.entries(delta).map(([route, n]) => [route, n / PAIRINGS]));
    const over = Object.entries(perPairing).filter(([route, n]) => n > (PER_PAIRING[route] ?? 0));
    expect({ over, warm: Object.keys(warm).length > 0 }).toEqual({ over: [], warm: true });
  });
});
