import { join } from 'node:path';
import { resolveAgentPaths } from '../../agent/paths.js';
import { commandLogger } from '../logger.js';
import type { Command } from '../main.js';
import { printJson, UsageError } from '../output.js';

export const botCommand: Command = {
  summary: [
    'Run a chat bot that mints invites into channels and relays accepts to this machine’s agent.',
    '',
    '  pairlink bot discord [--config FILE] [--register [--guild ID]] [--log-level L]',
    '',
    'Options:',
    '  --config FILE    JSON config (see bots/discord/config.example.json): tokenEnv (default',
    '                   DISCORD_TOKEN) or tokenFile, apiUrl (default https://discord.com/api),',
    '                   agentSocket, stateDir (default: discord-bot in the agent’s home; holds the',
    '                   posted invites so a restarted bot still edits them), privateInvites,',
    '                   allow.{invite,accept,invites,cancel,peers}',
    '                   .{userIds,roleIds}, healthPort (loopback /healthz; 0 = off)',
    '  --register       deploy the slash commands, then exit',
    '  --guild ID       with --register: to one server (instant) instead of globally (up to an hour)',
    '  --log-level L    fatal, error, warn, info (default), debug, trace, silent',
    '',
    'The token is read from the environment variable or file named in the config, never from the',
    'config itself. Without allowlists only members with Manage Server may use the commands.',
  ].join('\n'),
  usage: 'pairlink bot discord [--config FILE] [--register [--guild ID]] [--log-level L] [--json]',
  options: {
    config: { type: 'string' },
    register: { type: 'boolean' },
    guild: { type: 'string' },
    'log-level': { type: 'string' },
  },
  allowPositionals: true,
  async run({ values, positionals, io }) {
    if (positionals.length !== 1 || positionals[0] !== 'discord') {
      throw new UsageError(
        positionals[0] === 'matrix' ? 'the Matrix bot is not built yet' : 'bot takes a platform: discord',
      );
    }
    if (values.guild && !values.register) throw new UsageError('--guild goes with --register');
    if (values.guild && !/^\d{1,20}$/.test(values.guild as string))
      throw new UsageError('--guild is a server id');
    const logger = commandLogger('pairlink-discord', values['log-level'], process.env);
    const { loadDiscordConfig, discordToken } = await import('../../bots/discord/config.js');
    const { DiscordBot } = await import('../../bots/discord/bot.js');
    const config = loadDiscordConfig(values.config as string | undefined);
    const agentPaths = resolveAgentPaths(process.env);
    const bot = new DiscordBot(
      config,
      discordToken(config, process.env),
      {
        agentSocket: config.agentSocket ?? agentPaths.socket,
        stateDir: config.stateDir ?? join(agentPaths.home, 'discord-bot'),
      },
      logger,
    );
    await bot.start();
    if (values.register) {
      const count = await bot.register(values.guild as string | undefined);
      await bot.stop();
      if (values.json) printJson(io, { registered: count, scope: values.guild ? 'guild' : 'global' });
      else io.out(`Registered ${count} commands ${values.guild ? `in server ${values.guild}` : 'globally'}.`);
      return 0;
    }
    await new Promise<void>((resolve) => {
      process.once('SIGTERM', resolve);
      process.once('SIGINT', resolve);
    });
    logger.info('discord bot shutting down');
    await bot.stop();
    return 0;
  },
};
