import type { LookupFunction } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { checkedRelayLookup } from '../../io/relay-lookup.js';
import { RelayClient } from '../../relay/client/relay-client.js';
import { RelaySocket } from '../../relay/client/relay-socket.js';
import { PairlinkError } from '../../src/errors.js';
import { type LyingRelay, startLyingRelay } from '../support/lying-relay.js';
import { waitFor } from '../support/wait-for.js';

/**
 * One table maps relay refusals to error codes for both transports (relay/wire/relay-answers.ts), and
 * the relay client never follows a redirect: a relay named by a stranger must not be able to send
 * the agent on to another address.
 */
const relays: LyingRelay[] = [];
afterAll(async () => {
  await Promise.all(relays.map((r) => r.close()));
});
async function relay(options: Parameters<typeof startLyingRelay>[0]) {
  const started = await startLyingRelay(options);
  relays.push(started);
  return started;
}

const id = new Uint8Array(16).fill(1);
const cap = new Uint8Array(16).fill(2);
const codeOf = (failure: Promise<unknown>) =>
  failure.then(
    () => 'resolved',
    (error: unknown) => (error instanceof PairlinkError ? error.code : String(error)),
  );

describe('relay refusals', () => {
  for (const refusal of ['crowded', 'full'] as const) {
    it(`a post refused as ${refusal} has one code over HTTP and over the socket`, async () => {
      const lying = await relay({ refusePosts: refusal });
      const client = new RelayClient(lying.url);
      const socket = new RelaySocket(lying.url, { onMessage: () => {} });
      try {
        await socket.ready();
        const overHttp = await codeOf(client.post(id, cap, new Uint8Array([1])));
        const overSocket = await codeOf(socket.post(id, cap, new Uint8Array([1])));
        expect(overHttp).toBe(refusal === 'crowded' ? 'CROWDED' : 'MAILBOX_FULL');
        expect(overSocket).toBe(overHttp);
      } finally {
        socket.close();
        client.close();
      }
    });
  }
});

describe('redirects', () => {
  it('a 3xx answer is a relay protocol error, and its Location is never asked', async () => {
    const target = await relay({});
    const redirecting = await relay({ redirectTo: `${target.url}/v1/mailboxes/x` });
    const client = new RelayClient(redirecting.url);
    try {
      const failure = await client.createMailbox(id, cap, null, 600).then(
        () => null,
        (error: unknown) => error,
      );
      expect(failure).toMatchObject({ code: 'RELAY_PROTOCOL', status: 302 });
      expect(redirecting.counts.requests).toBe(1);
      expect(target.counts.requests).toBe(0);
    } finally {
      client.close();
    }
  });

  it('a redirected WebSocket upgrade never connects, and its Location is never asked', async () => {
    const target = await relay({});
    const redirecting = await relay({ redirectTo: target.url.replace('http', 'ws') });
    const socket = new RelaySocket(redirecting.url, { onMessage: () => {} });
    try {
      // The client has had the 302 and tried again (its reconnect), so it did act on the first answer.
      await waitFor(() => redirecting.counts.requests >= 2, 'a second upgrade attempt');
      expect(socket.connected).toBe(false);
      expect(target.counts.requests).toBe(0);
      expect(target.counts.sockets).toBe(0);
    } finally {
      socket.close();
    }
  });
});

describe('the relay name resolved and checked right before connecting', () => {
  it('a name that resolves to loopback is refused for an agent whose own relay is not on loopback, and nothing connects', async () => {
    const lying = await relay({});
    const viaName = lying.url.replace('127.0.0.1', 'localhost');
    const client = new RelayClient(viaName, 10_000, {
      lookup: checkedRelayLookup('https://relay.example.org'),
    });
    try {
      const failure = await client.storeSince().then(
        () => null,
        (error: unknown) => error,
      );
      expect(failure).toMatchObject({ code: 'RELAY_REFUSED' });
      expect((failure as Error).message).toContain('loopback');
      expect(lying.counts.requests).toBe(0);
    } finally {
      client.close();
    }
  });

  it('the same name is reached, at the address checked, when its own relay is on loopback (development)', async () => {
    const lying = await relay({});
    const viaName = lying.url.replace('127.0.0.1', 'localhost');
    const client = new RelayClient(viaName, 10_000, { lookup: checkedRelayLookup('http://127.0.0.1:7457') });
    try {
      expect(await client.storeSince()).toBeUndefined();
      expect(lying.counts.requests).toBe(1);
    } finally {
      client.close();
    }
  });

  it('the WebSocket client resolves through the same check: refused at lookup, its upgrade is never sent', async () => {
    const lying = await relay({});
    const viaName = lying.url.replace('127.0.0.1', 'localhost');
    const checked = checkedRelayLookup('https://relay.example.org');
    const answers: unknown[] = [];
    const recording: LookupFunction = (hostname, options, callback) =>
      checked(hostname, options, (error, ...rest) => {
        answers.push(error);
        (callback as (...args: unknown[]) => void)(error, ...rest);
      });
    const socket = new RelaySocket(viaName, { onMessage: () => {} }, {}, { lookup: recording });
    try {
      await waitFor(() => answers.length >= 1, 'the socket asked the checked lookup');
      expect(answers[0]).toMatchObject({ code: 'RELAY_REFUSED' });
      expect(socket.connected).toBe(false);
      expect(lying.counts.requests).toBe(0);
      expect(lying.counts.sockets).toBe(0);
    } finally {
      socket.close();
    }
  });
});
