import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { WS_EXTRA_OPS, WS_OPS_HEADER } from '../../relay/wire/ws-ops.js';

/** How the lying relay misbehaves beyond its one lie (every mailbox is created, none is ever found). */
export interface LyingRelayOptions {
  /** Refuse every post with this relay error (409 over HTTP, an error frame over the socket). */
  readonly refusePosts?: 'crowded' | 'full';
  /** Answer every HTTP request and every WebSocket upgrade with a 302 to this URL. */
  readonly redirectTo?: string;
}

/** What the lying relay has been asked, for tests and the storm measurement to count. */
export interface LyingRelayCounts {
  creates: number;
  /** Creates of an agent's inbox (docs/RELAY.md, Inboxes), which a lying relay answers alike. */
  inboxCreates: number;
  watches: number;
  posts: number;
  requests: number;
  sockets: number;
}

export interface LyingRelay {
  readonly url: string;
  readonly counts: LyingRelayCounts;
  close(): Promise<void>;
}

const MAILBOX = /^\/v1\/mailboxes\/([A-Za-z0-9_-]{22})(\/messages|\/nameplate)?(\?.*)?$/;

/**
 * A small real relay on loopback that lies: it answers `create` with `created` (over HTTP and the
 * socket) without keeping anything, and every `watch` with `not_found`. A relay named by a
 * stranger's invite may do exactly this; the agent must not spin on it. It speaks the wire format
 * of docs/RELAY.md so the real RelayClient and RelaySocket talk to it unchanged.
 */
export async function startLyingRelay(options: LyingRelayOptions = {}): Promise<LyingRelay> {
  const counts: LyingRelayCounts = {
    creates: 0,
    inboxCreates: 0,
    watches: 0,
    posts: 0,
    requests: 0,
    sockets: 0,
  };
  const expiresAt = () => Date.now() + 3600_000;
  let seq = 0;
  const json = (response: http.ServerResponse, status: number, body: object) => {
    const text = JSON.stringify(body);
    response.writeHead(status, { 'content-type': 'application/json', 'content-length': text.length });
    response.end(text);
  };
  const server = http.createServer((request, response) => {
    counts.requests++;
    request.resume();
    if (options.redirectTo) {
      response.writeHead(302, { location: options.redirectTo, 'content-length': 0 });
      response.end();
      return;
    }
    const url = request.url ?? '/';
    if (url === '/readyz') return json(response, 200, { status: 'ok', store: 'redis' });
    const route = MAILBOX.exec(url);
    if (!route) return json(response, 404, { error: 'not_found' });
    const [, , sub] = route;
    if (request.method === 'PUT' && !sub) {
      // An agent's inbox is counted apart: `creates` is the invites' and accepts' mailboxes.
      let body = '';
      request.on('data', (chunk: Buffer) => {
        if (body.length < 4096) body += chunk.toString('latin1');
      });
      request.on('end', () => {
        if (/"inbox"\s*:\s*true/.test(body)) counts.inboxCreates++;
        else counts.creates++;
        json(response, 201, { expiresAt: expiresAt() });
      });
      return;
    }
    if (request.method === 'DELETE' && !sub) return json(response, 200, { deleted: true });
    if (request.method === 'POST' && sub === '/messages') {
      counts.posts++;
      if (options.refusePosts) return json(response, 409, { error: options.refusePosts });
      return json(response, 201, { seq: ++seq });
    }
    if (request.method === 'GET' && sub === '/messages')
      return json(response, 200, { messages: [], expiresAt: expiresAt() });
    return json(response, 404, { error: 'not_found' });
  });
  const sockets = new WebSocketServer({ noServer: true });
  sockets.on('headers', (headers) => headers.push(`${WS_OPS_HEADER}: ${WS_EXTRA_OPS}`));
  server.on('upgrade', (request, socket, head) => {
    counts.requests++;
    if (options.redirectTo) {
      socket.end(`HTTP/1.1 302 Found\r\nLocation: ${options.redirectTo}\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    sockets.handleUpgrade(request, socket, head, (ws) => {
      counts.sockets++;
      ws.on('message', (data) => {
        let op: { op?: unknown; ref?: unknown; mailbox?: unknown };
        try {
          op = JSON.parse(String(data)) as typeof op;
        } catch {
          return;
        }
        const ref = typeof op.ref === 'string' ? op.ref : undefined;
        if (op.op === 'watch') {
          counts.watches++;
          ws.send(JSON.stringify({ op: 'error', error: 'not_found', mailbox: op.mailbox }));
        } else if (op.op === 'create') {
          counts.creates++;
          ws.send(JSON.stringify({ op: 'created', ref, expiresAt: expiresAt() }));
        } else if (op.op === 'delete') {
          ws.send(JSON.stringify({ op: 'deleted', ref }));
        } else if (op.op === 'add_writer' || op.op === 'revoke_writer' || op.op === 'revoke_writers') {
          // As its HTTP routes answer an inbox's writer ops.
          ws.send(JSON.stringify({ op: 'error', ref, error: 'not_found', status: 404 }));
        } else if (op.op === 'post') {
          counts.posts++;
          ws.send(
            JSON.stringify(
              options.refusePosts
                ? { op: 'error', ref, error: options.refusePosts }
                : { op: 'posted', ref, seq: ++seq },
            ),
          );
        }
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    counts,
    async close() {
      for (const client of sockets.clients) client.terminate();
      sockets.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
