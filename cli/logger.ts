import { type Logger, pino } from 'pino';
import { UsageError } from './output.js';

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * The JSON-lines logger of a long-running command. The level comes from --log-level, else
 * PAIRLINK_LOG_LEVEL, else `fallback`; an unknown level is a usage error, not a crash.
 */
export function commandLogger(
  service: string,
  flag: unknown,
  env: NodeJS.ProcessEnv,
  fallback = 'info',
): Logger {
  const level = (flag as string | undefined) ?? env.PAIRLINK_LOG_LEVEL ?? fallback;
  if (!LEVELS.includes(level))
    throw new UsageError(`unknown log level "${level}" (one of ${LEVELS.join(', ')})`);
  return pino({ level, base: { service }, redact: ['req.headers.authorization'] });
}
