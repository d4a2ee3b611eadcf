import { hostname } from 'node:os';
import { pino } from 'pino';
import { Agent } from '../../agent/agent.js';
import { type KeystoreChoice, openKeystore } from '../../agent/keystore/open-keystore.js';
import { resolveAgentPaths } from '../../agent/paths.js';
import { claimSocketPath, RpcSocketServer } from '../../agent/rpc-server.js';
import { ensurePrivateDir } from '../../agent/secure-files.js';
import { checkDisplayName, checkRelayUrl } from '../../src/identity/card.js';
import { loadConfigFile } from '../config-file.js';
import type { Command } from '../main.js';
import { UsageError } from '../output.js';

/** `pairlink agent`: the daemon, in the foreground (the service runs exactly this). */
export const agentCommand: Command = {
  summary: [
    'Run the pairlink agent in the foreground: identity, keystore, pairing over the relay, and',
    'JSON-RPC 2.0 on a local socket for the CLI, scripts and bots.',
    '',
    'Options:',
    '  --config <file>   JSON config (see config.example.json)',
    "  --name <name>     display name in this agent's card (env PAIRLINK_NAME; default: host name)",
    '  --relay <url>     relay URL (env PAIRLINK_RELAY; default http://127.0.0.1:7457)',
    '  --log-level <l>   fatal, error, warn, info (default), debug (env PAIRLINK_LOG_LEVEL)',
    '',
    'Environment: PAIRLINK_HOME (state directory), PAIRLINK_SOCKET (socket path),',
    'PAIRLINK_KEYSTORE=keychain|file, PAIRLINK_PASSPHRASE or PAIRLINK_PASSPHRASE_FILE (file keystore),',
    '$CREDENTIALS_DIRECTORY/pairlink-passphrase (systemd LoadCredential).',
  ].join('\n'),
  usage: 'pairlink agent [--config FILE] [--name NAME] [--relay URL] [--log-level info]',
  options: {
    config: { type: 'string' },
    name: { type: 'string' },
    relay: { type: 'string' },
    'log-level': { type: 'string' },
  },
  allowPositionals: false,
  async run({ values }) {
    const env = process.env;
    const config = loadConfigFile(values.config as string | undefined);
    const level = (values['log-level'] as string | undefined) ?? env.PAIRLINK_LOG_LEVEL ?? 'info';
    const logger = pino({ level, base: { service: 'pairlink-agent' } });
    const paths = resolveAgentPaths(env);
    const name = checkDisplayName(
      (values.name as string | undefined) ??
        env.PAIRLINK_NAME ??
        config.agent.name ??
        hostname().slice(0, 64),
    );
    const relayUrl = checkRelayUrl(
      (values.relay as string | undefined) ?? env.PAIRLINK_RELAY ?? config.relay.url,
    );
    const choice = (env.PAIRLINK_KEYSTORE ?? config.agent.keystore) as KeystoreChoice;
    if (!['auto', 'keychain', 'file'].includes(choice))
      throw new UsageError('PAIRLINK_KEYSTORE must be keychain or file');
    // Claim the socket before touching any state: a second agent must not read or write the
    // first one's files.
    await claimSocketPath(paths.socket);
    await ensurePrivateDir(paths.home);
    const { store, note } = await openKeystore({
      choice,
      home: paths.home,
      keystoreFile: paths.keystoreFile,
      env,
      passphraseFile: config.agent.passphraseFile,
    });
    if (note) logger.warn(note);
    const agent = await Agent.start({ stateFile: paths.stateFile, keystore: store, relayUrl, name, logger });
    let server: RpcSocketServer;
    try {
      server = await RpcSocketServer.listen(agent, paths.socket, logger);
    } catch (error) {
      await agent.stop();
      throw error;
    }
    logger.info(
      { did: agent.did, socket: paths.socket, relay: relayUrl, keystore: store.kind },
      'agent ready',
    );
    await new Promise<void>((resolve) => {
      const stop = () => {
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
        resolve();
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    });
    logger.info('agent shutting down');
    await server.close();
    await agent.stop();
    logger.info('agent stopped');
    return 0;
  },
};
