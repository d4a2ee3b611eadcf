import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentLink, MAX_RECONNECT_MS, type RetryTimer } from '../../bots/core/agent-link.js';
import { testRoot } from '../support/agent-process.js';
import { waitFor } from '../support/wait-for.js';

// The bots' link to their agent, against a minimal JSON-RPC server on a real Unix socket: it
// logs going down and coming back, waits at most MAX_RECONNECT_MS between attempts, and
// reconnects at once on a call.

function fakeAgent(path: string): Promise<{ server: Server; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
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
  return new Promise((resolve) => server.listen(path, () => resolve({ server, sockets })));
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
    // The waits between attempts run when the test says: each one's length is recorded.
    const waits: number[] = [];
    let due: (() => Promise<void>) | null = null;
    const timer: RetryTimer = (run, ms) => {
      waits.push(ms);
      due = run;
      return () => {
        due = null;
      };
    };
    // The attempt fails (a new wait is scheduled) or succeeds (the link is up).
    const elapse = async () => {
      const run = due!;
      due = null;
      await run();
    };
    const link = new AgentLink(path, 2_000, log as never, timer);
    links.push(link);
    await link.start();
    expect(link.connected).toBe(true);

    // The agent goes away: one line says so.
    for (const s of agent.sockets) s.destroy();
    await new Promise<void>((r) => agent.server.close(() => r()));
    await waitFor(() => lines.length > 0, 'the link-down line');
    expect(lines).toEqual(['warn agent link down; reconnecting']);
    await expect(link.call('agent.info', {})).rejects.toMatchObject({ code: 'AGENT_UNAVAILABLE' });

    // Back: the next call reconnects at once, without waiting for the timer (it never ran).
    agent = await fakeAgent(path);
    expect(due).not.toBeNull();
    expect(await link.call('agent.info', {})).toEqual({ version: 'fake' });
    expect(lines).toEqual(['warn agent link down; reconnecting', 'info agent link up']);

    // Gone again, and back with no call: the waits grow to the cap and no further, and the
    // background retry after the last one finds it.
    for (const s of agent.sockets) s.destroy();
    await new Promise<void>((r) => agent.server.close(() => r()));
    await waitFor(() => !link.connected, 'the link to go down');
    for (let i = 0; i < 5; i++) await elapse();
    expect(waits.at(-1)).toBe(MAX_RECONNECT_MS); // the cap, not the old 30 s
    expect(Math.max(...waits)).toBe(MAX_RECONNECT_MS);
    agent = await fakeAgent(path);
    await elapse();
    expect(link.connected).toBe(true);
    link.close();
    await new Promise<void>((r) => agent.server.close(() => r()));
  });
});
