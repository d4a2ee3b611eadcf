import { once } from 'node:events';
import { type Duplex, duplexPair } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { type LineHandler, MAX_FRAME_BYTES, MAX_IN_FLIGHT } from '../../agent/rpc-dispatch.js';
import { MAX_HELD_NOTIFICATIONS, SocketConnection } from '../../agent/socket-connection.js';
import { LineBuffer } from '../../src/rpc/line-framing.js';

// The agent's socket transport (agent/socket-connection.ts) over an in-memory duplex pair, the way
// vscode-jsonrpc tests its transports: framing, the 1 MiB bound, half-close and the in-flight
// bound, with a line handler whose answers the test releases. Real sockets:
// test/integration/rpc-backpressure.test.ts and rpc-socket-edges.test.ts.

/** A line handler that answers `ok:<line>` when the test releases it, and says when it got N lines. */
function heldAnswers() {
  const seen: string[] = [];
  const releases: (() => void)[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  const handler: LineHandler = {
    run(line) {
      seen.push(line);
      for (const w of waiters.filter((w) => seen.length >= w.count)) w.resolve();
      return { count: 1, done: new Promise((resolve) => releases.push(() => resolve(`"ok:${line}"`))) };
    },
    tooLarge: () => '"too large"',
  };
  return {
    handler,
    seen,
    /** Releases the answers held so far, oldest first. */
    release: () => {
      for (const release of releases.splice(0)) release();
    },
    releaseOne: () => releases.shift()?.(),
    /** Resolves once `count` lines reached the handler. */
    reached: (count: number) =>
      new Promise<void>((resolve) => (seen.length >= count ? resolve() : waiters.push({ count, resolve }))),
  };
}

/** The client's side: every line the agent's side wrote, and a wait for the next few. */
function client(side: Duplex) {
  const buffer = new LineBuffer();
  const lines: string[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  side.setEncoding('utf8');
  side.on('data', (chunk: string) => {
    buffer.push(chunk);
    for (let line = buffer.next(); line !== null; line = buffer.next()) lines.push(line);
    for (const w of waiters.filter((w) => lines.length >= w.count)) w.resolve();
  });
  const ended = once(side, 'end');
  return {
    lines,
    ended,
    received: (count: number) =>
      new Promise<void>((resolve) => (lines.length >= count ? resolve() : waiters.push({ count, resolve }))),
  };
}

function connected() {
  const [agentSide, clientSide] = duplexPair();
  const connection = new SocketConnection(1, agentSide, () => {
    throw new Error('only a subscriber falls behind');
  });
  const answers = heldAnswers();
  connection.read(answers.handler);
  return { connection, answers, clientSide, agentSide, peer: client(clientSide) };
}

describe('SocketConnection over an in-memory duplex pair', () => {
  it('hands on a line split over writes once its newline arrives, skipping blank lines', async () => {
    const { answers, clientSide, peer } = connected();
    clientSide.write('{"jsonrpc":');
    clientSide.write('"2.0"}\n\n   \nsecond');
    clientSide.write('\n');
    await answers.reached(2);
    expect(answers.seen).toEqual(['{"jsonrpc":"2.0"}', 'second']);
    answers.release();
    await peer.received(2);
    expect(peer.lines).toEqual(['"ok:{"jsonrpc":"2.0"}"', '"ok:second"']);
  });

  it('answers a line with no newline in its first 1 MiB once, then closes', async () => {
    const { answers, clientSide, peer } = connected();
    clientSide.write('x'.repeat(MAX_FRAME_BYTES + 1));
    await peer.ended;
    expect(peer.lines).toEqual(['"too large"']);
    expect(answers.seen).toEqual([]);
  });

  it('after the client shuts its side, answers every line it sent, then ends', async () => {
    const { answers, clientSide, peer } = connected();
    clientSide.end('a\nb\nc\n');
    await answers.reached(3);
    answers.release();
    await peer.ended;
    expect(peer.lines).toEqual(['"ok:a"', '"ok:b"', '"ok:c"']);
  });

  it(`stops reading at ${MAX_IN_FLIGHT} requests in progress, and reads one more per answer`, async () => {
    const { connection, answers, clientSide, peer } = connected();
    const extra = 10;
    clientSide.write(Array.from({ length: MAX_IN_FLIGHT + extra }, (_, i) => `r${i}\n`).join(''));
    await answers.reached(MAX_IN_FLIGHT);
    expect(connection.figures()).toMatchObject({ pendingRequests: MAX_IN_FLIGHT, reading: false });
    answers.releaseOne();
    await peer.received(1);
    // The answer is written before its slot is freed and the next line read: exactly one more.
    expect(answers.seen).toHaveLength(MAX_IN_FLIGHT + 1);
    expect(connection.figures().pendingRequests).toBe(MAX_IN_FLIGHT);
    answers.release();
    await answers.reached(MAX_IN_FLIGHT + extra);
    answers.release();
    await peer.received(MAX_IN_FLIGHT + extra);
    expect(connection.figures()).toMatchObject({ pendingRequests: 0, reading: true });
  });

  it(`disconnects a subscriber that holds ${MAX_HELD_NOTIFICATIONS} notifications it has not taken`, async () => {
    const [agentSide, clientSide] = duplexPair();
    const fellBehind: { id: number; heldNotifications: number }[] = [];
    const connection = new SocketConnection(3, agentSide, (figures) => fellBehind.push(figures));
    connection.read(heldAnswers().handler);
    // The client never reads: what the agent side writes stays unread.
    const closed = once(agentSide, 'close');
    for (let i = 0; i <= MAX_HELD_NOTIFICATIONS && fellBehind.length === 0; i += 1)
      connection.notify(`{"n":${i}}\n`);
    await closed;
    expect(fellBehind).toEqual([
      expect.objectContaining({ id: 3, heldNotifications: MAX_HELD_NOTIFICATIONS }),
    ]);
    expect(clientSide.readableLength).toBeGreaterThan(0);
  });
});
