import { lstat, mkdir, stat, unlink } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { dirname } from 'node:path';
import { PairlinkError } from '../src/errors.js';
import { ensurePrivateDir } from './secure-files.js';

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
 * A socket shared with a group (0660) lives in a directory of this user that others cannot enter
 * (0750 when created; the group needs to enter it, the rest of the world must not): the system
 * service's RuntimeDirectory. Never chmod-ed: a directory open to others is refused.
 */
async function ensureGroupDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o750 });
  const info = await stat(dir);
  if (typeof process.getuid === 'function' && info.uid !== process.getuid())
    throw new PairlinkError('PERMISSION_DENIED', `${dir} belongs to another user`);
  if ((info.mode & 0o007) !== 0)
    throw new PairlinkError(
      'PERMISSION_DENIED',
      `${dir} is open to other users (mode ${(info.mode & 0o777).toString(8)}): put the socket in a directory only its owner and group can enter (0750)`,
    );
}

/**
 * Makes `path` ready for a new agent: its directory private (0700, never chmod-ing a shared one;
 * closed to others only, for a socket of mode 0660); a stale socket file (nothing answers)
 * removed; a live one means another agent runs there, and this one must not start.
 */
export async function claimSocketPath(path: string, mode: 0o600 | 0o660 = 0o600): Promise<void> {
  if (path.startsWith('\\\\.\\pipe\\')) return;
  if (mode === 0o660) await ensureGroupDir(dirname(path));
  else await ensurePrivateDir(dirname(path), false);
  const found = await lstat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  if (found === null) return;
  // Only a socket is ours to replace: a file, a symlink or a directory there is someone's data
  // (or a trap), and is left exactly as it is.
  if (!found.isSocket())
    throw new PairlinkError(
      'INVALID_PARAMS',
      `${path} exists and is not a socket; move it away or set PAIRLINK_SOCKET to another path`,
    );
  if (await answers(path))
    throw new PairlinkError('AGENT_RUNNING', `another pairlink agent is already listening on ${path}`);
  await unlink(path);
}
