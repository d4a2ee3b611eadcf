import { AgentClient } from '../../cli/rpc-client.js';
import { PairlinkError } from '../../src/errors.js';
import type { InviteProgress, RpcMethodName, RpcMethods } from '../../src/rpc/protocol.js';

/**
 * The bots' connection to their agent: JSON-RPC over the agent's socket, subscribed to
 * `invite.progress`, reconnecting with backoff (1 s doubling to 30 s) when the agent goes away.
 * A call never retries silently: while the agent is down, or when it does not answer within the
 * timeout, it fails at once with AGENT_UNAVAILABLE, which the bots show as "agent unavailable".
 */
export class AgentLink {
  private client: AgentClient | null = null;
  private connecting: Promise<void> | null = null;
  private retryMs = 1000;
  private closed = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly listeners = new Set<(p: InviteProgress) => void>();
  private readonly connectListeners = new Set<() => void>();

  constructor(
    readonly socketPath: string,
    private readonly timeoutMs = 10_000,
  ) {}

  /** Connects (once); later disconnections reconnect in the background. */
  async start(): Promise<void> {
    await this.connect().catch(() => this.scheduleReconnect());
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

  private connect(): Promise<void> {
    this.connecting ??= (async () => {
      try {
        const client = await AgentClient.connect(this.socketPath);
        client.onProgress((p) => {
          for (const listener of this.listeners) listener(p);
        });
        await client.call('events.subscribe', {});
        client.onClose(() => {
          if (this.client === client) this.client = null;
          this.scheduleReconnect();
        });
        this.client = client;
        this.retryMs = 1000;
        for (const listener of this.connectListeners) listener();
      } finally {
        this.connecting = null;
      }
    })();
    return this.connecting;
  }

  private scheduleReconnect(): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect().catch(() => this.scheduleReconnect());
    }, this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, 30_000);
  }

  async call<M extends RpcMethodName>(
    method: M,
    params: RpcMethods[M]['params'],
  ): Promise<RpcMethods[M]['result']> {
    const client = this.client;
    if (!client)
      throw new PairlinkError('AGENT_UNAVAILABLE', 'the pairlink agent is not reachable right now');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new PairlinkError('AGENT_UNAVAILABLE', `the pairlink agent did not answer ${method} in time`),
          ),
        this.timeoutMs,
      );
    });
    try {
      return await Promise.race([client.call(method, params), timeout]);
    } finally {
      clearTimeout(timer);
    }
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
    if (this.timer) clearTimeout(this.timer);
    this.client?.close();
    this.client = null;
  }
}
