import { mkdirSync, mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { launchdPlist } from '../../agent/service/launchd-plist.js';
import { systemdUnit } from '../../agent/service/systemd-unit.js';
import { agentSocketCandidates, findAgentSocket, systemSocket } from '../../io/agent-paths.js';

// The order in which the CLI and pairlink/client look for the agent (README "Which agent the CLI
// talks to"), checked with real sockets in a temporary tree.

const servers: Server[] = [];
afterAll(() => {
  for (const server of servers) server.close();
});

function listen(path: string): Promise<void> {
  return new Promise((resolve) => {
    const server = createServer().listen(path, () => resolve());
    servers.push(server);
  });
}

const root = mkdtempSync(join(tmpdir(), 'pl-find-'));
const env = { XDG_RUNTIME_DIR: join(root, 'rt'), PAIRLINK_HOME: join(root, 'home') };

describe('where the agent is looked for', () => {
  it('PAIRLINK_SOCKET alone when set; else `up` here and in each parent, the user’s, the system’s', () => {
    expect(agentSocketCandidates({ ...env, PAIRLINK_SOCKET: '/x/a.sock' }, '/a/b', 'linux')).toEqual([
      { socket: '/x/a.sock', what: 'PAIRLINK_SOCKET' },
    ]);
    expect(agentSocketCandidates(env, '/a/b', 'linux')).toEqual([
      { socket: '/a/b/.pairlink-local/agent.sock', what: 'pairlink up' },
      { socket: '/a/.pairlink-local/agent.sock', what: 'pairlink up' },
      { socket: '/.pairlink-local/agent.sock', what: 'pairlink up' },
      { socket: join(root, 'rt', 'pairlink', 'agent.sock'), what: 'your agent' },
      { socket: '/run/pairlink/agent.sock', what: 'the system agent' },
    ]);
    // A directory too deep for a socket path: `up` never listens there, so it is not looked at.
    const deep = `/${'d'.repeat(120)}`;
    expect(agentSocketCandidates(env, deep, 'linux').map((c) => c.socket)).not.toContain(
      `${deep}/.pairlink-local/agent.sock`,
    );
  });

  it('the system socket is where the system services listen', () => {
    const spec = { node: '/usr/bin/node', bin: '/usr/lib/pairlink.cjs', scope: 'system' as const };
    // systemd's %t is /run for a system unit.
    expect(systemdUnit(spec)).toContain('Environment=PAIRLINK_SOCKET=%t/pairlink/agent.sock');
    expect(systemSocket('linux')).toBe('/run/pairlink/agent.sock');
    expect(launchdPlist({ ...spec, home: '/Users/x' })).toContain(
      `<string>${systemSocket('darwin')}</string>`,
    );
  });

  it('takes the first place with a socket: the nearest `up`, else the user’s agent', async () => {
    const project = join(root, 'project');
    const below = join(project, 'src', 'deep');
    mkdirSync(below, { recursive: true });
    mkdirSync(join(project, '.pairlink-local'));
    mkdirSync(join(root, 'rt', 'pairlink'), { recursive: true });
    const user = join(root, 'rt', 'pairlink', 'agent.sock');
    await listen(user);
    expect(await findAgentSocket(agentSocketCandidates(env, below, 'linux'), 'linux')).toBe(user);
    await listen(join(project, '.pairlink-local', 'agent.sock'));
    expect(await findAgentSocket(agentSocketCandidates(env, below, 'linux'), 'linux')).toBe(
      join(project, '.pairlink-local', 'agent.sock'),
    );
    // An explicit PAIRLINK_SOCKET with nothing there is not silently replaced by another agent.
    await expect(
      findAgentSocket(agentSocketCandidates({ ...env, PAIRLINK_SOCKET: join(root, 'none.sock') }, below)),
    ).rejects.toMatchObject({ code: 'AGENT_NOT_FOUND', message: expect.stringContaining('none.sock') });
  });
});

describe('the socket mode (PAIRLINK_SOCKET_MODE)', () => {
  it('is 0600 by default, 0660 when asked, and nothing else', async () => {
    const { resolveAgentPaths } = await import('../../io/agent-paths.js');
    expect(resolveAgentPaths(env, 'linux').socketMode).toBe(0o600);
    expect(resolveAgentPaths({ ...env, PAIRLINK_SOCKET_MODE: '0660' }, 'linux').socketMode).toBe(0o660);
    for (const mode of ['0666', '660', 'group'])
      expect(() => resolveAgentPaths({ ...env, PAIRLINK_SOCKET_MODE: mode }, 'linux')).toThrow(
        'PAIRLINK_SOCKET_MODE is 0600 (this user) or 0660 (and its group)',
      );
  });
});
