import { createHash } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_TEXT } from '../../src/error-text.js';
import type { ErrorCode } from '../../src/errors.js';
import { type AgentProcess, startAgent, testRoot } from '../support/agent-process.js';
import { type RelayProcess, startRelayProcess } from '../support/relay-process.js';

/**
 * Relays that are not: an agent accepting a link or a code whose relay takes connections and
 * says nothing, upgrades the WebSocket and then says nothing, speaks something that is not HTTP,
 * or answers every request with a web page. Each ends with a clear error in bounded time (a
 * link's accept fails once its relay has not answered once in its first 15 s, never left
 * pending for the invite's life; a code's claim at the HTTP deadline or at once), and the agent's
 * log has one line naming the relay and the reason, and never "connected".
 */
type Garbage = 'silent' | 'upgradeThenSilent' | 'notHttp' | 'webPage';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const PAGE = '<html><body>Welcome to the hotel network</body></html>';

/** Listens on `port` as the given kind of garbage; resolves once listening. */
async function garbageRelay(kind: Garbage, port: number): Promise<{ close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('error', () => socket.destroy());
    socket.once('close', () => sockets.delete(socket));
  };
  let server: Server;
  if (kind === 'webPage') {
    const web = createHttpServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
    });
    web.on('upgrade', (_request, socket: Socket) => {
      socket.end(
        `HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: ${PAGE.length}\r\n\r\n${PAGE}`,
      );
    });
    web.on('connection', track);
    server = web;
  } else {
    server = createServer((socket) => {
      track(socket);
      if (kind === 'notHttp') socket.once('data', () => socket.end('SSH-2.0-OpenSSH_9.2p1\r\n'));
      if (kind !== 'upgradeThenSilent') return;
      let head = '';
      socket.on('data', (chunk: Buffer) => {
        head += chunk.toString('latin1');
        const key = /^sec-websocket-key: *(\S+)\r$/im.exec(head)?.[1];
        if (!head.includes('\r\n\r\n') || !key) return; // a plain request: never answered
        const accept = createHash('sha1')
          .update(key + WS_GUID)
          .digest('base64');
        socket.write(
          `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
        );
        socket.removeAllListeners('data'); // and from here on, not a word: no pong, no frame
        socket.on('data', () => undefined);
      });
    });
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

let home: RelayProcess;
let abe: AgentProcess;
/** Per case: a link and a code minted on a relay that was real then, and that relay's origin and port. */
const minted: { origin: string; port: number; link: string; code: string }[] = [];

beforeAll(async () => {
  const root = testRoot();
  // One relay per case, so that each case's log line is its own (they are rate-limited per relay).
  for (let i = 0; i < 4; i++) {
    const relay = await startRelayProcess();
    const iris = await startAgent(root, 'iris', relay.url);
    const link = (await iris.json<{ url: string }>(['invite'])).value.url;
    const code = (await iris.json<{ code: string }>(['invite', '--format', 'code'])).value.code;
    minted.push({ origin: relay.url, port: Number(new URL(relay.url).port), link, code });
    await iris.stop();
    await relay.stop();
  }
  home = await startRelayProcess();
  abe = await startAgent(root, 'abe', home.url);
}, 120_000);
afterAll(async () => {
  await abe?.stop();
  await home?.stop();
});

/** abe's log lines about the relay at `origin`. */
function linesAbout(origin: string): { warnings: string[]; connected: string[] } {
  const mine = abe.logs.filter((l) => l.includes(origin));
  return {
    warnings: mine.filter((l) => l.includes('"level":40')),
    connected: mine.filter((l) => /"msg":"(invite )?relay connected"/.test(l)),
  };
}

const cases: { kind: Garbage; link: ErrorCode; code: ErrorCode; reason: RegExp }[] = [
  { kind: 'silent', link: 'RELAY_UNREACHABLE', code: 'RELAY_UNREACHABLE', reason: /cannot be reached/ },
  {
    kind: 'upgradeThenSilent',
    link: 'RELAY_UNREACHABLE',
    code: 'RELAY_UNREACHABLE',
    reason: /cannot be reached/,
  },
  {
    kind: 'notHttp',
    link: 'RELAY_PROTOCOL',
    code: 'RELAY_PROTOCOL',
    reason: /answers as no pairlink relay does/,
  },
  {
    kind: 'webPage',
    link: 'RELAY_PROTOCOL',
    code: 'RELAY_PROTOCOL',
    reason: /answers as no pairlink relay does/,
  },
];

describe('an agent facing a relay that is not one (the four at once: each has a relay of its own)', () => {
  cases.forEach(({ kind, link, code: codeFailure, reason }, i) => {
    it.concurrent(`${kind}: a link's accept fails ${link} and a code's ${codeFailure}, each with one sentence; one log line names the relay`, async () => {
      const { origin, port, link: linkText, code: codeText } = minted[i]!;
      const garbage = await garbageRelay(kind, port);
      try {
        const [byLink, byCode] = await Promise.all([
          abe.cli(['accept', linkText, '--wait', '60s']),
          abe.cli(['accept', codeText, '--relay', origin, '--wait', '60s']),
        ]);
        expect(byLink.code, byLink.stdout).not.toBe(0);
        expect(byLink.code).not.toBe(4); // 4 is "still pending"
        const said = byLink.stderr.trim().split('\n').at(-1)!;
        expect(said.startsWith(`pairlink: ${ERROR_TEXT[link]}`), said).toBe(true);
        // A relay that cannot be reached is asked before the accept is recorded, and named.
        if (link === 'RELAY_UNREACHABLE') expect(said).toContain(`relay ${origin}: `);
        expect(byCode.stderr.trim().split('\n')).toHaveLength(1);
        expect(byCode.stderr).toContain(ERROR_TEXT[codeFailure]);
        const { warnings, connected } = linesAbout(origin);
        expect(connected).toEqual([]);
        expect(warnings).toHaveLength(1);
        const warning = JSON.parse(warnings[0]!) as { msg: string; relay: string; reason: string };
        expect(warning.relay).toBe(origin);
        expect(warning.msg).toMatch(reason);
        expect(warning.reason.length).toBeGreaterThan(0);
      } finally {
        await garbage.close();
      }
    }, 90_000);
  });
});
