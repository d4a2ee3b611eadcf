import { homedir } from 'node:os';
import { join } from 'node:path';
import envPaths from 'env-paths';
import { PairlinkError } from '../src/errors.js';

/** Where an agent keeps its files and its socket. */
export interface AgentPaths {
  readonly home: string;
  readonly stateFile: string;
  readonly keystoreFile: string;
  readonly socket: string;
}

// sockaddr_un.sun_path: 108 bytes on Linux, 104 on macOS and the BSDs, including the NUL.
const SOCKET_PATH_LIMIT = process.platform === 'linux' ? 107 : 103;

/**
 * Resolves the agent's paths from the environment: PAIRLINK_HOME (else the platform's standard
 * data directory) and PAIRLINK_SOCKET (else $XDG_RUNTIME_DIR/pairlink/agent.sock, else a socket in
 * the home; a named pipe on Windows). Throws a clear error when the socket path is too long.
 */
export function resolveAgentPaths(env: NodeJS.ProcessEnv, platform = process.platform): AgentPaths {
  const home = env.PAIRLINK_HOME || envPaths('pairlink', { suffix: '' }).data || join(homedir(), '.pairlink');
  let socket: string;
  if (env.PAIRLINK_SOCKET) socket = env.PAIRLINK_SOCKET;
  else if (platform === 'win32') socket = `\\\\.\\pipe\\pairlink-${env.USERNAME ?? 'agent'}`;
  else if (env.XDG_RUNTIME_DIR) socket = join(env.XDG_RUNTIME_DIR, 'pairlink', 'agent.sock');
  else socket = join(home, 'agent.sock');
  checkSocketPath(socket, platform);
  return { home, stateFile: join(home, 'state.json'), keystoreFile: join(home, 'keystore.json'), socket };
}

/** Refuses a Unix socket path longer than the OS allows (connect would fail obscurely). */
export function checkSocketPath(socket: string, platform = process.platform): void {
  if (platform === 'win32') return;
  const bytes = Buffer.byteLength(socket);
  if (bytes > SOCKET_PATH_LIMIT) {
    throw new PairlinkError(
      'INVALID_PARAMS',
      `socket path is ${bytes} bytes, over the ${SOCKET_PATH_LIMIT}-byte limit of Unix sockets: set PAIRLINK_SOCKET to a shorter path`,
    );
  }
}
