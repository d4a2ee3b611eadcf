import { execFile } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, resolve } from 'node:path';
import { promisify } from 'node:util';
import { LAUNCHD_LABEL, launchdPlist, plistPath } from '../../agent/service/launchd-plist.js';
import { systemdUnit, UNIT_NAME, unitPath } from '../../agent/service/systemd-unit.js';
import {
  DESKTOP_FILE,
  desktopEntry,
  desktopEntryPath,
  SCHEME_MIME,
} from '../../agent/service/url-handler.js';
import { PairlinkError } from '../../src/errors.js';
import type { Command } from '../main.js';
import { printJson, UsageError } from '../output.js';

const run = promisify(execFile);
// The executable this command runs as (dist/bin/pairlink.cjs once installed), symlinks resolved.
const BIN = realpathSync(process.argv[1] ?? '.');

async function tool(command: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run(command, args);
    return stdout;
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new PairlinkError('INTERNAL', `${command} ${args.join(' ')}: ${(e.stderr || e.message).trim()}`);
  }
}

const systemctl = (scope: 'user' | 'system', args: string[]) =>
  tool('systemctl', [...(scope === 'user' ? ['--user'] : []), ...args]);

type Manager = 'systemd' | 'launchd';

/** One file a step writes, for --dry-run and --json. */
interface Planned {
  readonly path: string;
  readonly content: string;
  readonly mode: number;
}

/** `pairlink service install|uninstall|status`: the agent as a system service. */
export const serviceCommand: Command = {
  summary: [
    'Install, remove or inspect the agent as a system service: systemd on Linux, launchd on macOS.',
    '',
    '  install [--user|--system] [--relay URL] [--passphrase-file F] [--url-handler] [--dry-run]',
    '      --user (default) runs it in your session, with your keychain; --system runs it for the',
    '      machine with the file keystore, its passphrase read from --passphrase-file (a systemd',
    '      credential on Linux; a root-only file on macOS).',
    '      --url-handler also registers pairlink:// links (Linux: an xdg desktop entry) so that',
    '      opening an invite link runs `pairlink accept` in a terminal.',
    '      --dry-run prints every file and where it would go, and changes nothing.',
    '  uninstall [--user|--system]   stop, disable and remove the service (and the URL handler)',
    '  status [--user|--system]      whether it is installed, enabled and running',
    '',
    '  --manager systemd|launchd     which to write (default: launchd on macOS, systemd elsewhere);',
    '                                useful with --dry-run to see the other platform’s file',
    '',
    'Windows: see README.md ("Run the agent as a service").',
  ].join('\n'),
  usage:
    'pairlink service install|uninstall|status [--user|--system] [--relay URL] [--passphrase-file F] [--url-handler] [--manager systemd|launchd] [--dry-run] [--json]',
  options: {
    user: { type: 'boolean' },
    system: { type: 'boolean' },
    relay: { type: 'string' },
    'passphrase-file': { type: 'string' },
    'url-handler': { type: 'boolean' },
    manager: { type: 'string' },
    'dry-run': { type: 'boolean' },
  },
  allowPositionals: true,
  async run({ values, positionals, io }) {
    const action = positionals[0];
    if (positionals.length !== 1 || !['install', 'uninstall', 'status'].includes(action!)) {
      throw new UsageError('service takes install, uninstall or status');
    }
    if (values.user && values.system) throw new UsageError('choose --user or --system, not both');
    const manager = (values.manager ?? (process.platform === 'darwin' ? 'launchd' : 'systemd')) as Manager;
    if (manager !== 'systemd' && manager !== 'launchd')
      throw new UsageError('--manager is systemd or launchd');
    const scope = values.system ? 'system' : 'user';
    if (scope === 'system' && action === 'install' && !values['passphrase-file']) {
      throw new UsageError(
        'a --system service has no keychain: give --passphrase-file (a 0600 file holding the keystore passphrase)',
      );
    }
    if (values['url-handler'] && scope === 'system') {
      throw new UsageError('--url-handler belongs to a desktop session: use it with --user');
    }
    const home = homedir();
    const spec = {
      node: process.execPath,
      bin: BIN,
      scope,
      relayUrl: values.relay as string | undefined,
      passphraseFile: values['passphrase-file'] ? resolve(values['passphrase-file'] as string) : undefined,
    } as const;
    const servicePath =
      manager === 'systemd' ? unitPath(scope, home, process.env.XDG_CONFIG_HOME) : plistPath(scope, home);
    const handlerPath = desktopEntryPath(home, process.env.XDG_DATA_HOME);

    if (action === 'install') {
      const files: Planned[] = [
        {
          path: servicePath,
          content: manager === 'systemd' ? systemdUnit(spec) : launchdPlist({ ...spec, home }),
          mode: 0o644,
        },
      ];
      if (values['url-handler']) {
        if (manager === 'launchd') {
          throw new UsageError(
            'on macOS the pairlink:// scheme is registered by an application bundle (CFBundleURLTypes); see README.md',
          );
        }
        files.push({ path: handlerPath, content: desktopEntry(process.execPath, BIN), mode: 0o644 });
      }
      if (values['dry-run']) {
        if (values.json) printJson(io, { files: files.map(({ path, content }) => ({ path, content })) });
        else for (const f of files) io.out(`# ${f.path}\n${f.content}`);
        return 0;
      }
      if (manager === 'systemd' && process.platform !== 'linux')
        throw new PairlinkError(
          'INVALID_PARAMS',
          'systemd units are for Linux: use --manager launchd on macOS',
        );
      if (manager === 'launchd' && process.platform !== 'darwin')
        throw new PairlinkError('INVALID_PARAMS', 'launchd is macOS only (use --dry-run to see the file)');
      for (const f of files) {
        await mkdir(dirname(f.path), { recursive: true });
        await writeFile(f.path, f.content, { mode: f.mode });
      }
      if (manager === 'systemd') {
        await systemctl(scope, ['daemon-reload']);
        await systemctl(scope, ['enable', '--now', UNIT_NAME]);
      } else {
        await tool('launchctl', ['bootstrap', launchdDomain(scope), servicePath]);
      }
      const notes: string[] = [];
      if (values['url-handler']) {
        // Register as the scheme's default; the database refresh is a nicety some desktops need.
        await tool('xdg-mime', ['default', DESKTOP_FILE, SCHEME_MIME]).catch((error: Error) =>
          notes.push(`could not set the default handler (${error.message}); set it in your desktop settings`),
        );
        await tool('update-desktop-database', [dirname(handlerPath)]).catch(() => undefined);
      }
      if (values.json) printJson(io, { installed: true, files: files.map((f) => f.path), notes });
      else {
        io.out(`Installed and started the pairlink agent (${servicePath}).`);
        if (values['url-handler']) io.out(`pairlink:// links now open \`pairlink accept\` (${handlerPath}).`);
        for (const note of notes) io.err(`note: ${note}`);
      }
      return 0;
    }
    if (action === 'uninstall') {
      if (manager === 'systemd') {
        await systemctl(scope, ['disable', '--now', UNIT_NAME]).catch(() => '');
        await rm(servicePath, { force: true });
        await systemctl(scope, ['daemon-reload']).catch(() => '');
      } else {
        await tool('launchctl', ['bootout', `${launchdDomain(scope)}/${LAUNCHD_LABEL}`]).catch(() => '');
        await rm(servicePath, { force: true });
      }
      const hadHandler = await stat(handlerPath).then(
        () => true,
        () => false,
      );
      if (hadHandler) await rm(handlerPath, { force: true });
      if (values.json) printJson(io, { installed: false, path: servicePath, urlHandlerRemoved: hadHandler });
      else io.out(`Removed the pairlink agent service${hadHandler ? ' and the pairlink:// handler' : ''}.`);
      return 0;
    }
    if (manager === 'launchd') {
      const printed = await tool('launchctl', ['print', `${launchdDomain(scope)}/${LAUNCHD_LABEL}`]).catch(
        () => '',
      );
      const active = /state = running/.test(printed) ? 'active' : 'inactive';
      if (values.json)
        printJson(io, { path: servicePath, active, enabled: printed ? 'enabled' : 'disabled' });
      else io.out(`${LAUNCHD_LABEL}: ${active} (${servicePath})`);
      return active === 'active' ? 0 : 1;
    }
    const active = (await systemctl(scope, ['is-active', UNIT_NAME]).catch(() => 'inactive')).trim();
    const enabled = (await systemctl(scope, ['is-enabled', UNIT_NAME]).catch(() => 'disabled')).trim();
    if (values.json) printJson(io, { path: servicePath, active, enabled });
    else io.out(`${UNIT_NAME}: ${active}, ${enabled} (${servicePath})`);
    return active === 'active' ? 0 : 1;
  },
};

function launchdDomain(scope: 'user' | 'system'): string {
  return scope === 'system' ? 'system' : `gui/${process.getuid?.() ?? 501}`;
}
