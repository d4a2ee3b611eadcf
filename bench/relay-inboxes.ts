/**
 * What an inbox costs the relay (docs/RELAY.md, Inboxes), against a real `pairlink relay` child:
 *  1. retained JS heap per inbox writer, memory store: post-GC heap snapshots of the relay before
 *     and after one inbox gains WRITERS writers, the difference over WRITERS;
 *  2. Redis memory per inbox writer: Redis's used_memory before and after, over WRITERS;
 *  3. notices per second: notice-sized posts into inboxes, each pushed to the inbox's owner (one
 *     socket watching them all), who trims every 8, as an agent will; both stores, posts over
 *     HTTP and over a socket. Limits are out of the way (the per-writer rate would cap each
 *     writer at 20/s): this is the relay's work per notice.
 * bench/relay.ts runs it as its `inbox` part (BENCH_ONLY=inbox runs it alone).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { InboxRequests } from '../relay/client/inbox-requests.js';
import { RelayClient } from '../relay/client/relay-client.js';
import { RelaySocket } from '../relay/client/relay-socket.js';
import { startRedis } from '../test/support/redis-server.js';
import { retainedHeap, sleep, startRelayChild } from './relay-child.js';
import { type Figures, value } from './stats.js';

interface Inbox {
  readonly id: Uint8Array;
  readonly read: Uint8Array;
}

const newInbox = (): Inbox => ({ id: randomBytes(16), read: randomBytes(16) });

/** Adds `writers` to `inbox`, 100 requests at a time. */
async function addWriters(requests: InboxRequests, inbox: Inbox, writers: Uint8Array[]): Promise<void> {
  for (let i = 0; i < writers.length; i += 100) {
    await Promise.all(writers.slice(i, i + 100).map((w) => requests.addWriter(inbox.id, inbox.read, w)));
  }
}

/**
 * Bytes one more writer costs, by `measure` before and after `count` writers join one inbox. The
 * client's connections are warmed up to the same number first (100 renewals at once), so the
 * difference is the writers', not the keep-alive sockets'.
 */
async function perWriter(url: string, count: number, measure: () => Promise<number>): Promise<number> {
  const client = new RelayClient(url);
  const requests = new InboxRequests(client);
  const inbox = newInbox();
  await requests.create(inbox.id, inbox.read, 3600);
  await Promise.all(Array.from({ length: 100 }, () => requests.renew(inbox.id, inbox.read, 3600)));
  const before = await measure();
  await addWriters(
    requests,
    inbox,
    Array.from({ length: count }, () => randomBytes(16)),
  );
  const after = await measure();
  client.close();
  return (after - before) / count;
}

async function redisUsedMemory(redis: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
}

/** Notices delivered to their inbox's owner per second, `concurrency` inboxes at once. */
async function noticesPerSecond(
  url: string,
  transport: 'ws' | 'http',
  concurrency: number,
  seconds: number,
): Promise<number> {
  const client = new RelayClient(url);
  const requests = new InboxRequests(client);
  const boxes = Array.from({ length: concurrency }, () => ({
    ...newInbox(),
    writer: randomBytes(16),
    delivered: 0,
    lastSeq: 0,
    heard: () => {},
  }));
  await Promise.all(boxes.map((b) => requests.create(b.id, b.read, 3600)));
  await Promise.all(boxes.map((b) => requests.addWriter(b.id, b.read, b.writer)));
  const byId = new Map(boxes.map((b) => [Buffer.from(b.id).toString('base64url'), b]));
  const owner = new RelaySocket(url, {
    onMessage: (id, message) => {
      const box = byId.get(id)!;
      box.delivered++;
      box.lastSeq = message.seq;
      box.heard();
    },
  });
  const poster = new RelaySocket(url, { onMessage: () => {} });
  await Promise.all([owner.ready(), poster.ready()]);
  for (const box of boxes) owner.watch(box.id, box.read);
  await sleep(300);
  // About a notice's size (PROTOCOL.md §11.2: a ping or an unpair ~250 bytes, a rotation ≤ 627).
  const notice = randomBytes(400);
  let running = true;
  let delivered = 0;
  const loop = async (box: (typeof boxes)[number]) => {
    while (running) {
      const heard = new Promise<void>((resolve) => {
        box.heard = resolve;
      });
      await (transport === 'ws'
        ? poster.post(box.id, box.writer, notice)
        : client.post(box.id, box.writer, notice));
      await heard;
      delivered++;
      // The owner trims what it has read, so the writer's 16 pending never fill.
      if (box.delivered % 8 === 0) await requests.trim(box.id, box.read, box.lastSeq);
    }
  };
  const loops = boxes.map(loop);
  await sleep(seconds >= 1 ? 1000 : 200); // warm-up
  const start = delivered;
  const began = performance.now();
  await sleep(seconds * 1000);
  const rate = ((delivered - start) * 1000) / (performance.now() - began);
  running = false;
  await Promise.all(loops);
  owner.close();
  poster.close();
  client.close();
  return rate;
}

/** The inbox figures (and notes) for bench/relay.ts. */
export async function inboxFigures(
  quick: boolean,
  seconds: number,
  concurrency: number,
): Promise<{ figures: Figures; notes: string[] }> {
  const writers = Number(process.env.BENCH_WRITERS ?? (quick ? 500 : 10_000));
  const figures: Figures = {};
  const snapshots = mkdtempSync(join(tmpdir(), 'pairlink-bench-'));
  const relay = await startRelayChild([], ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${snapshots}`]);
  figures[`relay heap per inbox writer, memory store (${writers} writers, post-GC snapshots)`] = value(
    'KiB',
    (await perWriter(relay.url, writers, () => retainedHeap(relay, snapshots))) / 1024,
  );
  for (const transport of ['http', 'ws'] as const)
    figures[`notices/s into inboxes, memory store, posts over ${transport}`] = value(
      'per s',
      await noticesPerSecond(relay.url, transport, concurrency, seconds),
    );
  await relay.stop();
  rmSync(snapshots, { recursive: true, force: true });

  const redis = await startRedis();
  const redisRelay = await startRelayChild(['--redis', redis.url]);
  const redisClient = new Redis(redis.url);
  figures[`Redis memory per inbox writer (${writers} writers, used_memory)`] = value(
    'KiB',
    (await perWriter(redisRelay.url, writers, () => redisUsedMemory(redisClient))) / 1024,
  );
  for (const transport of ['http', 'ws'] as const)
    figures[`notices/s into inboxes, Redis store, posts over ${transport}`] = value(
      'per s',
      await noticesPerSecond(redisRelay.url, transport, concurrency, seconds),
    );
  await redisClient.quit();
  await redisRelay.stop();
  await redis.stop();
  return {
    figures,
    notes: [
      `inboxes: ${concurrency} inboxes, one writer each posting 400-byte notices, ${seconds} s each; the owner trims every 8`,
    ],
  };
}
