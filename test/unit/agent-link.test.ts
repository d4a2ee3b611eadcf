import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentLink, MAX_RECONNECT_MS } from '../../bots/core/agent-link.js';
import { testRoot } from '../support/agent-process.js';

// The bots' link to their agent, against a minimal JSON-RPC server on a real Unix socket: it
// logs going down and coming back, reconnects within MAX_RECONNECT_MS, and at once on a call.

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
    const link = new AgentLink(path, 2_000, log as never);
    links.push(link);
    await link.start();
    expect(link.connected).toBe(true);

    // The agent goes away: one line says so.
    for (const s of agent.sockets) s.destroy();
    await new Promise<void>((r) => agent.server.close(() => r()));
    await new Promise((r) => setTimeout(r, 100));
    expect(lines).toEqual(['warn agent link down; reconnecting']);
    await expect(link.call('agent.info', {})).rejects.toMatchObject({ code: 'AGENT_UNAVAILABLE' });

    // Back: the next call reconnects at once, without waiting for the timer.
    agent = await fakeAgent(path);
    const started = Date.now();
    expect(await link.call('agent.info', {})).toEqual({ version: 'fake' });
    expect(Date.now() - started).toBeLessThan(MAX_RECONNECT_MS);
    expect(lines).toEqual(['warn agent link down; reconnecting', 'info agent link up']);

    // Gone again, and back with no call: the background retry finds it within the cap.
    for (const s of agent.sockets) s.destroy();
    await new Promise<void>((r) => agent.server.close(() => r()));
    await new Promise((r) => setTimeout(r, 3 * MAX_RECONNECT_MS));
    agent = await fakeAgent(path);
    const back = Date.now();
    while (!link.connected && Date.now() - back < 3 * MAX_RECONNECT_MS)
      await new Promise((r) => setTimeout(r, 20));
    expect(link.connected).toBe(true);
    expect(Date.now() - back).toBeLessThanOrEqual(MAX_RECONNECT_MS + 1500); // the cap, not the old 30 s
    link.close();
    await new Promise<void>((r) => agent.server.close(() => r()));
  }, 20_000);
});
