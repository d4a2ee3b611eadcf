import { type Logger, pino } from 'pino';
import { chooseLogFormat, prettyDestination } from './log-format.js';
import { UsageError } from './output.js';

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * The logger of a long-running command, on stdout. The level comes from --log-level, else
 * PAIRLINK_LOG_LEVEL, else `fallback`; the format from --log-format, else PAIRLINK_LOG_FORMAT,
 * else readable lines in a terminal and JSON lines elsewhere. An unknown level or format is a
 * usage error, not a crash.
 */
export function commandLogger(
  service: string,
  flag: unknown,
  env: NodeJS.ProcessEnv,
  fallback = 'info',
  formatFlag?: unknown,
): Logger {
  const level = (flag as string | undefined) ?? env.PAIRLINK_LOG_LEVEL ?? fallback;
  if (!LEVELS.includes(level))
    throw new UsageError(`unknown log level "${level}" (one of ${LEVELS.join(', ')})`);
  const format = chooseLogFormat(formatFlag, env, Boolean(process.stdout.isTTY));
  if (format === null) throw new UsageError('--log-format (or PAIRLINK_LOG_FORMAT) is json or pretty');
  const options = { level, base: { service }, redact: ['req.headers.authorization'] };
  // Written as each line is logged, as Node writes stdout to files and pipes on Linux: pino's
  // default hands every write to libuv's thread pool, a thread round trip per sparse line (the
  // agent's one line per pairing outcome: ~110 us of CPU a line here, against ~45 written at
  // once), and lines still queued when the process is killed are lost.
  if (format === 'json') return pino(options, pino.destination({ dest: 1, sync: true }));
  return pino(
    options,
    prettyDestination((text) => process.stdout.write(text)),
  );
}
