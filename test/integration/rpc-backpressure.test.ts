import { createConnection, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_IN_FLIGHT } from '../../agent/rpc-dispatch.js';
import { MAX_HELD_NOTIFICATIONS, OUTPUT_HIGH_WATER_BYTES } from '../../agent/socket-connection.js';
import { connect, type PairlinkClient } from '../../client/index.js';
import type { AgentInfo } from '../../src/rpc/protocol.js';
import { type AgentProcess, startAgent, testRoot } from '../support/agent-process.js';
import { type RelayProcess, startRelayProcess } from '../support/relay-process.js';

// Clients of the agent's socket that never read (docs/SECURITY.md §Whoever reaches the local
// socket): what the agent holds for them is bounded, measured by agent.info from another
// connection; the agent keeps serving everyone else.

type Figures = AgentInfo['connections'][number];

let relay: RelayProcess;
let agent: AgentProcess;
let observer: PairlinkClient;
beforeAll(async () => {
  // Each notification below costs a mailbox created and deleted at the relay: lift its rate limits.
  const unlimited = { ipRatePerSecond: 1e6, ipBurst: 1e6, mailboxRatePerSecond: 1e6, mailboxBurst: 1e6 };
  relay = await startRelayProcess([], { PAIRLINK_RELAY_LIMITS: JSON.stringify(unlimited) });
  agent = await startAgent(testRoot(), 'held', relay.url);
  observer = await connect({ socket: agent.socket });
});
afterAll(async () => {
  observer?.close();
  await agent?.stop();
  await relay?.stop();
});

/** Opens a raw connection that never reads, and resolves once the agent lists it: its id. */
async function neverReading(): Promise<{ socket: Socket; id: number; closed: () => boolean }> {
  const known = new Set((await observer.call('agent.info', {})).connections.map((c) => c.id));
  const socket = createConnection(agent.socket);
  let closed = false;
  socket.on('close', () => {
    closed = true;
  });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.pause();
  for (let look = 0; look < 1000; look++) {
    const added = (await observer.call('agent.info', {})).connections.find((c) => !known.has(c.id));
    if (added) return { socket, id: added.id, closed: () => closed };
    await sleep(10);
  }
  throw new Error('the agent never listed the new connection');
}

/** The agent's figures for connection `id`, or undefined once it is gone. */
async function figuresOf(id: number): Promise<Figures | undefined> {
  return (await observer.call('agent.info', {})).connections.find((c) => c.id === id);
}

describe('a client that never reads', () => {
  it('writing 18,000 rpc.discover requests: the agent stops reading it past 1 MiB of unread answers', async () => {
    const answerBytes = Buffer.byteLength(
      JSON.stringify({ jsonrpc: '2.0', id: 17_999, result: await observer.call('rpc.discover', {}) }),
    );
    // The most it may hold: the high-water mark, plus the answers of the requests in progress when
    // it was crossed (at most MAX_IN_FLIGHT, each with its newline).
    const bound = OUTPUT_HIGH_WATER_BYTES + MAX_IN_FLIGHT * (answerBytes + 1);
    const flood = await neverReading();
    const lines = Array.from(
      { length: 18_000 },
      (_, id) => `{"jsonrpc":"2.0","id":${id},"method":"rpc.discover"}\n`,
    );
    flood.socket.write(lines.join(''));
    let held: Figures | undefined;
    for (let look = 0; look < 2000; look++) {
      held = await figuresOf(flood.id);
      expect(held?.backlogBytes).toBeLessThanOrEqual(bound);
      if (held && !held.reading && held.pendingRequests === 0 && held.backlogBytes > OUTPUT_HIGH_WATER_BYTES)
        break;
      await sleep(10);
    }
    expect(held?.reading).toBe(false);
    // It stays there: nothing more is read while the client takes nothing (the backlog can only
    // shrink, by what the client's own stream buffers before it stops reading too).
    const later = await figuresOf(flood.id);
    expect(later).toMatchObject({ reading: false, pendingRequests: 0 });
    expect(later!.backlogBytes).toBeLessThanOrEqual(held!.backlogBytes);
    // What it wrote is still on its side, unread by the agent.
    expect(flood.socket.writableLength).toBeGreaterThan(0);
    flood.socket.destroy();
    for (let look = 0; look < 1000 && (await figuresOf(flood.id)) !== undefined; look++) await sleep(10);
    expect(await figuresOf(flood.id)).toBeUndefined();
  });

  it('a client that writes 300 requests, shuts its side and only then reads, gets all 300 answers', async () => {
    // 300 answers are ~12 MB: the agent pauses past 1 MiB and must still answer what it read later.
    const socket = createConnection(agent.socket);
    socket.setEncoding('utf8');
    const lines = Array.from(
      { length: 300 },
      (_, id) => `{"jsonrpc":"2.0","id":${id},"method":"rpc.discover"}\n`,
    );
    socket.end(lines.join(''));
    let text = '';
    socket.on('data', (chunk: string) => {
      text += chunk;
    });
    await new Promise((resolve) => socket.once('close', resolve));
    const ids = text
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => (JSON.parse(line) as { id: number; result?: unknown }).id);
    expect(ids.sort((a, b) => a - b)).toEqual(Array.from({ length: 300 }, (_, id) => id));
  });

  it(`a subscriber more than ${MAX_HELD_NOTIFICATIONS} notifications behind is disconnected, with one warning naming it`, async () => {
    const cancelledSeen = new Set<string>();
    observer.onEvent((event) => {
      if (event.method === 'invite.progress' && event.params.status === 'cancelled')
        cancelledSeen.add(event.params.id);
    });
    await observer.subscribe();
    const laggard = await neverReading();
    // It subscribes, then asks for answers it never takes, so that the kernel's buffer is full and
    // every notification after this is held by the agent.
    const requests = [{ jsonrpc: '2.0', id: 0, method: 'events.subscribe' }];
    for (let id = 1; id <= 32; id++) requests.push({ jsonrpc: '2.0', id, method: 'rpc.discover' });
    laggard.socket.write(requests.map((r) => `${JSON.stringify(r)}\n`).join(''));
    let held: Figures | undefined;
    for (let look = 0; look < 1000; look++) {
      held = await figuresOf(laggard.id);
      if (held?.subscribed && held.pendingRequests === 0 && held.backlogBytes > 0) break;
      await sleep(10);
    }
    expect(held).toMatchObject({ subscribed: true, pendingRequests: 0 });
    const before = agent.logs.length;
    // Each invite created and cancelled is at least one invite.progress notification, so this
    // loop makes more than the bound. A client that does not read does not see the close either:
    // the agent's list of connections tells.
    const cancelled: string[] = [];
    while ((await figuresOf(laggard.id)) !== undefined && cancelled.length <= MAX_HELD_NOTIFICATIONS + 1) {
      const { id } = await observer.call('invite.create', {});
      await observer.call('invite.cancel', { id });
      cancelled.push(id);
    }
    expect(await figuresOf(laggard.id)).toBeUndefined();
    // The agent's log reaches the test through a pipe: wait for the line.
    const fellBehind = () =>
      agent.logs
        .slice(before)
        .map((line) => JSON.parse(line) as { level: number; msg: string; connection?: number })
        .filter((entry) => entry.msg.includes('fell behind'));
    for (let look = 0; look < 1000 && fellBehind().length === 0; look++) await sleep(10);
    const warnings = fellBehind();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({
      level: 40,
      connection: laggard.id,
      heldNotifications: MAX_HELD_NOTIFICATIONS,
    });
    // Once it reads again, it finds the connection closed.
    laggard.socket.resume();
    for (let look = 0; look < 1000 && !laggard.closed(); look++) await sleep(10);
    expect(laggard.closed()).toBe(true);
    // The subscriber that reads was kept, and took every notification.
    for (let look = 0; look < 1000 && cancelledSeen.size < cancelled.length; look++) await sleep(10);
    expect([...cancelledSeen].sort()).toEqual([...cancelled].sort());
  });
});
