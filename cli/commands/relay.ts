import { DEFAULT_LIMITS, type RelayLimits } from '../../relay/server/limits.js';
import { startRelay } from '../../relay/server/relay-server.js';
import type { Command } from '../command.js';
import { loadConfigFile } from '../config-file.js';
import { commandLogger } from '../logger.js';
import { UsageError } from '../output.js';
import { untilSignalled } from '../signals.js';

/** `pairlink relay`: runs the relay in the foreground until SIGTERM/SIGINT. */
export const relayCommand: Command = {
  summary: [
    'Run a relay: the untrusted mailbox bus agents pair through (HTTP + WebSocket).',
    '',
    'Options:',
    '  --config <file>      JSON config (see config.example.json; section "relay")',
    '  --host <addr>        listen address (default 127.0.0.1; env PAIRLINK_RELAY_HOST)',
    '  --port <n>           listen port, 0 for any free port (default 7457; env PAIRLINK_RELAY_PORT)',
    '  --redis <url>        share state with other relay instances through Redis (env PAIRLINK_RELAY_REDIS;',
    '                       prefer the environment variable when the URL holds a password)',
    '  --trust-proxy        take client addresses from X-Forwarded-For: only behind your own proxy, with this',
    '                       port reachable by that proxy alone (listen on loopback); see docs/RELAY.md',
    '  --trust-proxy-hops <n>  the proxies in front of the relay (default 1; a CDN and nginx: 2): the',
    '                       client is the nth X-Forwarded-For entry from the right (implies --trust-proxy)',
    '  --tls-cert <file>    serve https/wss with this PEM certificate (chain) (env PAIRLINK_RELAY_TLS_CERT)',
    '  --tls-key <file>     and this PEM key (env PAIRLINK_RELAY_TLS_KEY); both are read again on SIGHUP',
    '                       and when either file changes, without dropping open connections',
    '  --log-level <level>  fatal, error, warn, info (default), debug (env PAIRLINK_LOG_LEVEL)',
    '',
    'Precedence: flags, then environment, then the config file, then defaults.',
    '',
    'Limits: env PAIRLINK_RELAY_LIMITS takes a JSON object overriding any of:',
    `  ${Object.keys(DEFAULT_LIMITS).join(', ')}`,
    '  (see docs/RELAY.md for defaults), e.g. PAIRLINK_RELAY_LIMITS=\'{"ipRatePerSecond":200}\'.',
    '',
    'Logs are JSON lines on stdout and never contain capabilities or message bodies.',
    'Health: GET /healthz, /readyz; metrics: GET /metrics (Prometheus text).',
  ].join('\n'),
  usage:
    'pairlink relay [--config FILE] [--host 127.0.0.1] [--port 7457] [--redis redis://…] [--trust-proxy] [--trust-proxy-hops N] [--tls-cert FILE --tls-key FILE] [--log-level info]',
  options: {
    config: { type: 'string' },
    host: { type: 'string' },
    port: { type: 'string' },
    redis: { type: 'string' },
    'trust-proxy': { type: 'boolean' },
    'trust-proxy-hops': { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'log-level': { type: 'string' },
  },
  allowPositionals: false,
  async run({ values }) {
    const env = process.env;
    const config = loadConfigFile(values.config as string | undefined).relay;
    const portText = (values.port as string | undefined) ?? env.PAIRLINK_RELAY_PORT ?? String(config.port);
    const port = Number(portText);
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new UsageError(`--port must be 0 to 65535, not "${portText}"`);
    const hopsText = values['trust-proxy-hops'] as string | undefined;
    const hops = hopsText === undefined ? config.trustProxyHops : Number(hopsText);
    if (!Number.isInteger(hops) || hops < 1 || hops > 16)
      throw new UsageError(`--trust-proxy-hops must be 1 to 16, not "${hopsText}"`);
    const certFile =
      (values['tls-cert'] as string | undefined) ?? env.PAIRLINK_RELAY_TLS_CERT ?? config.tlsCert;
    const keyFile = (values['tls-key'] as string | undefined) ?? env.PAIRLINK_RELAY_TLS_KEY ?? config.tlsKey;
    if (!certFile !== !keyFile) throw new UsageError('--tls-cert and --tls-key go together');
    const logger = commandLogger('pairlink-relay', values['log-level'], env);
    const limits = parseLimits(env.PAIRLINK_RELAY_LIMITS);
    const relay = await startRelay({
      limits,
      host: (values.host as string | undefined) ?? env.PAIRLINK_RELAY_HOST ?? config.host,
      port,
      redisUrl: (values.redis as string | undefined) ?? env.PAIRLINK_RELAY_REDIS ?? config.redis ?? undefined,
      trustProxy: Boolean(values['trust-proxy']) || hopsText !== undefined || config.trustProxy,
      trustProxyHops: hops,
      tls: certFile && keyFile ? { certFile, keyFile } : undefined,
      logger,
    });
    // SIGHUP: read the certificate again (a renewal's deploy hook sends it).
    const reload = () => relay.reloadTls();
    process.on('SIGHUP', reload);
    await untilSignalled();
    process.off('SIGHUP', reload);
    await relay.close();
    return 0;
  },
};

/** Parses PAIRLINK_RELAY_LIMITS: known keys only, each a positive number. */
function parseLimits(text: string | undefined): Partial<RelayLimits> {
  if (!text) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UsageError('PAIRLINK_RELAY_LIMITS is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new UsageError('PAIRLINK_RELAY_LIMITS must be a JSON object');
  const limits: Record<string, number> = {};
  for (const [key, limit] of Object.entries(value)) {
    if (!(key in DEFAULT_LIMITS)) throw new UsageError(`PAIRLINK_RELAY_LIMITS: unknown limit "${key}"`);
    if (typeof limit !== 'number' || !(limit > 0))
      throw new UsageError(`PAIRLINK_RELAY_LIMITS: ${key} must be a positive number`);
    limits[key] = limit;
  }
  return limits as Partial<RelayLimits>;
}
