/** What a generated service runs and how. */
export interface ServiceSpec {
  /** Absolute path of the node executable. */
  readonly node: string;
  /** Absolute path of the pairlink executable script. */
  readonly bin: string;
  readonly scope: 'user' | 'system';
  readonly relayUrl?: string | undefined;
  /** System services: a file systemd loads as the credential `pairlink-passphrase`. */
  readonly passphraseFile?: string | undefined;
}

export const UNIT_NAME = 'pairlink-agent.service';

/** Quotes one argument for an ExecStart= line (systemd's own quoting rules). */
function quote(arg: string): string {
  return /^[A-Za-z0-9_./:@%+=-]+$/.test(arg) ? arg : `"${arg.replace(/(["\\])/g, '\\$1')}"`;
}

/**
 * The systemd unit for the agent. State in StateDirectory (0700), the socket in RuntimeDirectory,
 * read-only everything else (ProtectSystem=strict), no new privileges. A user unit can reach the
 * session keychain; a system unit has none, so it uses the file keystore with its passphrase
 * passed as a systemd credential (LoadCredential), never in the unit or the environment.
 */
export function systemdUnit(spec: ServiceSpec): string {
  const exec = [spec.node, spec.bin, 'agent', ...(spec.relayUrl ? ['--relay', spec.relayUrl] : [])]
    .map(quote)
    .join(' ');
  const system = spec.scope === 'system';
  return [
    '[Unit]',
    'Description=pairlink agent (pairs this machine with trusted peers)',
    'After=network-online.target',
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${exec}`,
    'Environment=PAIRLINK_HOME=%S/pairlink',
    'Environment=PAIRLINK_SOCKET=%t/pairlink/agent.sock',
    ...(system ? ['Environment=PAIRLINK_KEYSTORE=file', 'DynamicUser=yes'] : []),
    ...(system && spec.passphraseFile ? [`LoadCredential=pairlink-passphrase:${spec.passphraseFile}`] : []),
    'StateDirectory=pairlink',
    'StateDirectoryMode=0700',
    'RuntimeDirectory=pairlink',
    'RuntimeDirectoryMode=0700',
    'UMask=0077',
    'Restart=on-failure',
    'RestartSec=2',
    'KillSignal=SIGTERM',
    'TimeoutStopSec=20',
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'PrivateTmp=yes',
    'RestrictSUIDSGID=yes',
    'LockPersonality=yes',
    ...(system
      ? ['ProtectHome=yes', 'PrivateDevices=yes', 'ProtectKernelTunables=yes', 'ProtectControlGroups=yes']
      : []),
    '',
    '[Install]',
    `WantedBy=${system ? 'multi-user.target' : 'default.target'}`,
    '',
  ].join('\n');
}

/** Where the unit file goes. */
export function unitPath(scope: 'user' | 'system', home: string, xdgConfig: string | undefined): string {
  return scope === 'system'
    ? `/etc/systemd/system/${UNIT_NAME}`
    : `${xdgConfig ?? `${home}/.config`}/systemd/user/${UNIT_NAME}`;
}
