import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnAccept } from '../support/accept-process.js';
import { type AgentProcess, relayWithAgents } from '../support/agent-process.js';
import { PAIRLINK_BIN } from '../support/relay-process.js';
import { waitFor } from '../support/wait-for.js';

// An invite is a bearer secret: no other local user may see it in the process list while
// `pairlink accept` runs (croc's CVE-2023-43621). docs/SECURITY.md §Local users.

interface Created {
  id: string;
  url?: string;
  customUrl?: string;
  code?: string;
}

const fleet = relayWithAgents();
let ann: AgentProcess;
let ben: AgentProcess;
beforeAll(async () => {
  [ann, ben] = await Promise.all([fleet.agent('ann'), fleet.agent('ben')]);
});

/** The secret part of an invite URL (its fragment payload) or a code's symbols. */
function secretOf(invite: Created): string {
  return invite.url ? invite.url.split('#')[1]! : invite.code!.replace(/-/g, '');
}

function runAccept(args: string[], opts: { stdin?: string; env?: NodeJS.ProcessEnv } = {}) {
  return spawnAccept(
    { ...ben.env, ...opts.env },
    args,
    opts.stdin === undefined ? {} : { stdin: opts.stdin },
  );
}

async function pairedWith(agent: AgentProcess, name: string): Promise<boolean> {
  const peers = (await agent.json<{ name: string }[]>(['peers'])).value;
  return peers.some((p) => p.name === name);
}

describe('the invite never shows in the process list', () => {
  it('the argument form is scrubbed from /proc/<pid>/cmdline while accept waits', async () => {
    const invite = (await ann.json<Created>(['invite'])).value;
    const secret = secretOf(invite);
    // The issuer is away, so accept waits for it; meanwhile another user reads the process list.
    await ann.stop();
    // It is stopped below; the long wait only keeps it waiting however slow the machine is.
    const run = runAccept([invite.url!, '--wait', '10m']);
    try {
      // Look once accept says it waits for the issuer (its title was set before that).
      await waitFor(() => run.output().stderr.includes('Pairing'), 'accept to wait for the issuer');
      const cmdline = readFileSync(`/proc/${run.child.pid}/cmdline`, 'latin1');
      expect(cmdline.replace(/\0+/g, ' ').trim()).toBe('pairlink accept');
      expect(cmdline).not.toContain(secret);
      expect(cmdline).not.toContain(secret.slice(0, 12));
    } finally {
      run.child.kill('SIGTERM');
      await run.exited;
      await ann.restart();
    }
  });

  it('`accept -` reads the invite from stdin and pairs', async () => {
    const invite = (await ann.json<Created>(['invite'])).value;
    const run = runAccept(['-', '--wait', '15s'], { stdin: `${invite.url}\n` });
    expect(await run.exited).toBe(0);
    expect(run.output().stdout).toMatch(/Paired with ann/);
  });

  it('`accept` with no argument reads a piped code from stdin and pairs', async () => {
    const invite = (await ann.json<Created>(['invite', '--format', 'code'])).value;
    const run = runAccept(['--wait', '15s', '--json'], { stdin: invite.code! });
    expect(await run.exited).toBe(0);
    expect(JSON.parse(run.output().stdout).status).toBe('paired');
  });

  it('PAIRLINK_INVITE is used when there is no argument, and pairs', async () => {
    const invite = (await ann.json<Created>(['invite'])).value;
    const run = runAccept(['--wait', '15s'], { env: { PAIRLINK_INVITE: invite.url! }, stdin: '' });
    expect(await run.exited).toBe(0);
    expect(await pairedWith(ben, 'ann')).toBe(true);
  });

  it('in a terminal it prompts and does not echo the invite', async () => {
    const invite = (await ann.json<Created>(['invite'])).value;
    // script(1) gives the command a real pseudo-terminal; what it prints is the terminal's screen.
    const command = `'${process.execPath}' '${PAIRLINK_BIN}' accept --wait 15s`;
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      env: ben.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let screen = '';
    child.stdout.on('data', (d) => {
      screen += d;
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await waitFor(() => screen.includes('not shown'), 'the prompt');
    child.stdin.write(`${invite.url}\r`);
    expect(await exited).toBe(0);
    expect(screen).toContain('Paste the invite');
    expect(screen).toMatch(/Paired with ann/);
    expect(screen).not.toContain(secretOf(invite).slice(0, 12));
  });

  it('in a terminal, the argument form says once that other local users could see it', async () => {
    const invite = (await ann.json<Created>(['invite'])).value;
    const command = `'${process.execPath}' '${PAIRLINK_BIN}' accept '${invite.url}' --wait 15s`;
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      env: ben.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let screen = '';
    child.stdout.on('data', (d) => {
      screen += d;
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    expect(await exited).toBe(0);
    expect(screen.match(/visible to other local users/g)?.length ?? 0).toBe(1);
    expect(screen).toMatch(/Paired with ann/);
    // Piped (a script), it says nothing of the kind.
    const piped = await ben.cli([
      'accept',
      (await ann.json<Created>(['invite'])).value.url!,
      '--wait',
      '15s',
    ]);
    expect(piped.code).toBe(0);
    expect(piped.stderr).not.toMatch(/visible to other local users/);
  });

  it('an over-long invite on stdin is refused in one line, without a stack', async () => {
    const run = runAccept(['-'], { stdin: 'x'.repeat(20_000) });
    expect(await run.exited).not.toBe(0);
    const { stderr } = run.output();
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).not.toMatch(/\bat .*:\d+/);
  });

  it('the URL handler takes the link from PAIRLINK_INVITE, hands it over, and the pairing completes', async () => {
    const invite = (await ann.json<Created>(['invite'])).value;
    // No terminal emulator on PATH here: the handler says how to follow the accept instead.
    const run = runAccept(['--url-handler'], {
      env: { PAIRLINK_INVITE: invite.customUrl!, PATH: '/nonexistent' },
      stdin: '',
    });
    expect(await run.exited, JSON.stringify(run.output())).toBe(4);
    expect(run.output().stderr).toMatch(/accept --follow \w+/);
    const id = /--follow (\w+)/.exec(run.output().stderr)![1]!;
    const followed = runAccept(['--follow', id, '--wait', '15s', '--json'], { stdin: '' });
    expect(await followed.exited).toBe(0);
    expect(JSON.parse(followed.output().stdout).status).toBe('paired');
  });
});
