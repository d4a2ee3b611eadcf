import { z } from 'zod';
import { allowlistsSchema, botSecret, loadBotConfig } from '../core/config.js';

const userId = z
  .string()
  .regex(/^@[^\s:]{1,255}:[A-Za-z0-9.:[\]-]{1,255}$/, 'a Matrix user id like @name:server');
const serverName = z.string().regex(/^[A-Za-z0-9.:[\]-]{1,255}$/, 'a server name like example.org');
const users = z.array(userId).max(1000).default([]);
const allowlist = z.object({ userIds: users }).strict();

export const MATRIX_CONFIG_SCHEMA = z
  .object({
    /** The homeserver's client-server API base, e.g. https://matrix.example.org. */
    homeserverUrl: z.string().url(),
    /** The bot's account; checked against whoami at start. */
    userId,
    /** The access token's environment variable (default MATRIX_ACCESS_TOKEN) or a file holding it. */
    tokenEnv: z.string().default('MATRIX_ACCESS_TOKEN'),
    tokenFile: z.string().optional(),
    /** Where the bot keeps its sync token and posted invites (default: `matrix-bot` in the agent's home). */
    stateDir: z.string().min(1).optional(),
    /** The agent's socket (default: the agent's own default). */
    agentSocket: z.string().optional(),
    /** Commands start with this (the bot also answers when mentioned by its display name). */
    prefix: z
      .string()
      .regex(/^\S{1,32}$/, 'one word, at most 32 characters')
      .default('!pair'),
    /** The power level that may use every command (moderators by default). */
    powerLevel: z.number().int().min(0).max(1_000_000).default(50),
    /** Users below the power level who may use a command anyway. */
    allow: allowlistsSchema(allowlist),
    /** Whose room invitations the bot accepts; others are declined. Empty: none. */
    joinFrom: z
      .object({ userIds: users, servers: z.array(serverName).max(1000).default([]) })
      .strict()
      .default({
        userIds: [],
        servers: [],
      }),
    /**
     * True when the bot talks to the homeserver through an E2EE-aware proxy (pantalaimon) that
     * decrypts and encrypts for it: encrypted rooms are then rooms like any other. False (the
     * default): the bot posts nothing into an encrypted room but its one notice.
     */
    e2eeProxy: z.boolean().default(false),
    /** Loopback port of /healthz (0: none). */
    healthPort: z.number().int().min(0).max(65535).default(0),
  })
  .strict();

export type MatrixConfig = z.infer<typeof MATRIX_CONFIG_SCHEMA>;

/** Reads and validates a config file (or its "matrix" section); the token is never in it. */
export function loadMatrixConfig(path: string | undefined): MatrixConfig {
  return loadBotConfig(path, 'matrix', MATRIX_CONFIG_SCHEMA);
}

export function matrixToken(config: MatrixConfig, env: NodeJS.ProcessEnv): string {
  return botSecret(config, env, 'Matrix access token');
}
