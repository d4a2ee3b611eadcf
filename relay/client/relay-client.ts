import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import WebSocket from 'ws';
import { decodeBase64url, encodeBase64url } from '../../src/encoding/base64url.js';
import { type ErrorCode, PairlinkError } from '../../src/errors.js';
import { backoffDelayMs } from '../../src/retry-backoff.js';
import { hashCapability } from '../wire/capabilities.js';
import {
  claimAnswer,
  createdAnswer,
  decodeAnswer,
  decodeAnswerBytes,
  deletedAnswer,
  nameplateAnswer,
  postedAnswer,
  readAnswer,
  readyAnswer,
  relayRefusalCode,
  type SocketFrame,
  socketFrame,
} from '../wire/relay-answers.js';
import { WS_OPS_HEADER } from '../wire/ws-ops.js';

/** A relay message as a client sees it. */
export interface RelayMessage {
  readonly seq: number;
  readonly body: Uint8Array;
}

/** Relay answers are small JSON documents; the largest is a read of 64 messages of 16 KiB. */
const MAX_RESPONSE_BYTES = 2 * 1024 * 1024;

/** A relay's refusal over the socket, as the same refusal over HTTP (one table: relayRefusalCode). */
function relayAnswerError(error: string, status: number | undefined, retryAfter: number | undefined): Error {
  const code = relayRefusalCode(error, status);
  const retry = retryAfter ? ` (retry after ${retryAfter} s)` : '';
  const answered = status === undefined ? error : `${status} ${error}`;
  return new RelayAnswerError(code, `relay answered ${answered}${retry}`, status ?? 400, error);
}

function b64(bytes: Uint8Array): string {
  return encodeBase64url(bytes);
}

/** SHA-256 of a capability's text form, as the relay stores it. */
export function capabilityHash(capability: Uint8Array): string {
  return hashCapability(b64(capability));
}

/** A relay error answer, with its HTTP status and the relay's error string (for callers that care). */
export class RelayAnswerError extends PairlinkError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly status: number,
    readonly relayError: string,
  ) {
    super(code, message);
  }
}

/**
 * HTTP client of the relay API (docs/RELAY.md). Every request has a timeout, every answer is
 * decoded by a schema (relay-answers.ts). Failures become PairlinkErrors with stable codes:
 * RELAY_UNREACHABLE, RELAY_PROTOCOL, INVITE_NOT_FOUND (unknown, expired or wrong capability: the
 * relay does not say which), CROWDED, RATE_LIMITED, TOO_LARGE.
 */
export class RelayClient {
  private readonly base: URL;
  private readonly agent: http.Agent;
  private readonly transport: typeof http | typeof https;

  constructor(
    readonly baseUrl: string,
    private readonly timeoutMs = 10_000,
    /** Resolves (and checks) the relay's name before each connection (io/relay-lookup.ts). */
    private readonly lookup?: LookupFunction,
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
  ): Promise<unknown> {
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
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (error: Error | null, value?: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        if (error) reject(error);
        else resolve(value);
      };
      const unreachable = (reason: string) =>
        settle(new PairlinkError('RELAY_UNREACHABLE', `relay ${this.baseUrl}: ${reason}`));
      const request = this.transport.request(
        {
          host: this.base.hostname,
          port: this.base.port,
          path: basePath + path,
          method,
          headers,
          agent: this.agent,
          ...(this.lookup ? { lookup: this.lookup } : {}),
        },
        (response) => {
          const chunks: Buffer[] = [];
          let size = 0;
          response.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES) {
              settle(new PairlinkError('RELAY_PROTOCOL', `relay ${this.baseUrl}: answer too large`));
              request.destroy();
            } else chunks.push(chunk);
          });
          response.on('end', () => {
            const status = response.statusCode ?? 0;
            const text = Buffer.concat(chunks).toString('utf8');
            if (status < 200 || status >= 300) {
              let relayError = '';
              try {
                const parsed = JSON.parse(text) as { error?: unknown };
                if (typeof parsed.error === 'string' && parsed.error.length <= 64) relayError = parsed.error;
              } catch {
                // an error page that is not JSON: the status says enough
              }
              // Never followed: a 3xx is a protocol error like any other status we do not expect.
              const code = relayRefusalCode(relayError, status);
              const retry = response.headers['retry-after'];
              settle(
                new RelayAnswerError(
                  code,
                  `relay answered ${status}${relayError ? ` ${relayError}` : ''}${retry ? ` (retry after ${retry} s)` : ''}`,
                  status,
                  relayError,
                ),
              );
              return;
            }
            try {
              settle(null, JSON.parse(text) as unknown);
            } catch {
              settle(
                new PairlinkError(
                  'RELAY_PROTOCOL',
                  `relay ${this.baseUrl}: answered with something that is not JSON`,
                ),
              );
            }
          });
          response.on('error', (error) => unreachable(error.message));
        },
      );
      // One deadline for the whole exchange (connect, send, headers, body), not an idle timer:
      // a relay that trickles one byte a second must not hold a pairing step for ever.
      const deadline = setTimeout(() => {
        unreachable(`no answer within ${timeoutMs} ms`);
        request.destroy();
      }, timeoutMs);
      // A refusal of the address (RELAY_REFUSED from the lookup) stays what it is.
      request.on('error', (error) =>
        error instanceof PairlinkError ? settle(error) : unreachable(error.message),
      );
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
    return decodeAnswer(createdAnswer, result, 'mailbox').expiresAt;
  }

  async post(mailboxId: Uint8Array, writeCap: Uint8Array, body: Uint8Array): Promise<number> {
    const result = await this.request('POST', `/v1/mailboxes/${b64(mailboxId)}/messages`, {
      cap: writeCap,
      body,
    });
    return decodeAnswer(postedAnswer, result, 'post').seq;
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
    return decodeAnswer(readAnswer, result, 'read').messages.map((m) => ({
      seq: m.seq,
      body: decodeBase64url(m.body, 64 * 1024),
    }));
  }

  async deleteMailbox(mailboxId: Uint8Array, readCap: Uint8Array): Promise<void> {
    const result = await this.request('DELETE', `/v1/mailboxes/${b64(mailboxId)}`, { cap: readCap });
    decodeAnswer(deletedAnswer, result, 'delete');
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
    return decodeAnswer(nameplateAnswer, result, 'nameplate');
  }

  /**
   * When the relay's store began to hold its mailboxes (Unix ms), if it says: a memory relay's
   * start, before which every mailbox was lost. Undefined for a durable store or an older relay.
   */
  async storeSince(): Promise<number | undefined> {
    const result = await this.request('GET', '/readyz');
    return decodeAnswer(readyAnswer, result, 'readiness').storeSince;
  }

  async claimNameplate(
    nameplate: string,
  ): Promise<{ mailboxId: Uint8Array; writeCap: Uint8Array; expiresAt: number }> {
    const result = await this.request('POST', `/v1/nameplates/${encodeURIComponent(nameplate)}/claim`);
    const claim = decodeAnswer(claimAnswer, result, 'claim');
    return {
      mailboxId: decodeAnswerBytes(claim.mailbox),
      writeCap: decodeAnswerBytes(claim.writeCap),
      expiresAt: claim.expiresAt,
    };
  }
}

export interface WatchHandlers {
  readonly onMessage: (mailboxId: string, message: RelayMessage) => void;
  /** The relay refused the watch for good (`not_found`: gone or wrong capability). */
  readonly onClosed?: (mailboxId: string, reason: string) => void;
  /** The socket has no room for more watches (`too_many_watches`): the caller moves it elsewhere. */
  readonly onWatchRejected?: (mailboxId: string) => void;
  readonly onConnectionChange?: (connected: boolean) => void;
}

/** Timeouts of one socket; tests shorten them. */
export interface SocketTimings {
  /** How long a post over the socket may wait for `posted`. */
  readonly postTimeoutMs: number;
  /** The client pings this often and drops a socket whose pong has not come back by the next ping. */
  readonly pingIntervalMs: number;
  /** The opening handshake's deadline. */
  readonly connectTimeoutMs: number;
  /** Reconnect backoff cap. */
  readonly maxBackoffMs: number;
}

export const DEFAULT_SOCKET_TIMINGS: SocketTimings = {
  postTimeoutMs: 10_000,
  pingIntervalMs: 15_000,
  connectTimeoutMs: 10_000,
  maxBackoffMs: 10_000,
};

interface Watch {
  cap: string;
  lastSeq: number;
  /** Watches the relay refused for now (rate_limited, unavailable) in a row: the backoff's attempt. */
  refusals: number;
}

/**
 * One WebSocket to the relay carrying many watched mailboxes. It reconnects with capped
 * exponential backoff and jitter and re-watches each mailbox from the last sequence number it
 * delivered, so nothing is lost or delivered twice across reconnects. It pings the relay and
 * drops a connection that stops answering (a half-open socket would otherwise hold every watch
 * and post on it for ever), and every post has a deadline. Sequence numbers are contiguous per
 * mailbox, so a gap means a push was lost: the mailbox is read again from the last one delivered.
 */
export class RelaySocket {
  private socket: WebSocket | null = null;
  private readonly watches = new Map<string, Watch>();
  /** Operations awaiting their answer, by ref: posts, and mailbox creations and deletions. */
  private readonly pending = new Map<
    string,
    { answer: (frame: SocketFrame) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();
  private attempt = 0;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private awaitingPong = false;
  private nextRef = 0;
  private readonly readyWaiters = new Set<() => void>();
  private readonly timings: SocketTimings;
  connected = false;
  /** The relay said (upgrade header) that it creates and deletes mailboxes over the socket. */
  mailboxOps = false;

  constructor(
    private readonly baseUrl: string,
    private readonly handlers: WatchHandlers,
    timings: Partial<SocketTimings> = {},
    /** Resolves (and checks) the relay's name before each connection, as RelayClient's does. */
    private readonly lookup?: LookupFunction,
  ) {
    this.timings = { ...DEFAULT_SOCKET_TIMINGS, ...timings };
    this.connect();
  }

  /** How many mailboxes this socket watches. */
  get watchCount(): number {
    return this.watches.size;
  }

  /** Watches a mailbox (from `afterSeq`), now and after every reconnect; a no-op if already watched. */
  watch(mailboxId: Uint8Array | string, readCap: Uint8Array | string, afterSeq = 0): void {
    const id = typeof mailboxId === 'string' ? mailboxId : b64(mailboxId);
    if (this.watches.has(id)) return;
    this.watches.set(id, {
      cap: typeof readCap === 'string' ? readCap : b64(readCap),
      lastSeq: afterSeq,
      refusals: 0,
    });
    this.sendWatch(id);
  }

  /** The watched mailbox's capability and position, for moving it to another socket. */
  watched(id: string): { cap: string; lastSeq: number } | undefined {
    const watch = this.watches.get(id);
    return watch ? { cap: watch.cap, lastSeq: watch.lastSeq } : undefined;
  }

  unwatch(mailboxId: Uint8Array | string): void {
    const id = typeof mailboxId === 'string' ? mailboxId : b64(mailboxId);
    if (this.watches.delete(id)) this.send({ op: 'unwatch', mailbox: id });
  }

  /** Reads a watched mailbox again from the last message delivered (unwatch, then watch). */
  resync(mailboxId: Uint8Array | string): void {
    const id = typeof mailboxId === 'string' ? mailboxId : b64(mailboxId);
    if (!this.watches.has(id)) return;
    this.send({ op: 'unwatch', mailbox: id });
    this.sendWatch(id);
  }

  /** Posts over the socket (cheaper than HTTP when one is open), within the post timeout. */
  post(mailboxId: Uint8Array, writeCap: Uint8Array, body: Uint8Array): Promise<number> {
    return this.request(
      { op: 'post', mailbox: b64(mailboxId), cap: b64(writeCap), body: b64(body) },
      'a post',
      (frame) => (frame.op === 'posted' ? frame.seq : undefined),
      relayAnswerError,
    );
  }

  /**
   * Creates a mailbox over the socket (only when `mailboxOps`): the HTTP route's request and
   * answers, without a connection of its own. Resolves with its expiry (ms).
   */
  createMailbox(
    mailboxId: Uint8Array,
    readCap: Uint8Array,
    writeCap: Uint8Array | null,
    ttlSeconds: number,
  ): Promise<number> {
    return this.request(
      {
        op: 'create',
        mailbox: b64(mailboxId),
        readCapHash: capabilityHash(readCap),
        ...(writeCap ? { writeCapHash: capabilityHash(writeCap) } : {}),
        ttlSeconds,
      },
      'a mailbox creation',
      (frame) => (frame.op === 'created' ? frame.expiresAt : undefined),
      relayAnswerError,
    );
  }

  /** Deletes a mailbox over the socket (only when `mailboxOps`), as HTTP DELETE does. */
  async deleteMailbox(mailboxId: Uint8Array, readCap: Uint8Array): Promise<void> {
    await this.request(
      { op: 'delete', mailbox: b64(mailboxId), cap: b64(readCap) },
      'a mailbox deletion',
      (frame) => (frame.op === 'deleted' ? true : undefined),
      relayAnswerError,
    );
  }

  /**
   * Sends `op` with a fresh ref and waits, within the post timeout, for the answer with that ref:
   * `accept` reads a success frame (undefined: not the answer this op has, a protocol error),
   * `refuse` turns the relay's error (and the HTTP status it carries) into an error.
   */
  private request<T>(
    op: object,
    what: string,
    accept: (frame: SocketFrame) => T | undefined,
    refuse: (error: string, status: number | undefined, retryAfter: number | undefined) => Error,
  ): Promise<T> {
    const ref = String(this.nextRef++);
    return new Promise((resolve, reject) => {
      if (!this.connected) {
        reject(new PairlinkError('RELAY_UNREACHABLE', 'relay socket is not connected'));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        reject(
          new PairlinkError(
            'RELAY_UNREACHABLE',
            `relay did not answer ${what} within ${this.timings.postTimeoutMs} ms`,
          ),
        );
      }, this.timings.postTimeoutMs);
      this.pending.set(ref, {
        answer: (frame) => {
          if (frame.op === 'error') return reject(refuse(frame.error, frame.status, frame.retryAfter));
          const value = accept(frame);
          if (value === undefined)
            reject(new PairlinkError('RELAY_PROTOCOL', `the relay answered ${what} with ${frame.op}`));
          else resolve(value);
        },
        reject,
        timer,
      });
      this.send({ ...op, ref });
    });
  }

  /** Resolves once connected (or rejects after `timeoutMs`). */
  ready(timeoutMs = 5000): Promise<void> {
    if (this.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.readyWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(() => {
        this.readyWaiters.delete(done);
        reject(new PairlinkError('RELAY_UNREACHABLE', 'relay socket did not connect'));
      }, timeoutMs);
      this.readyWaiters.add(done);
    });
  }

  close(): void {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.socket?.close(1000);
  }

  private connect(): void {
    const socket = new WebSocket(`${this.baseUrl.replace(/^http/, 'ws')}/v1/ws`, {
      perMessageDeflate: false,
      maxPayload: 64 * 1024,
      handshakeTimeout: this.timings.connectTimeoutMs,
      // Never followed (ws's default, said here): a redirect could aim the agent anywhere.
      followRedirects: false,
      ...(this.lookup ? { lookup: this.lookup } : {}),
    });
    this.socket = socket;
    socket.on('open', () => {
      // The backoff starts again only once the relay has answered something (a pong or a frame):
      // one that accepts sockets and drops them at once is retried on the backoff, not 4 times a second.
      this.connected = true;
      this.awaitingPong = false;
      this.pingTimer = setInterval(() => this.checkAlive(socket), this.timings.pingIntervalMs);
      this.pingTimer.unref();
      this.handlers.onConnectionChange?.(true);
      for (const id of this.watches.keys()) this.sendWatch(id);
      for (const wake of [...this.readyWaiters]) wake();
    });
    socket.on('upgrade', (response) => {
      const ops = response.headers[WS_OPS_HEADER];
      this.mailboxOps = typeof ops === 'string' && ops.split(' ').includes('create');
    });
    socket.on('pong', () => {
      this.awaitingPong = false;
      this.attempt = 0;
    });
    socket.on('message', (data) => this.onFrame(String(data)));
    socket.on('close', () => {
      if (this.socket !== socket) return;
      if (this.pingTimer) clearInterval(this.pingTimer);
      this.pingTimer = null;
      const wasConnected = this.connected;
      this.connected = false;
      for (const pending of this.pending.values()) {
        clearTimeout(pending.timer);
        pending.reject(new PairlinkError('RELAY_UNREACHABLE', 'relay socket closed'));
      }
      this.pending.clear();
      if (wasConnected) this.handlers.onConnectionChange?.(false);
      if (this.closed) return;
      const delay = backoffDelayMs(
        this.attempt++,
        { baseMs: 250, ceilingMs: this.timings.maxBackoffMs },
        Math.random(),
      );
      this.reconnectTimer = setTimeout(() => this.connect(), delay);
    });
    socket.on('error', () => {
      // 'close' follows and schedules the reconnect.
    });
  }

  /** A socket whose last ping got no pong is treated as dead, even if TCP has not noticed. */
  private checkAlive(socket: WebSocket): void {
    if (this.awaitingPong) {
      socket.terminate();
      return;
    }
    this.awaitingPong = true;
    try {
      socket.ping();
    } catch {
      socket.terminate();
    }
  }

  private onFrame(text: string): void {
    let frame: SocketFrame;
    try {
      const parsed = socketFrame.safeParse(JSON.parse(text));
      if (!parsed.success) return; // not a frame of the protocol: ignore it, as a lost one
      frame = parsed.data;
    } catch {
      return;
    }
    this.attempt = 0;
    switch (frame.op) {
      case 'watching': {
        const watch = this.watches.get(frame.mailbox);
        if (watch) watch.refusals = 0;
        return;
      }
      case 'message': {
        const watch = this.watches.get(frame.mailbox);
        if (!watch || frame.seq <= watch.lastSeq) return;
        if (frame.seq > watch.lastSeq + 1) {
          // A push was lost (sequence numbers are contiguous): read the backlog again.
          this.resync(frame.mailbox);
          return;
        }
        let body: Uint8Array;
        try {
          body = decodeBase64url(frame.body, 64 * 1024);
        } catch {
          return;
        }
        watch.lastSeq = frame.seq;
        this.handlers.onMessage(frame.mailbox, { seq: frame.seq, body });
        return;
      }
      case 'posted':
      case 'created':
      case 'deleted':
        this.settle(frame.ref, frame);
        return;
      case 'closed':
        if (this.watches.delete(frame.mailbox)) this.handlers.onClosed?.(frame.mailbox, 'closed');
        return;
      case 'error':
        if (frame.ref !== undefined) {
          this.settle(frame.ref, frame);
          return;
        }
        if (!frame.mailbox) return;
        if (frame.error === 'rate_limited' || frame.error === 'unavailable') {
          // Refused for now, not for good: try again when the relay says, but never sooner than
          // our own backoff (a relay saying "retry after 0" for ever must not get a watch loop).
          const mailbox = frame.mailbox;
          const watch = this.watches.get(mailbox);
          if (!watch) return;
          const backoff = backoffDelayMs(
            watch.refusals++,
            { baseMs: 1000, ceilingMs: this.timings.maxBackoffMs },
            Math.random(),
          );
          setTimeout(
            () => this.sendWatch(mailbox),
            Math.max(backoff, (frame.retryAfter ?? 0) * 1000),
          ).unref();
        } else if (frame.error === 'too_many_watches') {
          if (this.watches.has(frame.mailbox)) this.handlers.onWatchRejected?.(frame.mailbox);
        } else if (this.watches.delete(frame.mailbox)) {
          this.handlers.onClosed?.(frame.mailbox, frame.error);
        }
        return;
    }
  }

  private settle(ref: string, frame: SocketFrame): void {
    const pending = this.pending.get(ref);
    if (!pending) return;
    this.pending.delete(ref);
    clearTimeout(pending.timer);
    pending.answer(frame);
  }

  private sendWatch(id: string): void {
    const watch = this.watches.get(id);
    if (watch) this.send({ op: 'watch', mailbox: id, cap: watch.cap, after: watch.lastSeq });
  }

  private send(message: object): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }
}
