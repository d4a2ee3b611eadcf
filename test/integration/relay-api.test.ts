import { get as httpGet } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { WebSocketServer } from 'ws';
import { RelayClient } from '../../relay/client/relay-client.js';
import { isExistsAnswer, RelayConnection } from '../../relay/client/relay-connection.js';
import { capabilityHash } from '../../relay/client/relay-endpoint.js';
import { RelaySocket } from '../../relay/client/relay-socket.js';
import type { RelayLimits } from '../../relay/server/limits.js';
import type { RunningRelay } from '../../relay/server/relay-server.js';
import { type RedisServer, startRedis } from '../support/redis-server.js';
import { b64, call, createBody, gauge, newMailbox, openRelaySocket } from '../support/relay-http.js';
import { startTestRelay } from '../support/test-relay.js';
import { waitFor } from '../support/wait-for.js';

let redis: RedisServer;

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

function relayWith(backend: 'memory' | 'redis', limits: Partial<RelayLimits> = {}): Promise<RunningRelay> {
  return startTestRelay(backend, redis, { limits, trustProxy: true });
}

/**
 * Long-polls in these tests may wait an hour: far past the test's hang guard, so a long-poll that
 * answers did so because a message arrived, never because its wait ran out.
 */
const LONG_POLL_SECONDS = 3600;

async function wsOpen(url: string): Promise<{
  ws: WebSocket;
  frames: Record<string, unknown>[];
  next: (op: string) => Promise<Record<string, unknown>>;
}> {
  const ws = await openRelaySocket(url);
  const frames: Record<string, unknown>[] = [];
  const waiting: { op: string; resolve: (f: Record<string, unknown>) => void }[] = [];
  ws.on('message', (data) => {
    const frame = JSON.parse(String(data)) as Record<string, unknown>;
    const index = waiting.findIndex((w) => w.op === frame.op);
    if (index >= 0) waiting.splice(index, 1)[0]!.resolve(frame);
    else frames.push(frame);
  });
  const next = (op: string) =>
    new Promise<Record<string, unknown>>((resolve) => {
      const index = frames.findIndex((f) => f.op === op);
      if (index >= 0) resolve(frames.splice(index, 1)[0]!);
      else waiting.push({ op, resolve });
    });
  return { ws, frames, next };
}

describe.each(['memory', 'redis'] as const)('relay API (%s store)', (backend) => {
  let relay: RunningRelay;
  beforeAll(async () => {
    relay = await relayWith(backend, { longPollMaxSeconds: LONG_POLL_SECONDS });
  });
  afterAll(async () => {
    await relay?.close();
  });
  /** The long-polls the relay holds now (its gauge). */
  const longPolls = () => gauge(relay.url, 'pairlink_relay_long_polls');

  it('serves health, readiness, Prometheus metrics and the invite page', async () => {
    expect((await call(relay.url, 'GET', '/healthz')).status).toBe(200);
    const ready = await call(relay.url, 'GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json.store).toBe(backend);
    // Only a store that a restart empties says since when it holds the relay's mailboxes.
    if (backend === 'memory') expect(ready.json.storeSince).toBeLessThanOrEqual(Date.now());
    else expect(ready.json.storeSince).toBeUndefined();
    const metrics = await call(relay.url, 'GET', '/metrics');
    expect(metrics.headers.get('content-type')).toContain('text/plain');
    for (const name of [
      'pairlink_relay_requests_total',
      'pairlink_relay_mailboxes',
      'pairlink_relay_websockets',
      'pairlink_relay_long_polls',
      'pairlink_relay_request_duration_seconds_bucket',
      'pairlink_relay_rejections_total',
    ]) {
      expect(metrics.text).toContain(name);
    }
    const page = await call(relay.url, 'GET', '/i');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(page.text).toContain('pairlink accept');
  });

  it('answers unknown routes with 404 and wrong methods with 405', async () => {
    expect((await call(relay.url, 'GET', '/nope')).json).toEqual({ error: 'not_found' });
    expect((await call(relay.url, 'PATCH', `/v1/mailboxes/${b64(newMailbox().id)}`)).status).toBe(405);
    expect((await call(relay.url, 'GET', '/v1/nameplates/ABC/claim')).status).toBe(405);
  });

  it('creates a mailbox once, and refuses bad JSON, unknown keys, bad ids and TTLs', async () => {
    const box = newMailbox();
    const path = `/v1/mailboxes/${b64(box.id)}`;
    const created = await call(relay.url, 'PUT', path, { json: createBody(box) });
    expect(created.status).toBe(201);
    expect(Number(created.json.expiresAt)).toBeGreaterThan(Date.now());
    expect((await call(relay.url, 'PUT', path, { json: createBody(box) })).status).toBe(409);
    const other = `/v1/mailboxes/${b64(newMailbox().id)}`;
    expect(
      (
        await call(relay.url, 'PUT', other, {
          body: '{not json',
          headers: { 'content-type': 'application/json' },
        })
      ).status,
    ).toBe(400);
    expect((await call(relay.url, 'PUT', other, { json: { ...createBody(box), extra: 1 } })).status).toBe(
      400,
    );
    expect(
      (await call(relay.url, 'PUT', other, { json: { ...createBody(box), ttlSeconds: 10 ** 9 } })).status,
    ).toBe(400);
    expect((await call(relay.url, 'PUT', '/v1/mailboxes/short', { json: createBody(box) })).status).toBe(400);
    expect(
      (await call(relay.url, 'PUT', other, { json: { ...createBody(box), readCapHash: 'x' } })).status,
    ).toBe(400);
    expect(
      (
        await call(relay.url, 'PUT', other, {
          body: 'x'.repeat(5000),
          headers: { 'content-type': 'application/json' },
        })
      ).status,
    ).toBe(413);
  });

  it('posts with the write capability only; unknown, wrong and missing capabilities get one identical answer', async () => {
    const box = newMailbox();
    await call(relay.url, 'PUT', `/v1/mailboxes/${b64(box.id)}`, { json: createBody(box) });
    const path = `/v1/mailboxes/${b64(box.id)}/messages`;
    const posted = await call(relay.url, 'POST', path, { cap: box.write, body: new Uint8Array([1, 2, 3]) });
    expect(posted.status).toBe(202);
    expect(posted.json.seq).toBe(1);
    const answers = await Promise.all([
      call(relay.url, 'POST', path, { cap: box.read, body: 'x' }),
      call(relay.url, 'POST', path, { body: 'x' }),
      call(relay.url, 'POST', `/v1/mailboxes/${b64(newMailbox().id)}/messages`, {
        cap: box.write,
        body: 'x',
      }),
      call(relay.url, 'POST', path, { cap: newMailbox().write, body: 'x' }),
    ]);
    for (const answer of answers) {
      expect(answer.status).toBe(404);
      expect(answer.text).toBe(answers[0]!.text);
    }
  });

  it('refuses oversized and empty message bodies', async () => {
    const box = newMailbox();
    await call(relay.url, 'PUT', `/v1/mailboxes/${b64(box.id)}`, { json: createBody(box) });
    const path = `/v1/mailboxes/${b64(box.id)}/messages`;
    expect(
      (await call(relay.url, 'POST', path, { cap: box.write, body: new Uint8Array(16 * 1024 + 1) })).status,
    ).toBe(413);
    expect(
      (await call(relay.url, 'POST', path, { cap: box.write, body: new Uint8Array(16 * 1024) })).status,
    ).toBe(202);
    expect((await call(relay.url, 'POST', path, { cap: box.write, body: '' })).status).toBe(400);
  });

  it('reads with the read capability only, after a sequence number, and long-polls', async () => {
    const client = new RelayClient(relay.url);
    const box = newMailbox();
    await client.createMailbox(box.id, box.read, box.write, 60);
    await client.post(box.id, box.write, new Uint8Array([7]));
    await client.post(box.id, box.write, new Uint8Array([8]));
    expect((await client.read(box.id, box.read)).map((m) => m.body[0])).toEqual([7, 8]);
    expect((await client.read(box.id, box.read, 1)).map((m) => m.seq)).toEqual([2]);
    await expect(client.read(box.id, box.write)).rejects.toMatchObject({ code: 'INVITE_NOT_FOUND' });
    // The relay's gauge says when the read is held, so the post comes after it; and only the post
    // can answer it (it would otherwise wait an hour).
    expect(await longPolls()).toBe(0);
    const polled = client.read(box.id, box.read, 2, LONG_POLL_SECONDS);
    await waitFor(async () => (await longPolls()) === 1, 'a held long-poll');
    await client.post(box.id, box.write, new Uint8Array([9]));
    const [message] = await polled;
    expect(message?.body[0]).toBe(9);
    expect(await longPolls()).toBe(0);
  });

  it('stops counting a long-poll whose client went away', async () => {
    const client = new RelayClient(relay.url);
    const box = newMailbox();
    await client.createMailbox(box.id, box.read, box.write, 60);
    const path = `/v1/mailboxes/${b64(box.id)}/messages?after=0&wait=${LONG_POLL_SECONDS}`;
    const polling = httpGet(`${relay.url}${path}`, { headers: { authorization: `Bearer ${b64(box.read)}` } });
    const failed = new Promise<Error>((resolve) => polling.once('error', resolve));
    await waitFor(async () => (await longPolls()) === 1, 'a held long-poll');
    polling.destroy();
    expect(await failed).toMatchObject({ code: 'ECONNRESET' });
    await waitFor(async () => (await longPolls()) === 0, 'the long-poll no longer counted');
  });

  it('deletes with the read capability; afterwards the mailbox is indistinguishable from never-was', async () => {
    const client = new RelayClient(relay.url);
    const box = newMailbox();
    await client.createMailbox(box.id, box.read, box.write, 60);
    await expect(client.deleteMailbox(box.id, box.write)).rejects.toMatchObject({ code: 'INVITE_NOT_FOUND' });
    await client.deleteMailbox(box.id, box.read);
    const after = await call(relay.url, 'POST', `/v1/mailboxes/${b64(box.id)}/messages`, {
      cap: box.write,
      body: 'x',
    });
    const never = await call(relay.url, 'POST', `/v1/mailboxes/${b64(newMailbox().id)}/messages`, {
      cap: box.write,
      body: 'x',
    });
    expect([after.status, after.text]).toEqual([never.status, never.text]);
  });

  it('nameplates: bound by the read capability, each claim gets its own write capability, then crowded', async () => {
    const client = new RelayClient(relay.url);
    const box = newMailbox();
    await client.createMailbox(box.id, box.read, null, 60);
    await expect(client.createNameplate(box.id, box.write, 2)).rejects.toMatchObject({
      code: 'INVITE_NOT_FOUND',
    });
    const { nameplate } = await client.createNameplate(box.id, box.read, 2);
    expect(nameplate).toMatch(/^[0-9A-HJKMNP-TV-Z]{3,4}$/);
    const first = await client.claimNameplate(nameplate);
    const second = await client.claimNameplate(nameplate);
    expect(b64(first.mailboxId)).toBe(b64(box.id));
    expect(b64(first.writeCap)).not.toBe(b64(second.writeCap));
    await client.post(box.id, first.writeCap, new Uint8Array([1]));
    await client.post(box.id, second.writeCap, new Uint8Array([2]));
    expect((await client.read(box.id, box.read)).length).toBe(2);
    await expect(client.claimNameplate(nameplate)).rejects.toMatchObject({ code: 'CROWDED' });
    await expect(client.claimNameplate('ZZZZ')).rejects.toMatchObject({ code: 'INVITE_NOT_FOUND' });
    await client.deleteMailbox(box.id, box.read);
    await expect(client.claimNameplate(nameplate)).rejects.toMatchObject({ code: 'INVITE_NOT_FOUND' });
  });

  it('expires mailboxes and their nameplates at their TTL', async () => {
    const client = new RelayClient(relay.url);
    const box = newMailbox();
    await client.createMailbox(box.id, box.read, box.write, 1);
    const { nameplate } = await client.createNameplate(box.id, box.read, 1);
    await client.post(box.id, box.write, new Uint8Array([1]));
    // Wait for the expiry itself (1 s TTL), not a guess of how long it takes.
    const deadline = Date.now() + 5000;
    while (
      Date.now() < deadline &&
      (await client.read(box.id, box.read).then(
        () => true,
        () => false,
      ))
    )
      await new Promise((r) => setTimeout(r, 50));
    await expect(client.post(box.id, box.write, new Uint8Array([2]))).rejects.toMatchObject({
      code: 'INVITE_NOT_FOUND',
    });
    await expect(client.read(box.id, box.read)).rejects.toMatchObject({ code: 'INVITE_NOT_FOUND' });
    await expect(client.claimNameplate(nameplate)).rejects.toMatchObject({ code: 'INVITE_NOT_FOUND' });
  });

  it('WebSocket: backlog then live pushes, posts, closed on delete, errors for bad input', async () => {
    const client = new RelayClient(relay.url);
    const box = newMailbox();
    await client.createMailbox(box.id, box.read, box.write, 60);
    await client.post(box.id, box.write, new Uint8Array([1]));
    const { ws, next } = await wsOpen(relay.url);
    ws.send(JSON.stringify({ op: 'watch', mailbox: b64(box.id), cap: b64(box.write) }));
    expect(await next('error')).toMatchObject({ error: 'not_found', mailbox: b64(box.id) });
    ws.send(JSON.stringify({ op: 'watch', mailbox: b64(box.id), cap: b64(box.read) }));
    expect(await next('watching')).toMatchObject({ mailbox: b64(box.id) });
    expect(await next('message')).toMatchObject({ seq: 1, body: b64(new Uint8Array([1])) });
    ws.send(
      JSON.stringify({
        op: 'post',
        mailbox: b64(box.id),
        cap: b64(box.write),
        body: b64(new Uint8Array([2])),
        ref: 'r1',
      }),
    );
    expect(await next('posted')).toMatchObject({ ref: 'r1', seq: 2 });
    expect(await next('message')).toMatchObject({ seq: 2 });
    ws.send('not json');
    expect(await next('error')).toMatchObject({ error: 'bad_request' });
    await client.deleteMailbox(box.id, box.read);
    expect(await next('closed')).toMatchObject({ mailbox: b64(box.id) });
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.send('x'.repeat(40 * 1024));
    expect(await closed).toBe(1009); // message too big
  });

  it("WebSocket: creates and deletes mailboxes with the HTTP routes' checks, answers and statuses", async () => {
    const { ws, next } = await wsOpen(relay.url);
    const box = newMailbox();
    const create = (extra: Record<string, unknown> = {}) =>
      ws.send(
        JSON.stringify({
          op: 'create',
          mailbox: b64(box.id),
          readCapHash: capabilityHash(box.read),
          writeCapHash: capabilityHash(box.write),
          ttlSeconds: 60,
          ref: 'c1',
          ...extra,
        }),
      );
    create();
    const created = await next('created');
    expect(created).toMatchObject({ ref: 'c1' });
    expect(created.expiresAt).toBeGreaterThan(Date.now());
    create({ ref: 'c2' });
    expect(await next('error')).toEqual({ op: 'error', ref: 'c2', error: 'exists', status: 409 });
    create({ mailbox: b64(newMailbox().id), ttlSeconds: 10 ** 9, ref: 'c3' });
    expect(await next('error')).toEqual({ op: 'error', ref: 'c3', error: 'bad_request', status: 400 });
    create({ ref: undefined }); // no ref: not an operation at all
    expect(await next('error')).toEqual({ op: 'error', error: 'bad_request' });
    // The mailbox works as one made over HTTP: posts, then watch, then delete closes it.
    const client = new RelayClient(relay.url);
    await client.post(box.id, box.write, new Uint8Array([7]));
    ws.send(JSON.stringify({ op: 'watch', mailbox: b64(box.id), cap: b64(box.read) }));
    expect(await next('message')).toMatchObject({ seq: 1 });
    ws.send(JSON.stringify({ op: 'delete', mailbox: b64(box.id), cap: b64(box.write), ref: 'd1' }));
    expect(await next('error')).toEqual({ op: 'error', ref: 'd1', error: 'not_found', status: 404 });
    ws.send(JSON.stringify({ op: 'delete', mailbox: b64(box.id), cap: b64(box.read), ref: 'd2' }));
    expect(await next('deleted')).toEqual({ op: 'deleted', ref: 'd2' });
    expect(await next('closed')).toMatchObject({ mailbox: b64(box.id) });
    await expect(client.read(box.id, box.read)).rejects.toMatchObject({ code: 'INVITE_NOT_FOUND' });
    ws.close();
  });

  it('WebSocket: a post naming an earlier one in `after` is stored after it, and never when that one was refused', async () => {
    const client = new RelayClient(relay.url);
    const box = newMailbox();
    await client.createMailbox(box.id, box.read, box.write, 60);
    const { ws, next } = await wsOpen(relay.url);
    const post = (ref: string, byte: number, extra: Record<string, unknown> = {}) => ({
      op: 'post',
      mailbox: b64(box.id),
      cap: b64(box.write),
      body: b64(new Uint8Array([byte])),
      ref,
      ...extra,
    });
    // Sent without waiting: one write each, read by the relay in one go or not.
    ws.send(JSON.stringify(post('a', 1)));
    ws.send(JSON.stringify(post('b', 2, { after: 'a' })));
    ws.send(JSON.stringify(post('c', 3, { after: 'b' })));
    expect([await next('posted'), await next('posted'), await next('posted')]).toEqual([
      { op: 'posted', ref: 'a', seq: 1 },
      { op: 'posted', ref: 'b', seq: 2 },
      { op: 'posted', ref: 'c', seq: 3 },
    ]);
    // The first is refused (a wrong capability): the one after it is refused too, not stored.
    ws.send(JSON.stringify(post('d', 4, { cap: b64(newMailbox().write) })));
    ws.send(JSON.stringify(post('e', 5, { after: 'd' })));
    expect(await next('error')).toEqual({ op: 'error', ref: 'd', error: 'not_found' });
    expect(await next('error')).toEqual({ op: 'error', ref: 'e', error: 'after_refused' });
    // A ref this socket never posted (or posted too long ago to remember): refused as well.
    ws.send(JSON.stringify(post('f', 6, { after: 'never' })));
    expect(await next('error')).toEqual({ op: 'error', ref: 'f', error: 'after_refused' });
    ws.send(JSON.stringify(post('g', 7, { after: 'g' })));
    expect(await next('error')).toEqual({ op: 'error', ref: 'g', error: 'after_refused' });
    const read = await client.read(box.id, box.read);
    expect(read.map((m) => [m.seq, Array.from(m.body)])).toEqual([
      [1, [1]],
      [2, [2]],
      [3, [3]],
    ]);
    ws.close();
    client.close();
  });

  it('RelayConnection creates and deletes over its socket where the relay says it can, else over HTTP; the socket reads what the relay announces', async () => {
    const connection = new RelayConnection(relay.url, {
      onMessage: () => undefined,
      onMailboxGone: () => undefined,
      onConnectionChange: () => undefined,
    });
    const routes = async () => {
      const { text } = await call(relay.url, 'GET', '/metrics');
      const count = (route: string) =>
        [
          ...text.matchAll(
            new RegExp(`pairlink_relay_requests_total\\{route="${route}",status="[^"]+"\\} (\\d+)`, 'g'),
          ),
        ]
          .map((m) => Number(m[1]))
          .reduce((a, b) => a + b, 0);
      return { ws: count('ws:create') + count('ws:delete'), http: count('create') + count('delete') };
    };
    try {
      for (let i = 0; i < 100 && !connection.connected; i++) await new Promise((r) => setTimeout(r, 20));
      const before = await routes();
      const box = newMailbox();
      await connection.createMailbox(box.id, box.read, null, 60);
      // A taken id is the "exists" answer over both transports; the connection takes it as done
      // (our ids are random: an earlier attempt made it).
      await expect(connection.createMailbox(box.id, box.read, null, 60)).resolves.toBeUndefined();
      const client = new RelayClient(relay.url, 5_000);
      const overHttp = await client.createMailbox(box.id, box.read, null, 60).catch((e: unknown) => e);
      client.close();
      expect(isExistsAnswer(overHttp)).toBe(true);
      await connection.deleteMailbox(box.id, box.read);
      await connection.deleteMailbox(box.id, box.read); // already gone: what was wanted
      const after = await routes();
      expect(after.ws - before.ws).toBe(4);
      expect(after.http - before.http).toBe(1); // the RelayClient's own create, above
    } finally {
      connection.close();
    }
    // A relay that does not announce the operations (an older one): the socket keeps to HTTP.
    const older = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => older.once('listening', r));
    const socket = new RelaySocket(`http://127.0.0.1:${(older.address() as AddressInfo).port}`, {
      onMessage: () => undefined,
    });
    try {
      await socket.ready();
      expect(socket.mailboxOps).toBe(false);
      expect(socket.postsAfter).toBe(false);
    } finally {
      socket.close();
      older.close();
    }
    const current = new RelaySocket(relay.url, { onMessage: () => undefined });
    try {
      await current.ready();
      expect(current.mailboxOps).toBe(true);
      // Clients send a post's `after` only to relays that say they keep it.
      expect(current.postsAfter).toBe(true);
    } finally {
      current.close();
    }
  });

  it('RelaySocket resumes after a reconnect without loss or duplicates', async () => {
    const client = new RelayClient(relay.url);
    const box = newMailbox();
    await client.createMailbox(box.id, box.read, box.write, 60);
    const seen: number[] = [];
    const socket = new RelaySocket(relay.url, { onMessage: (_id, m) => seen.push(m.body[0]!) });
    await socket.ready();
    socket.watch(box.id, box.read);
    const seenAtLeast = async (n: number) => {
      const deadline = Date.now() + 10_000;
      while (seen.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    };
    await client.post(box.id, box.write, new Uint8Array([1]));
    await seenAtLeast(1);
    // Drop the connection; the client reconnects and re-watches after the last seq it delivered.
    (socket as unknown as { socket: WebSocket }).socket.terminate();
    await client.post(box.id, box.write, new Uint8Array([2]));
    await seenAtLeast(2); // delivered from the backlog once the socket is back
    await client.post(box.id, box.write, new Uint8Array([3]));
    await seenAtLeast(3);
    // A later message as a clock: a duplicate on this socket would arrive before it.
    await client.post(box.id, box.write, new Uint8Array([4]));
    await seenAtLeast(4);
    socket.close();
    expect(seen).toEqual([1, 2, 3, 4]);
  });
});

describe.each(['memory', 'redis'] as const)('relay limits (%s store)', (backend) => {
  it('rate-limits per address with 429 and Retry-After', async () => {
    const relay = await relayWith(backend, { ipBurst: 3, ipRatePerSecond: 0.5 });
    try {
      const statuses: number[] = [];
      let retryAfter: string | null = null;
      for (let i = 0; i < 5; i++) {
        const r = await call(relay.url, 'GET', '/v1/nameplates/ABC/claim', {
          headers: { 'x-forwarded-for': '203.0.113.7' },
        });
        statuses.push(r.status);
        if (r.status === 429) retryAfter = r.headers.get('retry-after');
      }
      expect(statuses.slice(0, 3)).toEqual([405, 405, 405]);
      expect(statuses.slice(3)).toEqual([429, 429]);
      expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
      // Another address (behind --trust-proxy) has its own bucket; health checks are never limited.
      expect(
        (
          await call(relay.url, 'GET', '/v1/nameplates/ABC/claim', {
            headers: { 'x-forwarded-for': '203.0.113.8' },
          })
        ).status,
      ).toBe(405);
      expect(
        (await call(relay.url, 'GET', '/healthz', { headers: { 'x-forwarded-for': '203.0.113.7' } })).status,
      ).toBe(200);
      const metrics = await call(relay.url, 'GET', '/metrics');
      expect(metrics.text).toMatch(/pairlink_relay_rejections_total\{reason="ip_rate"\} 2/);
    } finally {
      await relay.close();
    }
  });

  it('limits posts per mailbox (429 + Retry-After); posts without the capability spend no tokens', async () => {
    const relay = await relayWith(backend, { mailboxBurst: 2, mailboxRatePerSecond: 0.1 });
    try {
      const box = newMailbox();
      await call(relay.url, 'PUT', `/v1/mailboxes/${b64(box.id)}`, { json: createBody(box) });
      const post = (cap: Uint8Array) =>
        call(relay.url, 'POST', `/v1/mailboxes/${b64(box.id)}/messages`, { cap, body: 'x' });
      for (let i = 0; i < 5; i++) expect((await post(newMailbox().write)).status).toBe(404);
      expect((await post(box.write)).status).toBe(202);
      expect((await post(box.write)).status).toBe(202);
      const limited = await post(box.write);
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    } finally {
      await relay.close();
    }
  });

  it('limits messages per mailbox and mailboxes per address', async () => {
    const relay = await relayWith(backend, { maxMessagesPerMailbox: 2, maxMailboxesPerIp: 2 });
    try {
      const box = newMailbox();
      const create = (b = newMailbox()) =>
        call(relay.url, 'PUT', `/v1/mailboxes/${b64(b.id)}`, { json: createBody(b) });
      expect((await create(box)).status).toBe(201);
      const post = () =>
        call(relay.url, 'POST', `/v1/mailboxes/${b64(box.id)}/messages`, { cap: box.write, body: 'x' });
      expect((await post()).status).toBe(202);
      expect((await post()).status).toBe(202);
      const full = await post();
      expect([full.status, full.json]).toEqual([409, { error: 'full' }]);
      expect((await create()).status).toBe(201);
      const third = await create();
      expect(third.status).toBe(429);
      expect(third.json.error).toBe('too_many_mailboxes');
    } finally {
      await relay.close();
    }
  });
});

describe.each(['memory', 'redis'] as const)('relay resources under attack (%s store)', (backend) => {
  it('claims count only at their first post: 40 strangers’ claims do not crowd out the acceptor', async () => {
    const relay = await relayWith(backend);
    try {
      const client = new RelayClient(relay.url);
      const box = newMailbox();
      await client.createMailbox(box.id, box.read, null, 60);
      const { nameplate } = await client.createNameplate(box.id, box.read, 1);
      const strangers = [];
      for (let i = 0; i < 40; i++) strangers.push(await client.claimNameplate(nameplate));
      const real = await client.claimNameplate(nameplate);
      await client.post(box.id, real.writeCap, new Uint8Array([1]));
      // The limit (1) is used up by the claim that posted; a stranger's later first post and any
      // new claim are crowded, and the oldest unused claims were dropped (32 are kept).
      await expect(client.post(box.id, strangers[39]!.writeCap, new Uint8Array([2]))).rejects.toMatchObject({
        code: 'CROWDED',
      });
      await expect(client.post(box.id, strangers[0]!.writeCap, new Uint8Array([2]))).rejects.toMatchObject({
        code: 'INVITE_NOT_FOUND',
      });
      await expect(client.claimNameplate(nameplate)).rejects.toMatchObject({ code: 'CROWDED' });
      // The claimant that posted keeps posting (its confirm, its ack).
      await client.post(box.id, real.writeCap, new Uint8Array([3]));
      expect((await client.read(box.id, box.read)).map((m) => m.seq)).toEqual([1, 2]);
    } finally {
      await relay.close();
    }
  });

  it('wrong-length and near-miss capabilities get exactly the answer an unknown mailbox gets', async () => {
    const relay = await relayWith(backend);
    try {
      const box = newMailbox();
      const made = await call(relay.url, 'PUT', `/v1/mailboxes/${b64(box.id)}`, { json: createBody(box) });
      expect(made.status).toBe(201);
      const first = await call(relay.url, 'GET', `/v1/mailboxes/${b64(box.id)}/messages`, { cap: box.read });
      expect(first.status, `${first.text} ${JSON.stringify(made.json)}`).toBe(200);
      const flip = (cap: Uint8Array, at: number) => {
        const copy = Uint8Array.from(cap); // a copy (Buffer#slice would be a view)
        copy[at]! ^= 0x01;
        return copy;
      };
      const unknown = newMailbox();
      for (const [cap, right] of [
        [box.read, 'read'],
        [box.write, 'write'],
      ] as const) {
        const misses = [
          cap.subarray(0, 15),
          new Uint8Array([...cap, 0]),
          flip(cap, 0),
          flip(cap, 15),
          new Uint8Array(16),
        ];
        for (const miss of misses) {
          const method = right === 'read' ? 'GET' : 'POST';
          const options = right === 'read' ? { cap: miss } : { cap: miss, body: 'x' };
          const near = await call(relay.url, method, `/v1/mailboxes/${b64(box.id)}/messages`, options);
          const none = await call(relay.url, method, `/v1/mailboxes/${b64(unknown.id)}/messages`, options);
          expect([near.status, near.text]).toEqual([404, none.text]);
          const del = await call(relay.url, 'DELETE', `/v1/mailboxes/${b64(box.id)}`, { cap: miss });
          expect([del.status, del.text]).toEqual([404, none.text]);
        }
      }
      // Not a bearer token at all, or the capability in another spelling.
      for (const authorization of [
        '',
        'Bearer',
        `Basic ${b64(box.read)}`,
        `Bearer ${b64(box.read)}=`,
        `Bearer ${Buffer.from(box.read).toString('base64')}x`,
      ]) {
        const r = await call(relay.url, 'GET', `/v1/mailboxes/${b64(box.id)}/messages`, {
          headers: { authorization },
        });
        expect(r.status).toBe(404);
      }
      expect(
        (await call(relay.url, 'GET', `/v1/mailboxes/${b64(box.id)}/messages`, { cap: box.read })).status,
      ).toBe(200);
    } finally {
      await relay.close();
    }
  });

  it('a deleted mailbox id cannot be created again: the same 409 as a live one', async () => {
    const relay = await relayWith(backend);
    try {
      const live = newMailbox();
      const used = newMailbox();
      const create = (b: ReturnType<typeof newMailbox>, other = b) =>
        call(relay.url, 'PUT', `/v1/mailboxes/${b64(b.id)}`, {
          json: createBody({ ...other, id: b.id }),
        });
      expect((await create(live)).status).toBe(201);
      expect((await create(used)).status).toBe(201);
      expect(
        (await call(relay.url, 'DELETE', `/v1/mailboxes/${b64(used.id)}`, { cap: used.read })).status,
      ).toBe(200);
      // Someone else tries to take the ids over with capabilities of their own.
      const again = await create(used, newMailbox());
      const liveAgain = await create(live, newMailbox());
      expect([again.status, again.text]).toEqual([liveAgain.status, liveAgain.text]);
      expect(again.status).toBe(409);
      // Reads and posts on it answer exactly like an id that never existed.
      const never = newMailbox();
      for (const [method, path, cap] of [
        ['GET', 'messages', used.read],
        ['POST', 'messages', used.write],
      ] as const) {
        const options = method === 'POST' ? { cap, body: 'x' } : { cap };
        const gone = await call(relay.url, method, `/v1/mailboxes/${b64(used.id)}/${path}`, options);
        const unknown = await call(relay.url, method, `/v1/mailboxes/${b64(never.id)}/${path}`, options);
        expect([gone.status, gone.text]).toEqual([unknown.status, unknown.text]);
      }
    } finally {
      await relay.close();
    }
  });

  it('a global mailbox cap holds whatever the number of addresses, with a metric', async () => {
    const relay = await relayWith(backend, { maxMailboxes: 5 });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++) {
        const box = newMailbox();
        const r = await call(relay.url, 'PUT', `/v1/mailboxes/${b64(box.id)}`, {
          json: createBody(box),
          headers: { 'x-forwarded-for': `198.51.100.${i}` },
        });
        statuses.push(r.status);
        if (i === 0) {
          // A deleted one still counts (its tombstone) until it would have expired.
          await call(relay.url, 'DELETE', `/v1/mailboxes/${b64(box.id)}`, {
            cap: box.read,
            headers: { 'x-forwarded-for': '198.51.100.0' },
          });
        }
      }
      expect(statuses).toEqual([201, 201, 201, 201, 201, 503, 503]);
      const metrics = await call(relay.url, 'GET', '/metrics');
      expect(metrics.text).toMatch(/pairlink_relay_rejections_total\{reason="mailbox_cap"\} 2/);
      expect(metrics.text).toMatch(/pairlink_relay_mailbox_limit 5/);
      expect(metrics.text).toMatch(/pairlink_relay_mailboxes 5/);
    } finally {
      await relay.close();
    }
  });
});
