import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentLink, MAX_RECONNECT_MS, type RetryTimer } from '../../bots/core/agent-link.js';
import { testRoot } from '../support/agent-process.js';
import { waitFor } from '../support/wait-for.js';

// The bots' link to their agent, against a minimal JSON-RPC server on a real Unix socket: it
// logs going down and coming back, waits at most MAX_RECONNECT_MS between attempts, reconnects
// at once on a call, and never holds more than one connection.

interface FakeAgent {
  server: Server;
  /** The connections open now. */
  sockets: Set<Socket>;
  /** Every connection accepted so far. */
  accepted: number;
}

function fakeAgent(path: string): Promise<FakeAgent> {
  const sockets = new Set<Socket>();
  const agent: FakeAgent = { server: createServer(), sockets, accepted: 0 };
  agent.server.on('connection', (socket) => {
    agent.accepted += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let buffered = '';
    socket.on('data', (chunk) => {
      buffered += chunk;
      let nl = buffered.indexOf('\n');
      while (nl >= 0) {
        const request = JSON.parse(buffered.slice(0, nl)) as { id: number; method: string };
        buffered = buffered.slice(nl + 1);
        const result = request.method === 'events.subscribe' ? { subscribed: true } : { version: 'fake' };
        socket.write(`${JSON.stringify({ jsonrpc: '2.0', id: request.id, result })}\n`);
        nl = buffered.indexOf('\n');
      }
    });
  });
  return new Promise((resolve) => agent.server.listen(path, () => resolve(agent)));
}

/** Stops the agent: its connections are dropped and nothing listens any more. */
async function stopAgent(agent: FakeAgent): Promise<void> {
  for (const s of agent.sockets) s.destroy();
  await new Promise<void>((r) => agent.server.close(() => r()));
}

/** A retry timer the test drives: each wait's length is recorded, and it runs when told. */
function manualTimer() {
  const state = {
    waits: [] as number[],
    due: null as (() => Promise<void>) | null,
    timer: ((run, ms) => {
      state.waits.push(ms);
      state.due = run;
      return () => {
        state.due = null;
      };
    }) as RetryTimer,
  };
  return state;
}

const links: AgentLink[] = [];
afterEach(() => {
  for (const link of links.splice(0)) link.close();
});

describe('AgentLink', () => {
  it('logs down and up, reconnects within the cap, and reconnects at once for a call', async () => {
    const path = join(testRoot(), 'agent.sock');
    let agent = await fakeAgent(path);
    const lines: string[] = [];
    const log = {
      info: (_o: unknown, m?: string) => lines.push(`info ${m}`),
      warn: (_o: unknown, m?: string) => lines.push(`warn ${m}`),
    };
    const clock = manualTimer();
    // The attempt fails (a new wait is scheduled) or succeeds (the link is up).
    const elapse = async () => {
      const run = clock.due!;
      clock.due = null;
      await run();
    };
    const link = new AgentLink(path, 2_000, log as never, clock.timer);
    links.push(link);
    await link.start();
    expect(link.connected).toBe(true);

    // The agent goes away: one line says so.
    await stopAgent(agent);
    await waitFor(() => lines.length > 0, 'the link-down line');
    expect(lines).toEqual(['warn agent link down; reconnecting']);
    await expect(link.call('agent.info', {})).rejects.toMatchObject({ code: 'AGENT_UNAVAILABLE' });

    // Back: the next call reconnects at once, without waiting for the timer (it never ran).
    agent = await fakeAgent(path);
    expect(clock.due).not.toBeNull();
    expect(await link.call('agent.info', {})).toEqual({ version: 'fake' });
    expect(lines).toEqual(['warn agent link down; reconnecting', 'info agent link up']);

    // Gone again, and back with no call: the waits grow to the cap and no further, and the
    // background retry after the last one finds it.
    await stopAgent(agent);
    await waitFor(() => !link.connected, 'the link to go down');
    for (let i = 0; i < 5; i++) await elapse();
    expect(clock.waits.at(-1)).toBe(MAX_RECONNECT_MS); // the cap, not the old 30 s
    expect(Math.max(...clock.waits)).toBe(MAX_RECONNECT_MS);
    agent = await fakeAgent(path);
    await elapse();
    expect(link.connected).toBe(true);
    link.close();
    await stopAgent(agent);
  });

  it('holds one connection when a call reconnects while a retry is scheduled, even if the retry fires', async () => {
    const path = join(testRoot(), 'agent.sock');
    let agent = await fakeAgent(path);
    const clock = manualTimer();
    const link = new AgentLink(path, 2_000, undefined, clock.timer);
    links.push(link);
    await link.start();
    await stopAgent(agent);
    await waitFor(() => !link.connected && clock.due, 'the link to go down and a retry to be scheduled');
    const retry = clock.due!;

    agent = await fakeAgent(path);
    expect(await link.call('agent.info', {})).toEqual({ version: 'fake' });
    expect(agent.accepted).toBe(1);
    // The retry scheduled before the call fires (as a timer would have): it connects nothing, and
    // the one connection stays open.
    await retry();
    expect(agent.accepted).toBe(1);
    expect(agent.sockets.size).toBe(1);
    // It was cancelled besides: nothing is left scheduled.
    expect(clock.due).toBeNull();
    expect(await link.call('agent.info', {})).toEqual({ version: 'fake' });

    // Down again: a fresh retry is scheduled, starting over at the shortest wait.
    await stopAgent(agent);
    await waitFor(() => !link.connected && clock.due, 'a new retry to be scheduled');
    expect(clock.waits).toEqual([500, 500]);
  });

  it('closed while connecting, it keeps no connection', async () => {
    const path = join(testRoot(), 'agent.sock');
    const agent = await fakeAgent(path);
    const link = new AgentLink(path, 2_000);
    const starting = link.start();
    link.close();
    await starting;
    expect(link.connected).toBe(false);
    await waitFor(() => agent.accepted === 1 && agent.sockets.size === 0, 'the agent to see the link close');
    await stopAgent(agent);
  });
});
