import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RelayClient } from '../../relay/client/relay-client.js';
import { RelaySocket } from '../../relay/client/relay-socket.js';
import { type RedisServer, startRedis } from '../support/redis-server.js';
import { newMailbox } from '../support/relay-http.js';
import { type RelayProcess, startRelayProcess } from '../support/relay-process.js';
import { waitFor } from '../support/wait-for.js';

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
  it('pushes frames posted on instance 2 to a socket watching on instance 1, in order', async () => {
    const [one, two] = await Promise.all([relayProcess(), relayProcess()]);
    const box = newMailbox();
    await new RelayClient(one!.url).createMailbox(box.id, box.read, box.write, 60);
    const arrivals: number[] = [];
    const socket = new RelaySocket(one!.url, { onMessage: (_id, m) => arrivals.push(m.body[0]!) });
    await socket.ready();
    socket.watch(box.id, box.read);
    const arrived = (n: number) => waitFor(() => arrivals.length >= n, `frame ${n}`);
    // The first frame may come with the watch's backlog; once it is in, the watch is live and
    // every later frame can only come as a push from the other instance (through Redis pub/sub).
    await new RelayClient(two!.url).post(box.id, box.write, new Uint8Array([1]));
    await arrived(1);
    for (let i = 2; i <= 5; i++) {
      await new RelayClient(two!.url).post(box.id, box.write, new Uint8Array([i]));
      await arrived(i);
    }
    socket.close();
    expect(arrivals).toEqual([1, 2, 3, 4, 5]);
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

describe('a relay whose Redis goes away', () => {
  it('logs one rate-limited warning instead of ioredis printing a stack for each retry', async () => {
    const ownRedis = await startRedis();
    const relay = await startRelayProcess(['--redis', ownRedis.url]);
    relays.push(relay);
    await ownRedis.stop();
    await waitFor(() => relay.logs.some((l) => l.includes('redis unreachable')), 'the warning');
    expect(relay.logs.filter((l) => l.includes('redis unreachable')).length).toBeGreaterThanOrEqual(1);
    expect(relay.logs.join('\n')).not.toContain('Unhandled error event');
  });
});
