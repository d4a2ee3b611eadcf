import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { addWriterBody, createBody, decodeBody, renewBody, trimBody } from '../wire/inbox-bodies.js';
import type { InFlight } from './in-flight.js';
import { INVITE_PAGE } from './invite-page.js';
import type { RelayResult, RelayService } from './relay-service.js';
import type { TokenBuckets } from './token-buckets.js';
import type { WebSocketHub } from './websocket-hub.js';

/** Reads a request body up to `limit` bytes; null (and the connection told so) when larger. */
function readBody(request: IncomingMessage, limit: number): Promise<Buffer | null> {
  const declared = Number(request.headers['content-length'] ?? '0');
  if (declared > limit) return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        request.removeAllListeners('data');
        request.resume();
        resolve(null);
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

function bearer(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization;
  return header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
}

function sendJson(
  response: ServerResponse,
  status: number,
  body: object,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  response.end(text);
}

function sendResult<T extends object>(
  response: ServerResponse,
  result: RelayResult<T>,
  okStatus = 200,
): number {
  if (result.ok) {
    sendJson(response, okStatus, result.value);
    return okStatus;
  }
  sendJson(
    response,
    result.status,
    { error: result.error },
    result.retryAfter ? { 'retry-after': String(result.retryAfter) } : {},
  );
  return result.status;
}

/** A JSON object request body, or null; exported for the fuzz tests. */
export function parseJson(body: Buffer): Record<string, unknown> | null {
  try {
    const value = JSON.parse(body.toString('utf8')) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

const MAILBOX_ROUTE = /^\/v1\/mailboxes\/([^/]+)(\/messages|\/nameplate)?$/;
const CLAIM_ROUTE = /^\/v1\/nameplates\/([^/]+)\/claim$/;
/** An inbox owner's operations: renew, writers (add), writers/{writeCapHash} (revoke), trim. */
const INBOX_ROUTE = /^\/v1\/mailboxes\/([^/]+)\/(renew|writers|trim)(?:\/([^/]+))?$/;

/** The relay's HTTP API (docs/RELAY.md). Every route is size-bounded and rate-limited per address. */
export class HttpFront {
  constructor(
    private readonly service: RelayService,
    private readonly hub: WebSocketHub,
    private readonly ipBuckets: TokenBuckets,
    private readonly inFlight: InFlight,
    private readonly log: Logger,
  ) {}

  async handle(request: IncomingMessage, response: ServerResponse, ip: string): Promise<void> {
    const started = process.hrtime.bigint();
    const url = new URL(request.url ?? '/', 'http://relay');
    let route = 'unknown';
    let status = 500;
    try {
      ({ route, status } = await this.dispatch(request, response, url, ip));
    } catch (error) {
      // While the relay closes, a store failing under a handler is the shutdown's doing, not a fault.
      if (this.inFlight.closing)
        this.log.warn({ err: (error as Error).message, route }, 'request cut by shutdown');
      else this.log.error({ err: (error as Error).message, route }, 'request failed');
      if (!response.headersSent) sendJson(response, 503, { error: 'unavailable' }, { 'retry-after': '5' });
      status = 503;
    }
    this.service.metrics.requests.inc({ route, status: String(status) });
    this.service.metrics.latency.observe({ route }, Number(process.hrtime.bigint() - started) / 1e9);
  }

  private async dispatch(
    request: IncomingMessage,
    response: ServerResponse,
    url: URL,
    ip: string,
  ): Promise<{ route: string; status: number }> {
    const method = request.method ?? 'GET';
    const path = url.pathname;
    if (method === 'GET' && path === '/healthz') {
      sendJson(response, 200, { status: 'ok' });
      return { route: 'healthz', status: 200 };
    }
    if (method === 'GET' && path === '/readyz') {
      const { store } = this.service;
      const ready = await store.ping();
      sendJson(response, ready ? 200 : 503, {
        status: ready ? 'ready' : 'store unavailable',
        store: store.kind,
        // Clients tell a mailbox the relay lost in a restart from one that is gone (RelayStore.holdsSince).
        ...(store.holdsSince !== undefined ? { storeSince: store.holdsSince } : {}),
      });
      return { route: 'readyz', status: ready ? 200 : 503 };
    }
    if (method === 'GET' && path === '/metrics') {
      const text = await this.service.metrics.registry.metrics();
      response.writeHead(200, { 'content-type': this.service.metrics.registry.contentType });
      response.end(text);
      return { route: 'metrics', status: 200 };
    }
    if (method === 'GET' && path === '/i') {
      response.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'content-security-policy':
          "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'",
        'referrer-policy': 'no-referrer',
        'cache-control': 'no-store',
      });
      response.end(INVITE_PAGE);
      return { route: 'invite_page', status: 200 };
    }

    const wait = this.ipBuckets.take(ip);
    if (wait > 0) {
      this.service.metrics.reject('ip_rate');
      sendJson(response, 429, { error: 'rate_limited' }, { 'retry-after': String(wait) });
      return { route: 'rate_limited', status: 429 };
    }

    const claim = CLAIM_ROUTE.exec(path);
    if (claim) {
      if (method !== 'POST') return this.methodNotAllowed(response, 'claim');
      return { route: 'claim', status: sendResult(response, await this.service.claim(claim[1]!)) };
    }
    const inbox = INBOX_ROUTE.exec(path);
    if (inbox) return this.inboxOperation(request, response, method, inbox[1]!, inbox[2]!, inbox[3]);
    const mailbox = MAILBOX_ROUTE.exec(path);
    if (!mailbox) {
      sendJson(response, 404, { error: 'not_found' });
      return { route: 'unknown', status: 404 };
    }
    const id = mailbox[1]!;
    const sub = mailbox[2];
    if (sub === undefined) {
      if (method === 'PUT') return this.createMailbox(request, response, id, ip);
      if (method === 'DELETE')
        return {
          route: 'delete',
          status: sendResult(response, await this.service.delete(id, bearer(request))),
        };
      return this.methodNotAllowed(response, 'mailbox');
    }
    if (sub === '/messages') {
      if (method === 'POST') return this.post(request, response, id);
      if (method === 'GET') return this.read(request, response, url, id);
      return this.methodNotAllowed(response, 'messages');
    }
    if (method !== 'POST') return this.methodNotAllowed(response, 'nameplate');
    const body = await readBody(request, this.service.limits.maxJsonBytes);
    const json = body && parseJson(body);
    if (!body) return this.tooLarge(response, 'nameplate');
    if (!json || typeof json.maxClaims !== 'number') return this.badRequest(response, 'nameplate');
    return {
      route: 'nameplate',
      status: sendResult(
        response,
        await this.service.createNameplate(id, bearer(request), json.maxClaims),
        201,
      ),
    };
  }

  private async createMailbox(request: IncomingMessage, response: ServerResponse, id: string, ip: string) {
    const body = await readBody(request, this.service.limits.maxJsonBytes);
    if (!body) return this.tooLarge(response, 'create');
    const json = decodeBody(createBody, parseJson(body));
    if (!json) return this.badRequest(response, 'create');
    const result = await this.service.createMailbox(ip, id, {
      readCapHash: json.readCapHash,
      ttlSeconds: json.ttlSeconds,
      ...(json.writeCapHash !== undefined ? { writeCapHash: json.writeCapHash } : {}),
      ...(json.inbox !== undefined ? { inbox: json.inbox } : {}),
    });
    return { route: 'create', status: sendResult(response, result, 201) };
  }

  /** An inbox owner's operations (docs/RELAY.md, Inboxes); every body strictly decoded first. */
  private async inboxOperation(
    request: IncomingMessage,
    response: ServerResponse,
    method: string,
    id: string,
    operation: string,
    writer: string | undefined,
  ) {
    const cap = bearer(request);
    if (writer !== undefined) {
      if (operation !== 'writers') {
        sendJson(response, 404, { error: 'not_found' });
        return { route: 'unknown', status: 404 };
      }
      if (method !== 'DELETE') return this.methodNotAllowed(response, 'revoke_writer');
      const revoked = await this.service.revokeWriter(id, cap, writer);
      return { route: 'revoke_writer', status: sendResult(response, revoked) };
    }
    const route = operation === 'writers' ? 'add_writer' : operation;
    if (method !== 'POST') return this.methodNotAllowed(response, route);
    const body = await readBody(request, this.service.limits.maxJsonBytes);
    if (!body) return this.tooLarge(response, route);
    const json = parseJson(body);
    let result: RelayResult<object> | null = null;
    if (operation === 'renew') {
      const renew = decodeBody(renewBody, json);
      result = renew && (await this.service.renewInbox(id, cap, renew.ttlSeconds));
    } else if (operation === 'trim') {
      const trim = decodeBody(trimBody, json);
      result = trim && (await this.service.trimInbox(id, cap, trim.through));
    } else {
      const add = decodeBody(addWriterBody, json);
      result = add && (await this.service.addWriter(id, cap, add.writeCapHash));
    }
    if (!result) return this.badRequest(response, route);
    return { route, status: sendResult(response, result) };
  }

  private async post(request: IncomingMessage, response: ServerResponse, id: string) {
    const body = await readBody(request, this.service.limits.maxMessageBytes);
    if (!body) return this.tooLarge(response, 'post');
    if (body.length === 0) return this.badRequest(response, 'post');
    const result = await this.service.post(id, bearer(request), body.toString('base64url'), body.length);
    return { route: 'post', status: sendResult(response, result, 202) };
  }

  private async read(request: IncomingMessage, response: ServerResponse, url: URL, id: string) {
    const after = Number(url.searchParams.get('after') ?? '0');
    const waitSeconds = Math.min(
      Number(url.searchParams.get('wait') ?? '0'),
      this.service.limits.longPollMaxSeconds,
    );
    if (!Number.isInteger(after) || after < 0 || !Number.isFinite(waitSeconds) || waitSeconds < 0)
      return this.badRequest(response, 'read');
    const cap = bearer(request);
    if (waitSeconds === 0)
      return { route: 'read', status: sendResult(response, await this.service.read(id, cap, after)) };
    // Wait first, then read: a post (or delete) landing while the store is read still wakes the
    // wait. Read first and a post in between goes unheard (on Redis its event comes whenever it
    // comes), leaving the reader to wait out its whole wait for a message already stored.
    const ended = new AbortController();
    const end = () => ended.abort();
    response.once('close', end);
    const woken = this.hub.waitForEvent(id, waitSeconds * 1000, ended.signal);
    try {
      let result = await this.service.read(id, cap, after);
      if (result.ok && result.value.messages.length === 0) {
        await woken;
        if (ended.signal.aborted && response.destroyed) return { route: 'read', status: 499 };
        result = await this.service.read(id, cap, after);
      }
      return { route: 'read', status: sendResult(response, result) };
    } finally {
      // Every way out (messages found at once, woken, timed out, client gone, store failed) ends
      // the wait: its timer, listeners and gauge count go with it.
      end();
      response.off('close', end);
    }
  }

  private methodNotAllowed(response: ServerResponse, route: string) {
    sendJson(response, 405, { error: 'method_not_allowed' });
    return { route, status: 405 };
  }

  private badRequest(response: ServerResponse, route: string) {
    this.service.metrics.reject('bad_request');
    sendJson(response, 400, { error: 'bad_request' });
    return { route, status: 400 };
  }

  private tooLarge(response: ServerResponse, route: string) {
    this.service.metrics.reject('too_large');
    sendJson(response, 413, { error: 'too_large' }, { connection: 'close' });
    return { route, status: 413 };
  }
}
