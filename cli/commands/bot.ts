import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { resolveAgentPaths } from '../../io/agent-paths.js';
import type { Command } from '../command.js';
import { commandLogger } from '../logger.js';
import { printJson, UsageError } from '../output.js';

export const botCommand: Command = {
  summary: [
    'Run a chat bot that mints invites into channels and rooms and relays accepts to this machine’s agent.',
    '',
    '  pairlink bot discord [--config FILE] [--register [--guild ID]] [--log-level L]',
    '  pairlink bot matrix --config FILE [--log-level L]',
    '',
    'Options:',
    '  --config FILE    JSON config: the whole file, or its "discord" / "matrix" section (so the',
    "                   file `pairlink agent --config` reads can hold the bots' settings too).",
    '                   Discord (see bots/discord/config.example.json): tokenEnv (default',
    '                   DISCORD_TOKEN) or tokenFile, apiUrl (default https://discord.com/api),',
    '                   agentSocket, stateDir (default: discord-bot in the agent’s home; holds the',
    '                   posted invites so a restarted bot still edits them), privateInvites,',
    '                   allow.{invite,accept,invites,cancel,peers}.{userIds,roleIds},',
    '                   healthPort (loopback /healthz; 0 = off).',
    '                   Matrix (see bots/matrix/config.example.json): homeserverUrl and userId',
    '                   (required), tokenEnv (default MATRIX_ACCESS_TOKEN) or tokenFile, stateDir',
    '                   (default: matrix-bot in the agent’s home; sync token and posted invites),',
    '                   agentSocket, prefix (default !pair), powerLevel (default 50),',
    '                   allow.{invite,accept,invites,cancel,peers}.userIds,',
    '                   joinFrom.{userIds,servers} (whose room invitations it accepts; default',
    '                   none), healthPort.',
    '  --register       Discord: deploy the slash commands, then exit',
    '  --guild ID       with --register: to one server (instant) instead of globally (up to an hour)',
    '  --log-level L    fatal, error, warn, info (default), debug, trace, silent',
    '',
    'The token is read from the environment variable or file named in the config, never from the',
    'config itself. Without allowlists only moderators may use the commands (Discord: Manage',
    'Server; Matrix: the power level). The Matrix bot does not support encrypted rooms.',
    'SIGTERM or SIGINT stops a bot gracefully. Setting a bot up from nothing (the Discord',
    'application, install link and ids; the Matrix account, token and display name): docs/BOTS.md.',
  ].join('\n'),
  usage:
    'pairlink bot discord [--config FILE] [--register [--guild ID]] [--log-level L] [--json] | pairlink bot matrix --config FILE [--log-level L]',
  options: {
    config: { type: 'string' },
    register: { type: 'boolean' },
    guild: { type: 'string' },
    'log-level': { type: 'string' },
  },
  allowPositionals: true,
  async run({ values, positionals, io }) {
    const platform = positionals[0];
    if (positionals.length !== 1 || (platform !== 'discord' && platform !== 'matrix'))
      throw new UsageError('bot takes a platform: discord or matrix');
    if (values.guild && !values.register) throw new UsageError('--guild goes with --register');
    if (values.guild && !/^\d{1,20}$/.test(values.guild as string))
      throw new UsageError('--guild is a server id');
    if (platform === 'matrix' && values.register)
      throw new UsageError('--register is for Discord (Matrix bots have no commands to register)');
    if (platform === 'matrix' && !values.config)
      throw new UsageError('the Matrix bot needs --config FILE (homeserverUrl and userId at least)');
    const logger = commandLogger(`pairlink-${platform}`, values['log-level'], process.env);
    const agentPaths = resolveAgentPaths(process.env);
    let bot: { start(): Promise<void>; stop(): Promise<void> };
    if (platform === 'matrix') {
      const { loadMatrixConfig, matrixToken } = await import('../../bots/matrix/config.js');
      (await import('../../bots/matrix/crypto-stand-in.js')).useCryptoStandIn();
      const { MatrixBot } = await import('../../bots/matrix/bot.js');
      const config = withCredentialToken(loadMatrixConfig(values.config as string), 'matrix');
      bot = new MatrixBot(
        config,
        matrixToken(config, process.env),
        {
          agentSocket: config.agentSocket ?? agentPaths.socket,
          stateDir: config.stateDir ?? join(agentPaths.home, 'matrix-bot'),
        },
        logger,
      );
      await bot.start();
    } else {
      const { loadDiscordConfig, discordToken } = await import('../../bots/discord/config.js');
      const { DiscordBot } = await import('../../bots/discord/bot.js');
      const config = withCredentialToken(loadDiscordConfig(values.config as string | undefined), 'discord');
      const discord = new DiscordBot(
        config,
        discordToken(config, process.env),
        {
          agentSocket: config.agentSocket ?? agentPaths.socket,
          stateDir: config.stateDir ?? join(agentPaths.home, 'discord-bot'),
        },
        logger,
      );
      bot = discord;
      if (values.register) {
        const count = await discord.registerOnly(values.guild as string | undefined);
        if (values.json) printJson(io, { registered: count, scope: values.guild ? 'guild' : 'global' });
        else
          io.out(`Registered ${count} commands ${values.guild ? `in server ${values.guild}` : 'globally'}.`);
        return 0;
      }
      await discord.start();
    }
    await new Promise<void>((resolve) => {
      process.once('SIGTERM', resolve);
      process.once('SIGINT', resolve);
    });
    logger.info(`${platform} bot shutting down`);
    await bot.stop();
    return 0;
  },
};

/**
 * Under systemd (`pairlink service install --bot`), the token comes as the credential
 * `<platform>-token` (LoadCredential): it stands in for the config's tokenFile, which names the
 * admin's own copy, out of the service's reach.
 */
function withCredentialToken<C extends { tokenFile?: string | undefined }>(config: C, platform: string): C {
  const dir = process.env.CREDENTIALS_DIRECTORY;
  const credential = dir ? join(dir, `${platform}-token`) : undefined;
  return credential && existsSync(credential) ? { ...config, tokenFile: credential } : config;
}
