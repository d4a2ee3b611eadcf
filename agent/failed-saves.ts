import type { Logger } from 'pino';
import { PairlinkError } from '../src/errors.js';
import type { RepeatedWarnings } from './repeated-warnings.js';

/** Takes work whose failure is a failed save, and logs that failure rather than leaving it unhandled. */
export type SaveFailureLog = (work: Promise<unknown>) => void;

/**
 * Logs the failure of a save (or of a step, which fails only with its save): a full disk, which
 * fails every save until space is freed, as a line a minute; anything else as one line each.
 */
export function saveFailureLog(logger: Logger, warnings: RepeatedWarnings): SaveFailureLog {
  return (work) => {
    work.catch((error: Error) => {
      if (error instanceof PairlinkError && error.code === 'DISK_FULL')
        warnings.warn({ err: error.message }, 'saving failed: the disk is full (retried every second)');
      else logger.error({ err: error.message }, 'saving a pairing step failed');
    });
  };
}
