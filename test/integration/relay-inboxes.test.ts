import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InboxRequests } from '../../relay/client/inbox-requests.js';
import { RelayClient } from '../../relay/client/relay-client.js';
import { RelayConnection } from '../../relay/client/relay-connection.js';
import { capabilityHash } from '../../relay/client/relay-endpoint.js';
import { RelayAnswerError } from '../../relay/client/relay-failure.js';
import { RelaySocket } from '../../relay/client/relay-socket.js';
import { parseOp } from '../../relay/server/client-ops.js';
import type { RelayLimits } from '../../relay/server/limits.js';
import type { RunningRelay } from '../../relay/server/relay-server.js';
import { type RedisServer, startRedis } from '../support/redis-server.js';
import { b64, call, createBody, gauge, newMailbox } from '../support/relay-http.js';
import { startTestRelay } from '../support/test-relay.js';
import { waitFor } from '../support/wait-for.js';

/**
 * Inboxes (docs/RELAY.md, Inboxes): long-lived mailboxes with one write capability per peer, a
 * bounded queue per writer and in all, trimmed by their owner. Every test runs against the real
 * relay (its HTTP front, its service, its store) on both stores, Redis a real redis-server.
 */

let redis: RedisServer;
const DAY = 24 * 3600;

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

function relayWith(backend: 'memory' | 'redis', limits: Partial<RelayLimits> = {}): Promise<RunningRelay> {
  return startTestRelay(backend, redis, { limits });
}

/** An inbox made over raw HTTP: its id, read capability and path. */
async function newInbox(url: string, ttlSeconds = 3600) {
  const box = newMailbox();
  const path = `/v1/mailboxes/${b64(box.id)}`;
  const created = await call(url, 'PUT', path, {
    json: { readCapHash: capabilityHash(box.read), ttlSeconds, inbox: true },
  });
  expect(created.status).toBe(201);
  return { ...box, path, expiresAt: Number(created.json.expiresAt) };
}

/** The relay's answer to a post of one byte with `writeCap`. */
async function post(url: string, path: string, writeCap: Uint8Array) {
  return call(url, 'POST', `${path}/messages`, { cap: writeCap, body: new Uint8Array([1]) });
}

/** The relay's count of requests on `route` (pairlink_relay_requests_total, every status). */
async function requestsOn(url: string, route: string): Promise<number> {
  const { text } = await call(url, 'GET', '/metrics');
  const pattern = new RegExp(
    `pairlink_relay_requests_total\\{route="${route}",status="[^"]+"\\} (\\d+)`,
    'g',
  );
  return [...text.matchAll(pattern)].map((m) => Number(m[1])).reduce((a, b) => a + b, 0);
}

/** The relay's refusal code of a client call that must fail. */
async function refusal(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RelayAnswerError);
  return (error as RelayAnswerError).relayError;
}

describe.each(['memory', 'redis'] as const)('relay inboxes (%s store)', (backend) => {
  let relay: RunningRelay;
  beforeAll(async () => {
    relay = await relayWith(backend);
  });
  afterAll(async () => {
    await relay?.close();
  });

  it('creates an inbox that lives past a handshake mailbox, up to its own bound', async () => {
    const inbox = await newInbox(relay.url, 45 * DAY);
    expect(inbox.expiresAt).toBeGreaterThan(Date.now() + 44 * DAY * 1000);
    const longer = newMailbox();
    const path = `/v1/mailboxes/${b64(longer.id)}`;
    const read = capabilityHash(longer.read);
    // Past maxInboxTtlSeconds (45 days), and a handshake mailbox past its 7 days, as before.
    expect(
      (
        await call(relay.url, 'PUT', path, {
          json: { readCapHash: read, ttlSeconds: 45 * DAY + 1, inbox: true },
        })
      ).status,
    ).toBe(400);
    expect(
      (await call(relay.url, 'PUT', path, { json: { readCapHash: read, ttlSeconds: 8 * DAY } })).status,
    ).toBe(400);
    expect(
      (await call(relay.url, 'PUT', path, { json: { readCapHash: read, ttlSeconds: 8 * DAY, inbox: false } }))
        .status,
    ).toBe(400);
    // The same id space as mailboxes: a taken id is taken.
    expect(
      (await call(relay.url, 'PUT', inbox.path, { json: { readCapHash: read, ttlSeconds: 60, inbox: true } }))
        .status,
    ).toBe(409);
  });

  it('renews for its owner only, never shorter than it was', async () => {
    const inbox = await newInbox(relay.url, 60);
    const requests = new InboxRequests(new RelayClient(relay.url));
    const renewed = await requests.renew(inbox.id, inbox.read, 30 * DAY);
    expect(renewed).toBeGreaterThan(Date.now() + 29 * DAY * 1000);
    expect(await requests.renew(inbox.id, inbox.read, 60)).toBe(renewed);
    expect(await refusal(requests.renew(inbox.id, randomBytes(16), 60))).toBe('not_found');
    expect(await refusal(requests.renew(inbox.id, inbox.read, 45 * DAY + 1))).toBe('bad_request');
    // The renewal holds in the store: a read answers the new expiry.
    const read = await call(relay.url, 'GET', `${inbox.path}/messages`, { cap: inbox.read });
    expect(read.json.expiresAt).toBe(renewed);
  });

  it('takes posts from the writers its owner added, and a revoked one gets what a stranger gets', async () => {
    const inbox = await newInbox(relay.url);
    const requests = new InboxRequests(new RelayClient(relay.url));
    const [alice, bob, stranger] = [randomBytes(16), randomBytes(16), randomBytes(16)];
    // No writer yet: nobody posts.
    expect((await post(relay.url, inbox.path, alice)).status).toBe(404);
    expect(await requests.addWriter(inbox.id, inbox.read, alice)).toBe(1);
    expect(await requests.addWriter(inbox.id, inbox.read, bob)).toBe(2);
    expect(await requests.addWriter(inbox.id, inbox.read, bob)).toBe(2); // again: no change
    // Only the owner adds writers.
    expect(await refusal(requests.addWriter(inbox.id, alice, stranger))).toBe('not_found');
    expect((await post(relay.url, inbox.path, alice)).json).toEqual({ seq: 1 });
    expect((await post(relay.url, inbox.path, bob)).json).toEqual({ seq: 2 });
    const strangers = await post(relay.url, inbox.path, stranger);
    expect(await requests.revokeWriter(inbox.id, inbox.read, alice)).toBe(true);
    expect(await requests.revokeWriter(inbox.id, inbox.read, alice)).toBe(false);
    const revoked = await post(relay.url, inbox.path, alice);
    expect([revoked.status, revoked.text]).toEqual([strangers.status, strangers.text]);
    expect(revoked.json).toEqual({ error: 'not_found' });
    expect((await post(relay.url, inbox.path, bob)).json).toEqual({ seq: 3 });
    // What the revoked writer posted before stays for the owner to read.
    const read = await call(relay.url, 'GET', `${inbox.path}/messages`, { cap: inbox.read });
    expect((read.json.messages as { seq: number }[]).map((m) => m.seq)).toEqual([1, 2, 3]);
  });

  it("adds and revokes writers over its socket with the HTTP routes' checks and answers", async () => {
    const inbox = await newInbox(relay.url);
    const requests = new InboxRequests(new RelayClient(relay.url));
    const socket = new RelaySocket(relay.url, { onMessage: () => undefined });
    try {
      await socket.ready();
      expect(socket.writerOps).toBe(true);
      const [alice, stranger] = [randomBytes(16), randomBytes(16)];
      expect(await requests.addWriter(inbox.id, inbox.read, alice, socket)).toBe(1);
      expect(await requests.addWriter(inbox.id, inbox.read, alice, socket)).toBe(1); // again: no change
      expect(await refusal(requests.addWriter(inbox.id, alice, stranger, socket))).toBe('not_found');
      expect((await post(relay.url, inbox.path, alice)).json).toEqual({ seq: 1 });
      expect(await requests.revokeWriter(inbox.id, inbox.read, alice, socket)).toBe(true);
      expect(await requests.revokeWriter(inbox.id, inbox.read, alice, socket)).toBe(false);
      expect((await post(relay.url, inbox.path, alice)).json).toEqual({ error: 'not_found' });
      // Strictly shaped: a hash that is not 43 base64url characters, or no ref, is no op at all.
      const op = { op: 'add_writer', mailbox: b64(inbox.id), cap: b64(inbox.read), ref: 'w' };
      for (const bad of [
        { ...op, writeCapHash: 'x'.repeat(42) },
        { ...op, writeCapHash: `${'x'.repeat(42)}=` },
        { ...op, writeCapHash: capabilityHash(alice), ref: undefined },
        { ...op, writeCapHash: capabilityHash(alice), cap: 1 },
      ])
        expect(parseOp(Buffer.from(JSON.stringify(bad)))).toBeNull();
    } finally {
      socket.close();
    }
  });

  it('revokes up to 64 writers in one op over its socket, strictly shaped', async () => {
    const inbox = await newInbox(relay.url);
    const requests = new InboxRequests(new RelayClient(relay.url));
    const socket = new RelaySocket(relay.url, { onMessage: () => undefined });
    try {
      await socket.ready();
      expect(socket.revokesBatched).toBe(true);
      const [alice, bob, carol, stranger] = [
        randomBytes(16),
        randomBytes(16),
        randomBytes(16),
        randomBytes(16),
      ];
      for (const writer of [alice, bob, carol])
        await requests.addWriter(inbox.id, inbox.read, writer, socket);
      // Two writers and one that never was: two revoked, in one op.
      expect(await requests.revokeWriters(inbox.id, inbox.read, [alice, bob, stranger], socket)).toBe(2);
      expect((await post(relay.url, inbox.path, alice)).json).toEqual({ error: 'not_found' });
      expect((await post(relay.url, inbox.path, bob)).json).toEqual({ error: 'not_found' });
      expect((await post(relay.url, inbox.path, carol)).json).toEqual({ seq: 1 });
      expect(await refusal(requests.revokeWriters(inbox.id, alice, [carol], socket))).toBe('not_found');
      const op = { op: 'revoke_writers', mailbox: b64(inbox.id), cap: b64(inbox.read), ref: 'w' };
      const hash = capabilityHash(carol);
      expect(
        parseOp(Buffer.from(JSON.stringify({ ...op, writeCapHashes: Array(64).fill(hash) }))),
      ).not.toBeNull();
      for (const bad of [
        { ...op, writeCapHashes: [] },
        { ...op, writeCapHashes: Array(65).fill(hash) },
        { ...op, writeCapHashes: [hash, 'x'.repeat(42)] },
        { ...op, writeCapHashes: [hash, 7] },
        { ...op, writeCapHashes: hash },
        { ...op, writeCapHashes: [hash], ref: undefined },
      ])
        expect(parseOp(Buffer.from(JSON.stringify(bad)))).toBeNull();
    } finally {
      socket.close();
    }
  });

  it('a RelayConnection adds and revokes writers over its socket, with no HTTP request', async () => {
    const connection = new RelayConnection(relay.url, {
      onMessage: () => undefined,
      onMailboxGone: () => undefined,
      onConnectionChange: () => undefined,
    });
    try {
      await waitFor(() => connection.connected, 'the relay connection');
      const inbox = await newInbox(relay.url);
      const routes = [
        'add_writer',
        'revoke_writer',
        'ws:add_writer',
        'ws:revoke_writer',
        'ws:revoke_writers',
      ];
      const before = await Promise.all(routes.map((r) => requestsOn(relay.url, r)));
      const writers = [randomBytes(16), randomBytes(16)];
      for (const writer of writers) await connection.addInboxWriter(inbox.id, inbox.read, writer);
      expect((await post(relay.url, inbox.path, writers[0]!)).json).toEqual({ seq: 1 });
      await connection.revokeInboxWriter(inbox.id, inbox.read, writers);
      for (const writer of writers)
        expect((await post(relay.url, inbox.path, writer)).json).toEqual({ error: 'not_found' });
      const after = await Promise.all(routes.map((r) => requestsOn(relay.url, r)));
      // Both revoked in one op.
      expect(after.map((n, i) => n - before[i]!)).toEqual([0, 0, 2, 0, 1]);
    } finally {
      connection.close();
    }
  });

  it('bounds what one writer has pending: a flood fills its own share and nobody else’s', async () => {
    const inbox = await newInbox(relay.url);
    const requests = new InboxRequests(new RelayClient(relay.url));
    const [flooder, peer] = [randomBytes(16), randomBytes(16)];
    await requests.addWriter(inbox.id, inbox.read, flooder);
    await requests.addWriter(inbox.id, inbox.read, peer);
    for (let i = 1; i <= 16; i++) expect((await post(relay.url, inbox.path, flooder)).status).toBe(202);
    const full = await post(relay.url, inbox.path, flooder);
    expect([full.status, full.json]).toEqual([409, { error: 'full' }]);
    expect((await post(relay.url, inbox.path, peer)).json).toEqual({ seq: 17 });
    // Trimming what was read gives the flooder its room back, one message per message trimmed.
    expect(await requests.trim(inbox.id, inbox.read, 8)).toBe(8);
    for (let i = 0; i < 8; i++) expect((await post(relay.url, inbox.path, flooder)).status).toBe(202);
    expect((await post(relay.url, inbox.path, flooder)).status).toBe(409);
    const read = await call(relay.url, 'GET', `${inbox.path}/messages`, { cap: inbox.read });
    expect((read.json.messages as { seq: number }[])[0]!.seq).toBe(9);
    expect(await refusal(requests.trim(inbox.id, randomBytes(16), 100))).toBe('not_found');
  });

  it('refuses every new body that is not exactly its shape, before anything else', async () => {
    const inbox = await newInbox(relay.url);
    const writer = capabilityHash(randomBytes(16));
    const bad: [string, unknown][] = [
      ['renew', { ttlSeconds: 60, extra: 1 }],
      ['renew', { ttlSeconds: '60' }],
      ['renew', { ttlSeconds: 0 }],
      ['renew', { ttlSeconds: 1.5 }],
      ['renew', {}],
      ['renew', [60]],
      ['writers', { writeCapHash: writer, extra: 1 }],
      ['writers', { writeCapHash: 1 }],
      ['writers', { writeCapHash: `${writer}A` }],
      ['writers', { writeCapHash: writer.slice(1) }],
      ['writers', { writeCapHash: `${writer.slice(1)}+` }],
      ['trim', { through: 1, extra: 1 }],
      ['trim', { through: -1 }],
      ['trim', { through: 0.5 }],
      ['trim', { through: '1' }],
      ['trim', null],
    ];
    for (const [operation, json] of bad) {
      const answer = await call(relay.url, 'POST', `${inbox.path}/${operation}`, { cap: inbox.read, json });
      expect([operation, json, answer.status, answer.json]).toEqual([
        operation,
        json,
        400,
        { error: 'bad_request' },
      ]);
    }
    const oversized = { ttlSeconds: 60, pad: 'x'.repeat(5000) };
    for (const operation of ['renew', 'writers', 'trim'])
      expect(
        (await call(relay.url, 'POST', `${inbox.path}/${operation}`, { cap: inbox.read, json: oversized }))
          .status,
      ).toBe(413);
    const create = newMailbox();
    const createPath = `/v1/mailboxes/${b64(create.id)}`;
    for (const flag of ['yes', 1, null])
      expect(
        (await call(relay.url, 'PUT', createPath, { json: { ...createBody(create), inbox: flag } })).status,
      ).toBe(400);
    // The revoke's path names a hash: anything else is refused, as are wrong methods.
    expect(
      (await call(relay.url, 'DELETE', `${inbox.path}/writers/not-a-hash`, { cap: inbox.read })).status,
    ).toBe(400);
    expect((await call(relay.url, 'GET', `${inbox.path}/writers`, { cap: inbox.read })).status).toBe(405);
    expect(
      (await call(relay.url, 'POST', `${inbox.path}/writers/${writer}`, { cap: inbox.read })).status,
    ).toBe(405);
    expect((await call(relay.url, 'POST', `${inbox.path}/renew/${writer}`, { cap: inbox.read })).status).toBe(
      404,
    );
  });

  it('keeps handshake mailboxes as they were: no owner operations, no nameplate on an inbox', async () => {
    const box = newMailbox();
    const path = `/v1/mailboxes/${b64(box.id)}`;
    expect((await call(relay.url, 'PUT', path, { json: createBody(box) })).status).toBe(201);
    for (const [operation, json] of [
      ['renew', { ttlSeconds: 60 }],
      ['writers', { writeCapHash: capabilityHash(randomBytes(16)) }],
      ['trim', { through: 1 }],
    ] as const)
      expect((await call(relay.url, 'POST', `${path}/${operation}`, { cap: box.read, json })).status).toBe(
        400,
      );
    expect((await post(relay.url, path, box.write)).json).toEqual({ seq: 1 });
    const inbox = await newInbox(relay.url);
    const nameplate = await call(relay.url, 'POST', `${inbox.path}/nameplate`, {
      cap: inbox.read,
      json: { maxClaims: 1 },
    });
    expect(nameplate.status).toBe(400);
  });

  it('answers a read 64 messages at a time, and the owner reads on from the last', async () => {
    const inbox = await newInbox(relay.url);
    const requests = new InboxRequests(new RelayClient(relay.url));
    const writers = Array.from({ length: 5 }, () => randomBytes(16));
    for (const writer of writers) await requests.addWriter(inbox.id, inbox.read, writer);
    for (const writer of writers) for (let i = 0; i < 14; i++) await post(relay.url, inbox.path, writer);
    const client = new RelayClient(relay.url);
    const first = await client.read(inbox.id, inbox.read, 0);
    expect(first.map((m) => m.seq)).toEqual(Array.from({ length: 64 }, (_, i) => i + 1));
    expect((await client.read(inbox.id, inbox.read, 64)).map((m) => m.seq)).toEqual([65, 66, 67, 68, 69, 70]);
    client.close();
  });

  it('delivers to a watch from below what was trimmed what is left, once', async () => {
    const inbox = await newInbox(relay.url);
    const requests = new InboxRequests(new RelayClient(relay.url));
    const writer = randomBytes(16);
    await requests.addWriter(inbox.id, inbox.read, writer);
    for (let i = 0; i < 6; i++) await post(relay.url, inbox.path, writer);
    await requests.trim(inbox.id, inbox.read, 4);
    const seen: number[] = [];
    const socket = new RelaySocket(relay.url, { onMessage: (_id, m) => seen.push(m.seq) });
    await socket.ready();
    socket.watch(inbox.id, inbox.read, 0);
    await waitFor(() => seen.length >= 2, 'the messages left after the trim', { deadlineMs: 20_000 });
    // A later message as a clock: a duplicate would arrive before it.
    await post(relay.url, inbox.path, writer);
    await waitFor(() => seen.includes(7), 'a message posted after the watch');
    socket.close();
    expect(seen).toEqual([5, 6, 7]);
  });

  it('counts inboxes and their writers in its metrics', async () => {
    const own = await relayWith(backend);
    try {
      const requests = new InboxRequests(new RelayClient(own.url));
      const one = await newInbox(own.url);
      const two = await newInbox(own.url);
      await call(own.url, 'PUT', `/v1/mailboxes/${b64(newMailbox().id)}`, { json: createBody(newMailbox()) });
      for (const cap of [randomBytes(16), randomBytes(16)]) await requests.addWriter(one.id, one.read, cap);
      const revoked = randomBytes(16);
      await requests.addWriter(two.id, two.read, revoked);
      await requests.revokeWriter(two.id, two.read, revoked);
      await requests.addWriter(two.id, two.read, randomBytes(16));
      expect(await gauge(own.url, 'pairlink_relay_inboxes')).toBe(2);
      expect(await gauge(own.url, 'pairlink_relay_inbox_writers')).toBe(3);
      await call(own.url, 'DELETE', one.path, { cap: one.read });
      expect(await gauge(own.url, 'pairlink_relay_inboxes')).toBe(1);
      expect(await gauge(own.url, 'pairlink_relay_inbox_writers')).toBe(1);
    } finally {
      await own.close();
    }
  });
});
