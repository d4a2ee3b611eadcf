import { chmod, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { PairlinkError } from '../src/errors.js';
import { PEER_REMOVED_NOTIFICATION, PROGRESS_NOTIFICATION, type RpcMethodName } from '../src/rpc/protocol.js';
import { PARAM_SCHEMAS } from '../src/rpc/schemas.js';
import type { Agent } from './agent.js';
import {
  type CallOutcome,
  dispatch,
  domainError,
  errorAnswer,
  failureLevel,
  type Handler,
  protocolError,
  readRequest,
} from './rpc-dispatch.js';
import { type RpcHandlers, rpcHandlers } from './rpc-methods.js';
import {
  type ConnectionFigures,
  type LineRun,
  MAX_FRAME_BYTES,
  MAX_IN_FLIGHT,
  SocketConnection,
} from './socket-connection.js';

function tooLarge(): string {
  return errorAnswer(null, domainError('TOO_LARGE', 'request larger than 1 MiB'));
}

/** Per-connection state passed to every method. */
export interface Connection {
  readonly id: number;
  subscribed: boolean;
}

/**
 * JSON-RPC 2.0 on a local socket (a Unix socket, mode 0600 in a 0700 directory; a named pipe on
 * Windows): newline-delimited JSON, at most 1 MiB a line, batches, notifications after
 * `events.subscribe`. Params are checked by strict schemas before a handler sees them. Every
 * request gets an answer (or none, for a notification) and a failed call is one log line.
 */
export class RpcSocketServer {
  private readonly handlers: RpcHandlers;
  private readonly server: Server;
  private readonly connections = new Set<SocketConnection>();
  private readonly sockets = new Set<Socket>();
  private lastConnectionId = 0;
  private readonly unsubscribe: () => void;

  private constructor(
    agent: Agent,
    private readonly path: string,
    private readonly log: Logger,
  ) {
    this.handlers = rpcHandlers(agent, () => this.connectionFigures());
    // Half-open: a client may shut its side once it has written; SocketConnection closes after answering.
    this.server = createServer({ allowHalfOpen: true }, (socket) => this.onConnection(socket));
    const broadcast = (method: string, params: unknown) => {
      const line = `${JSON.stringify({ jsonrpc: '2.0', method, params })}\n`;
      for (const connection of this.connections) if (connection.subscribed) connection.notify(line);
    };
    const offProgress = agent.onProgress((progress) => broadcast(PROGRESS_NOTIFICATION, progress));
    const offRemoved = agent.onPeerRemoved((removed) => broadcast(PEER_REMOVED_NOTIFICATION, removed));
    this.unsubscribe = () => {
      offProgress();
      offRemoved();
    };
  }

  /** The methods, each checking its params before the handler runs, bound to one connection. */
  private handlersFor(connection: Connection): ReadonlyMap<string, Handler> {
    const map = new Map<string, Handler>();
    for (const name of Object.keys(PARAM_SCHEMAS) as RpcMethodName[]) {
      map.set(name, async (params: unknown) => {
        const parsed = PARAM_SCHEMAS[name].safeParse(params ?? {});
        if (!parsed.success) {
          const detail = parsed.error.issues
            .slice(0, 5)
            .map((i) => `${i.path.slice(0, 8).join('.') || 'params'}: ${i.message}`)
            .join('; ');
          throw new PairlinkError('INVALID_PARAMS', `invalid params: ${detail.slice(0, 500)}`);
        }
        return (this.handlers[name] as RpcHandlers[RpcMethodName])(parsed.data as never, connection);
      });
    }
    return map;
  }

  /**
   * Listens on `path`, which `claimSocketPath` must have cleared first (before the agent touched
   * its state, so a second agent never reads or writes the first one's files).
   */
  static async listen(
    agent: Agent,
    path: string,
    log: Logger,
    mode: 0o600 | 0o660 = 0o600,
  ): Promise<RpcSocketServer> {
    const instance = new RpcSocketServer(agent, path, log);
    await new Promise<void>((resolve, reject) => {
      instance.server.once('error', reject);
      instance.server.listen(path, () => resolve());
    });
    if (!path.startsWith('\\\\.\\pipe\\')) await chmod(path, mode);
    return instance;
  }

  private onConnection(socket: Socket): void {
    this.lastConnectionId += 1;
    const connection = new SocketConnection(this.lastConnectionId, socket, (behind) =>
      // The connection's id and figures, never what it was sent.
      this.log.warn(
        {
          connection: behind.id,
          heldNotifications: behind.heldNotifications,
          backlogBytes: behind.backlogBytes,
        },
        'events subscriber fell behind; disconnected',
      ),
    );
    const handlers = this.handlersFor(connection);
    connection.read({ run: (line) => this.handleLine(line, handlers), tooLarge });
    this.sockets.add(socket);
    this.connections.add(connection);
    const forget = () => {
      this.sockets.delete(socket);
      this.connections.delete(connection);
    };
    socket.on('close', forget);
    socket.on('error', forget);
  }

  /** What the agent holds for each open connection, the largest backlogs first. */
  private connectionFigures(): ConnectionFigures[] {
    return [...this.connections].map((c) => c.figures()).sort((a, b) => b.backlogBytes - a.backlogBytes);
  }

  /** One line: a request or a batch. Resolves with the answer line, or null when none is due. */
  private handleLine(line: string, handlers: ReadonlyMap<string, Handler>): LineRun {
    const now = (answer: string | null) => ({ count: 1, done: Promise.resolve(answer) });
    if (line.length > MAX_FRAME_BYTES && Buffer.byteLength(line) > MAX_FRAME_BYTES) return now(tooLarge());
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      return now(errorAnswer(null, protocolError('parseError', 'not valid JSON')));
    }
    const onFailure = (outcome: CallOutcome) =>
      this.log[failureLevel(outcome)]({ rpc: outcome }, 'rpc call failed');
    if (!Array.isArray(value)) {
      const request = readRequest(value);
      if ('invalid' in request) return now(request.invalid);
      return { count: 1, done: dispatch(request, handlers, onFailure) };
    }
    if (value.length === 0) return now(errorAnswer(null, protocolError('invalidRequest', 'empty batch')));
    if (value.length > MAX_IN_FLIGHT)
      return now(
        errorAnswer(
          null,
          domainError(
            'TOO_LARGE',
            `a batch holds at most ${MAX_IN_FLIGHT} requests; this one has ${value.length}`,
          ),
        ),
      );
    const answers = value.map((entry) => {
      const request = readRequest(entry);
      return 'invalid' in request ? Promise.resolve(request.invalid) : dispatch(request, handlers, onFailure);
    });
    return {
      count: value.length,
      done: Promise.all(answers).then((all) => {
        const due = all.filter((a): a is string => a !== null);
        return due.length === 0 ? null : `[${due.join(',')}]`;
      }),
    };
  }

  /** Stops accepting connections and closes the open ones. */
  async close(): Promise<void> {
    this.unsubscribe();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.end();
    setTimeout(() => {
      for (const socket of this.sockets) socket.destroy();
    }, 1000).unref();
    await closed;
    if (!this.path.startsWith('\\\\.\\pipe\\')) await unlink(this.path).catch(() => undefined);
  }
}
