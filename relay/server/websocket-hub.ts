import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { TurnCork } from '../wire/turn-cork.js';
import { WS_EXTRA_OPS, WS_OPS_HEADER } from '../wire/ws-ops.js';
import { type ClientOp, isMailboxOp, type PostOp, parseOp, runMailboxOp } from './client-ops.js';
import type { InFlight } from './in-flight.js';
import { copyString, type RelayService } from './relay-service.js';
import type { MailboxEvent, StoredMessage } from './store/store.js';
import type { TokenBuckets } from './token-buckets.js';

interface Watch {
  readonly socket: WebSocket;
  readonly mailbox: string;
  lastSeq: number;
  /** Live events that arrived while the backlog was being read, delivered right after it. */
  queued: StoredMessage[] | null;
}

interface SocketState {
  readonly ip: string;
  /** The connection under the socket, corked while a turn's frames to it are sent (TurnCork). */
  readonly wire: Duplex;
  readonly cork: TurnCork;
  /** A small array, not a Map: most sockets watch one mailbox, and a Map costs ~200 B more. */
  watches: Watch[];
  alive: boolean;
  /**
   * The socket's last RECENT_POSTS posts by ref, each resolving to whether it was stored: what a
   * later post's `after` waits for. Made at its first post with a ref.
   */
  posts?: Map<string, Promise<boolean>>;
}

/** How many of a socket's posts a later one may name in `after` (a client pipelines two or three). */
const RECENT_POSTS = 16;

/** The set stored under `key`, created on first use. */
function setFor<T>(map: Map<string, Set<T>>, key: string): Set<T> {
  let set = map.get(key);
  if (!set) {
    set = new Set();
    map.set(key, set);
  }
  return set;
}

/**
 * WebSocket side of the relay (`/v1/ws`): clients watch mailboxes with their read capability and
 * receive messages pushed as they are stored (from any instance, via the store's events); they may
 * also post. Also serves long-poll waiters for the HTTP fallback.
 */
export class WebSocketHub {
  private readonly server: WebSocketServer;
  /** Watchers per mailbox: one Watch directly (the usual case, no Set allocated) or an array. */
  private readonly watchers = new Map<string, Watch | Watch[]>();
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly sockets = new Map<WebSocket, SocketState>();
  /** Open sockets per client address (the per-address cap). */
  private readonly socketsPerIp = new Map<string, number>();
  private watchCount = 0;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly service: RelayService,
    private readonly ipBuckets: TokenBuckets,
    private readonly inFlight: InFlight,
    private readonly log: Logger,
  ) {
    this.server = new WebSocketServer({
      noServer: true,
      maxPayload: service.limits.maxWebSocketPayloadBytes,
      perMessageDeflate: false,
    });
    this.server.on('headers', (headers) => headers.push(`${WS_OPS_HEADER}: ${WS_EXTRA_OPS}`));
    this.unsubscribe = service.store.subscribe((event) => this.onEvent(event));
    this.heartbeat = setInterval(() => this.ping(), service.limits.webSocketPingMs);
    this.heartbeat.unref();
  }

  get socketCount(): number {
    return this.sockets.size;
  }

  /** Takes over an HTTP upgrade for `/v1/ws`. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer, ip: string): void {
    if (
      this.sockets.size >= this.service.limits.maxSockets ||
      (this.socketsPerIp.get(ip) ?? 0) >= this.service.limits.maxSocketsPerIp
    ) {
      this.service.metrics.reject('too_many_sockets');
      socket.end('HTTP/1.1 503 Service Unavailable\r\nRetry-After: 10\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    this.server.handleUpgrade(request, socket, head, (ws) => this.onConnection(ws, ip, socket));
  }

  private onConnection(ws: WebSocket, ip: string, wire: Duplex): void {
    const state: SocketState = { ip, wire, cork: new TurnCork(), watches: [], alive: true };
    this.sockets.set(ws, state);
    this.socketsPerIp.set(ip, (this.socketsPerIp.get(ip) ?? 0) + 1);
    this.service.metrics.sockets.set(this.sockets.size);
    ws.on('pong', () => {
      state.alive = true;
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) return this.send(ws, { op: 'error', error: 'bad_request' });
      void this.inFlight.track(this.onMessage(ws, state, data));
    });
    ws.on('close', () => this.drop(ws, state));
    ws.on('error', (error) => this.log.debug({ err: error.message }, 'websocket error'));
  }

  private async onMessage(ws: WebSocket, state: SocketState, data: RawData): Promise<void> {
    const started = process.hrtime.bigint();
    const op = parseOp(data);
    if (!op) return this.send(ws, { op: 'error', error: 'bad_request' });
    // Arrived while the relay closes (its socket is being closed): refused, as a store outage is.
    if (this.inFlight.closing) return this.unavailable(ws, op);
    // create, delete and an inbox's writer ops are HTTP routes over the socket: their errors carry the HTTP status.
    const mailboxOp = isMailboxOp(op);
    const wait = this.ipBuckets.take(state.ip);
    if (wait > 0) {
      this.service.metrics.reject('ip_rate');
      return this.send(ws, {
        op: 'error',
        error: 'rate_limited',
        ...(mailboxOp ? { status: 429 } : {}),
        retryAfter: wait,
        ...('ref' in op && op.ref ? { ref: op.ref } : {}),
        ...(op.op !== 'post' ? { mailbox: op.mailbox } : {}),
      });
    }
    let status = 'ok';
    try {
      if (op.op === 'watch') status = await this.watch(ws, state, op.mailbox, op.cap, op.after ?? 0);
      else if (op.op === 'unwatch') this.unwatch(state, op.mailbox);
      else if (isMailboxOp(op)) {
        const ran = await runMailboxOp(this.service, state.ip, op);
        status = ran.status;
        this.send(ws, ran.frame);
      } else status = await this.post(ws, state, op);
    } catch (error) {
      status = 'unavailable';
      const message = this.inFlight.closing ? 'request cut by shutdown' : 'websocket operation failed';
      this.log.warn({ err: (error as Error).message }, message);
      this.unavailable(ws, op);
    }
    const route = `ws:${op.op}`;
    this.service.metrics.requests.inc({ route, status });
    this.service.metrics.latency.observe({ route }, Number(process.hrtime.bigint() - started) / 1e9);
  }

  /**
   * A post. One with `after` waits until that earlier post of this socket is settled, and is
   * stored only if that one was: a client may send two posts to a mailbox without waiting for the
   * first's answer, and the second is never stored without the first (docs/RELAY.md).
   */
  private async post(ws: WebSocket, state: SocketState, op: PostOp): Promise<string> {
    // Looked up before this post is remembered: one naming itself is not known, not a deadlock.
    const earlier =
      op.after === undefined ? undefined : (state.posts?.get(op.after) ?? Promise.resolve(false));
    let stored = false;
    let settle: ((stored: boolean) => void) | undefined;
    if (op.ref !== undefined) {
      state.posts ??= new Map();
      state.posts.set(op.ref, new Promise<boolean>((resolve) => (settle = resolve)));
      if (state.posts.size > RECENT_POSTS) state.posts.delete(state.posts.keys().next().value!);
    }
    try {
      if (earlier && !(await earlier)) {
        this.send(ws, { op: 'error', ref: op.ref, error: 'after_refused' });
        return 'after_refused';
      }
      const bytes = Math.floor((op.body.length * 3) / 4);
      const posted = await this.service.post(op.mailbox, op.cap, op.body, bytes);
      stored = posted.ok;
      this.send(
        ws,
        posted.ok
          ? { op: 'posted', ref: op.ref, seq: posted.value.seq }
          : {
              op: 'error',
              ref: op.ref,
              error: posted.error,
              ...(posted.retryAfter ? { retryAfter: posted.retryAfter } : {}),
            },
      );
      return posted.ok ? 'ok' : posted.error;
    } finally {
      settle?.(stored);
    }
  }

  /** Answers `op` with "unavailable" (the store failed, or the relay is closing): try again soon. */
  private unavailable(ws: WebSocket, op: ClientOp): void {
    this.send(ws, {
      op: 'error',
      error: 'unavailable',
      ...('ref' in op && op.ref ? { ref: op.ref } : {}),
      ...(op.op === 'watch' ? { mailbox: op.mailbox, retryAfter: 1 } : {}),
      ...(isMailboxOp(op) ? { status: 503, retryAfter: 1 } : {}),
    });
  }

  private async watch(
    ws: WebSocket,
    state: SocketState,
    mailbox: string,
    cap: string,
    after: number,
  ): Promise<string> {
    if (state.watches.some((w) => w.mailbox === mailbox)) return 'ok';
    if (state.watches.length >= this.service.limits.maxWatchesPerSocket) {
      this.send(ws, { op: 'error', mailbox, error: 'too_many_watches' });
      return 'too_many_watches';
    }
    const authorized = await this.service.authorizeRead(mailbox, cap);
    if (!authorized.ok) {
      this.send(ws, { op: 'error', mailbox, error: authorized.error });
      return authorized.error;
    }
    // Register first, then read the backlog; live events meanwhile wait in `queued`, so nothing
    // posted in between is lost or delivered out of order.
    // A fresh copy of the id: the parsed one is a slice that would keep the whole request text alive.
    const watch: Watch = {
      socket: ws,
      mailbox: copyString(mailbox),
      lastSeq: after,
      queued: [],
    };
    // push() onto an empty array reserves 17 slots; most sockets only ever watch one mailbox.
    if (state.watches.length === 0) state.watches = [watch];
    else state.watches.push(watch);
    this.addWatcher(watch);
    let backlog: StoredMessage[] | null;
    try {
      backlog = await this.service.store.readMessages(mailbox, after);
    } catch (error) {
      // Undo the registration: a watch that never got its backlog must not linger, queueing
      // live messages it will never deliver while a re-watch is answered "ok".
      this.unwatch(state, mailbox);
      throw error;
    }
    if (!state.watches.includes(watch)) return 'ok'; // unwatched (or the socket closed) meanwhile
    if (backlog === null) {
      // Gone between the capability check and the registration: its `closed` came before this
      // watch could hear it, and "watching" would leave the client waiting on it for good.
      this.unwatch(state, mailbox);
      this.send(ws, { op: 'error', mailbox, error: 'not_found' });
      return 'not_found';
    }
    this.send(ws, { op: 'watching', mailbox, expiresAt: authorized.value.expiresAt });
    const queued = watch.queued ?? [];
    watch.queued = null;
    for (const message of [...backlog, ...queued].sort((a, b) => a.seq - b.seq)) this.deliver(watch, message);
    return 'ok';
  }

  private unwatch(state: SocketState, mailbox: string): void {
    const index = state.watches.findIndex((w) => w.mailbox === mailbox);
    if (index < 0) return;
    const [watch] = state.watches.splice(index, 1);
    this.removeWatcher(watch!);
  }

  private addWatcher(watch: Watch): void {
    this.service.metrics.watches.set(++this.watchCount);
    const existing = this.watchers.get(watch.mailbox);
    if (existing === undefined) this.watchers.set(watch.mailbox, watch);
    else if (Array.isArray(existing)) existing.push(watch);
    else this.watchers.set(watch.mailbox, [existing, watch]);
  }

  private removeWatcher(watch: Watch): void {
    this.service.metrics.watches.set(--this.watchCount);
    const existing = this.watchers.get(watch.mailbox);
    if (existing === watch) this.watchers.delete(watch.mailbox);
    else if (Array.isArray(existing)) {
      const remaining = existing.filter((w) => w !== watch);
      this.watchers.set(watch.mailbox, remaining.length === 1 ? remaining[0]! : remaining);
    }
  }

  private deliver(watch: Watch, message: StoredMessage): void {
    if (watch.queued) {
      watch.queued.push(message);
      return;
    }
    if (message.seq <= watch.lastSeq) return;
    watch.lastSeq = message.seq;
    this.service.metrics.pushes.inc();
    this.send(watch.socket, { op: 'message', mailbox: watch.mailbox, seq: message.seq, body: message.body });
  }

  private onEvent(event: MailboxEvent): void {
    const found = this.watchers.get(event.mailbox);
    if (found) {
      for (const watch of Array.isArray(found) ? [...found] : [found]) {
        if (event.type === 'message') this.deliver(watch, event.message);
        else {
          this.send(watch.socket, { op: 'closed', mailbox: event.mailbox });
          const state = this.sockets.get(watch.socket);
          if (state) this.unwatch(state, event.mailbox);
        }
      }
    }
    const waiting = this.waiters.get(event.mailbox);
    if (waiting) {
      this.waiters.delete(event.mailbox);
      for (const wake of waiting) wake();
    }
  }

  /** Resolves when something happens to `mailbox` or after `ms` (HTTP long-poll). */
  waitForEvent(mailbox: string, ms: number, aborted: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const set = setFor(this.waiters, mailbox);
      const held = this.service.metrics.longPolls;
      let settled = false;
      const done = () => {
        // A wake, the timeout and the abort may all come: the gauge counts each wait out once.
        if (settled) return;
        settled = true;
        held.dec();
        clearTimeout(timer);
        aborted.removeEventListener('abort', done);
        set.delete(done);
        if (set.size === 0 && this.waiters.get(mailbox) === set) this.waiters.delete(mailbox);
        resolve();
      };
      const timer = setTimeout(done, ms);
      aborted.addEventListener('abort', done);
      set.add(done);
      // Counted once a post would wake it: what the gauge shows is a long-poll really held.
      held.inc();
    });
  }

  /**
   * The frames a turn sends one socket (the answers to a read's worth of ops, the pushes a store
   * event makes) leave in one write rather than a system call each, as on the client (TurnCork).
   */
  private send(ws: WebSocket, message: object): void {
    if (ws.readyState !== WebSocket.OPEN) return;
    const state = this.sockets.get(ws);
    if (state) state.cork.hold(state.wire);
    ws.send(JSON.stringify(message));
  }

  private ping(): void {
    for (const [ws, state] of this.sockets) {
      if (!state.alive) {
        ws.terminate();
        continue;
      }
      state.alive = false;
      ws.ping();
    }
  }

  private drop(ws: WebSocket, state: SocketState): void {
    for (const watch of state.watches) this.removeWatcher(watch);
    state.watches.length = 0;
    this.sockets.delete(ws);
    const left = (this.socketsPerIp.get(state.ip) ?? 1) - 1;
    if (left > 0) this.socketsPerIp.set(state.ip, left);
    else this.socketsPerIp.delete(state.ip);
    this.service.metrics.sockets.set(this.sockets.size);
  }

  /** Closes every socket with 1001 (going away) so clients reconnect elsewhere. */
  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    this.unsubscribe();
    for (const wakeAll of this.waiters.values()) for (const wake of wakeAll) wake();
    const closing = [...this.sockets.keys()].map(
      (ws) =>
        new Promise<void>((resolve) => {
          ws.once('close', () => resolve());
          ws.close(1001, 'relay shutting down');
          setTimeout(() => {
            ws.terminate();
            resolve();
          }, 2000).unref();
        }),
    );
    await Promise.all(closing);
    this.server.close();
  }
}
