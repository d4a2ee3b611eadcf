import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { startAgent } from '../support/agent-process.js';
import { PAIRLINK_BIN, startRelayProcess } from '../support/relay-process.js';

// `pairlink service …` as a user runs it, without a service manager: the files it would write,
// what it refuses, and the agent its user unit runs (the same identity as the agent run by hand).

const run = promisify(execFile);

/** A user's environment with a fresh home and nothing installed. */
function userEnv(): NodeJS.ProcessEnv & { HOME: string; XDG_RUNTIME_DIR: string } {
  const home = mkdtempSync(join(tmpdir(), 'pl-svc-'));
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of [
    'PAIRLINK_HOME',
    'PAIRLINK_SOCKET',
    'XDG_CONFIG_HOME',
    'XDG_DATA_HOME',
    'XDG_STATE_HOME',
  ])
    delete env[name];
  const runtime = join(home, 'run');
  mkdirSync(runtime, { mode: 0o700 });
  return { ...env, HOME: home, XDG_RUNTIME_DIR: runtime };
}

async function pairlink(env: NodeJS.ProcessEnv, args: string[], node = process.execPath) {
  return run(node, [PAIRLINK_BIN, ...args], { env }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({
      code: e.code,
      stdout: e.stdout,
      stderr: e.stderr,
    }),
  );
}

/** The unit `service install --dry-run` prints for these arguments. */
async function dryRunUnit(env: NodeJS.ProcessEnv, args: string[]): Promise<string> {
  const printed = await pairlink(env, ['service', 'install', ...args, '--dry-run', '--json']);
  expect(printed.stderr).toBe('');
  const files = JSON.parse(printed.stdout).files as { path: string; content: string }[];
  return files.find((f) => f.path.endsWith('.service'))!.content;
}

describe('the user service keeps the identity of the agent run by hand', () => {
  it('its unit runs the agent in the CLI’s home: the same did', async () => {
    const env = { ...userEnv(), PAIRLINK_KEYSTORE: 'file', PAIRLINK_PASSPHRASE: 'one home' };
    const relay = await startRelayProcess();
    try {
      // By hand: `pairlink agent` with the defaults.
      // (Empty values: startAgent's own home and socket give way to the defaults.)
      const byHand = await startAgent(tmpdir(), 'by-hand', relay.url, {
        ...env,
        PAIRLINK_HOME: '',
        PAIRLINK_SOCKET: '',
      });
      const did = (await byHand.json<{ did: string }>(['whoami'])).value.did;
      await byHand.stop();
      // As the user manager would run the unit: its Environment= lines, %t and %S expanded.
      const unit = await dryRunUnit(env, []);
      const unitEnv: NodeJS.ProcessEnv = { ...env };
      for (const [, name, value] of unit.matchAll(/^Environment="?(\w+)=(.*?)"?$/gm))
        unitEnv[name!] = value!
          .replace('%t', env.XDG_RUNTIME_DIR)
          .replace('%S', join(env.HOME, '.local', 'state'));
      const service = await startAgent(tmpdir(), 'service', relay.url, unitEnv);
      try {
        expect((await service.json<{ did: string }>(['whoami'])).value.did).toBe(did);
        // The unit's ExecStartPost, as a script would run it: one JSON document with --json.
        expect(await service.json(['service', 'ready'])).toEqual({ code: 0, value: { ready: true, did } });
      } finally {
        await service.stop();
      }
    } finally {
      await relay.stop();
    }
  });

  it('an earlier version’s service home ($XDG_STATE_HOME/pairlink) is named, never left behind unsaid', async () => {
    const env = userEnv();
    const earlier = join(env.HOME, '.local', 'state', 'pairlink');
    mkdirSync(earlier, { recursive: true });
    writeFileSync(join(earlier, 'state.json'), '{}');
    const refused = await pairlink(env, ['service', 'install', '--dry-run']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`--home ${earlier}`);
    expect(await dryRunUnit(env, ['--home', earlier])).toContain(`Environment=PAIRLINK_HOME=${earlier}`);
  });
});

describe('what service refuses and reports', () => {
  it('status with nothing installed says "not installed"', async () => {
    const status = await pairlink(userEnv(), ['service', 'status']);
    expect(status.stderr.trim()).toMatch(
      /^pairlink: That service is not running; .*: pairlink-agent\.service is not installed \(no .*pairlink-agent\.service\)$/,
    );
    expect(status).toMatchObject({ code: 1, stdout: '' });
  });

  it('status --system --json with nothing installed is the error shape, exit 1', async () => {
    const unit = '/etc/systemd/system/pairlink-agent.service';
    expect(existsSync(unit), `this test needs a machine without ${unit}`).toBe(false);
    const status = await pairlink(userEnv(), [
      'service',
      'status',
      '--system',
      '--manager',
      'systemd',
      '--json',
    ]);
    expect(status.code).toBe(1);
    expect(JSON.parse(status.stdout)).toEqual({
      error: {
        code: 'SERVICE_NOT_RUNNING',
        message: `pairlink-agent.service is not installed (no ${unit})`,
      },
    });
  });

  it('a system unit whose node or pairlink a service’s sandbox would hide is refused, saying why', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pl-node-'));
    const node = join(dir, 'node');
    copyFileSync(process.execPath, node);
    const args = [
      'service',
      'install',
      '--system',
      '--passphrase-file',
      '/etc/pairlink/passphrase',
      '--dry-run',
    ];
    const refused = await pairlink(userEnv(), args, node);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toContain(`a system service cannot run ${node}: its sandbox hides /tmp`);
  });

  it('a bot service needs its token in a file, loaded as a credential', async () => {
    const env = userEnv();
    const config = join(env.HOME, 'discord.json');
    writeFileSync(config, JSON.stringify({ tokenEnv: 'DISCORD_TOKEN' }));
    const refused = await pairlink(env, [
      'service',
      'install',
      '--bot',
      'discord',
      '--config',
      config,
      '--dry-run',
    ]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('set "tokenFile"');
    writeFileSync(config, JSON.stringify({ tokenFile: '/etc/pairlink/discord-token' }));
    const unit = await dryRunUnit(env, ['--bot', 'discord', '--config', config]);
    expect(unit).toContain(`LoadCredential=discord-config:${config}`);
    expect(unit).toContain('LoadCredential=discord-token:/etc/pairlink/discord-token');
  });
});
