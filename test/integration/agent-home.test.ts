import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { ERROR_TEXT } from '../../src/error-text.js';
import { relayWithAgents, startAgent, testRoot } from '../support/agent-process.js';
import { PAIRLINK_BIN } from '../support/relay-process.js';

// One agent per home (the home is locked, not only the socket), a crashed agent's lock does not
// block a restart, and a state file the agent may not read is named with what is missing.

const fleet = relayWithAgents();

/**
 * Runs `pairlink agent` expecting it to refuse to start: its exit code and stderr, or `started`
 * (and the agent stopped again) when it logged "agent ready" instead.
 */
function refusedStart(
  env: NodeJS.ProcessEnv,
  options: { withoutFileOverride?: boolean; args?: string[] } = {},
) {
  const agent = [
    process.execPath,
    PAIRLINK_BIN,
    'agent',
    '--relay',
    fleet.relay.url,
    ...(options.args ?? []),
  ];
  // Root reads any file. Dropping the two capabilities that let it (util-linux's setpriv) keeps
  // uid 0, so the agent still loads pairlink wherever the checkout is (a clone under /root is
  // out of reach of any other uid), while a file's permission bits bind it as they bind a user.
  const argv = options.withoutFileOverride
    ? ['setpriv', '--bounding-set', '-dac_override,-dac_read_search', '--', ...agent]
    : agent;
  const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += String(chunk);
  });
  let started = false;
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (!line.includes('"agent ready"')) return;
    started = true;
    child.kill('SIGTERM');
  });
  return new Promise<{ code: number | null; stderr: string; started: boolean }>((resolve) =>
    child.once('close', (code) => resolve({ code, stderr, started })),
  );
}

describe('one agent per home', () => {
  it('a second agent on the same home (another socket) refuses to start, naming the holder’s pid', async () => {
    const first = await fleet.agent('holder');
    const second = await refusedStart({ ...first.env, PAIRLINK_SOCKET: join(fleet.root, 'second.sock') });
    expect(second.started, 'the second agent started').toBe(false);
    expect(second.code).toBe(1);
    const line = second.stderr.trim();
    expect(line).toContain(`pid ${first.child.pid}`);
    expect(line).toContain(first.home);
    expect(line.split('\n')).toHaveLength(1);
    // The first agent is untouched.
    expect((await first.json<{ name: string }>(['whoami'])).value.name).toBe('holder');
  });

  it('an agent killed with SIGKILL leaves a stale lock that does not block its restart', async () => {
    const victim = await fleet.agent('victim');
    const did = (await victim.json<{ did: string }>(['whoami'])).value.did;
    const killed = new Promise((resolve) => victim.child.once('exit', resolve));
    victim.child.kill('SIGKILL');
    await killed;
    // The dead agent's lock is still there, naming it.
    const lock = join(victim.home, 'agent.lock');
    expect(existsSync(lock)).toBe(true);
    expect(JSON.parse(readFileSync(lock, 'utf8')).pid).toBe(victim.child.pid);
    await victim.restart();
    expect((await victim.json<{ did: string }>(['whoami'])).value.did).toBe(did);
  });
});

describe('a state file the agent may not read', () => {
  it('is named, with the permission missing and its owner, not reported as a bug', async () => {
    const agent = await startAgent(testRoot(), 'locked-out', fleet.relay.url);
    await agent.stop();
    const stateFile = join(agent.home, 'state.json');
    chmodSync(stateFile, 0o000);
    const refused = await refusedStart(agent.env, { withoutFileOverride: process.getuid?.() === 0 });
    expect(refused.code).toBe(1);
    const line = refused.stderr.trim();
    expect(line).not.toMatch(/bug|EACCES/);
    expect(line).toContain(stateFile);
    expect(line).toMatch(/cannot read/);
    expect(line).toMatch(/mode 0?000/);
    expect(line.split('\n')).toHaveLength(1);
  });
});

describe('a socket in a directory open to other users', () => {
  it('is refused at start with the permission sentence, not "That request is not valid"', async () => {
    const root = testRoot();
    const open = join(root, 'open-dir');
    mkdirSync(open, { mode: 0o755 });
    chmodSync(open, 0o755);
    const env = {
      ...process.env,
      PAIRLINK_HOME: join(root, 'home'),
      PAIRLINK_SOCKET: join(open, 'agent.sock'),
    };
    const refused = await refusedStart({ ...env, PAIRLINK_KEYSTORE: 'file', PAIRLINK_PASSPHRASE: 'p' });
    expect(refused.started, 'the agent started').toBe(false);
    expect(refused.code).toBe(1);
    const line = refused.stderr.trim();
    expect(line).toBe(
      `pairlink: ${ERROR_TEXT.PERMISSION_DENIED} ${open} is open to other users (mode 755): put the socket in a private (0700) directory`,
    );
  });
});

describe('never a silently new identity', () => {
  it('an agent whose home holds state but whose keystore has no identity refuses, and touches nothing', async () => {
    const agent = await startAgent(testRoot(), 'forgotten', fleet.relay.url);
    await agent.stop();
    // The keystore is gone (another keystore chosen, a keychain wiped): the state remains.
    rmSync(join(agent.home, 'keystore.json'));
    const stateFiles = () =>
      readdirSync(agent.home).filter((f) => f.startsWith('state.json') || f === 'audit.log');
    const before = stateFiles();
    const refused = await refusedStart(agent.env);
    expect(refused.started, 'the agent started with a new identity').toBe(false);
    expect(refused.code).toBe(1);
    const line = refused.stderr.trim();
    expect(line.split('\n')).toHaveLength(1);
    expect(line).toContain(agent.home);
    expect(line).toContain('--new-identity');
    expect(line).not.toMatch(/bug|decrypt/);
    // The state is where it was, and no identity was written (the entries' names are in clear).
    expect(stateFiles()).toEqual(before);
    const keystore = join(agent.home, 'keystore.json');
    if (existsSync(keystore)) expect(JSON.parse(readFileSync(keystore, 'utf8')).entries).toEqual({});
  });

  it('--new-identity starts with a new one and moves the old state aside, whole', async () => {
    const agent = await startAgent(testRoot(), 'renewed', fleet.relay.url);
    const old = (await agent.json<{ did: string }>(['whoami'])).value.did;
    await agent.stop();
    rmSync(join(agent.home, 'keystore.json'));
    const moved = readdirSync(agent.home).filter((f) => f.startsWith('state.json') || f === 'audit.log');
    const fresh = await startAgent(testRoot(), 'renewed', fleet.relay.url, agent.env, ['--new-identity']);
    try {
      const did = (await fresh.json<{ did: string }>(['whoami'])).value.did;
      expect(did).not.toBe(old);
      const aside = readdirSync(agent.home).filter((f) => f.startsWith('replaced-'));
      expect(aside).toHaveLength(1);
      expect(readdirSync(join(agent.home, aside[0]!)).sort()).toEqual(moved.sort());
      expect(fresh.logs.join('\n')).toContain(aside[0]!);
    } finally {
      await fresh.stop();
    }
  });
});
