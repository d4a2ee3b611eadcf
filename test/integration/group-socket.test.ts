import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { relayWithAgents } from '../support/agent-process.js';

// The system service's socket is shared with a group (PAIRLINK_SOCKET_MODE=0660, in a 0750
// directory): a process of another user in that group reaches the agent, one outside it does not.

const run = promisify(execFile);
const fleet = relayWithAgents();
const root = process.getuid?.() === 0;
const inCi = !['', '0', 'false', undefined].includes(process.env.CI);
if (!root && !inCi)
  console.warn('SKIPPED group-socket: running as another uid takes root (setpriv); run as root');

/** Connects to `socket` as uid 65534 with primary group `gid` and no other: 'connected' or the errno. */
async function connectAs(gid: number, socket: string): Promise<string> {
  const probe = `const s=require('node:net').connect(${JSON.stringify(socket)});s.on('connect',()=>{console.log('connected');s.destroy()});s.on('error',(e)=>console.log(e.code))`;
  const { stdout } = await run('setpriv', [
    '--reuid=65534',
    `--regid=${gid}`,
    '--clear-groups',
    '--',
    process.execPath,
    '-e',
    probe,
  ]);
  return stdout.trim();
}

describe.skipIf(!root && !inCi)('a socket shared with its group (PAIRLINK_SOCKET_MODE=0660)', () => {
  it('is 0660 in a 0750 directory: its group connects, others are refused', async () => {
    // Not under the fleet's 0700 root, which uid 65534 could not enter.
    const dir = mkdtempSync(join(tmpdir(), 'pl-group-'));
    chmodSync(dir, 0o750);
    const socket = join(dir, 'agent.sock');
    await fleet.agent('shared', { PAIRLINK_SOCKET: socket, PAIRLINK_SOCKET_MODE: '0660' });
    expect(statSync(socket).mode & 0o777).toBe(0o660);
    // The agent runs as root here: group 0 is its group.
    expect(await connectAs(0, socket)).toBe('connected');
    expect(await connectAs(65534, socket)).toBe('EACCES');
  });

  it('refuses a directory open to others, naming it', async () => {
    const dir = join(fleet.root, 'open-dir');
    mkdirSync(dir, { mode: 0o755 });
    const refused = fleet.agent('open', {
      PAIRLINK_SOCKET: join(dir, 'agent.sock'),
      PAIRLINK_SOCKET_MODE: '0660',
    });
    await expect(refused).rejects.toThrow(/open-dir is open to other users \(mode 755\)/);
  });
});
