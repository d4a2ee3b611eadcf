import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const BIN = fileURLToPath(new URL('../../dist/bin/pairlink.cjs', import.meta.url));
const PACKAGE = JSON.parse(
  readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8'),
);

// The installed executable is the CommonJS bundle (dist/bin/pairlink.cjs, package.json "bin");
// the tsc output dist/bin/pairlink.js must behave the same.
describe.each(['pairlink.cjs', 'pairlink.js'])('the built executable dist/bin/%s', (file) => {
  const bin = fileURLToPath(new URL(`../../dist/bin/${file}`, import.meta.url));

  it('exists (npm test builds it first) and runs the demo as a real process', async () => {
    expect(existsSync(bin), `dist/bin/${file} is missing: run \`npm run build\``).toBe(true);
    const { stdout } = await run(process.execPath, [bin, 'demo', '--json']);
    expect(JSON.parse(stdout).paired).toBe(true);
  });

  it('exits non-zero with JSON on stdout for a bad invite', async () => {
    const failure = await run(process.execPath, [bin, 'inspect', 'pairlink://invite/!!', '--json']).catch(
      (e) => e,
    );
    expect(failure.code).toBe(1);
    expect(JSON.parse(failure.stdout).error.code).toBe('MALFORMED');
  });

  it('reports a usage mistake in a command loaded outside the bundle as a usage error (exit 2)', async () => {
    const failure = await run(process.execPath, [bin, 'relay', '--port', 'abc']).catch((e) => e);
    expect(failure.code).toBe(2);
    expect(failure.stderr).toMatch(/^pairlink: /);
    expect(failure.stderr).not.toMatch(/\n\s+at /); // one line, no stack
  });
});

describe('package.json', () => {
  it('installs the CommonJS bundle as the pairlink command', () => {
    expect(PACKAGE.bin.pairlink).toBe('dist/bin/pairlink.cjs');
  });
});

describe('pairlink relay (real process)', () => {
  it('answers /healthz, serves /metrics in Prometheus text, and exits 0 on SIGTERM', async () => {
    const { startRelayProcess } = await import('../support/relay-process.js');
    const relay = await startRelayProcess();
    try {
      const health = await fetch(`${relay.url}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: 'ok' });
      const metrics = await fetch(`${relay.url}/metrics`);
      expect(metrics.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await metrics.text();
      expect(text).toMatch(/^# HELP pairlink_relay_requests_total /m);
      expect(text).toMatch(/^# TYPE pairlink_relay_request_duration_seconds histogram$/m);
      expect(text).toMatch(/^pairlink_relay_mailboxes 0$/m);
    } finally {
      expect(await relay.stop('SIGTERM')).toBe(0);
    }
    expect(relay.logs.some((line) => line.includes('"relay stopped"'))).toBe(true);
  });
});

describe('pairlink relay configuration', () => {
  it('refuses a config file with an unknown key, naming it, and a bad port', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'pairlink-config-'));
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ relay: { prot: 1 } }));
    const bad = await run(process.execPath, [BIN, 'relay', '--config', file, '--json']).catch((e) => e);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout).error).toMatchObject({
      code: 'INVALID_PARAMS',
      message: expect.stringContaining('prot'),
    });
    const port = await run(process.execPath, [BIN, 'relay', '--port', 'x']).catch((e) => e);
    expect(port.code).toBe(2);
    expect(port.stderr).toContain('--port must be 0 to 65535');
    for (const command of ['relay', 'agent']) {
      const level = await run(process.execPath, [BIN, command, '--log-level', 'loud']).catch((e) => e);
      expect(level.code).toBe(2);
      expect(level.stderr).toContain('unknown log level "loud"');
    }
  });
});

describe('pairlink up (the main job: npm start)', () => {
  it('starts a relay and an agent on local defaults, says what to type, and stops cleanly on SIGINT', async () => {
    const { spawn } = await import('node:child_process');
    const { mkdtempSync, statSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { freePort } = await import('../support/free-port.js');
    const dir = join(mkdtempSync(join(tmpdir(), 'pl-up-')), 'local');
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [BIN, 'up', '--dir', dir, '--port', String(port), '--name', 'upper'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (d) => {
      output += String(d);
    });
    const deadline = Date.now() + 20_000;
    while (!output.includes('Ctrl-C stops') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    expect(output).toContain(`relay   http://127.0.0.1:${port}`);
    expect(output).toContain('LOCAL DEFAULT');
    const socket = /export PAIRLINK_SOCKET=(.+)/.exec(output)![1]!.trim();
    const who = await run(process.execPath, [BIN, 'whoami', '--json'], {
      env: { ...process.env, PAIRLINK_SOCKET: socket },
    });
    expect(JSON.parse(who.stdout).name).toBe('upper');
    expect(statSync(join(dir, 'passphrase')).mode & 0o777).toBe(0o600);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  });

  it('on a port already taken says so in one line and leaves no passphrase behind for a home it never made', async () => {
    const { createServer } = await import('node:net');
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = join(mkdtempSync(join(tmpdir(), 'pl-up-taken-')), 'local');
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = (taken.address() as { port: number }).port;
      const failure = await run(process.execPath, [BIN, 'up', '--dir', dir, '--port', String(port)]).catch(
        (e) => e,
      );
      expect(failure.code).not.toBe(0);
      expect(failure.stderr).toMatch(/^pairlink: /);
      expect(failure.stderr).not.toMatch(/\n\s+at /);
      expect(existsSync(join(dir, 'passphrase'))).toBe(false);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});

describe('pairlink service install --dry-run', () => {
  it('prints the unit and, with --url-handler, the desktop entry, and writes nothing', async () => {
    const { mkdtempSync, readdirSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const home = mkdtempSync(join(tmpdir(), 'pl-svc-'));
    const env = {
      ...process.env,
      HOME: home,
      XDG_CONFIG_HOME: join(home, 'cfg'),
      XDG_DATA_HOME: join(home, 'data'),
    };
    const { stdout } = await run(
      process.execPath,
      [BIN, 'service', 'install', '--url-handler', '--dry-run', '--json'],
      { env },
    );
    const files = JSON.parse(stdout).files as { path: string; content: string }[];
    expect(files.map((f) => f.path)).toEqual([
      join(home, 'cfg', 'systemd', 'user', 'pairlink-agent.service'),
      join(home, 'data', 'applications', 'pairlink-url-handler.desktop'),
    ]);
    expect(files[1]!.content).toContain('MimeType=x-scheme-handler/pairlink;');
    expect(readdirSync(home)).toEqual([]); // nothing written
    const mac = await run(
      process.execPath,
      [BIN, 'service', 'install', '--manager', 'launchd', '--dry-run'],
      {
        env,
      },
    );
    expect(mac.stdout).toContain(join(home, 'Library', 'LaunchAgents', 'dev.pairlink.agent.plist'));
    const refused = await run(process.execPath, [BIN, 'service', 'install', '--system', '--url-handler'], {
      env,
    }).catch((e) => e);
    expect(refused.code).toBe(2);
  });
});
