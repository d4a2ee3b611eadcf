import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { PairlinkError } from '../../src/errors.js';

const ids = z
  .array(z.string().regex(/^\d{1,20}$/))
  .max(1000)
  .default([]);
const allowlist = z.object({ userIds: ids, roleIds: ids }).strict();

export const DISCORD_CONFIG_SCHEMA = z
  .object({
    /** The bot token's environment variable (default DISCORD_TOKEN) or a file holding it. */
    tokenEnv: z.string().default('DISCORD_TOKEN'),
    tokenFile: z.string().optional(),
    /** Discord's REST base; the gateway URL comes from its GET /gateway/bot. */
    apiUrl: z.string().url().default('https://discord.com/api'),
    /** The agent's socket (default: the agent's own default). */
    agentSocket: z.string().optional(),
    /** Where the bot keeps its posted invites (default: `discord-bot` in the agent's home). */
    stateDir: z.string().min(1).optional(),
    /** Post invites ephemerally (only the minter sees them) unless `private:false` is given. */
    privateInvites: z.boolean().default(false),
    /** Who may use each command besides members with Manage Server. */
    allow: z
      .object({
        invite: allowlist,
        accept: allowlist,
        invites: allowlist,
        cancel: allowlist,
        peers: allowlist,
      })
      .partial()
      .strict()
      .default({}),
    /** Loopback port of /healthz (0: none). */
    healthPort: z.number().int().min(0).max(65535).default(0),
  })
  .strict();

export type DiscordConfig = z.infer<typeof DISCORD_CONFIG_SCHEMA>;

/** Reads and validates a config file; the token is never in it. */
export function loadDiscordConfig(path: string | undefined): DiscordConfig {
  let raw: unknown = {};
  if (path) {
    try {
      raw = JSON.parse(readFileSync(path, 'utf8'));
    } catch (error) {
      throw new PairlinkError('INVALID_PARAMS', `${path}: ${(error as Error).message}`);
    }
    if (raw && typeof raw === 'object' && 'discord' in raw) raw = (raw as { discord: unknown }).discord;
  }
  const parsed = DISCORD_CONFIG_SCHEMA.safeParse(raw);
  if (!parsed.success) {
    throw new PairlinkError(
      'INVALID_PARAMS',
      `discord config: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`).join('; ')}`,
    );
  }
  return parsed.data;
}

/** The bot token from the file or the environment variable; a clear error if neither holds one. */
export function discordToken(config: DiscordConfig, env: NodeJS.ProcessEnv): string {
  const token = config.tokenFile
    ? readFileSync(config.tokenFile, 'utf8').trim()
    : env[config.tokenEnv]?.trim();
  if (!token) {
    throw new PairlinkError(
      'INVALID_PARAMS',
      `no Discord bot token: set ${config.tokenEnv} or tokenFile in the config (never put the token in the config itself)`,
    );
  }
  return token;
}
