import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { botUnit } from '../../agent/service/systemd-bot-unit.js';
import { relayUnit } from '../../agent/service/systemd-relay-unit.js';
import { SYSUSERS_CONF, systemdUnit, UNIT_NAME } from '../../agent/service/systemd-unit.js';

const run = promisify(execFile);

/** The overall exposure `systemd-analyze security --offline=yes` gives a unit file. */
async function exposure(name: string, content: string): Promise<number> {
  const path = join(mkdtempSync(join(tmpdir(), 'pl-unit-')), name);
  writeFileSync(path, content);
  const { stdout } = await run('systemd-analyze', ['security', '--offline=yes', '--no-pager', path]).catch(
    (error: { stdout: string }) => error,
  );
  const level = /Overall exposure level for \S+: (\d+\.\d+)/.exec(stdout);
  if (!level) throw new Error(`no exposure level in:\n${stdout}`);
  return Number(level[1]);
}

/** `systemd-analyze verify` has nothing to say about our lines of the unit. */
async function verify(name: string, content: string): Promise<void> {
  const path = join(mkdtempSync(join(tmpdir(), 'pl-unit-')), name);
  writeFileSync(path, content);
  const { stderr } = await run('systemd-analyze', ['verify', path]);
  expect(stderr).not.toMatch(new RegExp(`${name.replace('.', '\\.')}:\\d+`));
}

describe('the systemd unit', () => {
  const base = { node: process.execPath, bin: '/opt/pair link/bin/pairlink.js' };

  it('a user unit runs in the CLI’s home and socket, and keeps nothing a user manager lacks', () => {
    const unit = systemdUnit({ ...base, scope: 'user', agentHome: '/home/ann/.local/share/pairlink' });
    for (const line of [
      'Restart=on-failure',
      'NoNewPrivileges=yes',
      'Environment=PAIRLINK_HOME=/home/ann/.local/share/pairlink',
      'Environment=PAIRLINK_SOCKET=%t/pairlink/agent.sock',
      'RuntimeDirectory=pairlink',
      'WantedBy=default.target',
    ]) {
      expect(unit).toContain(line);
    }
    expect(unit).toContain(`ExecStart=${process.execPath} "/opt/pair link/bin/pairlink.js" agent`);
    expect(unit).toContain(
      `ExecStartPost=${process.execPath} "/opt/pair link/bin/pairlink.js" service ready`,
    );
    // A user manager has no network-online.target, and sandboxing it applies only with user namespaces.
    for (const absent of [
      'network-online.target',
      'StateDirectory',
      'ProtectSystem',
      'PrivateTmp',
      'LoadCredential',
    ])
      expect(unit).not.toContain(absent);
  });

  it('a system unit: the pairlink user and group, a 0660 socket in a 0750 directory, the passphrase as a credential', () => {
    const unit = systemdUnit({ ...base, scope: 'system', passphraseFile: '/etc/pairlink/passphrase' });
    for (const line of [
      'LoadCredential=pairlink-passphrase:/etc/pairlink/passphrase',
      'Environment=PAIRLINK_KEYSTORE=file',
      'User=pairlink',
      'Group=pairlink',
      'RuntimeDirectoryMode=0750',
      'Environment=PAIRLINK_SOCKET_MODE=0660',
      'StateDirectoryMode=0700',
      'Type=exec',
      'WantedBy=multi-user.target',
    ])
      expect(unit).toContain(line);
    expect(SYSUSERS_CONF).toMatch(/^u pairlink - /m);
  });

  it.each(['user', 'system'] as const)('passes systemd-analyze verify (%s)', async (scope) => {
    const passphrase = join(mkdtempSync(join(tmpdir(), 'pl-unit-')), 'passphrase');
    writeFileSync(passphrase, 'x', { mode: 0o600 });
    const unit = systemdUnit({
      node: process.execPath,
      bin: process.argv[1]!,
      scope,
      passphraseFile: passphrase,
    });
    await verify(UNIT_NAME, unit);
  });

  it('the system agent, bot and relay units score 3.0 or less in systemd-analyze security', async () => {
    const node = '/usr/bin/node';
    const bin = '/usr/lib/node_modules/pairlink/dist/bin/pairlink.cjs';
    const agent = systemdUnit({ node, bin, scope: 'system', passphraseFile: '/etc/pairlink/passphrase' });
    const bot = botUnit({
      node,
      bin,
      platform: 'discord',
      configFile: '/etc/pairlink/discord.json',
      tokenFile: '/etc/pairlink/discord-token',
    });
    const relay = relayUnit({ node, bin, args: ['--host', '0.0.0.0', '--port', '443'] });
    const scores = {
      agent: await exposure(UNIT_NAME, agent),
      bot: await exposure('pairlink-discord-bot.service', bot),
      relay: await exposure('pairlink-relay.service', relay),
    };
    for (const score of Object.values(scores)) expect(score).toBeLessThanOrEqual(3.0);
  });
});

describe('the bot and relay units', () => {
  const node = process.execPath;
  const bin = process.argv[1]!;

  it('a bot starts after the agent, in its group, with its config and token as credentials', async () => {
    const unit = botUnit({
      node,
      bin,
      platform: 'matrix',
      configFile: '/etc/pairlink/matrix.json',
      tokenFile: '/etc/pairlink/matrix-token',
    });
    for (const line of [
      'After=pairlink-agent.service network-online.target',
      'Wants=pairlink-agent.service network-online.target',
      'SupplementaryGroups=pairlink',
      'LoadCredential=matrix-config:/etc/pairlink/matrix.json',
      'LoadCredential=matrix-token:/etc/pairlink/matrix-token',
      'Environment=PAIRLINK_SOCKET=/run/pairlink/agent.sock',
      'DynamicUser=yes',
    ])
      expect(unit).toContain(line);
    expect(unit).toContain(`ExecStart=${node} ${bin} bot matrix --config %d/matrix-config`);
    await verify('pairlink-matrix-bot.service', unit);
  });

  it('a relay passes its flags through, its files as credentials, and may bind port 443 only when asked', async () => {
    const unit = relayUnit({
      node,
      bin,
      args: [
        '--host',
        '0.0.0.0',
        '--port',
        '443',
        '--tls-cert',
        '/etc/ssl/relay.pem',
        '--tls-key=/etc/ssl/relay.key',
      ],
    });
    expect(unit).toContain(
      `ExecStart=${node} ${bin} relay --host 0.0.0.0 --port 443 --tls-cert %d/relay-tls-cert --tls-key %d/relay-tls-key`,
    );
    expect(unit).toContain('LoadCredential=relay-tls-cert:/etc/ssl/relay.pem');
    expect(unit).toContain('LoadCredential=relay-tls-key:/etc/ssl/relay.key');
    expect(unit).toContain('AmbientCapabilities=CAP_NET_BIND_SERVICE');
    expect(relayUnit({ node, bin, args: ['--port', '7457'] })).toContain('AmbientCapabilities=\n');
    await verify('pairlink-relay.service', unit);
  });
});

describe('the launchd property list (macOS)', () => {
  it('runs the agent at load, restarts it only after a failure, and escapes XML', async () => {
    const { launchdPlist, LAUNCHD_LABEL } = await import('../../agent/service/launchd-plist.js');
    const plist = launchdPlist({
      node: '/usr/local/bin/node',
      bin: '/opt/a&b <pairlink>/pairlink.js',
      scope: 'user',
      home: '/Users/ann',
    });
    expect(plist).toContain(`<string>${LAUNCHD_LABEL}</string>`);
    expect(plist).toContain('<string>/opt/a&amp;b &lt;pairlink&gt;/pairlink.js</string>');
    expect(plist).toMatch(/<key>KeepAlive<\/key>\s*<dict>\s*<key>SuccessfulExit<\/key>\s*<false\/>/);
    expect(plist).toContain('<string>/Users/ann/Library/Logs/pairlink/agent.log</string>');
    expect(plist).not.toContain('PAIRLINK_KEYSTORE');
    const system = launchdPlist({
      node: '/usr/local/bin/node',
      bin: '/opt/pairlink.js',
      scope: 'system',
      home: '/var/root',
      passphraseFile: '/etc/pairlink/passphrase',
    });
    expect(system).toMatch(/<key>PAIRLINK_KEYSTORE<\/key>\s*<string>file<\/string>/);
    expect(system).toMatch(
      /<key>PAIRLINK_PASSPHRASE_FILE<\/key>\s*<string>\/etc\/pairlink\/passphrase<\/string>/,
    );
    // Well-formed: every element opened is closed, in order.
    const stack: string[] = [];
    for (const [, close, name, selfClosing] of plist.matchAll(/<(\/?)([a-z]+)[^>]*?(\/?)>/g)) {
      if (selfClosing) continue;
      if (close) expect(stack.pop()).toBe(name);
      else stack.push(name!);
    }
    expect(stack).toEqual([]);
  });
});

describe('the pairlink:// URL handler (xdg desktop entry)', () => {
  it('passes desktop-file-validate and passes the link in PAIRLINK_INVITE, never as an argument', async () => {
    const { desktopEntry, SCHEME_MIME } = await import('../../agent/service/url-handler.js');
    const entry = desktopEntry('/usr/bin/node', '/opt/pair link/$bin/pairlink.js');
    expect(entry).toContain(`MimeType=${SCHEME_MIME};`);
    expect(entry).toContain('Terminal=false');
    expect(entry).toContain(
      'Exec=env PAIRLINK_INVITE=%u /usr/bin/node "/opt/pair link/\\\\$bin/pairlink.js" accept --url-handler',
    );
    const dir = mkdtempSync(join(tmpdir(), 'pl-desktop-'));
    const path = join(dir, 'pairlink-url-handler.desktop');
    writeFileSync(path, entry);
    const { stdout, stderr } = await run('desktop-file-validate', [path]);
    expect(`${stdout}${stderr}`.trim()).toBe('');
  });
});
