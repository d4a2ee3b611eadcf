import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { encodeBase64url as b64, decodeBase64url } from '../../src/encoding/base64url.js';
import { PairlinkError } from '../../src/errors.js';
import { backoffDelayMs } from '../../src/retry-backoff.js';
import { type SocketFrame, socketFrame } from '../wire/relay-answers.js';
import { TurnCork } from '../wire/turn-cork.js';
import { WS_OPS_HEADER } from '../wire/ws-ops.js';
import { capabilityHash, type RelayEndpoint, type RelayMessage } from './relay-endpoint.js';
import { relayConnectionError } from './relay-failure.js';
import { SocketRequests } from './socket-requests.js';

export interface WatchHandlers {
  readonly onMessage: (mailboxId: string, message: RelayMessage) => void;
  /** The relay refused the watch for good (`not_found`: gone or wrong capability). */
  readonly onClosed?: (mailboxId: string, reason: string) => void;
  /** The socket has no room for more watches (`too_many_watches`): the caller moves it elsewhere. */
  readonly onWatchRejected?: (mailboxId: string) => void;
  /** Connected: the relay answered on a new socket (a pong or a frame); not: that socket closed. */
  readonly onConnectionChange?: (connected: boolean) => void;
  /** A socket could not be opened or was dropped unanswered, and why (the relay named). */
  readonly onTrouble?: (error: PairlinkError) => void;
}

/** Timeouts of one socket; tests shorten them. */
export interface SocketTimings {
  /** How long a post over the socket may wait for `posted`. */
  readonly postTimeoutMs: number;
  /** The client pings this often and drops a socket whose pong has not come back by the next ping. */
  readonly pingIntervalMs: number;
  /** The opening handshake's deadline, and then again the first pong's. */
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
  /**
   * Read again for a gap: `asked` until the relay says `watching`, then `watching` until the next
   * message, which starts what the relay still holds past `lastSeq`: a gap there is messages an
   * inbox's owner trimmed, not a lost push, and reading again would only find it again.
   */
  resync?: 'asked' | 'watching' | undefined;
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
  /** The connection under `socket` (its upgrade's), corked while a turn's frames are sent. */
  private wire: Socket | null = null;
  private readonly cork = new TurnCork();
  private readonly watches = new Map<string, Watch>();
  /** Operations awaiting their answer, by ref: posts, and mailbox creations and deletions. */
  private readonly requests: SocketRequests;
  private attempt = 0;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private awaitingPong = false;
  private readonly readyWaiters = new Set<() => void>();
  private readonly timings: SocketTimings;
  private readonly origin: string;
  /**
   * The relay answered on the current socket (a pong or a protocol frame). An open socket is not
   * enough: a relay that upgrades and then says nothing is not connected, and is dropped.
   */
  connected = false;
  /** When the relay last answered on any of this client's sockets (Unix ms); undefined until it has. */
  answeredAt: number | undefined;
  /** The relay said (upgrade header) that it creates and deletes mailboxes over the socket. */
  mailboxOps = false;
  /** The relay said (upgrade header) that it adds and revokes an inbox's writers over the socket. */
  writerOps = false;
  /** The relay said (upgrade header) that it revokes up to 64 writers in one op (revoke_writers). */
  revokesBatched = false;
  /** The relay said (upgrade header) that a post may name an earlier one to be stored after (post_after). */
  postsAfter = false;

  constructor(
    private readonly baseUrl: string,
    private readonly handlers: WatchHandlers,
    timings: Partial<SocketTimings> = {},
    /** The name check and CAs, as RelayClient's. */
    private readonly endpoint: RelayEndpoint = {},
  ) {
    this.timings = { ...DEFAULT_SOCKET_TIMINGS, ...timings };
    this.requests = new SocketRequests(this.timings.postTimeoutMs);
    this.origin = new URL(baseUrl).origin;
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
    const watch = this.watches.get(id);
    if (!watch) return;
    watch.resync = 'asked';
    this.send({ op: 'unwatch', mailbox: id });
    this.sendWatch(id);
  }

  /** Posts over the socket (cheaper than HTTP when one is open), within the post timeout. */
  post(mailboxId: Uint8Array, writeCap: Uint8Array, body: Uint8Array): Promise<number> {
    return this.request(
      { op: 'post', mailbox: b64(mailboxId), cap: b64(writeCap), body: b64(body) },
      'a post',
      (frame) => (frame.op === 'posted' ? frame.seq : undefined),
    );
  }

  /**
   * Posts `bodies` to one mailbox together (only when `postsAfter`): each names the one before it
   * in `after`, so the relay stores it only after that one, and never when that one was refused.
   * One promise per body, each within the post timeout.
   */
  postInOrder(mailboxId: Uint8Array, writeCap: Uint8Array, bodies: readonly Uint8Array[]): Promise<number>[] {
    const mailbox = b64(mailboxId);
    const cap = b64(writeCap);
    let after: string | undefined;
    return bodies.map((body) => {
      const ref = this.requests.newRef();
      const op = { op: 'post', mailbox, cap, body: b64(body), ...(after !== undefined ? { after } : {}) };
      after = ref;
      return this.request(op, 'a post', (frame) => (frame.op === 'posted' ? frame.seq : undefined), ref);
    });
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
    );
  }

  /** Deletes a mailbox over the socket (only when `mailboxOps`), as HTTP DELETE does. */
  async deleteMailbox(mailboxId: Uint8Array, readCap: Uint8Array): Promise<void> {
    await this.request(
      { op: 'delete', mailbox: b64(mailboxId), cap: b64(readCap) },
      'a mailbox deletion',
      (frame) => (frame.op === 'deleted' ? true : undefined),
    );
  }

  /**
   * Sends `op` and waits for its answer (SocketRequests), if the socket is connected: for the ops
   * here and an inbox's writer ops (inbox-requests.ts).
   */
  request<T>(
    op: object,
    what: string,
    accept: (frame: SocketFrame) => T | undefined,
    ref?: string,
  ): Promise<T> {
    if (!this.connected)
      return Promise.reject(new PairlinkError('RELAY_UNREACHABLE', 'relay socket is not connected'));
    return this.requests.send(op, what, accept, (message) => this.send(message), ref);
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
      ...(this.endpoint.lookup ? { lookup: this.endpoint.lookup } : {}),
      ...(this.endpoint.ca ? { ca: [...this.endpoint.ca] } : {}),
    });
    this.socket = socket;
    socket.on('open', () => {
      // Open is not connected: the relay must answer a ping first, within the connect deadline
      // (a relay that upgrades and then says nothing was once logged "connected" again and again).
      this.pingTimer = setInterval(() => this.checkAlive(socket), this.timings.pingIntervalMs);
      this.pingTimer.unref();
      this.awaitingPong = false;
      this.checkAlive(socket);
      const unanswered = setTimeout(() => {
        if (this.socket !== socket || this.connected) return;
        this.handlers.onTrouble?.(
          new PairlinkError(
            'RELAY_UNREACHABLE',
            `relay ${this.origin}: took the WebSocket but did not answer a ping within ${this.timings.connectTimeoutMs} ms`,
          ),
        );
        socket.terminate();
      }, this.timings.connectTimeoutMs);
      unanswered.unref();
      socket.once('close', () => clearTimeout(unanswered));
      for (const id of this.watches.keys()) this.sendWatch(id);
    });
    socket.on('upgrade', (response) => {
      this.wire = response.socket;
      const ops = response.headers[WS_OPS_HEADER];
      const named = typeof ops === 'string' ? ops.split(' ') : [];
      this.mailboxOps = named.includes('create');
      this.writerOps = named.includes('add_writer') && named.includes('revoke_writer');
      this.revokesBatched = named.includes('revoke_writers');
      this.postsAfter = named.includes('post_after');
    });
    socket.on('pong', () => {
      this.awaitingPong = false;
      this.answered(socket);
    });
    socket.on('message', (data) => {
      if (this.onFrame(String(data))) this.answered(socket);
    });
    socket.on('close', () => {
      if (this.socket !== socket) return;
      if (this.pingTimer) clearInterval(this.pingTimer);
      this.pingTimer = null;
      const wasConnected = this.connected;
      this.connected = false;
      this.requests.socketClosed();
      if (wasConnected) this.handlers.onConnectionChange?.(false);
      if (this.closed) return;
      const delay = backoffDelayMs(
        this.attempt++,
        { baseMs: 250, ceilingMs: this.timings.maxBackoffMs },
        Math.random(),
      );
      this.reconnectTimer = setTimeout(() => this.connect(), delay);
    });
    socket.on('error', (error) => {
      // Said once per failure (the agent rate-limits its log); 'close' follows and reconnects.
      if (this.socket === socket) this.handlers.onTrouble?.(relayConnectionError(this.origin, error));
    });
  }

  /**
   * The relay answered on `socket`: the first answer makes it connected (and only then does the
   * backoff start again, so a relay that takes sockets and drops them is retried on the backoff,
   * not 4 times a second).
   */
  private answered(socket: WebSocket): void {
    if (this.socket !== socket) return;
    this.attempt = 0;
    this.answeredAt = Date.now();
    if (this.connected) return;
    this.connected = true;
    this.handlers.onConnectionChange?.(true);
    for (const wake of [...this.readyWaiters]) wake();
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

  /** Handles one frame; false when it is not a frame of the protocol (ignored, as a lost one). */
  private onFrame(text: string): boolean {
    let frame: SocketFrame;
    try {
      const parsed = socketFrame.safeParse(JSON.parse(text));
      if (!parsed.success) return false;
      frame = parsed.data;
    } catch {
      return false;
    }
    this.handleFrame(frame);
    return true;
  }

  private handleFrame(frame: SocketFrame): void {
    switch (frame.op) {
      case 'watching': {
        const watch = this.watches.get(frame.mailbox);
        if (watch) watch.refusals = 0;
        if (watch?.resync === 'asked') watch.resync = 'watching';
        return;
      }
      case 'message': {
        const watch = this.watches.get(frame.mailbox);
        if (!watch || frame.seq <= watch.lastSeq) return;
        if (frame.seq > watch.lastSeq + 1 && watch.resync !== 'watching') {
          // A push was lost (sequence numbers are contiguous): read the backlog again, once.
          if (watch.resync !== 'asked') this.resync(frame.mailbox);
          return;
        }
        watch.resync = undefined;
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
      case 'writer_added':
      case 'writer_revoked':
      case 'writers_revoked':
        this.requests.settle(frame.ref, frame);
        return;
      case 'closed':
        if (this.watches.delete(frame.mailbox)) this.handlers.onClosed?.(frame.mailbox, 'closed');
        return;
      case 'error':
        if (frame.ref !== undefined) {
          this.requests.settle(frame.ref, frame);
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

  private sendWatch(id: string): void {
    const watch = this.watches.get(id);
    if (watch) this.send({ op: 'watch', mailbox: id, cap: watch.cap, after: watch.lastSeq });
  }

  /** The frames sent in one turn leave in one write (TurnCork). */
  private send(message: object): void {
    if (this.socket?.readyState !== WebSocket.OPEN) return;
    this.cork.hold(this.wire);
    this.socket.send(JSON.stringify(message));
  }
}
