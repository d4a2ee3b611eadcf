import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRoot } from '../support/agent-process.js';
import { PAIRLINK_BIN, type RelayProcess, startRelayProcess } from '../support/relay-process.js';

const run = promisify(execFile);
const support = (name: string) => fileURLToPath(new URL(`../support/${name}`, import.meta.url));

let relay: RelayProcess;
beforeAll(async () => {
  relay = await startRelayProcess();
});
afterAll(async () => {
  await relay?.stop();
});

describe('the OS keychain: a real Secret Service (gnome-keyring under dbus-run-session)', () => {
  it('keeps the identity in the keychain, where secret-tool finds it, and in no file of the home', async () => {
    const root = testRoot();
    const home = join(root, 'home');
    const userHome = join(root, 'user');
    mkdirSync(userHome);
    const account = `identity@${createHash('sha256').update(home).digest('hex').slice(0, 16)}`;
    const { stdout } = await run(
      support('with-secret-service.sh'),
      [support('keychain-scenario.sh'), PAIRLINK_BIN],
      {
        env: {
          ...process.env,
          HOME: userHome,
          XDG_DATA_HOME: join(userHome, '.local', 'share'),
          PAIRLINK_HOME: home,
          PAIRLINK_SOCKET: join(root, 'agent.sock'),
          PAIRLINK_KEYSTORE: 'keychain',
          PAIRLINK_PASSPHRASE: '',
          RELAY: relay.url,
          ACCOUNT: account,
        },
        timeout: 60_000,
      },
    );
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
      info: { keystore: string; did: string };
      search: string;
      identity: string;
    };
    expect(result.info.keystore).toBe('keychain');
    expect(result.search).toContain(account);
    expect(result.identity).toMatch(/^[A-Za-z0-9_-]{86}$/); // 64 bytes: seed and X25519 secret
    const secret = Buffer.from(result.identity, 'base64url');
    const seedHex = secret.subarray(0, 32).toString('hex');
    const files = readdirSync(home, { recursive: true, withFileTypes: true }).filter((f) => f.isFile());
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const bytes = readFileSync(join(file.parentPath, file.name));
      expect(bytes.includes(secret.subarray(0, 32))).toBe(false);
      const text = bytes.toString('utf8');
      expect(text).not.toContain(result.identity);
      expect(text).not.toContain(seedHex);
      expect(text).not.toContain(secret.subarray(0, 32).toString('base64url'));
    }
    expect(readdirSync(home)).not.toContain('keystore.json'); // no file keystore was needed
  });

  it('refuses to start with KEYSTORE_UNAVAILABLE and says how to fix it when no keystore is available', async () => {
    const root = testRoot();
    const failure = await run(process.execPath, [PAIRLINK_BIN, 'agent', '--relay', relay.url], {
      env: {
        ...process.env,
        PAIRLINK_HOME: join(root, 'home'),
        PAIRLINK_SOCKET: join(root, 'agent.sock'),
        PAIRLINK_KEYSTORE: 'file',
        PAIRLINK_PASSPHRASE: '',
        PAIRLINK_PASSPHRASE_FILE: '',
        DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent',
      },
    }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(failure.code).toBe(1);
    expect(failure.stderr).toContain('No keystore is available');
    expect(failure.stderr).toContain('PAIRLINK_PASSPHRASE');
    expect(readdirSync(join(root, 'home'))).toEqual([]); // nothing written, and certainly no key
  });
});
