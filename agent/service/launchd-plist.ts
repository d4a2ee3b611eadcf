import { systemSocket } from '../../io/agent-paths.js';
import type { ServiceSpec } from './systemd-unit.js';

export const LAUNCHD_LABEL = 'dev.pairlink.agent';

const xml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * The launchd property list for the agent on macOS: a LaunchAgent (your session, your login
 * keychain) or, with scope "system", a LaunchDaemon using the file keystore with its passphrase
 * read from a root-only file (launchd has no credential store like systemd's LoadCredential).
 * KeepAlive restarts it after a crash but not after a clean exit; logs go to ~/Library/Logs.
 */
export function launchdPlist(spec: ServiceSpec & { readonly home: string }): string {
  const system = spec.scope === 'system';
  const args = [spec.node, spec.bin, 'agent', ...(spec.relayUrl ? ['--relay', spec.relayUrl] : [])];
  const env: Record<string, string> = system
    ? {
        PAIRLINK_HOME: '/Library/Application Support/pairlink',
        PAIRLINK_SOCKET: systemSocket('darwin'),
        PAIRLINK_KEYSTORE: 'file',
        ...(spec.passphraseFile ? { PAIRLINK_PASSPHRASE_FILE: spec.passphraseFile } : {}),
      }
    : {};
  const logs = system ? '/Library/Logs/pairlink' : `${spec.home}/Library/Logs/pairlink`;
  const line = (indent: number, text: string) => `${'\t'.repeat(indent)}${text}`;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    '<plist version="1.0">',
    '<dict>',
    line(1, '<key>Label</key>'),
    line(1, `<string>${LAUNCHD_LABEL}</string>`),
    line(1, '<key>ProgramArguments</key>'),
    line(1, '<array>'),
    ...args.map((a) => line(2, `<string>${xml(a)}</string>`)),
    line(1, '</array>'),
    ...(Object.keys(env).length > 0
      ? [
          line(1, '<key>EnvironmentVariables</key>'),
          line(1, '<dict>'),
          ...Object.entries(env).flatMap(([k, v]) => [
            line(2, `<key>${k}</key>`),
            line(2, `<string>${xml(v)}</string>`),
          ]),
          line(1, '</dict>'),
        ]
      : []),
    line(1, '<key>RunAtLoad</key>'),
    line(1, '<true/>'),
    line(1, '<key>KeepAlive</key>'),
    line(1, '<dict>'),
    line(2, '<key>SuccessfulExit</key>'),
    line(2, '<false/>'),
    line(1, '</dict>'),
    line(1, '<key>ThrottleInterval</key>'),
    line(1, '<integer>2</integer>'),
    line(1, '<key>Umask</key>'),
    line(1, '<integer>63</integer>'),
    line(1, '<key>ExitTimeOut</key>'),
    line(1, '<integer>20</integer>'),
    line(1, '<key>StandardOutPath</key>'),
    line(1, `<string>${xml(`${logs}/agent.log`)}</string>`),
    line(1, '<key>StandardErrorPath</key>'),
    line(1, `<string>${xml(`${logs}/agent.log`)}</string>`),
    '</dict>',
    '</plist>',
    '',
  ].join('\n');
}

/** Where the property list goes. */
export function plistPath(scope: 'user' | 'system', home: string): string {
  return scope === 'system'
    ? `/Library/LaunchDaemons/${LAUNCHD_LABEL}.plist`
    : `${home}/Library/LaunchAgents/${LAUNCHD_LABEL}.plist`;
}
