import { lstat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import envPaths from 'env-paths';
import { PairlinkError } from '../src/errors.js';

/** Where an agent keeps its files and its socket. */
export interface AgentPaths {
  readonly home: string;
  readonly stateFile: string;
  readonly keystoreFile: string;
  readonly socket: string;
  /**
   * The socket's mode: 0600 (this user only), or 0660 (also its group: the system service's
   * `pairlink` group of admins and bots) in a directory closed to others (PAIRLINK_SOCKET_MODE).
   */
  readonly socketMode: 0o600 | 0o660;
}

// sockaddr_un.sun_path: 108 bytes on Linux, 104 on macOS and the BSDs, including the NUL.
const SOCKET_PATH_LIMIT = process.platform === 'linux' ? 107 : 103;

/**
 * Resolves the agent's paths from the environment: PAIRLINK_HOME (else the platform's standard
 * data directory) and PAIRLINK_SOCKET (else $XDG_RUNTIME_DIR/pairlink/agent.sock, else a socket in
 * the home; a named pipe on Windows) and PAIRLINK_SOCKET_MODE (0600, else 0660). Throws a clear
 * error when the socket path is too long or the mode is another.
 */
export function resolveAgentPaths(env: NodeJS.ProcessEnv, platform = process.platform): AgentPaths {
  const home = env.PAIRLINK_HOME || envPaths('pairlink', { suffix: '' }).data || join(homedir(), '.pairlink');
  let socket: string;
  if (env.PAIRLINK_SOCKET) socket = env.PAIRLINK_SOCKET;
  else if (platform === 'win32') socket = `\\\\.\\pipe\\pairlink-${env.USERNAME ?? 'agent'}`;
  else if (env.XDG_RUNTIME_DIR) socket = join(env.XDG_RUNTIME_DIR, 'pairlink', 'agent.sock');
  else socket = join(home, 'agent.sock');
  checkSocketPath(socket, platform);
  const mode = env.PAIRLINK_SOCKET_MODE || '0600';
  if (mode !== '0600' && mode !== '0660')
    throw new PairlinkError(
      'INVALID_PARAMS',
      'PAIRLINK_SOCKET_MODE is 0600 (this user) or 0660 (and its group)',
    );
  return {
    home,
    stateFile: join(home, 'state.json'),
    keystoreFile: join(home, 'keystore.json'),
    socket,
    socketMode: mode === '0660' ? 0o660 : 0o600,
  };
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

/** Where `pairlink up` keeps its home and socket, relative to the directory it runs in. */
export const LOCAL_DIR = '.pairlink-local';

/** The socket of the system service's agent (systemd's %t is /run; launchd's is /var/run). */
export function systemSocket(platform = process.platform): string {
  return platform === 'darwin' ? '/var/run/pairlink/agent.sock' : '/run/pairlink/agent.sock';
}

/** One place where an agent's socket may be, and what would have put it there. */
export interface SocketCandidate {
  readonly socket: string;
  readonly what: 'PAIRLINK_SOCKET' | 'pairlink up' | 'your agent' | 'the system agent';
}

/**
 * Where the CLI and pairlink/client look for the agent, in order: PAIRLINK_SOCKET alone when it
 * is set (an explicit choice never falls back elsewhere); else the socket of `pairlink up` in
 * `cwd` or the nearest parent that has one; else this user's default socket (where `pairlink
 * agent` and a user service listen); else the system service's socket.
 */
export function agentSocketCandidates(
  env: NodeJS.ProcessEnv,
  cwd: string,
  platform = process.platform,
): SocketCandidate[] {
  if (env.PAIRLINK_SOCKET) return [{ socket: env.PAIRLINK_SOCKET, what: 'PAIRLINK_SOCKET' }];
  const found: SocketCandidate[] = [];
  if (platform !== 'win32') {
    for (let dir = resolve(cwd); ; dir = dirname(dir)) {
      const socket = join(dir, LOCAL_DIR, 'agent.sock');
      // A path too long to connect to is one `up` never listens on (it falls back to a short one).
      if (Buffer.byteLength(socket) <= SOCKET_PATH_LIMIT) found.push({ socket, what: 'pairlink up' });
      if (dirname(dir) === dir) break;
    }
  }
  found.push({ socket: resolveAgentPaths(env, platform).socket, what: 'your agent' });
  if (platform !== 'win32') found.push({ socket: systemSocket(platform), what: 'the system agent' });
  return found;
}

/**
 * The socket of the agent to talk to: the first candidate (agentSocketCandidates) where a socket
 * exists, whether or not an agent answers on it yet (a stale one is reported by connect, naming
 * it). AGENT_NOT_FOUND, listing every place looked at, when there is none.
 */
export async function findAgentSocket(
  candidates: readonly SocketCandidate[],
  platform = process.platform,
): Promise<string> {
  // A named pipe cannot be looked at before connecting: the first candidate is the one.
  if (platform === 'win32') return candidates[0]!.socket;
  for (const candidate of candidates) if (await present(candidate.socket)) return candidate.socket;
  throw new PairlinkError('AGENT_NOT_FOUND', describeCandidates(candidates));
}

/** Something is at `path` (or may be: a directory we cannot look into counts, and connect says why). */
async function present(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code !== 'ENOENT' && code !== 'ENOTDIR';
  }
}

/** The places looked at, in one line: `pairlink up`'s sockets are summed up as the first and its parents. */
function describeCandidates(candidates: readonly SocketCandidate[]): string {
  const local = candidates.filter((c) => c.what === 'pairlink up');
  const parts: string[] = [];
  for (const candidate of candidates) {
    if (candidate.what === 'PAIRLINK_SOCKET') parts.push(`${candidate.socket} (PAIRLINK_SOCKET)`);
    else if (candidate === local[0])
      parts.push(
        `${candidate.socket}${local.length > 1 ? ' and the same in every parent directory' : ''} (pairlink up)`,
      );
    else if (candidate.what !== 'pairlink up') parts.push(`${candidate.socket} (${candidate.what})`);
  }
  return parts.join('; ');
}
