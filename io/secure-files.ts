import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PairlinkError } from '../src/errors.js';

/**
 * Makes sure `dir` exists with mode 0700 and belongs to this user. Missing directories are created
 * 0700. An existing one that others can read is tightened only when `repair` is set (the agent's
 * own home); otherwise it is refused, so a shared directory such as /tmp is never chmod-ed.
 */
export async function ensurePrivateDir(dir: string, repair = true): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (process.platform === 'win32') return;
  const info = await stat(dir);
  if (typeof process.getuid === 'function' && info.uid !== process.getuid()) {
    throw new PairlinkError('PERMISSION_DENIED', `${dir} belongs to another user`);
  }
  if ((info.mode & 0o077) === 0) return;
  if (!repair) {
    throw new PairlinkError(
      'PERMISSION_DENIED',
      `${dir} is open to other users (mode ${(info.mode & 0o777).toString(8)}): put the socket in a private (0700) directory`,
    );
  }
  await chmod(dir, 0o700);
}

/**
 * Writes `data` atomically: a 0600 temp file in the same directory, fsync, rename over the target,
 * fsync the directory. A crash at any point leaves either the old file or the new one, whole; a
 * write that fails (a full disk) removes its temp file, so retries do not pile them up.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const dir = dirname(path);
  await ensurePrivateDir(dir);
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temp, 'wx', 0o600);
  try {
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  if (process.platform !== 'win32') {
    const dirHandle = await open(dir, 'r');
    try {
      await dirHandle.sync();
    } finally {
      await dirHandle.close();
    }
  }
}

/** Reads a file, or null if it does not exist. */
export async function readFileIfExists(path: string): Promise<Buffer | null> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}
