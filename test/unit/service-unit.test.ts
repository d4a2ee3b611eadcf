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
