import { execLine, systemSandbox } from './systemd-sandbox.js';

export const RELAY_UNIT_NAME = 'pairlink-relay.service';

/** The relay flags whose value is a file the relay reads: each becomes a systemd credential. */
const FILE_FLAGS: Readonly<Record<string, string>> = {
  '--config': 'relay-config',
  '--tls-cert': 'relay-tls-cert',
  '--tls-key': 'relay-tls-key',
};

/** What a relay service runs: `pairlink relay` with the admin's flags, as given. */
export interface RelayServiceSpec {
  readonly node: string;
  readonly bin: string;
  /** `pairlink relay` flags (`--host`, `--port`, `--config`, TLS files …), passed through. */
  readonly args: readonly string[];
}

/** The port a relay's flags ask for, if one is given. */
function portOf(args: readonly string[]): number | undefined {
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i]!;
    if (arg === '--port') return Number(args[i + 1]);
    if (arg.startsWith('--port=')) return Number(arg.slice('--port='.length));
  }
  return undefined;
}

/**
 * The systemd system unit for a relay: a dynamic user with the agent's sandbox (and
 * CAP_NET_BIND_SERVICE alone when it listens on a port under 1024). The flags pass through as
 * given, except that a file they name (config, TLS certificate and key) is loaded as a systemd
 * credential and the flag points at the copy, so a root-only key file stays root-only; a renewed
 * certificate takes effect at the next `systemctl restart pairlink-relay`.
 */
export function relayUnit(spec: RelayServiceSpec): string {
  const credentials: string[] = [];
  const args: string[] = [];
  for (let i = 0; i < spec.args.length; i += 1) {
    const arg = spec.args[i]!;
    const [flag, inline] =
      arg.startsWith('--') && arg.includes('=') ? arg.split(/=(.*)/s, 2) : [arg, undefined];
    const id = FILE_FLAGS[flag!];
    const file = inline ?? (id ? spec.args[i + 1] : undefined);
    if (!id || file === undefined) {
      args.push(arg);
      continue;
    }
    if (inline === undefined) i += 1;
    credentials.push(`LoadCredential=${id}:${file}`);
    args.push(flag!, `%d/${id}`);
  }
  const port = portOf(spec.args);
  return [
    '[Unit]',
    'Description=pairlink relay (the untrusted mailbox bus agents pair through)',
    'After=network-online.target',
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=exec',
    `ExecStart=${execLine(spec.node, spec.bin, ['relay', ...args])}`,
    'DynamicUser=yes',
    ...credentials,
    'UMask=0077',
    'Restart=on-failure',
    'RestartSec=2',
    'TimeoutStopSec=20',
    ...systemSandbox({ bindLowPort: port !== undefined && port > 0 && port < 1024 }),
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}
