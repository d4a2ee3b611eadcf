import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { systemdUnit, UNIT_NAME } from '../../agent/service/systemd-unit.js';

const run = promisify(execFile);

describe('the systemd unit', () => {
  const base = { node: process.execPath, bin: '/opt/pair link/bin/pairlink.js' };

  it('hardens the service and keeps state and socket in private systemd directories', () => {
    const unit = systemdUnit({ ...base, scope: 'user' });
    for (const line of [
      'Restart=on-failure',
      'NoNewPrivileges=yes',
      'ProtectSystem=strict',
      'StateDirectory=pairlink',
      'StateDirectoryMode=0700',
      'RuntimeDirectory=pairlink',
      'Environment=PAIRLINK_SOCKET=%t/pairlink/agent.sock',
      'WantedBy=default.target',
    ]) {
      expect(unit).toContain(line);
    }
    expect(unit).toContain(`ExecStart=${process.execPath} "/opt/pair link/bin/pairlink.js" agent`);
    expect(unit).not.toContain('LoadCredential');
  });

  it('a system unit uses the file keystore with the passphrase as a systemd credential', () => {
    const unit = systemdUnit({ ...base, scope: 'system', passphraseFile: '/etc/pairlink/passphrase' });
    expect(unit).toContain('LoadCredential=pairlink-passphrase:/etc/pairlink/passphrase');
    expect(unit).toContain('Environment=PAIRLINK_KEYSTORE=file');
    expect(unit).toContain('DynamicUser=yes');
    expect(unit).toContain('WantedBy=multi-user.target');
  });

  it.each(['user', 'system'] as const)('passes systemd-analyze verify (%s)', async (scope) => {
    const dir = mkdtempSync(join(tmpdir(), 'pl-unit-'));
    const passphrase = join(dir, 'passphrase');
    writeFileSync(passphrase, 'x', { mode: 0o600 });
    const path = join(dir, UNIT_NAME);
    writeFileSync(
      path,
      systemdUnit({ node: process.execPath, bin: process.argv[1]!, scope, passphraseFile: passphrase }),
    );
    const { stderr } = await run('systemd-analyze', ['verify', path]);
    expect(stderr).not.toMatch(/pairlink-agent\.service:\d+/); // no complaints about our lines
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
