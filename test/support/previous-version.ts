import { execFile, execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './relay-process.js';

const run = promisify(execFile);

/**
 * The previous release: round 2, the last commit before inboxes (PROTOCOL.md §11) and the audit
 * chain. Its package.json lists the same dependencies as this one, so it runs on this checkout's
 * node_modules.
 */
export const PREVIOUS_VERSION = '3e0c64a1f69666cbc8a670fb71464e1162455d03';

/**
 * Whether this checkout's git history holds the previous version. Without it the compatibility
 * tests cannot run: in CI (CI=true, a full clone) that is an error, elsewhere a loud skip — never a
 * silent pass.
 */
export function previousVersionPresent(): boolean {
  try {
    execFileSync('git', ['-C', REPO_ROOT, 'cat-file', '-e', `${PREVIOUS_VERSION}^{commit}`], {
      stdio: 'ignore',
    });
    return true;
  } catch {
    const why = `the previous version (${PREVIOUS_VERSION.slice(0, 7)}) is not in this checkout's git history`;
    if (process.env.CI) throw new Error(`${why}: CI runs in a full clone, so this is an error`);
    console.warn(`SKIPPED: ${why}; the compatibility tests need a full clone`);
    return false;
  }
}

/**
 * A `pairlink` executable of the previous version: its source from git (`git archive`), this
 * checkout's node_modules, built with its own tsc (the plain tsc output, dist/bin/pairlink.js;
 * declarations off, since through the node_modules link they would name paths outside the tree).
 * Built once per commit under the OS temp dir and reused; a build that stopped half-way is never
 * used, because the finished tree is renamed into place.
 */
export async function previousVersionBin(): Promise<{ bin: string; builtMs: number }> {
  const dir = join(tmpdir(), `pairlink-${PREVIOUS_VERSION.slice(0, 12)}`);
  const bin = join(dir, 'pairlink');
  if (existsSync(dir)) {
    // A predictable name in a shared directory: use (or remove) only a tree of our own that no one else may write.
    const { uid, mode } = statSync(dir);
    if (uid !== process.getuid?.() || (mode & 0o022) !== 0)
      throw new Error(`${dir} belongs to another user or is writable by others; remove it`);
    if (existsSync(bin) && existsSync(join(dir, 'node_modules', 'typescript'))) return { bin, builtMs: 0 };
  }
  rmSync(dir, { recursive: true, force: true });
  const started = Date.now();
  const building = `${dir}.build-${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  mkdirSync(building, { mode: 0o700 });
  await run('sh', [
    '-c',
    'git -C "$1" archive "$2" | tar -x -C "$3"',
    'sh',
    REPO_ROOT,
    PREVIOUS_VERSION,
    building,
  ]);
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(building, 'node_modules'));
  await run(
    process.execPath,
    [
      join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
      '-p',
      'tsconfig.json',
      '--declaration',
      'false',
    ],
    {
      cwd: building,
    },
  );
  const script = join(building, 'pairlink');
  writeFileSync(
    script,
    `#!/bin/sh\nexec '${process.execPath}' '${join(dir, 'dist', 'bin', 'pairlink.js')}' "$@"\n`,
  );
  chmodSync(script, 0o700);
  try {
    renameSync(building, dir);
  } catch {
    // Another test file finished the same build first: use its tree.
    rmSync(building, { recursive: true, force: true });
  }
  return { bin, builtMs: Date.now() - started };
}
