import { hostname } from 'node:os';
import type { KeystoreChoice } from '../../agent/keystore/open-keystore.js';
import { resolveAgentPaths } from '../../io/agent-paths.js';
import { checkDisplayName, checkRelayUrl } from '../../src/identity/card.js';
import { startAgentRuntime } from '../agent-runtime.js';
import type { Command } from '../command.js';
import { loadConfigFile } from '../config-file.js';
import { commandLogger } from '../logger.js';
import { UsageError } from '../output.js';
import { relayCaFrom } from '../relay-ca.js';
import { relaySettingsFrom } from '../relay-settings.js';
import { untilSignalled } from '../signals.js';

/** `pairlink agent`: the daemon, in the foreground (the service runs exactly this). */
export const agentCommand: Command = {
  summary: [
    'Run the pairlink agent in the foreground: identity, keystore, pairing over the relay, and',
    'JSON-RPC 2.0 on a local socket for the CLI, scripts and bots.',
    '',
    'Options:',
    '  --config <file>   JSON config (see config.example.json); the bots may share it (sections',
    '                    "discord" and "matrix", read by `pairlink bot`)',
    "  --name <name>     display name in this agent's card (env PAIRLINK_NAME; default: host name)",
    '  --relay <url>     relay URL (env PAIRLINK_RELAY; default http://127.0.0.1:7457)',
    '  --log-level <l>   fatal, error, warn, info (default), debug (env PAIRLINK_LOG_LEVEL)',
    '  --log-format <f>  pretty (default in a terminal) or json (default otherwise; env PAIRLINK_LOG_FORMAT)',
    '  --new-identity    start as a new identity when the home holds an earlier one the keystore has',
    '                    not (its state moves to replaced-<time> in the home; env PAIRLINK_NEW_IDENTITY=1)',
    '',
    'Environment: PAIRLINK_HOME (state directory), PAIRLINK_SOCKET (socket path),',
    'PAIRLINK_KEYSTORE=keychain|file, PAIRLINK_PASSPHRASE or PAIRLINK_PASSPHRASE_FILE (file keystore),',
    '$CREDENTIALS_DIRECTORY/pairlink-passphrase (systemd LoadCredential), PAIRLINK_ALLOW_RELAYS and',
    'PAIRLINK_DENY_RELAYS (comma-separated origins or hosts), PAIRLINK_ALLOW_INSECURE_RELAYS=1 (plain',
    'http to LAN relays): which relays an invite may name (docs/SECURITY.md). PAIRLINK_CA_FILE (config',
    "agent.caFile): a PEM file of CAs trusted for https relays besides Node's own (a private CA).",
  ].join('\n'),
  usage:
    'pairlink agent [--config FILE] [--name NAME] [--relay URL] [--log-level info] [--log-format json] [--new-identity]',
  options: {
    config: { type: 'string' },
    name: { type: 'string' },
    relay: { type: 'string' },
    'log-level': { type: 'string' },
    'log-format': { type: 'string' },
    'new-identity': { type: 'boolean' },
  },
  allowPositionals: false,
  async run({ values }) {
    const env = process.env;
    const config = loadConfigFile(values.config as string | undefined);
    const logger = commandLogger('pairlink-agent', values['log-level'], env, 'info', values['log-format']);
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
    if (![undefined, '', '0', '1'].includes(env.PAIRLINK_NEW_IDENTITY))
      throw new UsageError('PAIRLINK_NEW_IDENTITY is 1 (start fresh) or 0');
    const runtime = await startAgentRuntime({
      paths,
      keystore: choice,
      passphraseFile: config.agent.passphraseFile,
      relayUrl,
      name,
      env,
      logger,
      inviteDefaults: config.invites,
      relaySettings: relaySettingsFrom(config, env),
      newIdentity: Boolean(values['new-identity']) || env.PAIRLINK_NEW_IDENTITY === '1',
      relayCa: relayCaFrom(config, env),
    });
    await untilSignalled();
    await runtime.close();
    return 0;
  },
};
