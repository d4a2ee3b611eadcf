import { createConnection, type Socket } from 'node:net';
import { PairlinkError } from '../src/errors.js';
import { errorCodeOfAnswer } from '../src/rpc/errors.js';
import { LineBuffer } from '../src/rpc/line-framing.js';
import type { RpcMethodName, RpcMethods } from '../src/rpc/protocol.js';

/** The longest answer line accepted (a long invite.list or history.list is a few MiB). */
const MAX_ANSWER_CHARS = 64 * 1024 * 1024;

/**
 * One JSON-RPC connection to the agent's socket: newline-delimited JSON, typed by the shared method
 * descriptors. It loads nothing but node:net, so commands start fast. Internal to pairlink/client:
 * everything else uses PairlinkClient (index.ts), which adds timeouts, events and reconnects.
 */
export class RpcConnection {
  private nextId = 1;
  private readonly buffered = new LineBuffer();
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('close', () => {
      for (const waiter of this.pending.values())
        waiter.reject(new PairlinkError('AGENT_UNAVAILABLE', 'the agent closed the connection'));
      this.pending.clear();
      this.closeListener?.();
    });
    socket.on('error', () => undefined); // 'close' follows and reports it
  }

  private closeListener: (() => void) | null = null;

  /** Called once when the connection ends (the agent stopped or the socket broke). */
  onClose(listener: () => void): void {
    this.closeListener = listener;
  }

  /**
   * Connects to the agent at `path`: AGENT_NOT_FOUND when there is no socket there,
   * PERMISSION_DENIED when this user may not use it (the system agent's socket is for its group),
   * else AGENT_UNAVAILABLE when nothing answers on it (an agent stopped or restarting).
   */
  static connect(path: string): Promise<RpcConnection> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(path);
      socket.once('connect', () => resolve(new RpcConnection(socket)));
      socket.once('error', (error: NodeJS.ErrnoException) => reject(connectError(path, error)));
    });
  }

  /** Calls a method and resolves with its result, or rejects with a PairlinkError. */
  call<M extends RpcMethodName>(
    method: M,
    params: RpcMethods[M]['params'],
  ): Promise<RpcMethods[M]['result']> {
    return this.callRaw(method, params) as Promise<RpcMethods[M]['result']>;
  }

  /** Calls any method name with any params (for `pairlink rpc`). */
  callRaw(method: string, params: unknown): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.socket.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`);
    });
  }

  private notificationListener: ((method: string, params: unknown) => void) | null = null;

  /** Receives every notification (invite.progress, peer.removed, peer.rotated, peer.moved), after `events.subscribe`. */
  onNotification(listener: (method: string, params: unknown) => void): void {
    this.notificationListener = listener;
  }

  /**
   * Ends the connection. Calls still waiting are given up on (they reject at once): ending politely
   * would keep the socket, and the process, open until the agent answered them, which for
   * `accept.get` with a wait may be minutes after the caller stopped waiting.
   */
  close(): void {
    if (this.pending.size > 0) this.socket.destroy();
    else this.socket.end();
  }

  private onData(chunk: string): void {
    this.buffered.push(chunk);
    // The agent answers in lines far below this; anything longer is not the agent talking.
    if (this.buffered.length > MAX_ANSWER_CHARS && !this.buffered.hasLine()) {
      this.buffered.clear();
      this.socket.destroy();
      return;
    }
    for (let line = this.buffered.next(); line !== null; line = this.buffered.next()) {
      let message: {
        id?: number;
        result?: unknown;
        error?: { code?: unknown; message: string; data?: { code?: unknown } };
        method?: string;
        params?: unknown;
      };
      try {
        message = JSON.parse(line) as typeof message;
      } catch {
        continue;
      }
      if (message.method !== undefined) {
        this.notificationListener?.(message.method, message.params);
        continue;
      }
      const waiter = message.id === undefined ? undefined : this.pending.get(message.id);
      if (!waiter) continue;
      this.pending.delete(message.id!);
      if (message.error) {
        waiter.reject(new PairlinkError(errorCodeOfAnswer(message.error), message.error.message));
      } else waiter.resolve(message.result);
    }
  }
}

/** Why connecting to the agent's socket at `path` failed, as a PairlinkError. */
function connectError(path: string, error: NodeJS.ErrnoException): PairlinkError {
  if (error.code === 'ENOENT') return new PairlinkError('AGENT_NOT_FOUND', `${path} (no socket there)`);
  if (error.code === 'EACCES' || error.code === 'EPERM')
    return new PairlinkError(
      'PERMISSION_DENIED',
      `cannot connect to ${path} (${error.code}); the system agent's socket is for the pairlink group: \`sudo usermod -aG pairlink $USER\`, then log in again`,
    );
  return new PairlinkError(
    'AGENT_UNAVAILABLE',
    `no agent answers at ${path} (${error.code ?? error.message})`,
  );
}
