import { describeError } from '../src/error-text.js';
import type { ErrorCode } from '../src/errors.js';
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
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * By name, not instanceof: the CLI bundle (dist/bin/pairlink.cjs) and the commands it loads from
 * the ESM build each have their own copy of this class.
 */
function isUsageError(error: unknown): error is UsageError {
  return error instanceof Error && error.name === 'UsageError';
}

/** Prints `value` as one line of JSON. */
export function printJson(io: Io, value: unknown): void {
  io.out(JSON.stringify(value));
}

/** Codes that exit with EXIT.unavailable: something the command needs is not there, or taken. */
const UNAVAILABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'AGENT_UNAVAILABLE',
  'AGENT_NOT_FOUND',
  'RELAY_UNREACHABLE',
  'PORT_IN_USE',
]);

/** Renders any error in the one CLI style and returns the exit code. */
export function reportError(io: Io, error: unknown, json: boolean): number {
  if (isUsageError(error)) {
    if (json) printJson(io, { error: { code: 'INVALID_PARAMS', message: error.message } });
    else io.err(`pairlink: ${error.message}`);
    return EXIT.usage;
  }
  const { code, text } = describeError(error);
  if (json)
    printJson(io, { error: { code, message: error instanceof Error ? error.message : String(error) } });
  else io.err(`pairlink: ${text}`);
  return UNAVAILABLE.has(code) ? EXIT.unavailable : EXIT.failed;
}
