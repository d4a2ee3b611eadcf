import { existsSync, realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { type BotPlatform, botUnit, botUnitName } from '../agent/service/systemd-bot-unit.js';
import { RELAY_UNIT_NAME, relayUnit } from '../agent/service/systemd-relay-unit.js';
import { SYSUSERS_CONF, SYSUSERS_PATH, systemdUnit, UNIT_NAME } from '../agent/service/systemd-unit.js';
import { resolveAgentPaths } from '../io/agent-paths.js';
import { PairlinkError } from '../src/errors.js';
import { UsageError } from './output.js';

/** Which service: the agent, a relay, or a chat bot. */
export type ServiceKind =
  | { readonly kind: 'agent' }
  | { readonly kind: 'relay' }
  | { readonly kind: 'bot'; readonly platform: BotPlatform };

/** One file a step writes, for --dry-run and --json. */
export interface Planned {
  readonly path: string;
  readonly content: string;
  readonly mode: number;
}

/** The systemd unit name of a service. */
export function serviceUnitName(service: ServiceKind): string {
  if (service.kind === 'relay') return RELAY_UNIT_NAME;
  if (service.kind === 'bot') return botUnitName(service.platform);
  return UNIT_NAME;
}

// What a system unit's sandbox hides (ProtectHome=yes, PrivateTmp=yes): a pairlink or a node
// there is not found by the service, which then dies with MODULE_NOT_FOUND or 203/EXEC.
const HIDDEN = ['/home', '/root', '/run/user', '/tmp', '/var/tmp'];

/** Refuses a system unit whose node or pairlink lives where the unit's sandbox cannot see. */
export function checkVisibleToServices(paths: readonly string[]): void {
  for (const path of paths) {
    const real = realpathSync(path);
    const under = HIDDEN.find((dir) => real === dir || real.startsWith(`${dir}/`));
    if (under) {
      throw new PairlinkError(
        'INVALID_PARAMS',
        `a system service cannot run ${real}: its sandbox hides ${under} (ProtectHome, PrivateTmp); install pairlink (and node) where services can see it, e.g. \`npm install -g\` (README "Install"), and run that pairlink's \`service install\``,
      );
    }
  }
}

/** A value written into a unit: no control characters (a new line would add a directive), no `%` specifiers. */
export function checkUnitValue(what: string, value: string): string {
  if (value.includes('%') || [...value].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f))
    throw new UsageError(`${what} cannot hold control characters or % (it is written into a systemd unit)`);
  return value;
}

/**
 * The user service's home: the CLI's (so an agent first run by hand keeps its identity as a
 * service), or `chosen`. Refuses when the home an earlier version's unit used
 * ($XDG_STATE_HOME/pairlink) holds an agent's state and `chosen` does not pick one, since the
 * service would otherwise come back as another identity, or leave that one behind unsaid.
 */
export function userServiceHome(env: NodeJS.ProcessEnv, chosen: string | undefined): string {
  if (chosen) return resolve(chosen);
  const home = resolveAgentPaths(env).home;
  const earlier = join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'pairlink');
  if (earlier !== home && existsSync(join(earlier, 'state.json'))) {
    const both = existsSync(join(home, 'state.json'));
    throw new UsageError(
      `${earlier} holds the agent an earlier pairlink service ran${both ? `, and ${home} (the CLI's home) holds another` : ''}: choose the identity the service keeps with --home ${earlier}${both ? ` or --home ${home}` : ''}`,
    );
  }
  return home;
}

/** The files `service install` writes for a systemd service. */
export function systemdFiles(options: {
  readonly service: ServiceKind;
  readonly scope: 'user' | 'system';
  readonly node: string;
  readonly bin: string;
  readonly unitPath: string;
  readonly relayUrl?: string | undefined;
  readonly passphraseFile?: string | undefined;
  readonly agentHome?: string | undefined;
  readonly relayArgs: readonly string[];
  readonly bot?: { readonly configFile: string; readonly tokenFile: string } | undefined;
}): Planned[] {
  const { service, node, bin } = options;
  if (service.kind === 'relay')
    return [
      { path: options.unitPath, content: relayUnit({ node, bin, args: options.relayArgs }), mode: 0o644 },
    ];
  if (service.kind === 'bot')
    return [
      {
        path: options.unitPath,
        content: botUnit({ node, bin, platform: service.platform, ...options.bot! }),
        mode: 0o644,
      },
    ];
  const unit = {
    path: options.unitPath,
    content: systemdUnit({
      node,
      bin,
      scope: options.scope,
      relayUrl: options.relayUrl,
      passphraseFile: options.passphraseFile,
      agentHome: options.agentHome,
    }),
    mode: 0o644,
  };
  return options.scope === 'system'
    ? [{ path: SYSUSERS_PATH, content: SYSUSERS_CONF, mode: 0o644 }, unit]
    : [unit];
}
