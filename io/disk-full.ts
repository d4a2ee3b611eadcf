import { PairlinkError } from '../src/errors.js';

/** True for a file-system error that says the disk, or this user's quota on it, is full. */
export function isDiskFull(error: unknown): error is NodeJS.ErrnoException {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/**
 * A disk-full error as DISK_FULL, saying what could not be written (by default the file the error
 * names): "cannot save the agent's state in /x (ENOSPC)". Any other error is returned as it is.
 */
export function asDiskFull(error: unknown, what?: string): unknown {
  if (!isDiskFull(error)) return error;
  const path = typeof error.path === 'string' ? ` ${error.path}` : '';
  return new PairlinkError('DISK_FULL', `${what ?? `cannot write${path}`} (${error.code})`);
}
