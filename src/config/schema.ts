import { z } from 'zod';
import { PairlinkError } from '../errors.js';
import { DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS } from '../invite/invite-policy.js';

/** The relay address an agent uses when nothing else is configured: the embedded local relay. */
export const DEFAULT_RELAY_URL = 'http://127.0.0.1:7457';

/**
 * The one configuration schema: types, defaults and validation in one place. `config.example.json`
 * is this schema's defaults, checked by a test so it cannot drift. Secrets never appear here
 * inline: settings that need one name a file or an environment variable instead.
 */
export const CONFIG_SCHEMA = z
  .object({
    relay: z
      .object({
        /** Relay the agent talks to and puts into its invites. */
        url: z.string().url().default(DEFAULT_RELAY_URL),
        /** Where `pairlink relay` listens. Loopback by default: put a TLS proxy in front for the Internet. */
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(7457),
        /** Redis URL to share relay state between instances; in memory when null. A URL with a
         * password belongs in PAIRLINK_RELAY_REDIS, not in this file. */
        redis: z.string().startsWith('redis').nullable().default(null),
        /** Take client addresses from X-Forwarded-For (only behind your own proxy). */
        trustProxy: z.boolean().default(false),
        /** With trustProxy: how many proxies stand in front of the relay (a CDN and nginx: 2). */
        trustProxyHops: z.number().int().min(1).max(16).default(1),
        /** PEM certificate (chain) and key files: the relay serves https and wss itself. */
        tlsCert: z.string().min(1).nullable().default(null),
        tlsKey: z.string().min(1).nullable().default(null),
      })
      .strict()
      .prefault({}),
    agent: z
      .object({
        /** Display name in this agent's card; the host name when unset. */
        name: z.string().min(1).max(64).nullable().default(null),
        /** `auto` tries the OS keychain, then the encrypted file keystore. */
        keystore: z.enum(['auto', 'keychain', 'file']).default('auto'),
        /** File holding the file keystore's passphrase (0600). */
        passphraseFile: z.string().min(1).nullable().default(null),
        /**
         * Relays an invite may name (origins like `https://relay.example.org`, or hosts like
         * `*.example.org`); empty: any that the relay-URL policy allows (docs/SECURITY.md).
         */
        allowRelays: z.array(z.string().min(1).max(256)).max(256).default([]),
        /** Relays an invite may never name (same forms); wins over allowRelays. */
        denyRelays: z.array(z.string().min(1).max(256)).max(256).default([]),
        /** Plain http to relays other than loopback (a LAN trial only: nothing is encrypted in transit). */
        allowInsecureRelays: z.boolean().default(false),
        /** A PEM file of CAs trusted for https relays besides Node's own (a relay with a private CA). */
        caFile: z.string().min(1).nullable().default(null),
      })
      .strict()
      .prefault({}),
    invites: z
      .object({
        format: z.enum(['url', 'code']).default('url'),
        urlTtlSeconds: z.number().int().min(30).max(MAX_TTL_SECONDS.url).default(DEFAULT_TTL_SECONDS.url),
        codeTtlSeconds: z.number().int().min(30).max(MAX_TTL_SECONDS.code).default(DEFAULT_TTL_SECONDS.code),
      })
      .strict()
      .prefault({}),
    /**
     * The bots' sections, so that one file serves the agent, the relay and the bots. Each is read
     * and checked, unknown keys included, by the bot it belongs to (`pairlink bot discord|matrix
     * --config`, bots/discord/config.ts and bots/matrix/config.ts); the agent and relay skip them.
     */
    discord: z.record(z.string(), z.unknown()).optional(),
    matrix: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

export type PairlinkConfig = z.infer<typeof CONFIG_SCHEMA>;

/** The configuration with every default applied. */
export function defaultConfig(): PairlinkConfig {
  return CONFIG_SCHEMA.parse({});
}

/**
 * Validates parsed config JSON; the error lists every problem with its path, so a typo is
 * reported at once rather than silently ignored.
 */
export function parseConfig(value: unknown, source: string): PairlinkConfig {
  const result = CONFIG_SCHEMA.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map(
    (issue) => `${issue.path.join('.') || '(top level)'}: ${issue.message}`,
  );
  throw new PairlinkError('INVALID_PARAMS', `${source}: ${problems.join('; ')}`);
}
