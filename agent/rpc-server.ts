import { chmod, unlink } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { JSONRPCErrorException, JSONRPCServer } from 'json-rpc-2.0';
import type { Logger } from 'pino';
import { PairlinkError } from '../src/errors.js';
import { applicationErrorNumber } from '../src/rpc/errors.js';
import { PROGRESS_NOTIFICATION, type RpcMethodName } from '../src/rpc/protocol.js';
import { PARAM_SCHEMAS } from '../src/rpc/schemas.js';
import type { Agent } from './agent.js';
import { type RpcHandlers, rpcHandlers } from './rpc-methods.js';
import { ensurePrivateDir } from './secure-files.js';

/** Largest request line accepted on the socket. */
export const MAX_FRAME_BYTES = 1024 * 1024;

/** Requests one connection may have in progress; past this the agent stops reading it for a while. */
export const MAX_IN_FLIGHT = 256;

/** Per-connection state passed to every method. */
export interface Connection {
  subscribed: boolean;
  send(line: string): void;
}

/** True when something answers on `path` (an agent is already running there). */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

/**
 * Makes `path` ready for a new agent: its directory private (0700, never chmod-ing a shared one);
 * a stale socket file (nothing answers) removed; a live one means another agent runs there, and
 * this one must not start.
 */
export async function claimSocketPath(path: string): Promise<void> {
  if (path.startsWith('\\\\.\\pipe\\')) return;
  await ensurePrivateDir(dirname(path), false);
  if (await answers(path))
    throw new PairlinkError('INVALID_PARAMS', `another pairlink agent is already listening on ${path}`);
  await unlink(path).catch(() => undefined);
}

/** Turns anything a handler throws into a JSON-RPC error with a stable `data.code`. */
function toRpcError(error: unknown): JSONRPCErrorException {
  if (error instanceof JSONRPCErrorException) return error;
  const code = error instanceof PairlinkError ? error.code : 'INTERNAL';
  const message = error instanceof PairlinkError ? error.message : 'internal error';
  return new JSONRPCErrorException(message, applicationErrorNumber(code), { code });
}

/**
 * JSON-RPC 2.0 on a local socket (a Unix socket, mode 0600 in a 0700 directory; a named pipe on
 * Windows): newline-delimited JSON, at most 1 MiB a line, batches, notifications after
 * `events.subscribe`. Params are checked by strict schemas before a handler sees them.
 */
export class RpcSocketServer {
  private readonly rpc = new JSONRPCServer<Connection>();
  private readonly server: Server;
  private readonly connections = new Set<Socket>();
  private readonly unsubscribe: () => void;

  private constructor(
    agent: Agent,
    private readonly path: string,
    private readonly log: Logger,
  ) {
    const handlers = rpcHandlers(agent);
    for (const name of Object.keys(PARAM_SCHEMAS) as RpcMethodName[]) {
      this.rpc.addMethod(name, async (params: unknown, connection: Connection) => {
        const parsed = PARAM_SCHEMAS[name].safeParse(params ?? {});
        if (!parsed.success) {
          const detail = parsed.error.issues
            .map((i) => `${i.path.join('.') || 'params'}: ${i.message}`)
            .join('; ');
          throw new JSONRPCErrorException(`invalid params: ${detail}`, -32602, { code: 'INVALID_PARAMS' });
        }
        try {
          return await (handlers[name] as RpcHandlers[RpcMethodName])(parsed.data as never, connection);
        } catch (error) {
          throw toRpcError(error);
        }
      });
    }
    this.server = createServer((socket) => this.onConnection(socket));
    this.unsubscribe = agent.onProgress((progress) => {
      const line = `${JSON.stringify({ jsonrpc: '2.0', method: PROGRESS_NOTIFICATION, params: progress })}\n`;
      for (const socket of this.connections) {
        const connection = (socket as Socket & { pairlink?: Connection }).pairlink;
        if (connection?.subscribed) connection.send(line);
      }
    });
  }

  /**
   * Listens on `path`, which `claimSocketPath` must have cleared first (before the agent touched
   * its state, so a second agent never reads or writes the first one's files).
   */
  static async listen(agent: Agent, path: string, log: Logger): Promise<RpcSocketServer> {
    const instance = new RpcSocketServer(agent, path, log);
    await new Promise<void>((resolve, reject) => {
      instance.server.once('error', reject);
      instance.server.listen(path, () => resolve());
    });
    if (!path.startsWith('\\\\.\\pipe\\')) await chmod(path, 0o600);
    return instance;
  }

  private onConnection(socket: Socket): void {
    this.connections.add(socket);
    const connection: Connection = {
      subscribed: false,
      send: (line) => {
        if (!socket.destroyed) socket.write(line);
      },
    };
    (socket as Socket & { pairlink?: Connection }).pairlink = connection;
    let buffered = '';
    // Requests run concurrently and each is answered when it is done (JSON-RPC matches answers by
    // id), so a long invite.accept never holds up an agent.info behind it. A client that keeps
    // more than MAX_IN_FLIGHT requests open is simply not read until some finish.
    let inFlight = 0;
    const finished = () => {
      inFlight--;
      if (inFlight < MAX_IN_FLIGHT && socket.isPaused()) socket.resume();
    };
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let newline = buffered.indexOf('\n');
      while (newline >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line.length > 0) {
          inFlight++;
          void this.handleLine(line, connection).finally(finished);
        }
        newline = buffered.indexOf('\n');
      }
      if (inFlight >= MAX_IN_FLIGHT) socket.pause();
      if (Buffer.byteLength(buffered) > MAX_FRAME_BYTES) {
        connection.send(
          `${JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'request larger than 1 MiB', data: { code: 'TOO_LARGE' } } })}\n`,
        );
        socket.end();
        buffered = '';
      }
    });
    socket.on('close', () => this.connections.delete(socket));
    socket.on('error', () => this.connections.delete(socket));
  }

  private async handleLine(line: string, connection: Connection): Promise<void> {
    if (Buffer.byteLength(line) > MAX_FRAME_BYTES) return;
    try {
      const response = await this.rpc.receiveJSON(line, connection);
      if (response !== null && !(Array.isArray(response) && response.length === 0))
        connection.send(`${JSON.stringify(response)}\n`);
    } catch (error) {
      this.log.error({ err: (error as Error).message }, 'rpc dispatch failed');
    }
  }

  /** Stops accepting connections and closes the open ones. */
  async close(): Promise<void> {
    this.unsubscribe();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.connections) socket.end();
    setTimeout(() => {
      for (const socket of this.connections) socket.destroy();
    }, 1000).unref();
    await closed;
    if (!this.path.startsWith('\\\\.\\pipe\\')) await unlink(this.path).catch(() => undefined);
  }
}
