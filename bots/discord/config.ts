import { z } from 'zod';
import { allowlistsSchema, botSecret, loadBotConfig } from '../core/config.js';

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
    allow: allowlistsSchema(allowlist),
    /** Loopback port of /healthz (0: none). */
    healthPort: z.number().int().min(0).max(65535).default(0),
  })
  .strict();

export type DiscordConfig = z.infer<typeof DISCORD_CONFIG_SCHEMA>;

/** Reads and validates a config file (or its "discord" section); the token is never in it. */
export function loadDiscordConfig(path: string | undefined): DiscordConfig {
  return loadBotConfig(path, 'discord', DISCORD_CONFIG_SCHEMA);
}

/** The bot token from the file or the environment variable; a clear error if neither holds one. */
export function discordToken(config: DiscordConfig, env: NodeJS.ProcessEnv): string {
  return botSecret(config, env, 'Discord bot token');
}
