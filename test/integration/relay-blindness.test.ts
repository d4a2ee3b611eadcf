import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileKeystore } from '../../agent/keystore/file-keystore.js';
import { parseInviteUrl } from '../../src/invite/invite-url.js';
import { type AgentProcess, startAgent, testRoot } from '../support/agent-process.js';
import { type RedisServer, startRedis } from '../support/redis-server.js';
import { startRelayProcess } from '../support/relay-process.js';

// The relay is blind (docs/SECURITY.md §Relay): after pairings with distinctive names, nothing
// it stores (every Redis key and value), logs (at debug) or holds in memory (a heap snapshot of
// the memory relay) contains a name, a did, a card, a public or secret identity key, an invite
// secret or a code secret, in text, hex, base64url or raw bytes.

interface Needle {
  readonly what: string;
  readonly text: string[];
  readonly raw: Buffer[];
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64url');
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Two agents with distinctive names pair by link (3 uses) and by code; returns what must stay hidden. */
async function pairAndCollect(root: string, relayUrl: string, names: [string, string]): Promise<Needle[]> {
  const [a, b] = (await Promise.all(names.map((n) => startAgent(root, n, relayUrl)))) as [
    AgentProcess,
    AgentProcess,
  ];
  const needles: Needle[] = [];
  try {
    const link = (await a.json<{ url: string }>(['invite', '--uses', '3'])).value.url;
    expect((await b.json<{ status: string }>(['accept', link, '--wait', '15s'])).value.status).toBe('paired');
    const code = (await a.json<{ code: string }>(['invite', '--format', 'code', '--uses', '2'])).value.code;
    expect((await b.json<{ status: string }>(['accept', code, '--wait', '15s'])).value.status).toBe('paired');
    const invite = parseInviteUrl(link, Math.floor(Date.now() / 1000));
    needles.push(
      { what: 'invite payload', text: [link.split('#')[1]!], raw: [] },
      {
        what: 'invite secret',
        text: [b64(invite.secret), hex(invite.secret)],
        raw: [Buffer.from(invite.secret)],
      },
      { what: 'code secret', text: [code.replace(/-/g, '').slice(3, 11), code], raw: [] },
    );
    for (const agent of [a, b]) {
      const who = (await agent.json<{ did: string; name: string; card: string }>(['rpc', 'identity.get']))
        .value;
      const card = Buffer.from(who.card, 'base64url');
      const signingKey = card.subarray(1, 33);
      const keystore = await FileKeystore.open(
        join(agent.home, 'keystore.json'),
        `passphrase of ${agent.name}`,
      );
      const secrets = Buffer.from((await keystore.get('identity'))!);
      needles.push(
        {
          what: `${agent.name}'s name`,
          text: [who.name, b64(Buffer.from(who.name))],
          raw: [Buffer.from(who.name)],
        },
        { what: `${agent.name}'s did`, text: [who.did], raw: [] },
        { what: `${agent.name}'s card`, text: [who.card.slice(0, 40)], raw: [card.subarray(0, 48)] },
        {
          what: `${agent.name}'s signing key`,
          text: [b64(signingKey), hex(signingKey)],
          raw: [Buffer.from(signingKey)],
        },
        {
          what: `${agent.name}'s identity secrets`,
          text: [b64(secrets.subarray(0, 32)), hex(secrets.subarray(0, 32)), b64(secrets.subarray(32))],
          raw: [secrets.subarray(0, 32), secrets.subarray(32)],
        },
      );
    }
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
  return needles;
}

/** Every needle found in `texts` (also inside base64url tokens, decoded) as "what: where". */
function findNeedles(needles: readonly Needle[], texts: readonly string[]): string[] {
  const found: string[] = [];
  const blobs: Buffer[] = [];
  for (const text of texts) {
    for (const token of text.match(/[A-Za-z0-9_-]{20,}/g) ?? []) blobs.push(Buffer.from(token, 'base64url'));
    blobs.push(Buffer.from(text, 'latin1'));
  }
  for (const needle of needles) {
    for (const t of needle.text)
      if (texts.some((text) => text.includes(t))) found.push(`${needle.what} (as text)`);
    for (const r of needle.raw)
      if (blobs.some((blob) => blob.includes(r))) found.push(`${needle.what} (as bytes)`);
  }
  return found;
}

describe('relay blindness', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('every Redis key and value, and the relay log at debug, hold none of the secrets or names', async () => {
    const relay = await startRelayProcess(['--redis', redis.url, '--log-level', 'debug']);
    try {
      const needles = await pairAndCollect(testRoot(), relay.url, [
        'Zebulon-Quartz-4417',
        'Marigold-Vesper-9021',
      ]);
      expect(needles.length).toBeGreaterThan(10);
      // The scanner itself works: a needle planted as text, or as bytes inside base64url, is found.
      const secret = needles.find((n) => n.what === 'invite secret')!;
      expect(findNeedles(needles, [`7:${b64(Buffer.concat([Buffer.alloc(10), secret.raw[0]!]))}`])).toEqual([
        'invite secret (as bytes)',
      ]);
      expect(findNeedles(needles, ['… Zebulon-Quartz-4417 …'])).toContain(
        "Zebulon-Quartz-4417's name (as text)",
      );
      const client = new Redis(redis.url);
      const texts: string[] = [];
      let keys = 0;
      let stream = '0';
      do {
        const [next, batch] = await client.scan(stream, 'COUNT', 1000);
        stream = next;
        for (const key of batch) {
          keys++;
          texts.push(key);
          const type = await client.type(key);
          if (type === 'string') texts.push((await client.get(key)) ?? '');
          else if (type === 'hash') texts.push(JSON.stringify(await client.hgetall(key)));
          else if (type === 'set') texts.push(...(await client.smembers(key)));
          else if (type === 'list') texts.push(...(await client.lrange(key, 0, -1)));
          else if (type === 'zset') texts.push(...(await client.zrange(key, 0, -1, 'WITHSCORES')));
        }
      } while (stream !== '0');
      await client.quit();
      // The multi-use invites are still live, so their mailboxes and frames are there to scan.
      expect(keys).toBeGreaterThan(5);
      expect(texts.some((t) => /^\d+:[A-Za-z0-9_-]{40,}$/.test(t))).toBe(true);
      expect(findNeedles(needles, texts)).toEqual([]);
      expect(relay.logs.length).toBeGreaterThan(0);
      expect(findNeedles(needles, relay.logs)).toEqual([]);
    } finally {
      await relay.stop();
    }
  }, 90_000);

  it('a heap snapshot of the memory relay holds none of them either', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'pl-heap-'));
    const relay = await startRelayProcess(
      ['--log-level', 'debug'],
      {},
      { nodeArgs: ['--heapsnapshot-signal=SIGUSR2'], cwd },
    );
    try {
      const needles = await pairAndCollect(testRoot(), relay.url, [
        'Ottoline-Brisk-3302',
        'Percival-Nimbus-8856',
      ]);
      relay.child.kill('SIGUSR2');
      let file: string | undefined;
      for (let i = 0; i < 200 && !file; i++) {
        await new Promise((r) => setTimeout(r, 100));
        file = readdirSync(cwd).find((f) => f.endsWith('.heapsnapshot'));
      }
      expect(file).toBeDefined();
      // Written in one go; wait until it parses.
      let snapshot: { strings: string[] } | undefined;
      for (let i = 0; i < 100 && !snapshot; i++) {
        try {
          snapshot = JSON.parse(readFileSync(join(cwd, file!), 'utf8')) as { strings: string[] };
        } catch {
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      expect(snapshot!.strings.length).toBeGreaterThan(1000);
      // The relay does hold the pairings' frames (base64url bodies of the still-open invites).
      expect(snapshot!.strings.some((s) => /^[A-Za-z0-9_-]{200,}$/.test(s))).toBe(true);
      expect(findNeedles(needles, snapshot!.strings)).toEqual([]);
      expect(findNeedles(needles, relay.logs)).toEqual([]);
    } finally {
      await relay.stop();
    }
  }, 90_000);
});
