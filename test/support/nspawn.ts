import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A Debian bookworm root filesystem with systemd, built once by debootstrap and kept in the OS
 * temp dir under a stable name (built into a temporary name and renamed, so a build that was
 * killed is never reused). Containers boot it with --volatile=overlay, so it is never changed.
 */
export const ROOTFS = join(tmpdir(), 'pairlink-systemd-rootfs-bookworm');

/** The first Debian mirror in this machine's apt sources (deb822 or one-line form). */
export function debianMirror(): string {
  const sources = ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list']
    .filter((f) => existsSync(f))
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n');
  const mirror =
    /^URIs:\s*(\S+\/debian)\/?\s*$/m.exec(sources)?.[1] ??
    /^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian)\/?\s/m.exec(sources)?.[1];
  if (!mirror) throw new Error('no Debian mirror in /etc/apt/sources.list(.d)');
  return mirror;
}

/** Why containers cannot be booted here, or null when they can. */
export async function nspawnUnavailable(): Promise<string | null> {
  if (process.getuid?.() !== 0) return 'booting a container takes root';
  for (const tool of ['debootstrap', 'systemd-nspawn'])
    if (
      !(await run('sh', ['-c', `command -v ${tool}`]).then(
        () => true,
        () => false,
      ))
    )
      return `${tool} is not installed (apt-get install debootstrap systemd-container)`;
  return null;
}

/** Makes ROOTFS if it is not there yet; resolves with the seconds it took (0 when cached). */
export async function ensureRootfs(): Promise<number> {
  if (existsSync(join(ROOTFS, 'usr', 'lib', 'systemd', 'systemd'))) return 0;
  const started = Date.now();
  const building = `${ROOTFS}.building-${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  await run(
    'debootstrap',
    ['--variant=minbase', '--include=systemd,systemd-sysv,dbus', 'bookworm', building, debianMirror()],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  renameSync(building, ROOTFS);
  return (Date.now() - started) / 1000;
}

/**
 * Boots ROOTFS to multi-user.target with systemd-nspawn, sharing this host's network (so the
 * container reaches servers the test runs on loopback), pulling in `unit` (a file bind-mounted
 * into /etc/systemd/system), which must power the container off when it is done. `binds` are
 * host:container pairs, read-only unless marked writable. Resolves with the console output once
 * the container has exited.
 */
export function bootContainer(options: {
  readonly unit: string;
  readonly unitFile: string;
  readonly readOnly: readonly (readonly [string, string])[];
  readonly writable: readonly (readonly [string, string])[];
}): Promise<{ code: number | null; console: string }> {
  const args = [
    '-D',
    ROOTFS,
    '--volatile=overlay',
    '--register=no',
    '--keep-unit',
    '--console=pipe',
    ...options.readOnly.map(([host, inside]) => `--bind-ro=${realpathSync(host)}:${inside}`),
    ...options.writable.map(([host, inside]) => `--bind=${realpathSync(host)}:${inside}`),
    `--bind-ro=${realpathSync(options.unitFile)}:/etc/systemd/system/${options.unit}`,
    '--boot',
    '--',
    `systemd.wants=${options.unit}`,
  ];
  const child = spawn('systemd-nspawn', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => {
    output += String(d);
  });
  child.stderr.on('data', (d) => {
    output += String(d);
  });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, console: output })));
}
