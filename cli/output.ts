import { type ErrorCode, isErrorCode, PairlinkError } from '../src/errors.js';
import { ERROR_TEXT } from './error-text.js';
import { EXIT } from './exit-codes.js';

/** Where a command writes; injectable so tests can capture output. */
export interface Io {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly isTty: boolean;
}

export const processIo: Io = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  isTty: Boolean(process.stdout.isTTY),
};

/** A command-line mistake: printed with the usage, exit code 2. */
export class UsageError extends Error {}

/** Prints `value` as one line of JSON. */
export function printJson(io: Io, value: unknown): void {
  io.out(JSON.stringify(value));
}

/** Renders any error in the one CLI style and returns the exit code. */
export function reportError(io: Io, error: unknown, json: boolean): number {
  if (error instanceof UsageError) {
    if (json) printJson(io, { error: { code: 'INVALID_PARAMS', message: error.message } });
    else io.err(`pairlink: ${error.message}`);
    return EXIT.usage;
  }
  const code: ErrorCode =
    error instanceof PairlinkError
      ? error.code
      : isErrorCode((error as { code?: unknown })?.code)
        ? (error as { code: ErrorCode }).code
        : 'INTERNAL';
  const detail = error instanceof Error ? error.message : String(error);
  // Internal errors show their message plainly; expected ones add it in brackets, as detail.
  const suffix = code === 'INTERNAL' ? ` ${detail}` : detail ? ` (${detail})` : '';
  if (json) printJson(io, { error: { code, message: detail } });
  else io.err(`pairlink: ${ERROR_TEXT[code]}${suffix}`);
  return code === 'AGENT_UNAVAILABLE' || code === 'RELAY_UNREACHABLE' ? EXIT.unavailable : EXIT.failed;
}
