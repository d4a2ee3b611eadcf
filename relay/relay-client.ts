import http from 'node:http';
import https from 'node:https';
import WebSocket from 'ws';
import { decodeBase64url, encodeBase64url } from '../src/encoding/base64url.js';
import { type ErrorCode, PairlinkError } from '../src/errors.js';
import { hashCapability } from './capabilities.js';

/** A relay message as a client sees it. */
export interface RelayMessage {
  readonly seq: number;
  readonly body: Uint8Array;
}

/** Relay answers are small JSON documents; the largest is a read of 64 messages of 16 KiB. */
const MAX_RESPONSE_BYTES = 2 * 1024 * 1024;

const STATUS_CODES: Record<number, ErrorCode> = {
  404: 'INVITE_NOT_FOUND',
  409: 'CROWDED',
  413: 'TOO_LARGE',
  429: 'RATE_LIMITED',
};

function b64(bytes: Uint8Array): string {
  return encodeBase64url(bytes);
}

/** SHA-256 of a capability's text form, as the relay stores it. */
export function capabilityHash(capability: Uint8Array): string {
  return hashCapability(b64(capability));
}

/**
 * HTTP client of the relay API (docs/RELAY.md). Failures become PairlinkErrors with stable codes:
 * RELAY_UNREACHABLE, INVITE_NOT_FOUND (unknown, expired or wrong capability: the relay does not
 * say which), CROWDED, RATE_LIMITED, TOO_LARGE.
 */
export class RelayClient {
  private readonly base: URL;
  private readonly agent: http.Agent;
  private readonly transport: typeof http | typeof https;

  constructor(
    readonly baseUrl: string,
    private readonly timeoutMs = 10_000,
  ) {
    this.base = new URL(baseUrl);
    this.transport = this.base.protocol === 'https:' ? https : http;
    // node:http with keep-alive: ~7x the requests per second of fetch() here (bench/relay.ts).
    this.agent = new this.transport.Agent({ keepAlive: true, maxSockets: 64 });
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.agent.destroy();
  }

  private request(
    method: string,
    path: string,
    options: { cap?: Uint8Array; json?: object; body?: Uint8Array; timeoutMs?: number } = {},
  ): Promise<Record<string, unknown>> {
    const headers: Record<string, string> = {};
    if (options.cap) headers.authorization = `Bearer ${b64(options.cap)}`;
    let body: Buffer | undefined;
    if (options.json) {
      headers['content-type'] = 'application/json';
      body = Buffer.from(JSON.stringify(options.json));
    } else if (options.body) {
      headers['content-type'] = 'application/octet-stream';
      body = Buffer.from(options.body);
    }
    if (body) headers['content-length'] = String(body.length);
    const basePath = this.base.pathname.replace(/\/$/, '');
    return new Promise((resolve, reject) => {
      const unreachable = (reason: string) =>
        reject(new PairlinkError('RELAY_UNREACHABLE', `relay ${this.baseUrl}: ${reason}`));
      const request = this.transport.request(
        {
          host: this.base.hostname,
          port: this.base.port,
          path: basePath + path,
          method,
          headers,
          agent: this.agent,
        },
        (response) => {
          const chunks: Buffer[] = [];
          let size = 0;
          response.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES) request.destroy(new Error('response too large'));
            else chunks.push(chunk);
          });
          response.on('end', () => {
            const status = response.statusCode ?? 0;
            const text = Buffer.concat(chunks).toString('utf8');
            if (status < 200 || status >= 300) {
              const code = STATUS_CODES[status] ?? 'RELAY_UNREACHABLE';
              const retry = response.headers['retry-after'];
              reject(
                new PairlinkError(
                  code,
                  `relay answered ${status}${retry ? ` (retry after ${retry} s)` : ''}`,
                ),
              );
              return;
            }
            try {
              resolve(text === '' ? {} : (JSON.parse(text) as Record<string, unknown>));
            } catch {
              unreachable('answered with something that is not JSON');
            }
          });
          response.on('error', (error) => unreachable(error.message));
        },
      );
      request.setTimeout(options.timeoutMs ?? this.timeoutMs, () => request.destroy(new Error('timed out')));
      request.on('error', (error) => unreachable(error.message));
      request.end(body);
    });
  }

  /** Creates a mailbox whose read (and optionally write) capability hashes the relay will keep. */
  async createMailbox(
    mailboxId: Uint8Array,
    readCap: Uint8Array,
    writeCap: Uint8Array | null,
    ttlSeconds: number,
  ): Promise<number> {
    const result = await this.request('PUT', `/v1/mailboxes/${b64(mailboxId)}`, {
      json: {
        readCapHash: capabilityHash(readCap),
        ...(writeCap ? { writeCapHash: capabilityHash(writeCap) } : {}),
        ttlSeconds,
      },
    });
    return Number(result.expiresAt);
  }

  async post(mailboxId: Uint8Array, writeCap: Uint8Array, body: Uint8Array): Promise<number> {
    const result = await this.request('POST', `/v1/mailboxes/${b64(mailboxId)}/messages`, {
      cap: writeCap,
      body,
    });
    return Number(result.seq);
  }

  /** Messages after `afterSeq`; waits up to `waitSeconds` for one (long-poll fallback). */
  async read(
    mailboxId: Uint8Array,
    readCap: Uint8Array,
    afterSeq = 0,
    waitSeconds = 0,
  ): Promise<RelayMessage[]> {
    const result = await this.request(
      'GET',
      `/v1/mailboxes/${b64(mailboxId)}/messages?after=${afterSeq}&wait=${waitSeconds}`,
      {
        cap: readCap,
        timeoutMs: this.timeoutMs + waitSeconds * 1000,
      },
    );
    return (result.messages as { seq: number; body: string }[]).map((m) => ({
      seq: m.seq,
      body: decodeBase64url(m.body, 64 * 1024),
    }));
  }

  async deleteMailbox(mailboxId: Uint8Array, readCap: Uint8Array): Promise<void> {
    await this.request('DELETE', `/v1/mailboxes/${b64(mailboxId)}`, { cap: readCap });
  }

  async createNameplate(
    mailboxId: Uint8Array,
    readCap: Uint8Array,
    maxClaims: number,
  ): Promise<{ nameplate: string; expiresAt: number }> {
    const result = await this.request('POST', `/v1/mailboxes/${b64(mailboxId)}/nameplate`, {
      cap: readCap,
      json: { maxClaims },
    });
    return { nameplate: String(result.nameplate), expiresAt: Number(result.expiresAt) };
  }

  async claimNameplate(
    nameplate: string,
  ): Promise<{ mailboxId: Uint8Array; writeCap: Uint8Array; expiresAt: number }> {
    const result = await this.request('POST', `/v1/nameplates/${encodeURIComponent(nameplate)}/claim`);
    return {
      mailboxId: decodeBase64url(String(result.mailbox), 16),
      writeCap: decodeBase64url(String(result.writeCap), 16),
      expiresAt: Number(result.expiresAt),
    };
  }
}

export interface WatchHandlers {
  readonly onMessage: (mailboxId: string, message: RelayMessage) => void;
  /** The mailbox is gone (deleted or expired) or the capability is refused. */
  readonly onClosed?: (mailboxId: string, reason: string) => void;
  readonly onConnectionChange?: (connected: boolean) => void;
}

/**
 * One WebSocket to the relay carrying every watched mailbox. Reconnects with capped exponential
 * backoff and jitter, re-watching each mailbox from the last sequence number it saw, so nothing is
 * lost or delivered twice across reconnects.
 */
export class RelaySocket {
  private socket: WebSocket | null = null;
  private readonly watches = new Map<string, { cap: string; lastSeq: number }>();
  private readonly pendingPosts = new Map<
    string,
    { resolve: (seq: number) => void; reject: (e: Error) => void }
  >();
  private attempt = 0;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private nextRef = 0;
  connected = false;

  constructor(
    private readonly baseUrl: string,
    private readonly handlers: WatchHandlers,
  ) {
    this.connect();
  }

  /** Watches a mailbox (from `afterSeq`), now and after every reconnect. */
  watch(mailboxId: Uint8Array, readCap: Uint8Array, afterSeq = 0): void {
    const id = b64(mailboxId);
    this.watches.set(id, { cap: b64(readCap), lastSeq: afterSeq });
    this.sendWatch(id);
  }

  unwatch(mailboxId: Uint8Array): void {
    const id = b64(mailboxId);
    if (this.watches.delete(id)) this.send({ op: 'unwatch', mailbox: id });
  }

  /** Posts over the socket (cheaper than HTTP when one is open). */
  post(mailboxId: Uint8Array, writeCap: Uint8Array, body: Uint8Array): Promise<number> {
    const ref = String(this.nextRef++);
    return new Promise((resolve, reject) => {
      if (!this.connected) {
        reject(new PairlinkError('RELAY_UNREACHABLE', 'relay socket is not connected'));
        return;
      }
      this.pendingPosts.set(ref, { resolve, reject });
      this.send({ op: 'post', mailbox: b64(mailboxId), cap: b64(writeCap), body: b64(body), ref });
    });
  }

  /** Resolves once connected (or rejects after `timeoutMs`). */
  ready(timeoutMs = 5000): Promise<void> {
    if (this.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const started = Date.now();
      const poll = setInterval(() => {
        if (this.connected) {
          clearInterval(poll);
          resolve();
        } else if (Date.now() - started > timeoutMs) {
          clearInterval(poll);
          reject(new PairlinkError('RELAY_UNREACHABLE', 'relay socket did not connect'));
        }
      }, 5);
    });
  }

  close(): void {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.socket?.close(1000);
  }

  private connect(): void {
    const socket = new WebSocket(`${this.baseUrl.replace(/^http/, 'ws')}/v1/ws`, {
      perMessageDeflate: false,
      maxPayload: 64 * 1024,
    });
    this.socket = socket;
    socket.on('open', () => {
      this.attempt = 0;
      this.connected = true;
      this.handlers.onConnectionChange?.(true);
      for (const id of this.watches.keys()) this.sendWatch(id);
    });
    socket.on('message', (data) => this.onFrame(String(data)));
    socket.on('close', () => {
      const wasConnected = this.connected;
      this.connected = false;
      for (const pending of this.pendingPosts.values())
        pending.reject(new PairlinkError('RELAY_UNREACHABLE', 'relay socket closed'));
      this.pendingPosts.clear();
      if (wasConnected) this.handlers.onConnectionChange?.(false);
      if (this.closed) return;
      const delay = Math.min(30_000, 250 * 2 ** this.attempt++) * (0.5 + Math.random() / 2);
      this.reconnectTimer = setTimeout(() => this.connect(), delay);
    });
    socket.on('error', () => {
      // 'close' follows and schedules the reconnect.
    });
  }

  private onFrame(text: string): void {
    let frame: Record<string, unknown>;
    try {
      frame = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    const mailbox = typeof frame.mailbox === 'string' ? frame.mailbox : '';
    if (frame.op === 'message') {
      const watch = this.watches.get(mailbox);
      const seq = Number(frame.seq);
      if (!watch || seq <= watch.lastSeq) return;
      watch.lastSeq = seq;
      let body: Uint8Array;
      try {
        body = decodeBase64url(String(frame.body), 64 * 1024);
      } catch {
        return;
      }
      this.handlers.onMessage(mailbox, { seq, body });
    } else if (frame.op === 'posted' || (frame.op === 'error' && typeof frame.ref === 'string')) {
      const pending = this.pendingPosts.get(String(frame.ref));
      this.pendingPosts.delete(String(frame.ref));
      if (frame.op === 'posted') pending?.resolve(Number(frame.seq));
      else
        pending?.reject(
          new PairlinkError(
            frame.error === 'not_found'
              ? 'INVITE_NOT_FOUND'
              : frame.error === 'rate_limited'
                ? 'RATE_LIMITED'
                : 'RELAY_UNREACHABLE',
            `relay refused the post: ${String(frame.error)}`,
          ),
        );
    } else if (frame.op === 'error' && mailbox && frame.error === 'rate_limited') {
      // Watching was refused for now, not for good: try again when the relay says.
      setTimeout(() => this.sendWatch(mailbox), Number(frame.retryAfter ?? 1) * 1000).unref();
    } else if (frame.op === 'closed' || (frame.op === 'error' && mailbox)) {
      if (this.watches.delete(mailbox)) this.handlers.onClosed?.(mailbox, String(frame.error ?? 'closed'));
    }
  }

  private sendWatch(id: string): void {
    const watch = this.watches.get(id);
    if (watch) this.send({ op: 'watch', mailbox: id, cap: watch.cap, after: watch.lastSeq });
  }

  private send(message: object): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }
}
