import { resolveAgentPaths } from '../agent/paths.js';
import { withDeadline } from '../io/deadline.js';
import { PairlinkError } from '../src/errors.js';
import type { InviteProgress, RpcMethodName, RpcMethods } from '../src/rpc/protocol.js';
import { AgentClient } from './agent-client.js';

/**
 * `pairlink/client`: the agent's JSON-RPC API for scripts and programs, typed by the same method
 * descriptors the agent implements (src/rpc/protocol.ts). One socket, calls with timeouts,
 * `invite.progress` notifications as an async iterator, errors as PairlinkError with a stable
 * `code`, and an optional reconnect.
 */

export { ERROR_CODES, type ErrorCode, PairlinkError } from '../src/errors.js';
export type {
  AgentInfo,
  IdentityInfo,
  InviteAcceptParams,
  InviteAcceptResult,
  InviteCreated,
  InviteCreateParams,
  InviteProgress,
  InviteSummary,
  PeerInfo,
  RpcMethodName,
  RpcMethods,
} from '../src/rpc/protocol.js';

export interface ConnectOptions {
  /** The agent's socket; default: PAIRLINK_SOCKET, else the default path, exactly as the CLI resolves it. */
  readonly socket?: string;
  /** Per-call timeout unless a call says otherwise (default 30 s; invite.accept adds its waitSeconds). */
  readonly timeoutMs?: number;
  /** Reconnect when the agent goes away (restarts): calls then wait up to their timeout for it. */
  readonly reconnect?: boolean;
}

type Params<M extends RpcMethodName> = RpcMethods[M]['params'];
type Result<M extends RpcMethodName> = RpcMethods[M]['result'];

/** A connection to the agent. */
export class PairlinkClient {
  private client: AgentClient | null;
  private closed = false;
  private readonly queue: InviteProgress[] = [];
  private readonly waiters: ((p: IteratorResult<InviteProgress>) => void)[] = [];
  private subscribed = false;

  private constructor(
    client: AgentClient,
    readonly socket: string,
    private readonly options: ConnectOptions,
  ) {
    this.client = client;
    this.attach(client);
  }

  /** Connects; AGENT_UNAVAILABLE when no agent listens there. */
  static async connect(options: ConnectOptions = {}): Promise<PairlinkClient> {
    const socket = options.socket ?? resolveAgentPaths(process.env).socket;
    return new PairlinkClient(await AgentClient.connect(socket), socket, options);
  }

  private attach(client: AgentClient): void {
    client.onProgress((p) => {
      const waiter = this.waiters.shift();
      if (waiter) waiter({ value: p, done: false });
      else if (this.queue.length < 10_000) this.queue.push(p);
    });
    client.onClose(() => {
      if (this.client === client) this.client = null;
      if (this.closed || !this.options.reconnect) this.endEvents();
    });
  }

  private async current(deadline: number): Promise<AgentClient> {
    while (!this.client) {
      if (this.closed || !this.options.reconnect || Date.now() > deadline)
        throw new PairlinkError('AGENT_UNAVAILABLE', `the pairlink agent at ${this.socket} is not reachable`);
      try {
        const client = await AgentClient.connect(this.socket);
        this.client = client;
        this.attach(client);
        if (this.subscribed) await client.call('events.subscribe', {});
      } catch {
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    return this.client;
  }

  /** Calls any method; rejects with PairlinkError (its `code` is stable), TIMEOUT after the timeout. */
  async call<M extends RpcMethodName>(
    method: M,
    params: Params<M>,
    options: { timeoutMs?: number } = {},
  ): Promise<Result<M>> {
    const wait = (params as { waitSeconds?: number } | undefined)?.waitSeconds ?? 0;
    const timeoutMs = options.timeoutMs ?? (this.options.timeoutMs ?? 30_000) + wait * 1000;
    const deadline = Date.now() + timeoutMs;
    const client = await this.current(deadline);
    return withDeadline(
      client.call(method, params),
      Math.max(0, deadline - Date.now()),
      () => new PairlinkError('TIMEOUT', `the agent did not answer ${method} within ${timeoutMs} ms`),
    );
  }

  /** `invite.progress` notifications from now on, until close(): `for await (const e of client.events())`. */
  events(): AsyncIterableIterator<InviteProgress> {
    if (!this.subscribed) {
      this.subscribed = true;
      void this.call('events.subscribe', {}).catch(() => this.endEvents());
    }
    const next = (): Promise<IteratorResult<InviteProgress>> => {
      const queued = this.queue.shift();
      if (queued) return Promise.resolve({ value: queued, done: false });
      if (this.closed) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve) => this.waiters.push(resolve));
    };
    return {
      next,
      return: async () => ({ value: undefined, done: true }),
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  private endEvents(): void {
    for (const waiter of this.waiters.splice(0)) waiter({ value: undefined, done: true });
  }

  // One typed method per JSON-RPC method.
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
  removePeer = (did: string) => this.call('peer.remove', { did });
  history = (params: Params<'history.list'> = {}) => this.call('history.list', params);

  close(): void {
    this.closed = true;
    this.client?.close();
    this.client = null;
    this.endEvents();
  }
}

/** Connects to this user's agent (see ConnectOptions). */
export function connect(options: ConnectOptions = {}): Promise<PairlinkClient> {
  return PairlinkClient.connect(options);
}
