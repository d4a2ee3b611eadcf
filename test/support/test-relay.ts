import { pino } from 'pino';
import type { RelayLimits } from '../../relay/server/limits.js';
import { type RunningRelay, startRelay } from '../../relay/server/relay-server.js';
import type { RedisServer } from './redis-server.js';

const silent = pino({ level: 'silent' });
let prefixCounter = 0;

export interface TestRelayOptions {
  /** Limits over the test defaults (per-IP rate limits high enough never to decide a test). */
  readonly limits?: Partial<RelayLimits>;
  /** Trust X-Forwarded-For (tests of the rate limits per client address). */
  readonly trustProxy?: boolean;
  /** The Redis key prefix; by default one of its own, so relays of one file never share keys. */
  readonly prefix?: string;
}

/**
 * An in-process relay on loopback for the relay API tests, on either store: `redis` is the real
 * redis-server of the test file (required for the Redis store).
 */
export function startTestRelay(
  backend: 'memory' | 'redis',
  redis: RedisServer | undefined,
  options: TestRelayOptions = {},
): Promise<RunningRelay> {
  if (backend === 'redis' && !redis) throw new Error('a Redis relay needs the test file’s redis-server');
  return startRelay({
    host: '127.0.0.1',
    port: 0,
    trustProxy: options.trustProxy ?? false,
    logger: silent,
    limits: { ipBurst: 100_000, ipRatePerSecond: 100_000, ...options.limits },
    ...(backend === 'redis' && redis
      ? { redisUrl: redis.url, redisPrefix: options.prefix ?? `t${process.pid}-${prefixCounter++}:` }
      : {}),
  });
}
