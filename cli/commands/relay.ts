import { pino } from 'pino';
import { startRelay } from '../../relay/relay-server.js';
import { DEFAULT_RELAY_URL } from '../../src/config/schema.js';
import type { Command } from '../main.js';
import { UsageError } from '../output.js';

const DEFAULT_PORT = Number(new URL(DEFAULT_RELAY_URL).port);

/** `pairlink relay`: runs the relay in the foreground until SIGTERM/SIGINT. */
export const relayCommand: Command = {
  summary: [
    'Run a relay: the untrusted mailbox bus agents pair through (HTTP + WebSocket).',
    '',
    'Options:',
    `  --host <addr>        listen address (default 127.0.0.1; env PAIRLINK_RELAY_HOST)`,
    `  --port <n>           listen port, 0 for any free port (default ${DEFAULT_PORT}; env PAIRLINK_RELAY_PORT)`,
    '  --redis <url>        share state with other relay instances through Redis (env PAIRLINK_RELAY_REDIS;',
    '                       prefer the environment variable when the URL holds a password)',
    '  --trust-proxy        take client addresses from X-Forwarded-For (only behind your own load balancer)',
    '  --log-level <level>  fatal, error, warn, info (default), debug (env PAIRLINK_LOG_LEVEL)',
    '',
    'Logs are JSON lines on stdout and never contain capabilities or message bodies.',
    'Health: GET /healthz, /readyz; metrics: GET /metrics (Prometheus text).',
  ].join('\n'),
  usage:
    'pairlink relay [--host 127.0.0.1] [--port 7457] [--redis redis://…] [--trust-proxy] [--log-level info]',
  options: {
    host: { type: 'string' },
    port: { type: 'string' },
    redis: { type: 'string' },
    'trust-proxy': { type: 'boolean' },
    'log-level': { type: 'string' },
  },
  allowPositionals: false,
  async run({ values }) {
    const env = process.env;
    const portText = (values.port as string | undefined) ?? env.PAIRLINK_RELAY_PORT ?? String(DEFAULT_PORT);
    const port = Number(portText);
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new UsageError(`--port must be 0 to 65535, not "${portText}"`);
    const level = (values['log-level'] as string | undefined) ?? env.PAIRLINK_LOG_LEVEL ?? 'info';
    if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(level))
      throw new UsageError(`unknown log level "${level}"`);
    const logger = pino({
      level,
      base: { service: 'pairlink-relay' },
      redact: ['req.headers.authorization'],
    });
    const relay = await startRelay({
      host: (values.host as string | undefined) ?? env.PAIRLINK_RELAY_HOST ?? '127.0.0.1',
      port,
      redisUrl: (values.redis as string | undefined) ?? env.PAIRLINK_RELAY_REDIS,
      trustProxy: Boolean(values['trust-proxy']),
      logger,
    });
    await new Promise<void>((resolve) => {
      const stop = () => {
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
        resolve();
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    });
    await relay.close();
    return 0;
  },
};
