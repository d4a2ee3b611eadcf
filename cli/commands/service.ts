import { execFile } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, resolve } from 'node:path';
import { promisify } from 'node:util';
import { LAUNCHD_LABEL, launchdPlist, plistPath } from '../../agent/service/launchd-plist.js';
import type { BotPlatform } from '../../agent/service/systemd-bot-unit.js';
import { SYSUSERS_PATH, unitPath } from '../../agent/service/systemd-unit.js';
import {
  DESKTOP_FILE,
  desktopEntry,
  desktopEntryPath,
  SCHEME_MIME,
} from '../../agent/service/url-handler.js';
import { PairlinkError } from '../../src/errors.js';
import type { Command } from '../command.js';
import { printJson, UsageError } from '../output.js';
import {
  checkUnitValue,
  checkVisibleToServices,
  type Planned,
  type ServiceKind,
  serviceUnitName,
  systemdFiles,
  userServiceHome,
} from '../service-files.js';
import { waitUntilReady } from '../service-ready.js';

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

/** The bot's config file and its token file (a bot service's two credentials). */
async function botFiles(platform: BotPlatform, config: string | undefined) {
  if (!config) throw new UsageError(`--bot ${platform} needs --config FILE (the bot's config)`);
  const configFile = checkUnitValue('--config', resolve(config));
  const { tokenFile } =
    platform === 'discord'
      ? (await import('../../bots/discord/config.js')).loadDiscordConfig(configFile)
      : (await import('../../bots/matrix/config.js')).loadMatrixConfig(configFile);
  if (!tokenFile)
    throw new UsageError(
      `a bot service gets its token as a systemd credential: set "tokenFile" in ${configFile} (a 0600 file holding the token)`,
    );
  return { configFile, tokenFile: checkUnitValue('tokenFile', resolve(tokenFile)) };
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
    "      --home DIR (user service) the agent's home, when not the CLI's (PAIRLINK_HOME or the default)",
    '  install --bot discord|matrix --config F   a bot as a system service: after the agent, in its',
    '      pairlink group; its config and token file (the config\'s "tokenFile") as systemd credentials',
    '  install --relay-server [-- RELAY FLAGS]   a relay as a system service running',
    '      `pairlink relay RELAY FLAGS` (--config, --tls-cert, --tls-key files become credentials)',
    '  uninstall [--user|--system]   stop, disable and remove the service (and the URL handler)',
    '  status [--user|--system]      whether it is installed, enabled and running',
    '  ready                         wait until the agent answers on its socket (the unit runs it)',
    '  (uninstall and status take --bot or --relay-server to name those services)',
    '',
    '  --manager systemd|launchd     which to write (default: launchd on macOS, systemd elsewhere);',
    '                                useful with --dry-run to see the other platform’s file',
    '',
    'Windows: see README.md ("Run the agent as a service").',
  ].join('\n'),
  usage:
    'pairlink service install|uninstall|status|ready [--user|--system] [--relay URL] [--passphrase-file F] [--home DIR] [--url-handler] [--bot discord|matrix --config F] [--relay-server [-- FLAGS]] [--manager systemd|launchd] [--dry-run] [--json]',
  options: {
    user: { type: 'boolean' },
    system: { type: 'boolean' },
    relay: { type: 'string' },
    'passphrase-file': { type: 'string' },
    'url-handler': { type: 'boolean' },
    manager: { type: 'string' },
    'dry-run': { type: 'boolean' },
    home: { type: 'string' },
    bot: { type: 'string' },
    config: { type: 'string' },
    'relay-server': { type: 'boolean' },
  },
  allowPositionals: true,
  async run({ values, positionals, io }) {
    const action = positionals[0];
    if (!['install', 'uninstall', 'status', 'ready'].includes(action!)) {
      throw new UsageError('service takes install, uninstall, status or ready');
    }
    if (action === 'ready') return waitUntilReady(io, Boolean(values.json));
    const service = serviceKind(values.bot as string | undefined, Boolean(values['relay-server']));
    const relayArgs = positionals.slice(1).map((arg) => checkUnitValue('a relay flag', arg));
    if (relayArgs.length > 0 && !(service.kind === 'relay' && action === 'install'))
      throw new UsageError('only install --relay-server takes flags (after --) to pass to `pairlink relay`');
    if (values.user && values.system) throw new UsageError('choose --user or --system, not both');
    if (service.kind !== 'agent' && values.user)
      throw new UsageError('bot and relay services are system services: use --system (or nothing)');
    const manager = (values.manager ?? (process.platform === 'darwin' ? 'launchd' : 'systemd')) as Manager;
    if (manager !== 'systemd' && manager !== 'launchd')
      throw new UsageError('--manager is systemd or launchd');
    if (manager === 'launchd' && service.kind !== 'agent')
      throw new UsageError(
        'bot and relay services are systemd units (Linux); on macOS run them under launchd by hand',
      );
    const scope = values.system || service.kind !== 'agent' ? 'system' : 'user';
    if (values.home && scope === 'system') throw new UsageError('--home is for a --user service');
    const unitName = serviceUnitName(service);
    if (
      service.kind === 'agent' &&
      scope === 'system' &&
      action === 'install' &&
      !values['passphrase-file']
    ) {
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
      relayUrl: values.relay ? checkUnitValue('--relay', values.relay as string) : undefined,
      passphraseFile: values['passphrase-file']
        ? checkUnitValue('--passphrase-file', resolve(values['passphrase-file'] as string))
        : undefined,
    } as const;
    const servicePath =
      manager === 'systemd'
        ? unitPath(scope, home, process.env.XDG_CONFIG_HOME, unitName)
        : plistPath(scope, home);
    const handlerPath = desktopEntryPath(home, process.env.XDG_DATA_HOME);

    if (action === 'install') {
      if (manager === 'systemd' && scope === 'system') checkVisibleToServices([process.execPath, BIN]);
      const files: Planned[] =
        manager === 'systemd'
          ? systemdFiles({
              ...spec,
              service,
              unitPath: servicePath,
              relayArgs,
              agentHome:
                scope === 'user'
                  ? checkUnitValue(
                      'the home',
                      userServiceHome(process.env, values.home as string | undefined),
                    )
                  : undefined,
              bot:
                service.kind === 'bot'
                  ? await botFiles(service.platform, values.config as string | undefined)
                  : undefined,
            })
          : [{ path: servicePath, content: launchdPlist({ ...spec, home }), mode: 0o644 }];
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
        // The agent's user and group first: the unit names them.
        if (files.some((f) => f.path === SYSUSERS_PATH)) await tool('systemd-sysusers', [SYSUSERS_PATH]);
        await systemctl(scope, ['daemon-reload']);
        await systemctl(scope, ['enable', '--now', unitName]);
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
        io.out(`Installed and started ${unitName.replace(/\.service$/, '')} (${servicePath}).`);
        if (service.kind === 'agent' && scope === 'system')
          io.out(
            'Its socket is /run/pairlink/agent.sock, for root and the pairlink group: `sudo usermod -aG pairlink <user>` (then log in again) lets that user run pairlink against it.',
          );
        if (values['url-handler']) io.out(`pairlink:// links now open \`pairlink accept\` (${handlerPath}).`);
        for (const note of notes) io.err(`note: ${note}`);
      }
      return 0;
    }
    if (action === 'uninstall') {
      if (manager === 'systemd') {
        await systemctl(scope, ['disable', '--now', unitName]).catch(() => '');
        await rm(servicePath, { force: true });
        await systemctl(scope, ['daemon-reload']).catch(() => '');
      } else {
        await tool('launchctl', ['bootout', `${launchdDomain(scope)}/${LAUNCHD_LABEL}`]).catch(() => '');
        await rm(servicePath, { force: true });
      }
      const hadHandler = service.kind === 'agent' && (await exists(handlerPath));
      if (hadHandler) await rm(handlerPath, { force: true });
      if (values.json) printJson(io, { installed: false, path: servicePath, urlHandlerRemoved: hadHandler });
      else io.out(`Removed ${unitName}${hadHandler ? ' and the pairlink:// handler' : ''}.`);
      return 0;
    }
    if (manager === 'launchd') {
      const printed = await tool('launchctl', ['print', `${launchdDomain(scope)}/${LAUNCHD_LABEL}`]).catch(
        () => '',
      );
      const active = /state = running/.test(printed) ? 'active' : 'inactive';
      const enabled = printed ? 'enabled' : 'disabled';
      if (active !== 'active') throw notRunning(`${LAUNCHD_LABEL} is ${active}, ${enabled} (${servicePath})`);
      if (values.json) printJson(io, { path: servicePath, active, enabled });
      else io.out(`${LAUNCHD_LABEL}: ${active} (${servicePath})`);
      return 0;
    }
    if (!(await exists(servicePath))) throw notRunning(`${unitName} is not installed (no ${servicePath})`);
    const active = (await systemctl(scope, ['is-active', unitName]).catch(() => 'inactive')).trim();
    const enabled = (await systemctl(scope, ['is-enabled', unitName]).catch(() => 'disabled')).trim();
    if (active !== 'active') throw notRunning(`${unitName} is ${active}, ${enabled} (${servicePath})`);
    if (values.json) printJson(io, { path: servicePath, installed: true, active, enabled });
    else io.out(`${unitName}: ${active}, ${enabled} (${servicePath})`);
    return 0;
  },
};

/** `service status` of a service that is not running: a failure, rendered as every command's is (exit 1). */
function notRunning(what: string): PairlinkError {
  return new PairlinkError('SERVICE_NOT_RUNNING', what);
}

function serviceKind(bot: string | undefined, relayServer: boolean): ServiceKind {
  if (bot !== undefined && relayServer) throw new UsageError('choose --bot or --relay-server, not both');
  if (bot !== undefined && bot !== 'discord' && bot !== 'matrix')
    throw new UsageError('--bot is discord or matrix');
  if (bot !== undefined) return { kind: 'bot', platform: bot };
  return relayServer ? { kind: 'relay' } : { kind: 'agent' };
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

function launchdDomain(scope: 'user' | 'system'): string {
  return scope === 'system' ? 'system' : `gui/${process.getuid?.() ?? 501}`;
}
