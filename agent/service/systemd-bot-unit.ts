import { execLine, systemSandbox } from './systemd-sandbox.js';
import { SERVICE_GROUP, UNIT_NAME } from './systemd-unit.js';

export type BotPlatform = 'discord' | 'matrix';

/** What a bot service runs. */
export interface BotServiceSpec {
  readonly node: string;
  readonly bin: string;
  readonly platform: BotPlatform;
  /** The bot's config file: loaded as the credential `<platform>-config`. */
  readonly configFile: string;
  /** The file holding the bot's token (the config's tokenFile): the credential `<platform>-token`. */
  readonly tokenFile: string;
}

export const botUnitName = (platform: BotPlatform) => `pairlink-${platform}-bot.service`;

/**
 * The systemd system unit for a chat bot: started after the agent's unit (and wanting it), run as
 * a dynamic user in the `pairlink` group so it reaches the system agent's socket, and nothing else
 * of the agent's. Its config and token come as systemd credentials (LoadCredential: copied at
 * start into a directory only the service can read), so neither is in the unit, and the files may
 * stay root's 0600; `pairlink bot` takes `$CREDENTIALS_DIRECTORY/<platform>-token` as its token.
 * Its own state (posted invites, the Matrix sync token) is in its StateDirectory.
 */
export function botUnit(spec: BotServiceSpec): string {
  const name = `pairlink-${spec.platform}`;
  const exec = execLine(spec.node, spec.bin, [
    'bot',
    spec.platform,
    '--config',
    `%d/${spec.platform}-config`,
  ]);
  return [
    '[Unit]',
    `Description=pairlink ${spec.platform === 'discord' ? 'Discord' : 'Matrix'} bot (invites and accepts through the system agent)`,
    `After=${UNIT_NAME} network-online.target`,
    `Wants=${UNIT_NAME} network-online.target`,
    '',
    '[Service]',
    'Type=exec',
    `ExecStart=${exec}`,
    'DynamicUser=yes',
    `SupplementaryGroups=${SERVICE_GROUP}`,
    `LoadCredential=${spec.platform}-config:${spec.configFile}`,
    `LoadCredential=${spec.platform}-token:${spec.tokenFile}`,
    'Environment=PAIRLINK_SOCKET=/run/pairlink/agent.sock',
    `Environment=PAIRLINK_HOME=%S/${name}`,
    // A dynamic user may have no passwd entry to read a home from (no nss-systemd): Node's
    // os.homedir() then throws, so the bot gets one.
    `Environment=HOME=%S/${name}`,
    `StateDirectory=${name}`,
    'StateDirectoryMode=0700',
    'UMask=0077',
    'Restart=on-failure',
    'RestartSec=5',
    'TimeoutStopSec=20',
    ...systemSandbox(),
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}
