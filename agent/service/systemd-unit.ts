import { execLine, systemSandbox } from './systemd-sandbox.js';

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
  /** User services: the agent's home, the one the CLI uses (so a service never starts a new identity). */
  readonly agentHome?: string | undefined;
}

export const UNIT_NAME = 'pairlink-agent.service';

/** The system agent's user and group; members of the group (admins, bot services) reach its socket. */
export const SERVICE_GROUP = 'pairlink';

/** systemd-sysusers(8) creates the system user and its group from this file. */
export const SYSUSERS_PATH = '/usr/lib/sysusers.d/pairlink.conf';
export const SYSUSERS_CONF = `# The pairlink system agent's user and group (pairlink service install --system).
# Add admins and bot services to the group to let them reach /run/pairlink/agent.sock.
u ${SERVICE_GROUP} - "pairlink agent" /var/lib/pairlink
`;

/**
 * The systemd unit for the agent. Readiness: the unit is Type=exec and its ExecStartPost waits
 * until the agent's socket answers `agent.info` (`pairlink service ready`), so systemd counts it
 * started, and starts the units ordered after it, only once clients can use it. (Type=notify
 * would need sd_notify: Node cannot send on a Unix datagram socket, and `systemd-notify` run by
 * the agent needs NotifyAccess=all.) SIGTERM stops it, as by hand.
 *
 * System unit: the static `pairlink` user (systemd-sysusers), state in StateDirectory (0700),
 * the socket 0660 in RuntimeDirectory (0750), both reachable by the `pairlink` group only; the
 * file keystore with its passphrase as a systemd credential (LoadCredential), never in the unit or
 * the environment; the sandbox in systemd-sandbox.ts.
 *
 * User unit: the CLI's home and socket (one home: an agent first run by hand keeps its identity);
 * none of the system unit's sandboxing, which a user manager can apply only with unprivileged user
 * namespaces (not everywhere) and otherwise refuses to start the unit; no network-online.target,
 * which a user manager does not have.
 */
export function systemdUnit(spec: ServiceSpec): string {
  const exec = execLine(spec.node, spec.bin, ['agent', ...(spec.relayUrl ? ['--relay', spec.relayUrl] : [])]);
  const ready = execLine(spec.node, spec.bin, ['service', 'ready']);
  const system = spec.scope === 'system';
  const common = [
    'Type=exec',
    `ExecStart=${exec}`,
    `ExecStartPost=${ready}`,
    'Environment=PAIRLINK_SOCKET=%t/pairlink/agent.sock',
    'UMask=0077',
    'Restart=on-failure',
    'RestartSec=2',
    'KillSignal=SIGTERM',
    'TimeoutStopSec=20',
  ];
  if (!system) {
    return [
      '[Unit]',
      'Description=pairlink agent (pairs this machine with trusted peers)',
      '',
      '[Service]',
      ...common,
      ...(spec.agentHome ? [`Environment=${quoteEnv('PAIRLINK_HOME', spec.agentHome)}`] : []),
      'RuntimeDirectory=pairlink',
      'RuntimeDirectoryMode=0700',
      'NoNewPrivileges=yes',
      '',
      '[Install]',
      'WantedBy=default.target',
      '',
    ].join('\n');
  }
  return [
    '[Unit]',
    'Description=pairlink agent (pairs this machine with trusted peers)',
    'After=network-online.target',
    'Wants=network-online.target',
    '',
    '[Service]',
    ...common,
    `User=${SERVICE_GROUP}`,
    `Group=${SERVICE_GROUP}`,
    'Environment=PAIRLINK_HOME=%S/pairlink',
    'Environment=PAIRLINK_SOCKET_MODE=0660',
    'Environment=PAIRLINK_KEYSTORE=file',
    ...(spec.passphraseFile ? [`LoadCredential=pairlink-passphrase:${spec.passphraseFile}`] : []),
    'StateDirectory=pairlink',
    'StateDirectoryMode=0700',
    'RuntimeDirectory=pairlink',
    'RuntimeDirectoryMode=0750',
    ...systemSandbox(),
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/** An Environment= assignment, quoted when the value needs it. */
export function quoteEnv(name: string, value: string): string {
  return /^[A-Za-z0-9_./:@+=-]+$/.test(value)
    ? `${name}=${value}`
    : `"${name}=${value.replace(/(["\\])/g, '\\$1')}"`;
}

/** Where the unit file goes. */
export function unitPath(
  scope: 'user' | 'system',
  home: string,
  xdgConfig: string | undefined,
  name = UNIT_NAME,
): string {
  return scope === 'system'
    ? `/etc/systemd/system/${name}`
    : `${xdgConfig ?? `${home}/.config`}/systemd/user/${name}`;
}
