import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { CONFIG_SCHEMA } from '../../src/config/schema.js';
import { PairlinkError } from '../../src/errors.js';
import { BOT_ACTIONS } from './policy.js';

/** At most this many bytes of config file are read. */
const MAX_CONFIG_BYTES = 256 * 1024;

/**
 * Both bots' `allow`: for each command, who may use it besides the chat's moderators, as the
 * chat names people (`entry`: Discord user and role ids; Matrix user ids). Unknown commands and
 * keys are refused; a command left out is for moderators only.
 */
export function allowlistsSchema<E extends z.ZodType>(entry: E) {
  const shape = Object.fromEntries(BOT_ACTIONS.map((action) => [action, entry])) as Record<
    (typeof BOT_ACTIONS)[number],
    E
  >;
  return z.object(shape).partial().strict().default({});
}

/**
 * Reads a bot's JSON config (the whole file, or its `key` section such as "discord" of the file
 * the agent and relay read too) and validates it with `schema`; every problem is reported at
 * once, with its path.
 */
export function loadBotConfig<S extends z.ZodType>(
  path: string | undefined,
  key: string,
  schema: S,
): z.infer<S> {
  let raw: unknown = {};
  if (path) {
    try {
      const text = readFileSync(path);
      if (text.length > MAX_CONFIG_BYTES) throw new Error(`over ${MAX_CONFIG_BYTES} bytes`);
      raw = JSON.parse(text.toString('utf8'));
    } catch (error) {
      throw new PairlinkError('INVALID_PARAMS', `${path}: ${(error as Error).message}`);
    }
    if (raw && typeof raw === 'object' && key in raw) raw = (raw as Record<string, unknown>)[key];
    else if (raw && typeof raw === 'object' && Object.keys(raw).some((k) => k in CONFIG_SCHEMA.shape))
      // The shared file of the agent, the relay and the bots, without this bot's section.
      throw new PairlinkError('INVALID_PARAMS', `${path} has no "${key}" section`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new PairlinkError(
      'INVALID_PARAMS',
      `${key} config: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`).join('; ')}`,
    );
  }
  return parsed.data;
}

/** A bot's secret from the file or the environment variable; a clear error if neither holds one. */
export function botSecret(
  source: { readonly tokenEnv: string; readonly tokenFile?: string | undefined },
  env: NodeJS.ProcessEnv,
  what: string,
): string {
  let token: string | undefined;
  if (source.tokenFile) {
    try {
      token = readFileSync(source.tokenFile, 'utf8').trim();
    } catch (error) {
      throw new PairlinkError('INVALID_PARAMS', `${what}: ${(error as Error).message}`);
    }
  } else token = env[source.tokenEnv]?.trim();
  if (!token) {
    throw new PairlinkError(
      'INVALID_PARAMS',
      `no ${what}: set ${source.tokenEnv} or tokenFile in the config (never put the token in the config itself)`,
    );
  }
  return token;
}
