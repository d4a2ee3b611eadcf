import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

/**
 * Two hosts for tests, each a network namespace of its own (its own loopback, its own ports),
 * joined by one veth link: host A is 192.0.2.1, host B 192.0.2.2 (TEST-NET-1, RFC 5737, which
 * exists only inside these namespaces). A process started under `host.exec` sees only that host's
 * network; Unix sockets are files, so the test process still reaches each agent's socket.
 * Needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN) and `ip` (Debian package iproute2).
 */

const run = promisify(execFile);

/** Every namespace these tests create is named `<prefix><pid of the test process>-<random>-<a|b>`. */
export const NETNS_PREFIX = 'pl2h-';
const NAME = new RegExp(`^${NETNS_PREFIX}(\\d+)-[0-9a-f]+-[ab]$`);

/** What a skipped (or, in CI, failed) test says about running it. */
export const HOW_TO_RUN =
  'It needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN) and `ip` (iproute2): e.g. `sudo npx vitest run test/integration/two-hosts` (.ci/run runs the suite as root)';

export interface Host {
  /** The namespace's name. */
  readonly ns: string;
  /** Its address on the link between the two hosts. */
  readonly address: string;
  /** The command prefix that runs a program on this host: `ip netns exec <ns>`. */
  readonly exec: readonly string[];
}

export interface TwoHosts {
  readonly a: Host;
  readonly b: Host;
  /** Ends whatever still runs in either namespace, then deletes both (the link goes with them). */
  remove(): Promise<void>;
}

/** Runs `ip ARGS`, bounded in time; rejects with ip's own message. */
async function ip(args: string[]): Promise<string> {
  try {
    return (await run('ip', args, { timeout: 10_000 })).stdout;
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error('`ip` is not installed (Debian package iproute2)');
    throw new Error(`ip ${args.join(' ')}: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

/** Why namespaces cannot be made here (one sentence), or null when they can: it tries one. */
export async function netnsUnavailable(): Promise<string | null> {
  const probe = `${NETNS_PREFIX}${process.pid}-${randomBytes(3).toString('hex')}-a`;
  try {
    await ip(['netns', 'add', probe]);
  } catch (error) {
    const uid = process.getuid?.();
    return `cannot create a network namespace as uid ${uid}: ${(error as Error).message}`;
  }
  await ip(['netns', 'del', probe]);
  return null;
}

/** The namespaces `ip netns list` shows, by name. */
async function namespaces(): Promise<string[]> {
  return (await ip(['netns', 'list']))
    .split('\n')
    .map((line) => line.split(' ')[0]!)
    .filter((name) => name !== '');
}

/** True while a process with this id exists. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Kills what still runs in `ns` (only this test's processes live there) and deletes it. */
async function removeNamespace(ns: string): Promise<void> {
  const pids = (await ip(['netns', 'pids', ns])).split('\n').filter((pid) => /^\d+$/.test(pid));
  for (const pid of pids) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  }
  await ip(['netns', 'del', ns]);
}

/**
 * Deletes this test's namespaces left by a run that was killed before its cleanup: those whose
 * test process is gone. Another run's, still going, are left alone. Resolves with their names.
 */
export async function sweepStaleNamespaces(): Promise<string[]> {
  const stale = (await namespaces()).filter((name) => {
    const pid = NAME.exec(name)?.[1];
    return pid !== undefined && !alive(Number(pid));
  });
  for (const ns of stale) await removeNamespace(ns);
  return stale;
}

/** Creates hosts A and B and the link between them; on a failure half-way, removes what it made. */
export async function createTwoHosts(): Promise<TwoHosts> {
  const tag = `${NETNS_PREFIX}${process.pid}-${randomBytes(3).toString('hex')}`;
  const host = (side: 'a' | 'b', address: string): Host => {
    const ns = `${tag}-${side}`;
    return { ns, address, exec: ['ip', 'netns', 'exec', ns] };
  };
  const a = host('a', '192.0.2.1');
  const b = host('b', '192.0.2.2');
  const made: string[] = [];
  const remove = async () => {
    for (const ns of made.splice(0)) await removeNamespace(ns);
  };
  try {
    for (const h of [a, b]) {
      await ip(['netns', 'add', h.ns]);
      made.push(h.ns);
    }
    // Both ends are created inside their namespaces: nothing of this test appears in the root one.
    await ip(['link', 'add', 'veth0', 'netns', a.ns, 'type', 'veth', 'peer', 'name', 'veth0', 'netns', b.ns]);
    for (const h of [a, b]) {
      await ip(['-n', h.ns, 'link', 'set', 'lo', 'up']);
      await ip(['-n', h.ns, 'addr', 'add', `${h.address}/24`, 'dev', 'veth0']);
      await ip(['-n', h.ns, 'link', 'set', 'veth0', 'up']);
    }
  } catch (error) {
    await remove();
    throw error;
  }
  return { a, b, remove };
}
