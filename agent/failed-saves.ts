import type { Logger } from 'pino';
import { PairlinkError } from '../src/errors.js';
import type { RepeatedWarnings } from './repeated-warnings.js';

/*
 * Saves that fail: the log line for one nobody awaits, what DISK_FULL means for the call that
 * asked for one, and the agent's last save, retried on a full disk.
 */

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

/** A save that failed with DISK_FULL, saying what that means for the call that asked for it. */
export function notSaved(error: unknown, outcome: string): unknown {
  return error instanceof PairlinkError && error.code === 'DISK_FULL'
    ? new PairlinkError('DISK_FULL', `${error.message}: ${outcome}`)
    : error;
}

/** What DISK_FULL means for an operator's change to an invite, an accept or a peer (docs/PROTOCOL.md §7). */
export const KEPT_UNSAVED =
  'the change is kept, and takes effect once a save succeeds (retried every second), unless the agent stops first';

/** How long a stop keeps trying its last save on a full disk, and how often. */
export const STOP_SAVE_MS = 10_000;
const STOP_SAVE_RETRY_MS = 500;

/**
 * The agent's last save (`persist`). On a full disk it is tried again (space may come back) until
 * STOP_SAVE_MS have passed, well inside a service manager's stop timeout (systemd's
 * TimeoutStopSec=20), then given up with one line.
 */
export async function saveBeforeStop(persist: () => Promise<void>, logger: Logger): Promise<void> {
  const deadline = Date.now() + STOP_SAVE_MS;
  for (let attempts = 1; ; attempts++) {
    try {
      return await persist();
    } catch (error) {
      if (!(error instanceof PairlinkError && error.code === 'DISK_FULL')) throw error;
      if (Date.now() >= deadline) {
        logger.error(
          { err: error.message, attempts },
          'stopped without saving the last changes: the disk is full',
        );
        throw notSaved(error, 'the changes answered DISK_FULL are lost; everything acknowledged is on disk');
      }
      await new Promise((resolve) => setTimeout(resolve, STOP_SAVE_RETRY_MS));
    }
  }
}
