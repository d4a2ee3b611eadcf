import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { RelayClient } from '../../relay/client/relay-client.js';
import { type RunningRelay, startRelay } from '../../relay/server/relay-server.js';
import { MemoryStore } from '../../relay/server/store/memory-store.js';
import { RedisStore } from '../../relay/server/store/redis-store.js';
import { PausableStore } from '../support/pausable-store.js';
import { type RedisServer, startRedis } from '../support/redis-server.js';
import { b64, call, newMailbox, openRelaySocket, type TestMailbox } from '../support/relay-http.js';

/**
 * A relay reads a mailbox, then waits for what happens to it next. Whatever happens between the
 * read and the start of the wait must still wake the waiter: on a Redis relay a post's event can
 * arrive at any moment. Each test holds the relay's store read (its answer already taken from the
 * real store) until a post or delete has landed and its event has been heard, then lets it finish.
 */

const silent = pino({ level: 'silent' });
/** Only a wake-up can answer a long-poll here: its wait (an hour) is far past the tests' guard. */
const LONG_POLL_SECONDS = 3600;
let redis: RedisServer;

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

async function storeFor(backend: 'memory' | 'redis'): Promise<PausableStore> {
  if (backend === 'memory') return new PausableStore(new MemoryStore());
  const store = new RedisStore(redis.url, `wake${process.pid}:`);
  await store.connect();
  return new PausableStore(store);
}

async function wsFrames(
  url: string,
): Promise<{ ws: WebSocket; next: () => Promise<Record<string, unknown>> }> {
  const ws = await openRelaySocket(url);
  const frames: Record<string, unknown>[] = [];
  const waiting: ((frame: Record<string, unknown>) => void)[] = [];
  ws.on('message', (data) => {
    const frame = JSON.parse(String(data)) as Record<string, unknown>;
    const waiter = waiting.shift();
    if (waiter) waiter(frame);
    else frames.push(frame);
  });
  const next = () =>
    new Promise<Record<string, unknown>>((resolve) => {
      const frame = frames.shift();
      if (frame) resolve(frame);
      else waiting.push(resolve);
    });
  return { ws, next };
}

describe.each(['memory', 'redis'] as const)('wake-ups around a store read (%s store)', (backend) => {
  let relay: RunningRelay;
  let store: PausableStore;
  const client = () => new RelayClient(relay.url);
  beforeAll(async () => {
    store = await storeFor(backend);
    relay = await startRelay({
      host: '127.0.0.1',
      port: 0,
      trustProxy: false,
      logger: silent,
      store,
      limits: { ipBurst: 10_000, ipRatePerSecond: 10_000, longPollMaxSeconds: LONG_POLL_SECONDS },
    });
  });
  afterAll(async () => {
    await relay?.close();
  });

  /** The long-polls the relay holds now (its gauge pairlink_relay_long_polls). */
  async function longPolls(): Promise<number> {
    const { text } = await call(relay.url, 'GET', '/metrics');
    return Number(/^pairlink_relay_long_polls (\S+)$/m.exec(text)?.[1]);
  }

  async function freshMailbox(): Promise<TestMailbox> {
    const box = newMailbox();
    await client().createMailbox(box.id, box.read, box.write, 60);
    return box;
  }

  const longPoll = (box: TestMailbox, wait = LONG_POLL_SECONDS) =>
    call(relay.url, 'GET', `/v1/mailboxes/${b64(box.id)}/messages?after=0&wait=${wait}`, { cap: box.read });

  it('a long-poll hears a post that lands between its store read and its wait', async () => {
    const box = await freshMailbox();
    const id = b64(box.id);
    const held = store.holdNext('readMessages', id);
    const polled = longPoll(box);
    await held.reached; // the relay has read "no messages"
    const heard = store.nextEvent(id, 'message');
    await client().post(box.id, box.write, new Uint8Array([9]));
    await heard; // the relay has had its wake-up
    held.release();
    const answer = await polled;
    expect(answer.status).toBe(200);
    expect(answer.json.messages).toEqual([{ seq: 1, body: b64(new Uint8Array([9])) }]);
    expect(await longPolls()).toBe(0);
  });

  it('a long-poll hears a delete that lands between its store read and its wait', async () => {
    const box = await freshMailbox();
    const id = b64(box.id);
    const held = store.holdNext('readMessages', id);
    const polled = longPoll(box);
    await held.reached;
    const heard = store.nextEvent(id, 'closed');
    await client().deleteMailbox(box.id, box.read);
    await heard;
    held.release();
    expect((await polled).json).toEqual({ error: 'not_found' });
    expect(await longPolls()).toBe(0);
  });

  it('stops counting a long-poll whose store read fails', async () => {
    const box = await freshMailbox();
    const held = store.holdNext('readMessages', b64(box.id));
    const polled = longPoll(box);
    await held.reached;
    held.fail(new Error('store lost'));
    expect((await polled).status).toBe(503);
    expect(await longPolls()).toBe(0);
  });

  it('stops counting a long-poll answered at once, and one whose wait ran out', async () => {
    const box = await freshMailbox();
    await client().post(box.id, box.write, new Uint8Array([1]));
    expect((await longPoll(box)).json.messages).toHaveLength(1);
    expect(await longPolls()).toBe(0);
    const empty = await freshMailbox();
    expect((await longPoll(empty, 1)).json.messages).toEqual([]);
    expect(await longPolls()).toBe(0);
  });

  it('a watch delivers a post that lands while its backlog is read', async () => {
    const box = await freshMailbox();
    const id = b64(box.id);
    const { ws, next } = await wsFrames(relay.url);
    const held = store.holdNext('readMessages', id);
    ws.send(JSON.stringify({ op: 'watch', mailbox: id, cap: b64(box.read) }));
    await held.reached;
    const heard = store.nextEvent(id, 'message');
    await client().post(box.id, box.write, new Uint8Array([5]));
    await heard;
    held.release();
    expect(await next()).toMatchObject({ op: 'watching', mailbox: id });
    expect(await next()).toMatchObject({ op: 'message', mailbox: id, seq: 1 });
    ws.close();
  });

  it('a watch hears a delete that lands between its authorization and its registration', async () => {
    const box = await freshMailbox();
    const id = b64(box.id);
    const { ws, next } = await wsFrames(relay.url);
    const held = store.holdNext('getMailbox', id);
    ws.send(JSON.stringify({ op: 'watch', mailbox: id, cap: b64(box.read) }));
    await held.reached; // the read capability checked out
    const heard = store.nextEvent(id, 'closed');
    await client().deleteMailbox(box.id, box.read);
    await heard;
    held.release();
    // Not "watching" a mailbox that is gone: the client would wait on it forever.
    expect(await next()).toEqual({ op: 'error', mailbox: id, error: 'not_found' });
    ws.close();
  });
});
