import { copyFileSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startRelay } from '../../relay/server/relay-server.js';
import { type AgentProcess, startAgent, testRoot } from '../support/agent-process.js';
import { hasOpenssl, makePrivateCa, type PrivateCa } from '../support/private-ca.js';
import { call } from '../support/relay-http.js';
import { type RelayProcess, startRelayProcess } from '../support/relay-process.js';
import { waitFor } from '../support/wait-for.js';

/**
 * `pairlink relay --tls-cert --tls-key`: the relay serves https and wss itself, agents that trust
 * its private CA (PAIRLINK_CA_FILE) pair through it, and a renewed certificate is served to new
 * connections (SIGHUP, or the files changing) while open ones stay. NODE_EXTRA_CA_CERTS is unset
 * in every process, so what the agents trust is the CA file alone.
 */
const openssl = await hasOpenssl();
if (!openssl && process.env.CI)
  throw new Error('the TLS tests need the openssl CLI (Debian package openssl)');

const NO_EXTRA_CAS = { NODE_EXTRA_CA_CERTS: undefined };
/** A whole second (exact in every stat field) that the live files' modification time is kept at. */
const STAMP = 1_700_000_000;

/** The SHA-256 fingerprint of the certificate a new TLS connection to `port` is served. */
function servedFingerprint(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.once('error', reject);
  });
}

/** Resolves when `socket` answers a ping. */
function pong(socket: WebSocket): Promise<void> {
  return new Promise((resolve) => {
    socket.once('pong', () => resolve());
    socket.ping();
  });
}

describe.skipIf(!openssl)('a relay that terminates TLS itself', () => {
  let root: string;
  let ca: PrivateCa;
  let live: { certFile: string; keyFile: string };
  let relay: RelayProcess;
  const agents: AgentProcess[] = [];

  beforeAll(async () => {
    root = testRoot();
    ca = await makePrivateCa(root);
    const first = await ca.issue('relay-1');
    mkdirSync(join(root, 'live'));
    live = { certFile: join(root, 'live', 'relay.pem'), keyFile: join(root, 'live', 'relay.key') };
    for (const [from, to] of [
      [first.certFile, live.certFile],
      [first.keyFile, live.keyFile],
    ] as const) {
      copyFileSync(from, to);
      utimesSync(to, STAMP, STAMP);
    }
    relay = await startRelayProcess(['--tls-cert', live.certFile, '--tls-key', live.keyFile], NO_EXTRA_CAS);
  });
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await relay?.stop();
  });

  it('says https, and two agents trusting its CA pair through it by link and by code over https and wss', async () => {
    expect(relay.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const env = { ...NO_EXTRA_CAS, PAIRLINK_CA_FILE: ca.certFile };
    const [ann, ben] = await Promise.all([
      startAgent(root, 'ann', relay.url, env),
      startAgent(root, 'ben', relay.url, env),
    ]);
    agents.push(ann, ben);
    // Connected means the relay answered over wss (a pong), not just that a socket opened.
    await waitFor(
      () => ann.logs.some((l) => l.includes('"msg":"relay connected"')),
      'ann connected over wss',
    );
    const link = (await ann.json<{ url: string }>(['invite'])).value.url;
    expect(link.startsWith(relay.url)).toBe(true);
    expect((await ben.cli(['accept', link, '--wait', '30s'])).stdout).toContain('Paired with ann');
    const code = (await ben.json<{ code: string }>(['invite', '--format', 'code'])).value.code;
    expect((await ann.cli(['accept', code, '--wait', '30s'])).stdout).toContain('Paired with ben');
    const warned = [...ann.logs, ...ben.logs].filter((l) => l.includes('"level":40'));
    expect(warned).toEqual([]);
  }, 90_000);

  it('a renewed certificate reaches new connections on SIGHUP and when its files change; open sockets stay', async () => {
    const port = Number(new URL(relay.url).port);
    const caPem = readFileSync(ca.certFile, 'utf8');
    const first = await servedFingerprint(port, caPem);
    const socket = new WebSocket(`wss://127.0.0.1:${port}/v1/ws`, { ca: caPem });
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    const reloads = () => relay.logs.filter((l) => l.includes('"msg":"TLS certificate reloaded"'));

    // SIGHUP: new contents under the same modification time, so the file watch cannot be what
    // reloads them.
    const second = await ca.issue('relay-2');
    expect(second.fingerprint256).not.toBe(first);
    for (const [from, to] of [
      [second.certFile, live.certFile],
      [second.keyFile, live.keyFile],
    ] as const) {
      writeFileSync(to, readFileSync(from));
      utimesSync(to, STAMP, STAMP);
    }
    expect(statSync(live.certFile).mtimeMs).toBe(STAMP * 1000);
    relay.child.kill('SIGHUP');
    await waitFor(
      () => reloads().some((l) => l.includes(second.fingerprint256)),
      'the relay to reload on SIGHUP',
    );
    expect(await servedFingerprint(port, caPem)).toBe(second.fingerprint256);
    await pong(socket);

    // A renewal that replaces the files (no signal): the watch sees them change.
    const third = await ca.issue('relay-3');
    copyFileSync(third.keyFile, live.keyFile);
    copyFileSync(third.certFile, live.certFile);
    await waitFor(
      () => reloads().some((l) => l.includes(third.fingerprint256)),
      'the relay to reload the changed files',
    );
    expect(await servedFingerprint(port, caPem)).toBe(third.fingerprint256);
    await pong(socket);
    expect(socket.readyState).toBe(WebSocket.OPEN);
    socket.close();
  }, 60_000);
});

describe('a relay behind proxies (X-Forwarded-For)', () => {
  it('with --trust-proxy-hops 2 (a CDN, then nginx) the client is the CDN-seen entry: forged ones left of it change nothing', async () => {
    const relay = await startRelay({
      host: '127.0.0.1',
      port: 0,
      trustProxy: true,
      trustProxyHops: 2,
      logger: pino({ level: 'silent' }),
      limits: { ipBurst: 1, ipRatePerSecond: 0.01 },
    });
    try {
      // Each proxy appends the address it was reached from: the CDN the user's, nginx the CDN's.
      const claim = (forwarded: string) =>
        call(relay.url, 'GET', '/v1/nameplates/ABC/claim', { headers: { 'x-forwarded-for': forwarded } });
      expect((await claim('198.51.100.1, 203.0.113.10')).status).toBe(405);
      // Another user of the same CDN node: a bucket of their own.
      expect((await claim('198.51.100.2, 203.0.113.10')).status).toBe(405);
      // The first user again, with a forged entry in front: the same bucket, now empty.
      expect((await claim('192.0.2.99, 198.51.100.1, 203.0.113.10')).status).toBe(429);
    } finally {
      await relay.close();
    }
  });
});
