import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InboxRequests } from '../../relay/client/inbox-requests.js';
import { RelayClient } from '../../relay/client/relay-client.js';
import type { RelayAnswerError } from '../../relay/client/relay-failure.js';
import type { RelayLimits } from '../../relay/server/limits.js';
import type { RunningRelay } from '../../relay/server/relay-server.js';
import { type RedisServer, startRedis } from '../support/redis-server.js';
import { b64, call, gauge } from '../support/relay-http.js';
import { startTestRelay } from '../support/test-relay.js';

/**
 * Inboxes at their bounds (docs/RELAY.md, Inboxes): 10,000 writers on one inbox, the bound on
 * writers, the bound on an inbox's messages, one writer's flood against the rate limit, and what
 * a relay restart keeps. Both stores, the real relay, Redis a real redis-server.
 */

let redis: RedisServer;
let prefixCounter = 0;

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

function relayWith(
  backend: 'memory' | 'redis',
  limits: Partial<RelayLimits> = {},
  prefix?: string,
): Promise<RunningRelay> {
  return startTestRelay(backend, redis, { limits, ...(prefix ? { prefix } : {}) });
}

/** A fresh inbox's id and read capability, made with the client. */
async function newInbox(requests: InboxRequests) {
  const inbox = { id: randomBytes(16), read: randomBytes(16) };
  await requests.create(inbox.id, inbox.read, 3600);
  return { ...inbox, path: `/v1/mailboxes/${b64(inbox.id)}` };
}

async function post(url: string, path: string, writeCap: Uint8Array) {
  return call(url, 'POST', `${path}/messages`, { cap: writeCap, body: new Uint8Array([1]) });
}

describe.each(['memory', 'redis'] as const)('relay inboxes at their bounds (%s store)', (backend) => {
  it('holds 10,000 writers on one inbox, the first and the last posting, and refuses one more', async () => {
    const relay = await relayWith(backend, { maxWritersPerInbox: 10_000 });
    const client = new RelayClient(relay.url);
    try {
      const requests = new InboxRequests(client);
      const inbox = await newInbox(requests);
      const writers = Array.from({ length: 10_000 }, () => randomBytes(16));
      let most = 0;
      for (let i = 0; i < writers.length; i += 100) {
        const counts = await Promise.all(
          writers.slice(i, i + 100).map((w) => requests.addWriter(inbox.id, inbox.read, w)),
        );
        most = Math.max(most, ...counts);
      }
      expect(most).toBe(10_000);
      const refused = await requests
        .addWriter(inbox.id, inbox.read, randomBytes(16))
        .catch((e: unknown) => e);
      expect((refused as RelayAnswerError).relayError).toBe('too_many_writers');
      expect((refused as RelayAnswerError).status).toBe(409);
      // A writer already there is no new one: adding it again is still fine at the bound.
      expect(await requests.addWriter(inbox.id, inbox.read, writers[0]!)).toBe(10_000);
      expect((await post(relay.url, inbox.path, writers[0]!)).json).toEqual({ seq: 1 });
      expect((await post(relay.url, inbox.path, writers[9_999]!)).json).toEqual({ seq: 2 });
      expect(await requests.revokeWriter(inbox.id, inbox.read, writers[5_000]!)).toBe(true);
      expect((await post(relay.url, inbox.path, writers[5_000]!)).status).toBe(404);
      expect((await post(relay.url, inbox.path, writers[5_001]!)).json).toEqual({ seq: 3 });
      expect(await gauge(relay.url, 'pairlink_relay_inbox_writers')).toBe(9_999);
      // The owner's read is authorized without the write set: it answers as for any mailbox.
      expect((await client.read(inbox.id, inbox.read, 0)).map((m) => m.seq)).toEqual([1, 2, 3]);
    } finally {
      client.close();
      await relay.close();
    }
  }, 120_000);

  it('bounds an inbox’s messages in all: past it every writer is refused `full` until a trim', async () => {
    const relay = await relayWith(backend, { maxMessagesPerInbox: 20 });
    const client = new RelayClient(relay.url);
    try {
      const requests = new InboxRequests(client);
      const inbox = await newInbox(requests);
      const [one, two, three] = [randomBytes(16), randomBytes(16), randomBytes(16)];
      for (const w of [one, two, three]) await requests.addWriter(inbox.id, inbox.read, w);
      for (let i = 0; i < 16; i++) expect((await post(relay.url, inbox.path, one)).status).toBe(202);
      for (let i = 0; i < 4; i++) expect((await post(relay.url, inbox.path, two)).status).toBe(202);
      expect((await post(relay.url, inbox.path, two)).json).toEqual({ error: 'full' });
      expect((await post(relay.url, inbox.path, three)).json).toEqual({ error: 'full' });
      expect(await requests.trim(inbox.id, inbox.read, 1)).toBe(1);
      expect((await post(relay.url, inbox.path, three)).json).toEqual({ seq: 21 });
    } finally {
      client.close();
      await relay.close();
    }
  });

  it('rate-limits an inbox per writer: one writer out of tokens leaves the others theirs', async () => {
    // A burst of 4 and a refill far slower than the test: a shared bucket would refuse `peer`.
    const relay = await relayWith(backend, { mailboxBurst: 4, mailboxRatePerSecond: 0.001 });
    const client = new RelayClient(relay.url);
    try {
      const requests = new InboxRequests(client);
      const inbox = await newInbox(requests);
      const [flooder, peer] = [randomBytes(16), randomBytes(16)];
      for (const w of [flooder, peer]) await requests.addWriter(inbox.id, inbox.read, w);
      for (let i = 0; i < 4; i++) expect((await post(relay.url, inbox.path, flooder)).status).toBe(202);
      expect((await post(relay.url, inbox.path, flooder)).status).toBe(429);
      expect((await post(relay.url, inbox.path, peer)).json).toEqual({ seq: 5 });
    } finally {
      client.close();
      await relay.close();
    }
  });

  it(
    backend === 'redis'
      ? 'keeps an inbox, its writers and its messages across a relay restart'
      : 'loses its inboxes in a restart, as its mailboxes, and says since when it holds them',
    async () => {
      const prefix = `restart${process.pid}-${prefixCounter++}:`;
      const first = await relayWith(backend, {}, prefix);
      const firstClient = new RelayClient(first.url);
      const requests = new InboxRequests(firstClient);
      const inbox = await newInbox(requests);
      const writer = randomBytes(16);
      await requests.addWriter(inbox.id, inbox.read, writer);
      expect((await post(first.url, inbox.path, writer)).json).toEqual({ seq: 1 });
      firstClient.close();
      await first.close();
      const second = await relayWith(backend, {}, prefix);
      const client = new RelayClient(second.url);
      try {
        if (backend === 'redis') {
          expect((await client.read(inbox.id, inbox.read, 0)).map((m) => m.seq)).toEqual([1]);
          expect((await post(second.url, inbox.path, writer)).json).toEqual({ seq: 2 });
          expect(await new InboxRequests(client).renew(inbox.id, inbox.read, 60)).toBeGreaterThan(Date.now());
        } else {
          expect((await post(second.url, inbox.path, writer)).status).toBe(404);
          expect(await client.storeSince()).toBeGreaterThan(0);
          // The owner makes it again, under the same id: nothing of it was kept.
          await new InboxRequests(client).create(inbox.id, inbox.read, 3600);
          expect((await post(second.url, inbox.path, writer)).status).toBe(404);
        }
      } finally {
        client.close();
        await second.close();
      }
    },
  );
});
