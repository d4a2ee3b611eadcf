import { execFile } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmdirSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe } from 'vitest';

/**
 * A small filesystem of its own for one test file: a tmpfs mounted on a fresh directory, so that a
 * test can fill it to the last byte (and free it again) without touching any other disk. Needs
 * root (or CAP_SYS_ADMIN) to mount.
 */

const run = promisify(execFile);

/** What a skipped (or, in CI, failed) test says about running it. */
export const HOW_TO_RUN =
  'It needs root (or CAP_SYS_ADMIN) to mount a small tmpfs: e.g. `sudo npx vitest run test/integration/full-disk` (.ci/run runs the suite as root)';

const FILLER = 'filler';
const PAGE = 4096;

export interface SmallDisk {
  /** Where it is mounted (0700). */
  readonly dir: string;
  /** Writes a filler file until the filesystem refuses another byte (ENOSPC); resolves with its size. */
  fill(): number;
  /** Deletes the filler: the space is back. */
  free(): void;
  /** Unmounts it and removes the mount point. */
  remove(): Promise<void>;
}

/** Mounts a tmpfs of `kib` KiB on a fresh 0700 directory under the OS temp dir. */
export async function mountSmallDisk(kib: number): Promise<SmallDisk> {
  const dir = mkdtempSync(join(tmpdir(), 'pl-disk-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${kib}k,mode=0700`, 'tmpfs', dir], { timeout: 10_000 });
  } catch (error) {
    rmdirSync(dir);
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    throw new Error(`mount -t tmpfs: ${(e.stderr ?? '').trim() || e.message}`);
  }
  const filler = join(dir, FILLER);
  return {
    dir,
    fill() {
      const fd = openSync(filler, 'a', 0o600);
      let written = 0;
      try {
        // Pages at a time until one is refused (bounded: the disk holds at most kib / 4 of them).
        const page = Buffer.alloc(PAGE, 0x5a);
        for (let i = 0; i <= (kib * 1024) / PAGE; i++) {
          try {
            written += writeSync(fd, page);
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
            return written;
          }
        }
        throw new Error(`the ${kib} KiB disk at ${dir} took ${written} bytes of filler and wanted more`);
      } finally {
        closeSync(fd);
      }
    },
    free() {
      rmSync(filler, { force: true });
    },
    async remove() {
      await run('umount', [dir], { timeout: 10_000 });
      rmdirSync(dir);
    },
  };
}

/** Why a tmpfs cannot be mounted here (one sentence), or null when it can: it tries one. */
async function smallDiskUnavailable(): Promise<string | null> {
  try {
    await (await mountSmallDisk(64)).remove();
    return null;
  } catch (error) {
    return `cannot mount a tmpfs as uid ${process.getuid?.()}: ${(error as Error).message}`;
  }
}

/**
 * `describe` for tests that need a small disk. Where one cannot be mounted (not root) the suite is
 * skipped with a warning that says why and how to run it, except with CI=true: there it fails
 * instead, so CI never passes without having run it.
 */
export async function describeSmallDisk(title: string, body: () => void): Promise<void> {
  const unavailable = await smallDiskUnavailable();
  const ci = process.env.CI;
  const inCi = ci !== undefined && !['', '0', 'false'].includes(ci);
  if (unavailable && !inCi) {
    console.warn(`SKIPPED "${title}": ${unavailable}. ${HOW_TO_RUN}.`);
    describe.skip(title, body);
    return;
  }
  describe(title, () => {
    beforeAll(() => {
      if (unavailable)
        throw new Error(`${unavailable}. CI=${ci}: this fails instead of being skipped. ${HOW_TO_RUN}.`);
    });
    body();
  });
}
