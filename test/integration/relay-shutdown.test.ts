import { request } from 'node:http';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { RelayClient } from '../../relay/client/relay-client.js';
import { type RunningRelay, startRelay } from '../../relay/server/relay-server.js';
import { MemoryStore } from '../../relay/server/store/memory-store.js';
import { RedisStore } from '../../relay/server/store/redis-store.js';
import type { RelayStore } from '../../relay/server/store/store.js';
import { type HeldAnswer, PausableStore } from '../support/pausable-store.js';
import { type RedisServer, startRedis } from '../support/redis-server.js';
import { b64, call, newMailbox, openRelaySocket, type TestMailbox } from '../support/relay-http.js';

/**
 * A relay told to stop (SIGTERM → close()) while a handler still awaits its store finishes that
 * handler, within a deadline, before it closes the store: an orderly shutdown cuts no work it
 * could finish and logs no error. Each test holds a post's write on its way into the store.
 */

interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [field: string]: unknown;
}

const ERROR_LEVEL = 50;
const WARN_LEVEL = 40;

/** A pino logger at debug whose lines the test reads, and waits on. */
function capturedLogs() {
  const lines: LogLine[] = [];
  const waiting: { match: (line: LogLine) => boolean; resolve: () => void }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      const line = JSON.parse(chunk.toString('utf8')) as LogLine;
      lines.push(line);
      for (const waiter of waiting.filter((w) => w.match(line))) {
        waiting.splice(waiting.indexOf(waiter), 1);
        waiter.resolve();
      }
      done();
    },
  });
  return {
    logger: pino({ level: 'debug' }, stream),
    lines,
    errors: () => lines.filter((line) => line.level >= ERROR_LEVEL),
    /** Resolves once a line with message `msg` has been logged. */
    logged(msg: string): Promise<void> {
      if (lines.some((line) => line.msg === msg)) return Promise.resolve();
      return new Promise((resolve) => waiting.push({ match: (line) => line.msg === msg, resolve }));
    },
  };
}

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

describe.each(['memory', 'redis'] as const)('relay shutdown with work in flight (%s store)', (backend) => {
  let relay: RunningRelay | undefined;
  let store: PausableStore;
  let logs: ReturnType<typeof capturedLogs>;
  let prefix = '';
  let memory: MemoryStore | undefined;

  async function start(shutdownDrainMs?: number): Promise<RunningRelay> {
    let inner: RelayStore;
    if (backend === 'memory') {
      memory = new MemoryStore();
      inner = memory;
    } else {
      prefix = `shutdown${process.pid}:${Math.random().toString(36).slice(2)}:`;
      const redisStore = new RedisStore(redis.url, prefix);
      await redisStore.connect();
      inner = redisStore;
    }
    store = new PausableStore(inner);
    logs = capturedLogs();
    relay = await startRelay({
      host: '127.0.0.1',
      port: 0,
      trustProxy: false,
      logger: logs.logger,
      store,
      ...(shutdownDrainMs !== undefined ? { shutdownDrainMs } : {}),
    });
    return relay;
  }
  afterEach(async () => {
    await relay?.close();
    relay = undefined;
  });

  /** What the store holds for `box` now, read through a store of its own (the relay's is closed). */
  async function stored(box: TestMailbox): Promise<unknown> {
    if (memory) return memory.readMessages(b64(box.id), 0);
    const reader = new RedisStore(redis.url, prefix);
    await reader.connect();
    try {
      return await reader.readMessages(b64(box.id), 0);
    } finally {
      await reader.close();
    }
  }

  async function freshMailbox(url: string): Promise<TestMailbox> {
    const box = newMailbox();
    await new RelayClient(url).createMailbox(box.id, box.read, box.write, 60);
    return box;
  }

  /** Posts one byte to `box` and hangs up once the relay holds its write; the hold, to release or fail. */
  async function postAndHangUp(url: string, box: TestMailbox): Promise<HeldAnswer> {
    const held = store.holdNext('appendMessage', b64(box.id));
    const posting = request(`${url}/v1/mailboxes/${b64(box.id)}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${b64(box.write)}` },
    });
    posting.on('error', () => {}); // the hang-up itself
    posting.end(Buffer.from([7]));
    await held.reached;
    posting.destroy();
    return held;
  }

  /** Posts one byte to `box` over `ws` (the answer is not awaited). */
  function postOver(ws: WebSocket, box: TestMailbox, byte: number, ref: string): void {
    ws.send(
      JSON.stringify({
        op: 'post',
        mailbox: b64(box.id),
        cap: b64(box.write),
        body: b64(new Uint8Array([byte])),
        ref,
      }),
    );
  }

  /** Which comes first: the relay draining its handlers, or closing its store under them. */
  function firstOf(): Promise<'draining' | 'store closed'> {
    return Promise.race([
      logs.logged('relay finishing requests in flight').then(() => 'draining' as const),
      store.closing.then(() => 'store closed' as const),
    ]);
  }

  it('a request whose client hung up is stored before the store closes, with no error logged', async () => {
    const { url } = await start();
    const box = await freshMailbox(url);
    const held = await postAndHangUp(url, box);
    const closed = relay!.close();
    expect(await firstOf()).toBe('draining');
    held.release();
    await closed;
    expect(await stored(box)).toEqual([{ seq: 1, body: b64(new Uint8Array([7])) }]);
    expect(logs.errors()).toEqual([]);
  });

  it('a request held in the store when close() begins is answered and stored', async () => {
    const { url } = await start();
    const box = await freshMailbox(url);
    const held = store.holdNext('appendMessage', b64(box.id));
    const posted = call(url, 'POST', `/v1/mailboxes/${b64(box.id)}/messages`, {
      cap: box.write,
      body: new Uint8Array([3]),
    });
    await held.reached;
    const closed = relay!.close();
    held.release();
    expect((await posted).status).toBe(202);
    await closed;
    expect(await stored(box)).toEqual([{ seq: 1, body: b64(new Uint8Array([3])) }]);
    expect(logs.errors()).toEqual([]);
  });

  it('a WebSocket post held in the store finishes before the store closes', async () => {
    const { url } = await start();
    const box = await freshMailbox(url);
    const ws = await openRelaySocket(url);
    const held = store.holdNext('appendMessage', b64(box.id));
    postOver(ws, box, 5, 'r1');
    await held.reached;
    const closed = relay!.close();
    expect(await firstOf()).toBe('draining');
    held.release();
    await closed;
    expect(await stored(box)).toEqual([{ seq: 1, body: b64(new Uint8Array([5])) }]);
    expect(logs.errors()).toEqual([]);
  });

  it('a WebSocket op that arrives once close() has begun is not run', async () => {
    const { url } = await start();
    const box = await freshMailbox(url);
    const ws = await openRelaySocket(url);
    const closed = relay!.close();
    // Sent before the client has read the relay's close frame: the relay receives it while closing.
    postOver(ws, box, 6, 'r2');
    await closed;
    expect(await stored(box)).toEqual([]);
    expect(logs.errors()).toEqual([]);
  });

  it('a handler held past the drain deadline is cut with one warning, and no error', async () => {
    const { url } = await start(50);
    const box = await freshMailbox(url);
    const held = await postAndHangUp(url, box);
    await relay!.close();
    const warnings = logs.lines.filter((line) => line.level === WARN_LEVEL);
    expect(warnings.map((line) => line.msg)).toEqual(['relay shutdown cut 1 requests still in flight']);
    // What the store answers a handler once it is closed under it (ioredis: "Connection is closed.").
    held.fail(new Error('Connection is closed.'));
    await logs.logged('request cut by shutdown');
    expect(logs.errors()).toEqual([]);
  });
});
