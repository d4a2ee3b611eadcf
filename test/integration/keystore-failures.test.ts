import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, testRoot } from '../support/agent-process.js';
import { PAIRLINK_BIN, type RelayProcess, startRelayProcess } from '../support/relay-process.js';

// The keystore fails closed (docs/SECURITY.md §Keys at rest): no Secret Service, a locked
// keyring, an unreadable or planted keystore file, a wrong passphrase. Each time the agent
// refuses to start with one clear line, writes no key anywhere and leaves the files as they were.

const run = promisify(execFile);
const support = (name: string) => fileURLToPath(new URL(`../support/${name}`, import.meta.url));

let relay: RelayProcess;
beforeAll(async () => {
  relay = await startRelayProcess();
});
afterAll(async () => {
  await relay?.stop();
});

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

function agentOnce(env: NodeJS.ProcessEnv, wrapper?: string): Promise<Outcome> {
  const [file, args] = wrapper
    ? [support(wrapper), [process.execPath, PAIRLINK_BIN, 'agent', '--relay', relay.url]]
    : [process.execPath, [PAIRLINK_BIN, 'agent', '--relay', relay.url]];
  return run(file, args, { env: { ...process.env, ...env }, timeout: 45_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: Outcome) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

function digestTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(dir)) return out;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    out[path] = createHash('sha256').update(readFileSync(path)).digest('hex');
  }
  return out;
}

function homeEnv(root: string, extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const user = join(root, 'user');
  mkdirSync(user, { recursive: true });
  return {
    HOME: user,
    PAIRLINK_HOME: join(root, 'home'),
    PAIRLINK_SOCKET: join(root, 'agent.sock'),
    PAIRLINK_PASSPHRASE: '',
    PAIRLINK_PASSPHRASE_FILE: '',
    ...extra,
  };
}

/** One error line from pairlink (D-Bus and GTK chatter from the keyring aside), no stack trace. */
function oneLine(outcome: Outcome): void {
  expect(outcome.stderr).not.toMatch(/\n\s+at /);
  const ours = outcome.stderr.split('\n').filter((l) => l.startsWith('pairlink:'));
  expect(ours).toHaveLength(1);
}

describe('the keystore fails closed', () => {
  it('PAIRLINK_KEYSTORE=keychain with no Secret Service: KEYSTORE_UNAVAILABLE, nothing written', async () => {
    const root = testRoot();
    const outcome = await agentOnce(
      homeEnv(root, { PAIRLINK_KEYSTORE: 'keychain', DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent' }),
    );
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toMatch(/keychain/i);
    oneLine(outcome);
    expect(Object.keys(digestTree(join(root, 'home')))).toEqual([]);
  });

  it('a locked keyring: the forced keychain refuses, and the default refuses too without a passphrase', async () => {
    for (const choice of ['keychain', 'auto']) {
      const root = testRoot();
      const outcome = await agentOnce(homeEnv(root, { PAIRLINK_KEYSTORE: choice }), 'with-locked-keyring.sh');
      expect(outcome.code, outcome.stderr).toBe(1);
      expect(outcome.stderr).toMatch(/locked|keychain/i);
      oneLine(outcome);
      expect(Object.keys(digestTree(join(root, 'home')))).toEqual([]);
    }
  }, 90_000);

  it('a wrong passphrase, a damaged, a planted and an unreadable keystore: refused, files untouched', async () => {
    const root = testRoot();
    const env = {
      ...homeEnv(root, { PAIRLINK_KEYSTORE: 'file' }),
      PAIRLINK_SOCKET: join(root, 'keyed.sock'),
    };
    const agent = await startAgent(root, 'keyed', relay.url, {
      PAIRLINK_KEYSTORE: 'file',
      PAIRLINK_PASSPHRASE: 'the right one',
    });
    const did = (await agent.json<{ did: string }>(['whoami'])).value.did;
    await agent.stop();
    const keystore = join(agent.home, 'keystore.json');
    const before = digestTree(agent.home);

    const wrong = await agentOnce({
      ...env,
      PAIRLINK_HOME: agent.home,
      PAIRLINK_PASSPHRASE: 'the wrong one',
    });
    expect(wrong.code, wrong.stderr).toBe(1);
    expect(wrong.stderr).toMatch(/passphrase is wrong/);
    oneLine(wrong);
    expect(digestTree(agent.home)).toEqual(before);

    const original = readFileSync(keystore);
    const planted = JSON.parse(original.toString('utf8')) as { kdf: { N: number } };
    planted.kdf.N = 2 ** 30; // a file asking for 128 GiB of scrypt memory
    for (const [content, message] of [
      ['{"version":1', /not a pairlink keystore/],
      [JSON.stringify(planted), /out of range/],
      ['x'.repeat(100_000), /not a pairlink keystore/],
    ] as const) {
      writeFileSync(keystore, content, { mode: 0o600 });
      const outcome = await agentOnce({
        ...env,
        PAIRLINK_HOME: agent.home,
        PAIRLINK_PASSPHRASE: 'the right one',
      });
      expect(outcome.code, `${content.slice(0, 20)}: ${outcome.stderr}`).toBe(1);
      expect(outcome.stderr).toMatch(message);
      oneLine(outcome);
      expect(readFileSync(keystore, 'utf8')).toBe(content);
    }
    // Unreadable: a directory where the file should be (permissions do not stop root, this does).
    const { rmSync } = await import('node:fs');
    rmSync(keystore);
    mkdirSync(keystore);
    const unreadable = await agentOnce({
      ...env,
      PAIRLINK_HOME: agent.home,
      PAIRLINK_PASSPHRASE: 'the right one',
    });
    expect(unreadable.code, unreadable.stderr).toBe(1);
    expect(unreadable.stderr).toMatch(/cannot read the keystore/);
    oneLine(unreadable);
    rmSync(keystore, { recursive: true });
    writeFileSync(keystore, original, { mode: 0o600 });
    await agent.restart();
    expect((await agent.json<{ did: string }>(['whoami'])).value.did).toBe(did);
    await agent.stop();
  }, 90_000);
});
