import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import { PairlinkError } from '../../src/errors.js';
import { clientAddress } from './client-address.js';
import { HttpFront } from './http-front.js';
import { InFlight } from './in-flight.js';
import { DEFAULT_LIMITS, type RelayLimits } from './limits.js';
import { RelayMetrics } from './metrics.js';
import { RelayService } from './relay-service.js';
import { type ServedCertificate, serveCertificate, type TlsFiles } from './served-certificate.js';
import { MemoryStore } from './store/memory-store.js';
import type { RelayStore } from './store/store.js';
import { TokenBuckets } from './token-buckets.js';
import { WebSocketHub } from './websocket-hub.js';

export interface RelayOptions {
  readonly host: string;
  readonly port: number;
  /** `redis://…` to share state with other instances; in memory when absent. */
  readonly redisUrl?: string | undefined;
  /** Key prefix in Redis (lets several relays or tests share one server). */
  readonly redisPrefix?: string | undefined;
  /**
   * A store to use instead of the one `redisUrl` names (tests wrap a real store to pause it at a
   * chosen step); already connected, and closed with the relay.
   */
  readonly store?: RelayStore | undefined;
  /** Take the client address from X-Forwarded-For (behind proxies the operator runs). */
  readonly trustProxy: boolean;
  /**
   * With trustProxy: how many proxies stand in front of the relay (default 1); the client is
   * the entry that many from the right of X-Forwarded-For (client-address.ts).
   */
  readonly trustProxyHops?: number | undefined;
  /** Serve https and wss with this certificate and key (PEM files, reloaded on change). */
  readonly tls?: TlsFiles | undefined;
  readonly limits?: Partial<RelayLimits> | undefined;
  /** How long a shutdown lets in-flight handlers finish before it closes the store (SHUTDOWN_DRAIN_MS). */
  readonly shutdownDrainMs?: number | undefined;
  readonly logger: Logger;
}

/** A running relay. */
export interface RunningRelay {
  readonly url: string;
  readonly port: number;
  readonly store: RelayStore;
  readonly service: RelayService;
  /** Reads the TLS certificate and key again (SIGHUP); false without TLS or when they do not load. */
  reloadTls(): boolean;
  /** Graceful stop: refuse new work, close sockets (1001), finish in-flight requests, close the store. */
  close(): Promise<void>;
}

/** Whether a listen address is loopback only (nobody else can reach the port and forge headers). */
function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** How long a connection may take to send complete request headers (slowloris defence). */
const HEADERS_DEADLINE_MS = 10_000;
const KEEP_ALIVE_MS = 30_000;
/**
 * How long a shutdown waits for handlers still at work (a store call under way) before it closes
 * the store under them: a store answers in milliseconds, so only a stuck one is cut.
 */
export const SHUTDOWN_DRAIN_MS = 5_000;
const headerTimers = new WeakMap<Socket, NodeJS.Timeout>();

/** Cuts `socket` unless its headers arrive within `ms`; `cut` counts it (operators and tests see it). */
function headersDue(socket: Socket, ms: number, cut: () => void): void {
  clearTimeout(headerTimers.get(socket));
  const timer = setTimeout(() => {
    cut();
    socket.destroy();
  }, ms);
  timer.unref();
  headerTimers.set(socket, timer);
}

function headersArrived(socket: Socket): void {
  clearTimeout(headerTimers.get(socket));
  headerTimers.delete(socket);
}

/** How often at most the relay logs that Redis is unreachable (ioredis retries every few hundred ms). */
const REDIS_ERROR_LOG_INTERVAL_MS = 10_000;

/** One warning per interval while Redis is unreachable, with the number of errors it stands for. */
function redisErrorLogger(log: Logger): (error: Error) => void {
  let lastLoggedAt = -Infinity;
  let unlogged = 0;
  return (error) => {
    unlogged++;
    const now = Date.now();
    if (now - lastLoggedAt < REDIS_ERROR_LOG_INTERVAL_MS) return;
    log.warn({ err: error.message, errors: unlogged }, 'redis unreachable; retrying');
    lastLoggedAt = now;
    unlogged = 0;
  };
}

/**
 * A port someone else holds, as the one sentence a person needs: which address, and what most
 * likely holds it (a relay's default port is taken when `npm start` runs twice, or `pairlink
 * relay` while `pairlink up` runs). Any other listen failure is passed on as it is.
 */
function listenError(error: NodeJS.ErrnoException, host: string, port: number): Error {
  if (error.code !== 'EADDRINUSE') return error;
  const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return new PairlinkError(
    'PORT_IN_USE',
    `${address} is taken, probably by another \`pairlink up\` or \`pairlink relay\` (npm start twice?); stop it or choose another port with --port`,
  );
}

/** Starts a relay; resolves once it listens (and, with Redis, once Redis answers). */
export async function startRelay(options: RelayOptions): Promise<RunningRelay> {
  const limits: RelayLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const log = options.logger;
  // First, so that a certificate that does not load stops the relay before anything is opened.
  const certificate: ServedCertificate | null = options.tls ? serveCertificate(options.tls, log) : null;
  let store: RelayStore;
  if (options.store) {
    store = options.store;
  } else if (options.redisUrl) {
    // ioredis is loaded only when a Redis store is configured (a relay on memory needs none of it).
    const { RedisStore } = await import('./store/redis-store.js');
    const redis = new RedisStore(
      options.redisUrl,
      options.redisPrefix ?? 'pl:',
      Date.now,
      redisErrorLogger(log),
    );
    await redis.connect();
    store = redis;
  } else {
    store = new MemoryStore();
  }
  const metrics = new RelayMetrics(
    () => store.mailboxCount(),
    () => store.inboxStats(),
  );
  metrics.mailboxLimit.set(limits.maxMailboxes);
  const service = new RelayService(store, limits, metrics);
  const ipBuckets = new TokenBuckets(limits.ipRatePerSecond, limits.ipBurst);
  const inFlight = new InFlight();
  const hub = new WebSocketHub(service, ipBuckets, inFlight, log);
  const front = new HttpFront(service, hub, ipBuckets, inFlight, log);
  const headersLate = () => metrics.reject('headers_deadline');
  const pruner = setInterval(() => {
    ipBuckets.prune();
    service.mailboxBuckets.prune();
  }, 10_000);
  pruner.unref();

  const hops = options.trustProxy ? (options.trustProxyHops ?? 1) : 0;
  const addressOf = (request: IncomingMessage) =>
    clientAddress(request.headers['x-forwarded-for'], request.socket.remoteAddress, hops);
  const handle = (request: IncomingMessage, response: ServerResponse) => {
    headersArrived(request.socket);
    response.once('finish', () => {
      // Answered while the relay closes: no next request on this socket (it would hold
      // server.close() for the keep-alive time).
      if (inFlight.closing) request.socket.end();
      // The next request on this keep-alive socket must be complete in time too.
      else headersDue(request.socket, KEEP_ALIVE_MS + HEADERS_DEADLINE_MS, headersLate);
    });
    void inFlight.track(front.handle(request, response, addressOf(request)));
  };
  const timeouts = {
    requestTimeout: 60_000,
    headersTimeout: HEADERS_DEADLINE_MS,
    keepAliveTimeout: KEEP_ALIVE_MS,
  };
  // With TLS, requests arrive on the TLS socket, so the headers deadline is set on that one (at
  // 'secureConnection'), and the TLS handshake has the same deadline.
  const server: Server = certificate
    ? createTlsServer(
        { ...timeouts, ...certificate.current(), handshakeTimeout: HEADERS_DEADLINE_MS },
        handle,
      )
    : createServer(timeouts, handle);
  certificate?.attach(server as TlsServer);
  // Node's own headersTimeout did not close a socket trickling a header byte every 500 ms (seen
  // here: still open after 40 s), so every connection gets a hard deadline for its headers.
  server.on(certificate ? 'secureConnection' : 'connection', (socket: Socket) => {
    headersDue(socket, HEADERS_DEADLINE_MS, headersLate);
    socket.once('close', () => headersArrived(socket));
  });
  server.maxHeadersCount = 50;
  server.on('upgrade', (request, socket, head) => {
    headersArrived(socket as Socket);
    const path = new URL(request.url ?? '/', 'http://relay').pathname;
    if (path !== '/v1/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    hub.handleUpgrade(request, socket, head, addressOf(request));
  });
  server.on('clientError', (_error, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    // Nothing listens, so nothing else may keep the process alive (a Redis client, timers).
    clearInterval(pruner);
    certificate?.close();
    await hub.close();
    await store.close();
    throw listenError(error as NodeJS.ErrnoException, options.host, options.port);
  }
  const port = (server.address() as AddressInfo).port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  const url = `${certificate ? 'https' : 'http'}://${host}:${port}`;
  log.info(
    { url, store: store.kind, trustProxy: options.trustProxy, trustProxyHops: hops },
    'relay listening',
  );
  if (hops > 0 && !isLoopbackHost(options.host))
    log.warn(
      { host: options.host },
      'trusting X-Forwarded-For on a port others can reach: anyone who reaches it directly picks their own address and rate-limit bucket; listen on loopback behind your proxy, or let only the proxy reach this port',
    );

  let closing: Promise<void> | null = null;
  return {
    url,
    port,
    store,
    service,
    reloadTls: () => certificate?.reload() ?? false,
    close() {
      closing ??= (async () => {
        log.info('relay shutting down');
        inFlight.close();
        clearInterval(pruner);
        certificate?.close();
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        await hub.close();
        // A handler outlives its connection (a client that hung up, a socket the hub closed): the
        // store closes only once they are done, or cut at the deadline.
        if (inFlight.count > 0) log.info({ requests: inFlight.count }, 'relay finishing requests in flight');
        const cut = await inFlight.drain(options.shutdownDrainMs ?? SHUTDOWN_DRAIN_MS);
        if (cut > 0) {
          log.warn({ requests: cut }, `relay shutdown cut ${cut} requests still in flight`);
          // A cut handler's connection would hold server.close() until its request timeout.
          server.closeAllConnections();
        }
        await stopped;
        await store.close();
        log.info('relay stopped');
      })();
      return closing;
    },
  };
}
