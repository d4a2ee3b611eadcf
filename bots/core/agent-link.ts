import type { Logger } from 'pino';
import { PairlinkClient } from '../../client/index.js';
import { withDeadline } from '../../io/deadline.js';
import { PairlinkError } from '../../src/errors.js';
import type { InviteProgress, RpcMethodName, RpcMethods } from '../../src/rpc/protocol.js';

const unanswered = () => new PairlinkError('AGENT_UNAVAILABLE', 'the pairlink agent did not answer');

/** The longest wait between reconnection attempts: an agent restart is over in a second or two. */
export const MAX_RECONNECT_MS = 2_000;

/**
 * Runs `run` after `ms`; returns what cancels it. `run` settles (never rejects) when its attempt is
 * over. Tests pass their own timer to see and drive the waits, and await each attempt.
 */
export type RetryTimer = (run: () => Promise<void>, ms: number) => () => void;

const realTimer: RetryTimer = (run, ms) => {
  // run() never rejects: a failed attempt schedules the next one.
  const timer = setTimeout(() => void run(), ms);
  return () => clearTimeout(timer);
};

/**
 * The bots' connection to their agent: JSON-RPC over the agent's socket, subscribed to
 * `invite.progress`, reconnecting in the background (0.5 s, then 1 s, then every 2 s) when the
 * agent goes away, and at once when a command arrives while the link is down (which cancels the
 * pending retry: the link holds one connection at most). A call never retries silently: when the
 * agent is still not there, or does not answer within the timeout, it fails with
 * AGENT_UNAVAILABLE, which the bots show as "agent unavailable". The link's state changes are
 * logged (`agent link down`, `agent link up`).
 */
export class AgentLink {
  private client: PairlinkClient | null = null;
  private connecting: Promise<void> | null = null;
  private retryMs = 500;
  private down = false;
  private closed = false;
  /** Cancels the pending reconnection attempt. */
  private timer: (() => void) | null = null;
  private readonly listeners = new Set<(p: InviteProgress) => void>();
  private readonly connectListeners = new Set<() => void>();

  constructor(
    readonly socketPath: string,
    private readonly timeoutMs = 10_000,
    private readonly log?: Pick<Logger, 'info' | 'warn'>,
    private readonly retryTimer: RetryTimer = realTimer,
  ) {}

  /** Connects (once); later disconnections reconnect in the background. */
  async start(): Promise<void> {
    await this.connect().catch(() => this.scheduleReconnect());
  }

  /** True once close() was called: followers stop. */
  get isClosed(): boolean {
    return this.closed;
  }

  get connected(): boolean {
    return this.client !== null;
  }

  onProgress(listener: (p: InviteProgress) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Called after every successful (re)connection, once subscribed to progress. */
  onConnect(listener: () => void): () => void {
    this.connectListeners.add(listener);
    return () => this.connectListeners.delete(listener);
  }

  /**
   * Opens the one connection. A retry that fires once a command has reconnected, or after
   * close(), has nothing to do: a second connection would double every event subscription.
   */
  private connect(): Promise<void> {
    if (this.client || this.closed) return Promise.resolve();
    this.connecting ??= (async () => {
      try {
        const client = await PairlinkClient.connect({ socket: this.socketPath, timeoutMs: this.timeoutMs });
        client.onEvent(({ method, params }) => {
          if (method !== 'invite.progress') return;
          for (const listener of this.listeners) listener(params);
        });
        // The client's own timeout (this.timeoutMs) bounds the subscription.
        await client.subscribe().catch((error: unknown) => {
          client.close();
          throw error;
        });
        // close() ran while this attempt was under way: keep nothing open.
        if (this.closed) {
          client.close();
          return;
        }
        client.onClose(() => {
          if (this.client === client) this.client = null;
          if (!this.closed && !this.down) {
            this.down = true;
            this.log?.warn({ socket: this.socketPath }, 'agent link down; reconnecting');
          }
          this.scheduleReconnect();
        });
        this.client = client;
        this.cancelRetry();
        this.retryMs = 500;
        if (this.down) this.log?.info({ socket: this.socketPath }, 'agent link up');
        this.down = false;
        for (const listener of this.connectListeners) listener();
      } finally {
        this.connecting = null;
      }
    })();
    return this.connecting;
  }

  private scheduleReconnect(): void {
    if (this.closed || this.timer) return;
    this.timer = this.retryTimer(async () => {
      this.timer = null;
      await this.connect().catch(() => this.scheduleReconnect());
    }, this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, MAX_RECONNECT_MS);
  }

  private cancelRetry(): void {
    this.timer?.();
    this.timer = null;
  }

  async call<M extends RpcMethodName>(
    method: M,
    params: RpcMethods[M]['params'],
  ): Promise<RpcMethods[M]['result']> {
    // A command while the link is down tries to reconnect now rather than wait for the timer.
    if (!this.client && !this.closed)
      await withDeadline(this.connect(), 2_000, unanswered).catch(() => undefined);
    const client = this.client;
    if (!client)
      throw new PairlinkError('AGENT_UNAVAILABLE', 'the pairlink agent is not reachable right now');
    return client.call(method, params, { timeoutMs: this.timeoutMs }).catch((error: unknown) => {
      if (!(error instanceof PairlinkError) || error.code !== 'TIMEOUT') throw error;
      throw new PairlinkError('AGENT_UNAVAILABLE', `the pairlink agent did not answer ${method} in time`);
    });
  }

  /** True when the agent answers a cheap call now (for health checks). */
  answers(): Promise<boolean> {
    return this.call('agent.info', {}).then(
      () => true,
      () => false,
    );
  }

  close(): void {
    this.closed = true;
    this.cancelRetry();
    this.client?.close();
    this.client = null;
  }
}

/**
 * Follows an accept that answered "pending" until it ends or `forMs` pass, so the member who
 * ran it hears the end: resolves with the final result, or the error it failed with, or null
 * when it is still pending at the deadline. Short waits (8 s each) ride out agent restarts. An
 * accept waiting for this side's security code resolves pending: accept.get answers it at once,
 * and only the agent's operator can confirm it (`pairlink confirm`).
 */
export async function followAccept(
  agent: AgentLink,
  acceptId: string,
  forMs: number,
): Promise<RpcMethods['accept.get']['result'] | Error | null> {
  const deadline = Date.now() + forMs;
  while (Date.now() < deadline && !agent.isClosed) {
    try {
      const result = await agent.call('accept.get', { acceptId, waitSeconds: 8 });
      if (result.status === 'paired' || result.confirmSas === true) return result;
    } catch (error) {
      if ((error as { code?: string }).code !== 'AGENT_UNAVAILABLE') return error as Error;
      await new Promise((r) => setTimeout(r, 1000).unref());
    }
  }
  return null;
}
