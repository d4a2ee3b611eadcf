import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, parse, sep } from 'node:path';
import { PairlinkError } from '../src/errors.js';

/** True for a file-system error that says this process lacks a permission (EACCES, EPERM). */
export function isAccessError(error: unknown): error is NodeJS.ErrnoException & { path: string } {
  const e = error as NodeJS.ErrnoException | null;
  return (e?.code === 'EACCES' || e?.code === 'EPERM') && typeof e.path === 'string';
}

/**
 * A permission error from the file system as PERMISSION_DENIED, naming the file or directory, what
 * this process may not do to it (read, write, enter, create in), its mode and owner, and the user
 * this process runs as: "cannot read /x/state.json (mode 0600, owned by uid 0; pairlink runs as
 * uid 1000)". Any other error is returned as it is.
 */
export async function explainAccessError(error: unknown): Promise<unknown> {
  if (!isAccessError(error)) return error;
  const what = await whatIsDenied(error.path);
  return new PairlinkError('PERMISSION_DENIED', what ?? `cannot use ${error.path} (${error.code})`);
}

async function allowed(path: string, mode: number): Promise<boolean> {
  return access(path, mode).then(
    () => true,
    () => false,
  );
}

/** What this process may not do to `path` or the directories above it, with mode and owner. */
async function whatIsDenied(path: string): Promise<string | null> {
  // A directory on the way that this user may not enter hides everything below it.
  const root = parse(path).root;
  let dir = root;
  for (const part of dirname(path).slice(root.length).split(sep).filter(Boolean)) {
    dir = dir.endsWith(sep) ? `${dir}${part}` : `${dir}${sep}${part}`;
    if (!(await allowed(dir, constants.X_OK))) return describe('cannot enter', dir);
  }
  const info = await stat(path).catch(() => null);
  if (!info) {
    const parent = dirname(path);
    return (await allowed(parent, constants.W_OK)) ? null : describe(`cannot create ${path} in`, parent);
  }
  if (!(await allowed(path, constants.R_OK))) return describe('cannot read', path);
  if (!(await allowed(path, constants.W_OK))) return describe('cannot write', path);
  if (info.isDirectory() && !(await allowed(path, constants.X_OK))) return describe('cannot enter', path);
  return null;
}

async function describe(verb: string, path: string): Promise<string> {
  const info = await stat(path).catch(() => null);
  const runsAs = process.getuid ? `; pairlink runs as uid ${process.getuid()}` : '';
  if (!info) return `${verb} ${path}`;
  const mode = (info.mode & 0o777).toString(8).padStart(4, '0');
  return `${verb} ${path} (mode ${mode}, owned by uid ${info.uid}${runsAs})`;
}
