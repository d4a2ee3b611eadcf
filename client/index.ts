import { agentSocketCandidates, findAgentSocket } from '../io/agent-paths.js';
import { withDeadline } from '../io/deadline.js';
import { PairlinkError } from '../src/errors.js';
import {
  NOTIFICATION_DESCRIPTIONS,
  type RpcMethodName,
  type RpcMethods,
  type RpcNotificationName,
  type RpcNotifications,
} from '../src/rpc/protocol.js';
import { RpcConnection } from './connection.js';

/**
 * `pairlink/client`: the agent's JSON-RPC API for scripts and programs, typed by the same schemas
 * the agent validates with (src/rpc/schemas.ts). One socket, calls with timeouts, notifications as
 * an async iterator, errors as PairlinkError with a stable `code`, and an optional reconnect. The
 * CLI, the bots, the benchmarks and the tests use it too.
 */

export { ERROR_CODES, type ErrorCode, PairlinkError } from '../src/errors.js';
export type {
  AgentInfo,
  AuditEntry,
  AuditIntegrity,
  IdentityInfo,
  InviteAcceptParams,
  InviteAcceptResult,
  InviteCreated,
  InviteCreateParams,
  InviteCreator,
  InviteProgress,
  InviteSummary,
  PeerInfo,
  PeerRemoved,
  RpcMethodName,
  RpcMethods,
  RpcNotificationName,
  RpcNotifications,
} from '../src/rpc/protocol.js';

export interface ConnectOptions {
  /** The agent's socket; default: found exactly as the CLI finds it (README "Which agent the CLI talks to"). */
  readonly socket?: string;
  /** Per-call timeout unless a call says otherwise (default 30 s; waiting calls add their waitSeconds). */
  readonly timeoutMs?: number;
  /** Reconnect when the agent goes away (restarts): calls then wait up to their timeout for it. */
  readonly reconnect?: boolean;
}

/** One notification, as `pairlink events --json` prints it: `{ method, params }`. */
export type PairlinkEvent = {
  [N in RpcNotificationName]: { readonly method: N; readonly params: RpcNotifications[N] };
}[RpcNotificationName];

type Params<M extends RpcMethodName> = RpcMethods[M]['params'];
type Result<M extends RpcMethodName> = RpcMethods[M]['result'];

const QUEUE_LIMIT = 10_000;

/** A connection to the agent. */
export class PairlinkClient {
  private connection: RpcConnection | null;
  /** close() was called, or the agent went away without reconnect: no more calls or events. */
  private ended = false;
  private subscription: Promise<void> | null = null;
  private readonly eventListeners = new Set<(event: PairlinkEvent) => void>();
  private readonly closeListeners = new Set<() => void>();

  private constructor(
    connection: RpcConnection,
    /** The socket this client talks to. */
    readonly socket: string,
    private readonly options: ConnectOptions,
  ) {
    this.connection = connection;
    this.attach(connection);
  }

  /** Connects; AGENT_NOT_FOUND when there is no agent's socket, AGENT_UNAVAILABLE when none answers. */
  static async connect(options: ConnectOptions = {}): Promise<PairlinkClient> {
    const socket =
      options.socket ?? (await findAgentSocket(agentSocketCandidates(process.env, process.cwd())));
    return new PairlinkClient(await RpcConnection.connect(socket), socket, options);
  }

  private attach(connection: RpcConnection): void {
    connection.onNotification((method, params) => {
      // Every notification the agent documents (a client of an older version skips newer ones).
      if (!Object.hasOwn(NOTIFICATION_DESCRIPTIONS, method)) return;
      const event = { method, params } as PairlinkEvent;
      for (const listener of this.eventListeners) listener(event);
    });
    connection.onClose(() => {
      if (this.connection === connection) this.connection = null;
      if (!this.options.reconnect) this.end();
    });
  }

  private async current(deadline: number): Promise<RpcConnection> {
    while (!this.connection) {
      if (this.ended || !this.options.reconnect || Date.now() > deadline)
        throw new PairlinkError('AGENT_UNAVAILABLE', `the pairlink agent at ${this.socket} is not reachable`);
      try {
        const connection = await RpcConnection.connect(this.socket);
        this.connection = connection;
        this.attach(connection);
        if (this.subscription !== null) await connection.call('events.subscribe', {});
      } catch {
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    return this.connection;
  }

  /** Calls any method; rejects with PairlinkError (its `code` is stable), TIMEOUT after the timeout. */
  call<M extends RpcMethodName>(
    method: M,
    params: Params<M>,
    options: { timeoutMs?: number } = {},
  ): Promise<Result<M>> {
    return this.request(method, params, options) as Promise<Result<M>>;
  }

  /** Calls a method by any name with any params (`pairlink rpc`); the agent checks both. */
  async request(method: string, params: unknown, options: { timeoutMs?: number } = {}): Promise<unknown> {
    const wait = (params as { waitSeconds?: unknown } | undefined)?.waitSeconds;
    const waitMs = typeof wait === 'number' && wait > 0 ? wait * 1000 : 0;
    const timeoutMs = options.timeoutMs ?? (this.options.timeoutMs ?? 30_000) + waitMs;
    const deadline = Date.now() + timeoutMs;
    const connection = await this.current(deadline);
    return withDeadline(
      connection.callRaw(method, params),
      Math.max(0, deadline - Date.now()),
      () => new PairlinkError('TIMEOUT', `the agent did not answer ${method} within ${timeoutMs} ms`),
    );
  }

  /**
   * Subscribes this connection to notifications (once; again after a reconnect). Resolves when the
   * agent has confirmed, so whatever the caller does next is seen.
   */
  subscribe(): Promise<void> {
    this.subscription ??= this.call('events.subscribe', {}).then(() => undefined);
    return this.subscription;
  }

  /** Calls `listener` with every notification (after subscribe()); returns the unsubscriber. */
  onEvent(listener: (event: PairlinkEvent) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  /** Calls `listener` once when the client ends: close(), or the agent went away without reconnect. */
  onClose(listener: () => void): void {
    if (this.ended) queueMicrotask(listener);
    else this.closeListeners.add(listener);
  }

  /**
   * Notifications from now on, until close() or the agent goes away (without reconnect):
   * `for await (const { method, params } of client.events())`. Subscribes if not yet; events
   * arriving faster than they are consumed are queued (at most 10,000, then the oldest are dropped).
   */
  events(): AsyncIterableIterator<PairlinkEvent> {
    const queue: PairlinkEvent[] = [];
    const waiters: ((r: IteratorResult<PairlinkEvent>) => void)[] = [];
    let done = this.ended;
    const finish = () => {
      done = true;
      stop();
      for (const waiter of waiters.splice(0)) waiter({ value: undefined, done: true });
    };
    const stop = this.onEvent((event) => {
      const waiter = waiters.shift();
      if (waiter) waiter({ value: event, done: false });
      else {
        if (queue.length >= QUEUE_LIMIT) queue.shift();
        queue.push(event);
      }
    });
    this.onClose(finish);
    this.subscribe().catch(finish);
    return {
      next: () => {
        const queued = queue.shift();
        if (queued) return Promise.resolve({ value: queued, done: false });
        if (done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => waiters.push(resolve));
      },
      return: async () => {
        finish();
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const listener of this.closeListeners) listener();
    this.closeListeners.clear();
  }

  // One typed method per JSON-RPC method.
  /** This API as an OpenRPC 1.3 document (docs/RPC.md is its rendering). */
  discover = () => this.call('rpc.discover', {});
  agentInfo = () => this.call('agent.info', {});
  agentMethods = () => this.call('agent.methods', {});
  identity = () => this.call('identity.get', {});
  /** Mints an invite; the history records a script as its creator unless `creator` says otherwise. */
  createInvite = (params: Params<'invite.create'> = {}) =>
    this.call('invite.create', { creator: { kind: 'script' }, ...params });
  getInvite = (id: string) => this.call('invite.get', { id });
  listInvites = (params: Params<'invite.list'> = {}) => this.call('invite.list', params);
  cancelInvite = (id: string) => this.call('invite.cancel', { id });
  confirmInviteSas = (params: Params<'invite.confirmSas'>) => this.call('invite.confirmSas', params);
  accept = (params: Params<'invite.accept'>) => this.call('invite.accept', params);
  confirmAcceptSas = (params: Params<'accept.confirmSas'>) => this.call('accept.confirmSas', params);
  getAccept = (params: Params<'accept.get'>) => this.call('accept.get', params);
  listPeers = () => this.call('peer.list', {});
  getPeer = (did: string) => this.call('peer.get', { did });
  /** Unpins `did` and tells it with an unpair notice unless `localOnly` (or it has no inbox): `notified` says which. */
  removePeer = (did: string, localOnly = false) => this.call('peer.remove', { did, localOnly });
  /** Whether `did` answers a ping within `waitSeconds` (default 30), and the round trip. */
  pingPeer = (did: string, waitSeconds?: number) =>
    this.call('peer.ping', { did, ...(waitSeconds === undefined ? {} : { waitSeconds }) });
  /** Rotates this identity onto its committed next key (PROTOCOL.md §11.6); says who must re-pair. */
  rotate = (reason: 'scheduled' | 'compromised' = 'scheduled') => this.call('identity.rotate', { reason });
  /** This identity's devices known to this agent. */
  listDevices = () => this.call('device.list', {});
  /** Revokes a device (by name or session): a rotation with reason deviceRevoked. */
  revokeDevice = (device: string) => this.call('device.revoke', { device });
  history = (params: Params<'history.list'> = {}) => this.call('history.list', params);
  /** Whether the audit log's hash chain is whole, and where it breaks (docs/SECURITY.md §The audit log). */
  verifyHistory = () => this.call('history.verify', {});

  /** Ends the connection; pending calls reject with AGENT_UNAVAILABLE, event iterators finish. */
  close(): void {
    const connection = this.connection;
    this.connection = null;
    connection?.close();
    this.end();
  }
}

/** Connects to this user's agent (see ConnectOptions). */
export function connect(options: ConnectOptions = {}): Promise<PairlinkClient> {
  return PairlinkClient.connect(options);
}
