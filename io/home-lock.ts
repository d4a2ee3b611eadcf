import { randomBytes } from 'node:crypto';
import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PairlinkError } from '../src/errors.js';

/** The lock file in an agent's home: which process runs on it. */
export const LOCK_FILE = 'agent.lock';

/**
 * A process, told apart from a later one that got the same pid (after a crash, a reboot): on Linux
 * by the boot id and the process's start time in clock ticks since boot; elsewhere by pid alone.
 */
interface Holder {
  readonly pid: number;
  readonly boot?: string;
  readonly start?: string;
}

/** A held lock on an agent's home. */
export interface HomeLock {
  /** Removes the lock file (the agent stopped). */
  release(): Promise<void>;
}

const ATTEMPTS = 3;

/**
 * Takes the agent's home for this process, so that two agents never share one identity and state
 * (the socket alone does not say so: two agents may listen on different sockets). The lock file
 * holds its holder's pid and is written whole (a temporary file hard-linked into place, which
 * fails if one exists). A lock whose holder is gone, killed with SIGKILL or lost in a reboot, is
 * stale and taken over; a live holder means AGENT_RUNNING, naming its pid.
 */
export async function lockHome(home: string): Promise<HomeLock> {
  const path = join(home, LOCK_FILE);
  const me = await describeProcess(process.pid);
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    // Inside the try: a write that fails part-way (a full disk) leaves no temp file behind.
    await writeFile(temp, `${JSON.stringify(me)}\n`, { mode: 0o600, flag: 'wx' });
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      try {
        await link(temp, path);
        return { release: () => unlink(path).catch(ignoreMissing) };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const holder = readHolder(await readFile(path, 'utf8').catch(() => ''));
      if (holder && (await isAlive(holder)))
        throw new PairlinkError(
          'AGENT_RUNNING',
          `the home ${home} is in use by the agent with pid ${holder.pid}`,
        );
      // Its holder is gone (or the file is not a lock we wrote): take it over.
      await unlink(path).catch(ignoreMissing);
    }
    throw new PairlinkError('AGENT_RUNNING', `${home} is being taken by another pairlink agent right now`);
  } finally {
    await unlink(temp).catch(ignoreMissing);
  }
}

function ignoreMissing(error: NodeJS.ErrnoException): void {
  if (error.code !== 'ENOENT') throw error;
}

function readHolder(text: string): Holder | null {
  try {
    const value = JSON.parse(text) as Partial<Holder>;
    return Number.isSafeInteger(value.pid) && (value.pid as number) > 0 ? (value as Holder) : null;
  } catch {
    return null;
  }
}

/** True when the process that wrote `holder` still runs. */
async function isAlive(holder: Holder): Promise<boolean> {
  if (holder.boot !== undefined && holder.start !== undefined && process.platform === 'linux') {
    const now = await describeProcess(holder.pid);
    return now.boot === holder.boot && now.start === holder.start;
  }
  if (holder.pid === process.pid) return false; // an earlier life of this pid
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // alive, another user's
  }
}

/** The pid with, on Linux, the boot id and its start time (absent when there is no such process). */
async function describeProcess(pid: number): Promise<Holder> {
  if (process.platform !== 'linux') return { pid };
  const [boot, stat] = await Promise.all([
    readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => ''),
    readFile(`/proc/${pid}/stat`, 'utf8').catch(() => ''),
  ]);
  // Field 22 (starttime); the command name (field 2) may hold spaces and parentheses, so count
  // from the last ')'.
  const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  // Without /proc (or no such process), the pid alone.
  return start && boot.trim() ? { pid, boot: boot.trim(), start } : { pid };
}
