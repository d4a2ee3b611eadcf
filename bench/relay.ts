/**
 * Relay throughput and memory, against a real `pairlink relay` child process:
 *  1. mailbox round trips per second (post → pushed delivery → reply → pushed delivery), memory
 *     and Redis stores, posting over the WebSocket and over HTTP;
 *  2. relay RSS per waiting mailbox with 10,000 mailboxes each watched by its own socket, net of
 *     the sockets themselves (measured separately in the same run).
 *  3. the same round trips across two relay instances sharing one Redis;
 *  4. what an inbox costs: memory per inbox writer and notices per second (bench/relay-inboxes.ts).
 * Run: npm run bench, or node dist/bench/relay.js (needs redis-server for the Redis rows)
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { RelayClient } from '../relay/client/relay-client.js';
import { RelaySocket } from '../relay/client/relay-socket.js';
import { startRedis } from '../test/support/redis-server.js';
import { retainedHeap, rssBytes, sleep, startRelayChild } from './relay-child.js';
import { inboxFigures } from './relay-inboxes.js';
import { type Figures, report, value } from './stats.js';

const QUICK = process.env.BENCH_QUICK === '1';
const SECONDS = Number(process.env.BENCH_SECONDS ?? (QUICK ? 0.5 : 5));
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const WAITING = Number(process.env.BENCH_WAITING ?? (QUICK ? 500 : 10_000));
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? (QUICK ? 500 : 12_000));
interface Box {
  id: Uint8Array;
  read: Uint8Array;
  write: Uint8Array;
}
const newBox = (): Box => ({ id: randomBytes(16), read: randomBytes(16), write: randomBytes(16) });

/** Round trips between two sockets: on one relay, or side B on a second relay sharing the store. */
async function roundTrips(url: string, transport: 'ws' | 'http', urlB = url): Promise<number> {
  const client = new RelayClient(url);
  const aBoxes = Array.from({ length: CONCURRENCY }, newBox);
  const bBoxes = Array.from({ length: CONCURRENCY }, newBox);
  await Promise.all([...aBoxes, ...bBoxes].map((b) => client.createMailbox(b.id, b.read, b.write, 3600)));
  const indexOf = new Map<string, number>();
  for (const boxes of [aBoxes, bBoxes]) {
    for (const [i, b] of boxes.entries()) indexOf.set(Buffer.from(b.id).toString('base64url'), i);
  }
  let running = true;
  let completed = 0;
  const payload = randomBytes(200); // about the size of a hello frame
  const post = (socket: RelaySocket, box: Box) =>
    (transport === 'ws'
      ? socket.post(box.id, box.write, payload)
      : client.post(box.id, box.write, payload)
    ).catch((e: Error) => {
      if (running) console.error('post failed:', e.message);
      return 0;
    });
  // Side B answers every message; side A counts a round trip and starts the next.
  const sideB: RelaySocket = new RelaySocket(urlB, {
    onMessage: (id) => void post(sideB, aBoxes[indexOf.get(id)!]!),
  });
  const sideA: RelaySocket = new RelaySocket(url, {
    onMessage: (id) => {
      completed++;
      if (running) void post(sideA, bBoxes[indexOf.get(id)!]!);
    },
  });
  await Promise.all([sideA.ready(), sideB.ready()]);
  for (const b of aBoxes) sideA.watch(b.id, b.read);
  for (const b of bBoxes) sideB.watch(b.id, b.read);
  await sleep(300);
  for (const box of bBoxes) void post(sideA, box);
  await sleep(QUICK ? 200 : 1000); // warm-up
  const start = completed;
  const began = performance.now();
  await sleep(SECONDS * 1000);
  const rate = ((completed - start) * 1000) / (performance.now() - began);
  running = false;
  await sleep(200);
  sideA.close();
  sideB.close();
  return rate;
}

async function openSockets(url: string, count: number): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  for (let i = 0; i < count; i += 500) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(500, count - i) }, () => {
        const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/ws`, { perMessageDeflate: false });
        return new Promise<WebSocket>((resolve, reject) => {
          ws.once('open', () => resolve(ws));
          ws.once('error', reject);
        });
      }),
    );
    sockets.push(...batch);
  }
  return sockets;
}

interface MemoryFigures {
  perSocket: number;
  perMailbox: number;
  baseline: number;
  heapPerMailbox: number | null;
}

/** Sends one malformed op on each socket and waits for every error reply. */
function exchangeOnce(sockets: WebSocket[]): Promise<void> {
  let pending = sockets.length;
  return new Promise((resolve) => {
    for (const ws of sockets) {
      ws.once('message', () => {
        if (--pending === 0) resolve();
      });
      ws.send('{}');
    }
  });
}

async function waitingMemory(nodeFlags: string[], snapshotDir: string | null): Promise<MemoryFigures> {
  const flags = snapshotDir
    ? [...nodeFlags, '--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${snapshotDir}`]
    : nodeFlags;
  const relay = await startRelayChild([], flags);
  const pid = relay.process.pid!;
  await sleep(500);
  const baseline = rssBytes(pid);
  const sockets = await openSockets(relay.url, WAITING);
  // One exchange on every socket first, so state a socket allocates on first use counts as the
  // socket's cost, not the mailbox's: "beyond the socket itself" means a socket in use.
  await exchangeOnce(sockets);
  await sleep(SETTLE_MS);
  const withSockets = rssBytes(pid);
  const heapBefore = snapshotDir ? await retainedHeap(relay, snapshotDir) : 0;
  const client = new RelayClient(relay.url);
  const boxes = Array.from({ length: WAITING }, newBox);
  for (let i = 0; i < boxes.length; i += 200) {
    await Promise.all(boxes.slice(i, i + 200).map((b) => client.createMailbox(b.id, b.read, b.write, 3600)));
  }
  let watching = 0;
  await new Promise<void>((resolve) => {
    sockets.forEach((ws, i) => {
      ws.on('message', (data) => {
        if (JSON.parse(String(data)).op === 'watching' && ++watching === WAITING) resolve();
      });
      const box = boxes[i]!;
      ws.send(
        JSON.stringify({
          op: 'watch',
          mailbox: Buffer.from(box.id).toString('base64url'),
          cap: Buffer.from(box.read).toString('base64url'),
        }),
      );
    });
  });
  // Waiting mailboxes are idle: give V8 the idle time in which it collects (memory reducer), and
  // measure the steady state, not the garbage of the creation burst. The same wait is applied
  // to the sockets-only phase above, so both figures are like for like.
  await sleep(SETTLE_MS);
  const withMailboxes = rssBytes(pid);
  const heapAfter = snapshotDir ? await retainedHeap(relay, snapshotDir) : 0;
  for (const ws of sockets) ws.terminate();
  await relay.stop();
  return {
    baseline,
    perSocket: (withSockets - baseline) / WAITING,
    perMailbox: (withMailboxes - withSockets) / WAITING,
    heapPerMailbox: snapshotDir ? (heapAfter - heapBefore) / WAITING : null,
  };
}

const figures: Figures = {};
const notes: string[] = [];
const only = process.env.BENCH_ONLY; // 'throughput', 'memory' or 'inbox' to run one part
const runs = (part: 'throughput' | 'memory' | 'inbox') => only === undefined || only === part;
if (runs('throughput')) {
  for (const store of ['memory', 'redis'] as const) {
    const redis = store === 'redis' ? await startRedis() : null;
    const relay = await startRelayChild(redis ? ['--redis', redis.url] : []);
    for (const transport of ['ws', 'http'] as const) {
      figures[`round trips/s, ${store} store, posts over ${transport}`] = value(
        'per s',
        await roundTrips(relay.url, transport),
      );
    }
    if (redis) {
      // Two relay instances sharing one Redis: each side on its own instance, delivery across them.
      const second = await startRelayChild(['--redis', redis.url]);
      figures['round trips/s, two relays sharing one Redis (ws)'] = value(
        'per s',
        await roundTrips(relay.url, 'ws', second.url),
      );
      await second.stop();
    }
    await relay.stop();
    await redis?.stop();
  }
  notes.push(`round trips: concurrency ${CONCURRENCY}, ${SECONDS} s each, this process is the load`);
}
if (runs('memory')) {
  const REPEATS = Number(process.env.BENCH_MEMORY_REPEATS ?? (QUICK ? 1 : 3));
  // A single RSS delta swings with V8's heap sizing; report the median of a few runs.
  const runs: MemoryFigures[] = [];
  for (let i = 0; i < REPEATS; i++) runs.push(await waitingMemory([], null));
  const mid = <T>(xs: T[], key: (x: T) => number) =>
    xs.map(key).sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const perSocket = mid(runs, (r) => r.perSocket);
  const perMailbox = mid(runs, (r) => r.perMailbox);
  const total = mid(runs, (r) => r.baseline + (r.perSocket + r.perMailbox) * WAITING);
  figures['relay memory per open idle socket'] = value('KiB', perSocket / 1024);
  figures['relay memory per waiting mailbox beyond its socket'] = value('KiB', perMailbox / 1024);
  figures[`relay RSS with ${WAITING} waiting mailboxes and ${WAITING} idle sockets`] = value(
    'MiB',
    total / 1048576,
  );
  notes.push(`memory: ${REPEATS} run(s), each measured after ${SETTLE_MS / 1000} s idle; medians`);
  // The tuning docs/RELAY.md recommends for relays holding many idle sockets, measured alike.
  const tuned = await waitingMemory(['--max-semi-space-size=1'], null);
  figures['  with --max-semi-space-size=1: per idle socket'] = value('KiB', tuned.perSocket / 1024);
  figures['  with --max-semi-space-size=1: per waiting mailbox beyond it'] = value(
    'KiB',
    tuned.perMailbox / 1024,
  );
  figures[`  with --max-semi-space-size=1: RSS with ${WAITING} of each`] = value(
    'MiB',
    (tuned.baseline + (tuned.perSocket + tuned.perMailbox) * WAITING) / 1048576,
  );
  if (process.env.BENCH_HEAP === '1') {
    // Writing a snapshot grows RSS itself, so this run reports only the retained heap.
    const snapshotDir = mkdtempSync(join(tmpdir(), 'pairlink-bench-'));
    const heap = await waitingMemory([], snapshotDir);
    figures['retained JS heap per waiting mailbox (post-GC snapshots)'] = value(
      'KiB',
      (heap.heapPerMailbox ?? 0) / 1024,
    );
    rmSync(snapshotDir, { recursive: true, force: true });
  }
}
if (runs('inbox')) {
  const inbox = await inboxFigures(QUICK, SECONDS, CONCURRENCY);
  Object.assign(figures, inbox.figures);
  notes.push(...inbox.notes);
}
report(`Relay (its own process; memory store unless said), node ${process.version}`, figures, notes);
