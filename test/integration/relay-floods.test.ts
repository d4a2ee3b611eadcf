import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentProcess, startAgent, testRoot } from '../support/agent-process.js';
import { b64, call, createBody, newMailbox, openRelaySocket } from '../support/relay-http.js';
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
function slowloris(port: number): { socket: Socket; closed: Promise<void> } {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.once('connect', () => socket.write('GET /healthz HTTP/1.1\r\nHost: relay\r\nX-Slow: '));
  const timer = setInterval(() => {
    if (!socket.destroyed) socket.write('a');
  }, 500);
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      clearInterval(timer);
      resolve();
    }),
  );
  return { socket, closed };
}

async function pair(): Promise<void> {
  const invite = (await ann.json<{ url: string }>(['invite'])).value;
  // The waits return at "paired"; their length only guards against a hang under the flood.
  const accepted = await ben.json<{ status: string }>(['accept', invite.url, '--wait', '2m']);
  expect(accepted.value.status).toBe('paired');
  const code = (await ann.json<{ code: string }>(['invite', '--format', 'code'])).value;
  const byCode = await ben.json<{ status: string }>(['accept', code.code, '--wait', '2m']);
  expect(byCode.value.status).toBe('paired');
}

describe('relay floods', () => {
  it('10,000 mailboxes from 25 addresses, 10 MB bodies and frames, 300 slow-header sockets: pairing still works', async () => {
    const port = Number(new URL(relay.url).port);
    const slow = Array.from({ length: 300 }, () => slowloris(port));

    // 10,000 mailboxes, 400 from each of 25 addresses (within the per-address cap of 500). An
    // address that outruns its bucket's refill after the burst is told 429 with Retry-After; it
    // waits that long and retries the same mailbox, as a client should. One wait refills 50
    // tokens, so a second attempt succeeds; the bound only stops a relay that never relents.
    let created = 0;
    const statuses = new Map<number, number>();
    const retryAfters: (string | null)[] = [];
    const create = async (address: number): Promise<number> => {
      const box = newMailbox();
      for (let attempt = 1; ; attempt++) {
        const r = await call(relay.url, 'PUT', `/v1/mailboxes/${b64(box.id)}`, {
          json: createBody(box, 3600),
          headers: { 'x-forwarded-for': `203.0.113.${address}` },
        });
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (r.status !== 429) return r.status;
        const retryAfter = r.headers.get('retry-after');
        retryAfters.push(retryAfter);
        if (r.json.error !== 'rate_limited' || attempt === 5) return r.status;
        await new Promise((res) => setTimeout(res, 1000 * Number(retryAfter)));
      }
    };
    const flood = async (address: number) => {
      for (let i = 0; i < 400; i++) if ((await create(address)) === 201) created++;
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
    const ws = await openRelaySocket(relay.url);
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    ws.on('error', () => undefined);
    ws.send(Buffer.alloc(MB10, 0x61));
    expect(await closed).toBe(1009);

    // In the middle of it all, two agents pair by link and by code.
    await pair();
    await flooding;
    expect(created, JSON.stringify([...statuses])).toBe(10_000);
    // Every 429 said when to come back: a whole number of seconds (RFC 9110 delay-seconds).
    expect(retryAfters).toHaveLength(statuses.get(429) ?? 0);
    expect(retryAfters.filter((v) => !/^[1-9]\d*$/.test(v ?? ''))).toEqual([]);

    // The trickling sockets were cut off by the header deadline (10 s), not left open: each one
    // closes (this side never ends one), and the relay counts every cut under its own reason.
    await Promise.all(slow.map((s) => s.closed));
    const metrics = await call(relay.url, 'GET', '/metrics');
    expect(metrics.text).toMatch(/pairlink_relay_mailboxes \d{5}/);
    const cut = /pairlink_relay_rejections_total\{reason="headers_deadline"\} (\d+)/.exec(metrics.text);
    expect(Number(cut?.[1])).toBeGreaterThanOrEqual(300);
    await pair();
    // A guard against a hang, not a budget: on a loaded 2-core machine the 10,000 requests alone
    // took 110 s.
  }, 600_000);
});
