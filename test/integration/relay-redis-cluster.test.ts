import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RelayClient, RelaySocket } from '../../relay/relay-client.js';
import { type RedisServer, startRedis } from '../support/redis-server.js';
import { newMailbox } from '../support/relay-http.js';
import { type RelayProcess, startRelayProcess } from '../support/relay-process.js';

let redis: RedisServer;
const relays: RelayProcess[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await Promise.all(relays.map((r) => r.stop()));
  await redis?.stop();
});

async function relayProcess(): Promise<RelayProcess> {
  const relay = await startRelayProcess(['--redis', redis.url]);
  relays.push(relay);
  return relay;
}

describe('several relay processes on one real Redis', () => {
  it('pushes a frame posted on instance 2 to a socket watching on instance 1, within 100 ms', async () => {
    const [one, two] = await Promise.all([relayProcess(), relayProcess()]);
    const box = newMailbox();
    await new RelayClient(one!.url).createMailbox(box.id, box.read, box.write, 60);
    const arrivals: { body: number; at: number }[] = [];
    const socket = new RelaySocket(one!.url, {
      onMessage: (_id, m) => arrivals.push({ body: m.body[0]!, at: performance.now() }),
    });
    await socket.ready();
    socket.watch(box.id, box.read);
    await new Promise((r) => setTimeout(r, 100)); // the watch is registered
    const latencies: number[] = [];
    for (let i = 1; i <= 5; i++) {
      const sent = performance.now();
      await new RelayClient(two!.url).post(box.id, box.write, new Uint8Array([i]));
      const deadline = Date.now() + 1000;
      while (arrivals.length < i && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
      expect(arrivals[i - 1]?.body).toBe(i);
      latencies.push(arrivals[i - 1]!.at - sent);
    }
    socket.close();
    expect(Math.max(...latencies)).toBeLessThan(100);
  });

  it('keeps pending mailboxes, messages and nameplates across a relay restart', async () => {
    const first = await relayProcess();
    const client = new RelayClient(first.url);
    const box = newMailbox();
    await client.createMailbox(box.id, box.read, box.write, 120);
    await client.post(box.id, box.write, new Uint8Array([42]));
    const { nameplate } = await client.createNameplate(box.id, box.read, 3);
    expect(await first.stop('SIGTERM')).toBe(0); // graceful exit
    const second = await relayProcess();
    const again = new RelayClient(second.url);
    expect((await again.read(box.id, box.read)).map((m) => m.body[0])).toEqual([42]);
    const claim = await again.claimNameplate(nameplate);
    await again.post(claim.mailboxId, claim.writeCap, new Uint8Array([43]));
    expect((await again.read(box.id, box.read, 1)).map((m) => m.body[0])).toEqual([43]);
  });
});
