import { chmod, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import {
  type CallOutcome,
  type Connection,
  type ConnectionFigures,
  connectionDispatcher,
  failureLevel,
  type RpcHandlers,
  type RpcService,
} from './rpc-dispatch.js';
import { SocketConnection } from './socket-connection.js';

/**
 * JSON-RPC 2.0 on a local socket (a Unix socket, mode 0600 in a 0700 directory; a named pipe on
 * Windows): newline-delimited JSON, at most 1 MiB a line, batches, notifications after
 * `events.subscribe`. Params are checked by strict schemas before a handler sees them. Every
 * request gets an answer (or none, for a notification) and a failed call is one log line.
 */
export class RpcSocketServer {
  private readonly methods: RpcHandlers;
  private readonly server: Server;
  /** Each open connection's transport, and the state its methods see. */
  private readonly connections = new Map<SocketConnection, Connection>();
  private readonly sockets = new Set<Socket>();
  private lastConnectionId = 0;
  private readonly unsubscribe: () => void;

  private constructor(
    service: RpcService,
    private readonly path: string,
    private readonly log: Logger,
  ) {
    this.methods = service.methods(() => this.connectionFigures());
    // Half-open: a client may shut its side once it has written; SocketConnection closes after answering.
    this.server = createServer({ allowHalfOpen: true }, (socket) => this.onConnection(socket));
    this.unsubscribe = service.notifications((method, params) => {
      const line = `${JSON.stringify({ jsonrpc: '2.0', method, params })}\n`;
      for (const [transport, connection] of this.connections)
        if (connection.subscribed) transport.notify(line);
    });
  }

  /**
   * Listens on `path`, which `claimSocketPath` must have cleared first (before the agent touched
   * its state, so a second agent never reads or writes the first one's files).
   */
  static async listen(
    service: RpcService,
    path: string,
    log: Logger,
    mode: 0o600 | 0o660 = 0o600,
  ): Promise<RpcSocketServer> {
    const instance = new RpcSocketServer(service, path, log);
    await new Promise<void>((resolve, reject) => {
      instance.server.once('error', reject);
      instance.server.listen(path, () => resolve());
    });
    if (!path.startsWith('\\\\.\\pipe\\')) await chmod(path, mode);
    return instance;
  }

  private onConnection(socket: Socket): void {
    this.lastConnectionId += 1;
    const transport = new SocketConnection(this.lastConnectionId, socket, (behind) =>
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
    const connection: Connection = { id: this.lastConnectionId, subscribed: false };
    const onFailure = (outcome: CallOutcome) =>
      this.log[failureLevel(outcome)]({ rpc: outcome }, 'rpc call failed');
    transport.read(connectionDispatcher(this.methods, connection, onFailure));
    this.sockets.add(socket);
    this.connections.set(transport, connection);
    const forget = () => {
      this.sockets.delete(socket);
      this.connections.delete(transport);
    };
    socket.on('close', forget);
    socket.on('error', forget);
  }

  /** What the agent holds for each open connection, the largest backlogs first. */
  private connectionFigures(): ConnectionFigures[] {
    return [...this.connections]
      .map(([transport, connection]) => {
        const { id, backlogBytes, pendingRequests, reading } = transport.figures();
        return { id, subscribed: connection.subscribed, backlogBytes, pendingRequests, reading };
      })
      .sort((a, b) => b.backlogBytes - a.backlogBytes);
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
