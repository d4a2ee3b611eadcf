import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { testRoot } from '../support/agent-process.js';
import { freePort } from '../support/free-port.js';
import { PAIRLINK_BIN } from '../support/relay-process.js';

// How the CLI and pairlink/client find the agent without PAIRLINK_SOCKET (README "Which agent"):
// the one `pairlink up` started in this directory or a parent, then the user's, then the system's.

const run = promisify(execFile);
const CLIENT = join(PAIRLINK_BIN, '../../client/index.js');

/** The environment of someone who exported nothing: no PAIRLINK_SOCKET, a fresh per-user runtime dir. */
function bareEnv(root: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_RUNTIME_DIR: join(root, 'runtime') };
  delete env.PAIRLINK_SOCKET;
  delete env.PAIRLINK_HOME;
  env.PAIRLINK_HOME = join(root, 'user-home');
  return env;
}

async function cli(args: string[], cwd: string, env: NodeJS.ProcessEnv) {
  try {
    const { stdout, stderr } = await run(process.execPath, [PAIRLINK_BIN, ...args], { cwd, env });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const children: ChildProcess[] = [];
afterAll(async () => {
  await Promise.all(
    children.map(
      (child) =>
        new Promise((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve(null);
          child.once('exit', resolve);
          child.kill('SIGTERM');
        }),
    ),
  );
});

describe('finding the agent', () => {
  it('with no agent anywhere, says where it looked and how to start or point at one (exit 3)', async () => {
    const root = testRoot();
    const env = bareEnv(root);
    const failed = await cli(['peers'], root, env);
    expect(failed.code).toBe(3);
    const line = failed.stderr.trim();
    expect(line).not.toMatch(/try again/);
    expect(line).toContain(join(root, '.pairlink-local', 'agent.sock'));
    expect(line).toContain(join(root, 'runtime', 'pairlink', 'agent.sock'));
    expect(line).toContain('/run/pairlink/agent.sock');
    expect(line).toMatch(/pairlink up/);
    expect(line).toMatch(/pairlink agent/);
    expect(line).toMatch(/PAIRLINK_SOCKET/);
    expect(line.split('\n')).toHaveLength(1);
    const json = await cli(['peers', '--json'], root, env);
    expect(JSON.parse(json.stdout).error.code).toBe('AGENT_NOT_FOUND');

    // PAIRLINK_SOCKET set but nothing there: that is the one place, named.
    const named = await cli(['peers', '--json'], root, { ...env, PAIRLINK_SOCKET: join(root, 'no.sock') });
    expect(named.code).toBe(3);
    expect(JSON.parse(named.stdout).error).toMatchObject({
      code: 'AGENT_NOT_FOUND',
      message: expect.stringContaining(join(root, 'no.sock')),
    });
  });

  it('finds the agent `pairlink up` started in this directory, from it and from below it, CLI and client alike', async () => {
    const root = testRoot();
    const env = bareEnv(root);
    const port = await freePort();
    const up = spawn(process.execPath, [PAIRLINK_BIN, 'up', '--port', String(port), '--name', 'upper'], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(up);
    const banner: string[] = [];
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: up.stdout! }).on('line', (line) => {
        banner.push(line);
        if (line.startsWith('Ctrl-C')) resolve();
      });
      up.once('exit', (code) => reject(new Error(`up exited with ${code}: ${banner.join('\n')}`)));
    });
    const here = await cli(['whoami', '--json'], root, env);
    expect(here.stdout).not.toMatch(/error/);
    expect(JSON.parse(here.stdout).name).toBe('upper');
    const below = join(root, 'src', 'deeper');
    mkdirSync(below, { recursive: true });
    const fromBelow = await cli(['whoami', '--json'], below, env);
    expect(JSON.parse(fromBelow.stdout).name).toBe('upper');

    const script = join(root, 'who.mjs');
    writeFileSync(
      script,
      `import { connect } from ${JSON.stringify(CLIENT)};
const agent = await connect();
console.log(JSON.stringify({ name: (await agent.identity()).name, socket: agent.socket }));
agent.close();
`,
    );
    const { stdout } = await run(process.execPath, [script], { cwd: below, env });
    expect(JSON.parse(stdout)).toEqual({
      name: 'upper',
      socket: join(root, '.pairlink-local', 'agent.sock'),
    });
    // Nothing to export when the CLI finds it by itself.
    expect(banner.join('\n')).not.toMatch(/export PAIRLINK_SOCKET/);
  });
});
