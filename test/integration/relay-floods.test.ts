import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type AgentProcess, startAgent, testRoot } from '../support/agent-process.js';
import { b64, call, createBody, newMailbox } from '../support/relay-http.js';
import { type RelayProcess, startRelayProcess } from '../support/relay-process.js';

// The relay flooded as an attacker would (docs/SECURITY.md §Relay): 10,000 mailboxes from many
// addresses, 10 MB bodies and WebSocket frames, hundreds of sockets trickling their headers. A
// real pairing between two agents still succeeds in the middle of it.

let relay: RelayProcess;
let ann: AgentProcess;
let ben: AgentProcess;
beforeAll(async () => {
  relay = await startRelayProcess(['--trust-proxy']);
  const root = testRoot();
  [ann, ben] = await Promise.all([startAgent(root, 'ann', relay.url), startAgent(root, 'ben', relay.url)]);
});
afterAll(async () => {
  await Promise.all([ann?.stop(), ben?.stop()]);
  await relay?.stop();
});

const MB10 = 10 * 1024 * 1024;

/** A socket that sends a request line and then one header byte every 500 ms, never finishing. */
function slowloris(port: number): { socket: Socket; closedAt: Promise<number> } {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  const opened = Date.now();
  socket.once('connect', () => socket.write('GET /healthz HTTP/1.1\r\nHost: relay\r\nX-Slow: '));
  const timer = setInterval(() => {
    if (!socket.destroyed) socket.write('a');
  }, 500);
  const closedAt = new Promise<number>((resolve) =>
    socket.once('close', () => {
      clearInterval(timer);
      resolve(Date.now() - opened);
    }),
  );
  return { socket, closedAt };
}

async function pair(): Promise<void> {
  const invite = (await ann.json<{ url: string }>(['invite'])).value;
  const accepted = await ben.json<{ status: string }>(['accept', invite.url, '--wait', '20s']);
  expect(accepted.value.status).toBe('paired');
  const code = (await ann.json<{ code: string }>(['invite', '--format', 'code'])).value;
  const byCode = await ben.json<{ status: string }>(['accept', code.code, '--wait', '20s']);
  expect(byCode.value.status).toBe('paired');
}

describe('relay floods', () => {
  it('10,000 mailboxes from 25 addresses, 10 MB bodies and frames, 300 slow-header sockets: pairing still works', async () => {
    const port = Number(new URL(relay.url).port);
    const slow = Array.from({ length: 300 }, () => slowloris(port));

    // 10,000 mailboxes, 400 from each of 25 addresses (within the per-address cap of 500).
    let created = 0;
    const statuses = new Map<number, number>();
    const flood = async (address: number) => {
      for (let i = 0; i < 400; i++) {
        const box = newMailbox();
        const r = await call(relay.url, 'PUT', `/v1/mailboxes/${b64(box.id)}`, {
          json: createBody(box, 3600),
          headers: { 'x-forwarded-for': `203.0.113.${address}` },
        });
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (r.status === 201) created++;
        else if (r.status === 429)
          await new Promise((res) => setTimeout(res, 1000 * Number(r.headers.get('retry-after') ?? 1)));
      }
    };
    const flooding = Promise.all(Array.from({ length: 25 }, (_, a) => flood(a + 1)));

    // 10 MB bodies: refused with 413 as soon as they pass the limit, without being buffered.
    const box = newMailbox();
    await call(relay.url, 'PUT', `/v1/mailboxes/${b64(box.id)}`, { json: createBody(box) });
    const big = new Uint8Array(MB10);
    const posted = await call(relay.url, 'POST', `/v1/mailboxes/${b64(box.id)}/messages`, {
      cap: box.write,
      body: big,
    }).catch(() => ({ status: 413 }));
    expect(posted.status).toBe(413);
    const bigJson = await call(relay.url, 'PUT', `/v1/mailboxes/${b64(newMailbox().id)}`, {
      body: `{"a":"${'x'.repeat(MB10)}"}`,
      headers: { 'content-type': 'application/json' },
    }).catch(() => ({ status: 413 }));
    expect(bigJson.status).toBe(413);
    // A 10 MB WebSocket frame: the socket is closed with 1009 (message too big).
    const ws = new WebSocket(`${relay.url.replace('http', 'ws')}/v1/ws`);
    await new Promise((r) => ws.once('open', r));
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    ws.on('error', () => undefined);
    ws.send(Buffer.alloc(MB10, 0x61));
    expect(await closed).toBe(1009);

    // In the middle of it all, two agents pair by link and by code.
    await pair();
    await flooding;
    expect(created).toBe(10_000);

    // The trickling sockets were cut off by the header timeout (10 s), not left open.
    const lifetimes = await Promise.all(slow.map((s) => s.closedAt));
    expect(Math.max(...lifetimes)).toBeLessThan(20_000);
    const metrics = await call(relay.url, 'GET', '/metrics');
    expect(metrics.text).toMatch(/pairlink_relay_mailboxes \d{5}/);
    await pair();
  }, 120_000);
});
