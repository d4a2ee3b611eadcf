import { createServer, type Server } from 'node:http';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { RelayClient } from '../../relay/client/relay-client.js';
import { RelaySocket } from '../../relay/client/relay-socket.js';
import { type RunningRelay, startRelay } from '../../relay/server/relay-server.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { b64, call, createBody, newMailbox, openRelaySocket } from '../support/relay-http.js';
import { waitFor } from '../support/wait-for.js';

const logger = pino({ level: 'silent' });
const closers: (() => unknown)[] = [];
afterAll(async () => {
  for (const close of closers.reverse()) await close();
});

/** A "relay" that answers every request with `answer` (status 200 unless given). */
async function lyingRelay(answer: string, status = 200): Promise<string> {
  const server: Server = createServer((_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(answer);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise((r) => server.close(r)));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

async function realRelay(limits = {}): Promise<RunningRelay> {
  const relay = await startRelay({ host: '127.0.0.1', port: 0, trustProxy: false, limits, logger });
  closers.push(() => relay.close());
  return relay;
}

describe('the relay client does not trust the relay', () => {
  it('a claim answer with a NaN, missing or wrong-typed field is RELAY_PROTOCOL, never a value', async () => {
    const good = {
      mailbox: b64(newMailbox().id),
      writeCap: b64(newMailbox().write),
      expiresAt: Date.now() + 60_000,
    };
    for (const bad of [
      { ...good, expiresAt: 'soon' },
      { ...good, expiresAt: null },
      { mailbox: good.mailbox, writeCap: good.writeCap },
      { ...good, writeCap: 'short' },
      { ...good, extra: 1 },
    ]) {
      const client = new RelayClient(await lyingRelay(JSON.stringify(bad)));
      await expect(client.claimNameplate('K7Q')).rejects.toMatchObject({ code: 'RELAY_PROTOCOL' });
      client.close();
    }
    const fine = new RelayClient(await lyingRelay(JSON.stringify(good)));
    expect((await fine.claimNameplate('K7Q')).expiresAt).toBe(good.expiresAt);
    fine.close();
  });

  it("a relay that never answers is RELAY_UNREACHABLE within the client's timeout", async () => {
    const server = createServer(() => undefined); // accepts, then says nothing
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise((r) => server.closeAllConnections?.() ?? server.close(r)));
    const client = new RelayClient(`http://127.0.0.1:${(server.address() as { port: number }).port}`, 300);
    // The client's own deadline ended it (it says so), not a close from the other side.
    await expect(client.post(newMailbox().id, newMailbox().write, Uint8Array.of(1))).rejects.toMatchObject({
      code: 'RELAY_UNREACHABLE',
      message: expect.stringMatching(/no answer within 300 ms$/),
    });
    client.close();
  });

  it('a half-open connection (no bytes either way, no close) is dropped and the socket comes back', async () => {
    const relay = await realRelay();
    const proxy = new FaultProxy({ host: '127.0.0.1', port: relay.port }, 7);
    await proxy.listen();
    closers.push(() => proxy.close());
    const box = newMailbox();
    const client = new RelayClient(relay.url);
    await client.createMailbox(box.id, box.read, box.write, 60);
    const seen: number[] = [];
    const socket = new RelaySocket(
      proxy.url,
      { onMessage: (_id, m) => seen.push(m.body[0]!) },
      { pingIntervalMs: 200, postTimeoutMs: 500, maxBackoffMs: 200 },
    );
    closers.push(() => socket.close());
    await socket.ready();
    socket.watch(box.id, box.read);
    proxy.setSilent(true);
    // A post into the silence fails within its deadline instead of hanging.
    await expect(socket.post(box.id, box.write, Uint8Array.of(9))).rejects.toMatchObject({
      code: 'RELAY_UNREACHABLE',
    });
    await client.post(box.id, box.write, Uint8Array.of(1));
    proxy.setSilent(false);
    // The missed pong drops the dead socket; the new one re-watches and gets the message.
    await waitFor(() => seen.includes(1), 'the message on the new socket');
    expect(seen).toContain(1);
  });
});

describe('the relay under faults of its own', () => {
  it('a watch whose backlog read fails is undone: a second watch works and messages arrive', async () => {
    const relay = await realRelay();
    const box = newMailbox();
    expect(
      (await call(relay.url, 'PUT', `/v1/mailboxes/${b64(box.id)}`, { json: createBody(box) })).status,
    ).toBe(201);
    const store = relay.store as { readMessages: (...a: unknown[]) => Promise<unknown> };
    const read = store.readMessages.bind(store);
    let failOnce = true;
    store.readMessages = (...a: unknown[]) => {
      if (failOnce) {
        failOnce = false;
        return Promise.reject(new Error('store unavailable'));
      }
      return read(...a);
    };
    const ws = await openRelaySocket(relay.url);
    closers.push(() => ws.terminate());
    const frames: Record<string, unknown>[] = [];
    ws.on('message', (data) => frames.push(JSON.parse(String(data)) as Record<string, unknown>));
    const watch = JSON.stringify({ op: 'watch', mailbox: b64(box.id), cap: b64(box.read) });
    ws.send(watch);
    await waitFor(() => frames.some((f) => f.op === 'error'), 'the refused watch');
    expect(frames.find((f) => f.op === 'error')).toMatchObject({ error: 'unavailable' });
    ws.send(watch);
    await waitFor(() => frames.some((f) => f.op === 'watching'), 'the second watch');
    await new RelayClient(relay.url).post(box.id, box.write, Uint8Array.of(5));
    await waitFor(() => frames.some((f) => f.op === 'message'), 'the message');
    expect(frames.filter((f) => f.op === 'message').map((f) => f.seq)).toEqual([1]);
  });

  it('caps WebSockets per client address (503 past the cap), not only in total', async () => {
    const relay = await realRelay({ maxSocketsPerIp: 3 });
    const open = () =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(`${relay.url.replace('http', 'ws')}/v1/ws`);
        closers.push(() => ws.terminate());
        ws.once('open', () => resolve(101));
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.once('error', () => undefined);
      });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push(await open());
    expect(statuses).toEqual([101, 101, 101, 503]);
  });

  it('refuses an empty message over the WebSocket, as over HTTP', async () => {
    const relay = await realRelay();
    const box = newMailbox();
    await new RelayClient(relay.url).createMailbox(box.id, box.read, box.write, 60);
    const ws = await openRelaySocket(relay.url);
    closers.push(() => ws.terminate());
    const answer = new Promise<Record<string, unknown>>((r) =>
      ws.once('message', (d) => r(JSON.parse(String(d)))),
    );
    ws.send(JSON.stringify({ op: 'post', mailbox: b64(box.id), cap: b64(box.write), body: '', ref: 'e' }));
    expect(await answer).toMatchObject({ op: 'error', error: 'bad_request' });
  });
});
