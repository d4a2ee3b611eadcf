import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { systemdUnit, UNIT_NAME, unitPath } from '../../agent/service/systemd-unit.js';
import { PairlinkError } from '../../src/errors.js';
import type { Command } from '../main.js';
import { printJson, UsageError } from '../output.js';

const run = promisify(execFile);
const BIN = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'pairlink.js');

async function systemctl(scope: 'user' | 'system', args: string[]): Promise<string> {
  try {
    const { stdout } = await run('systemctl', [...(scope === 'user' ? ['--user'] : []), ...args]);
    return stdout;
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new PairlinkError('INTERNAL', `systemctl ${args.join(' ')}: ${(e.stderr || e.message).trim()}`);
  }
}

/** `pairlink service install|uninstall|status`: the agent as a systemd service (Linux). */
export const serviceCommand: Command = {
  summary: [
    'Install, remove or inspect the agent as a system service (systemd on Linux).',
    '',
    '  install [--user|--system] [--relay URL] [--passphrase-file F] [--dry-run]',
    '      --user (default) runs it in your session, with your keychain; --system runs it for the',
    '      machine with the file keystore, its passphrase loaded by systemd from --passphrase-file.',
    '      --dry-run prints the unit and where it would go, and changes nothing.',
    '  uninstall [--user|--system]   stop, disable and remove the unit',
    '  status [--user|--system]      whether it is installed, enabled and running',
    '',
    'macOS (launchd) and Windows are documented in README.md; this command writes systemd units.',
  ].join('\n'),
  usage:
    'pairlink service install|uninstall|status [--user|--system] [--relay URL] [--passphrase-file F] [--dry-run] [--json]',
  options: {
    user: { type: 'boolean' },
    system: { type: 'boolean' },
    relay: { type: 'string' },
    'passphrase-file': { type: 'string' },
    'dry-run': { type: 'boolean' },
  },
  allowPositionals: true,
  async run({ values, positionals, io }) {
    const action = positionals[0];
    if (positionals.length !== 1 || !['install', 'uninstall', 'status'].includes(action!)) {
      throw new UsageError('service takes install, uninstall or status');
    }
    if (values.user && values.system) throw new UsageError('choose --user or --system, not both');
    const scope = values.system ? 'system' : 'user';
    if (scope === 'system' && action === 'install' && !values['passphrase-file']) {
      throw new UsageError(
        'a --system service has no keychain: give --passphrase-file (a 0600 file systemd loads as a credential)',
      );
    }
    const path = unitPath(scope, homedir(), process.env.XDG_CONFIG_HOME);
    if (action === 'install') {
      const unit = systemdUnit({
        node: process.execPath,
        bin: BIN,
        scope,
        relayUrl: values.relay as string | undefined,
        passphraseFile: values['passphrase-file'] ? resolve(values['passphrase-file'] as string) : undefined,
      });
      if (values['dry-run']) {
        if (values.json) printJson(io, { path, unit });
        else io.out(`# ${path}\n${unit}`);
        return 0;
      }
      if (process.platform !== 'linux')
        throw new PairlinkError(
          'INVALID_PARAMS',
          'service install writes systemd units (Linux); see README.md for launchd',
        );
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, unit, { mode: 0o644 });
      await systemctl(scope, ['daemon-reload']);
      await systemctl(scope, ['enable', '--now', UNIT_NAME]);
      if (values.json) printJson(io, { installed: true, path });
      else io.out(`Installed and started ${UNIT_NAME} (${path}).`);
      return 0;
    }
    if (action === 'uninstall') {
      await systemctl(scope, ['disable', '--now', UNIT_NAME]).catch(() => '');
      await rm(path, { force: true });
      await systemctl(scope, ['daemon-reload']).catch(() => '');
      if (values.json) printJson(io, { installed: false, path });
      else io.out(`Removed ${UNIT_NAME}.`);
      return 0;
    }
    const active = (await systemctl(scope, ['is-active', UNIT_NAME]).catch(() => 'inactive')).trim();
    const enabled = (await systemctl(scope, ['is-enabled', UNIT_NAME]).catch(() => 'disabled')).trim();
    if (values.json) printJson(io, { path, active, enabled });
    else io.out(`${UNIT_NAME}: ${active}, ${enabled} (${path})`);
    return active === 'active' ? 0 : 1;
  },
};
