import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { beforeAll, describe, expect, it } from 'vitest';
import { type AgentProcess, relayWithAgents, testRoot } from '../support/agent-process.js';
import { PAIRLINK_BIN } from '../support/relay-process.js';

// The examples under examples/ run as a user would run them, against real agents and a relay:
// each mints an invite, prints it, waits until a second agent pairs, and lists the peers.

const REPO = resolve(PAIRLINK_BIN, '../../..');
const fleet = relayWithAgents();
let ann: AgentProcess;
let ben: AgentProcess;
/** A PATH with node and the system's tools but no `pairlink`. */
let bare: string;
beforeAll(async () => {
  [ann, ben] = await Promise.all([fleet.agent('ann'), fleet.agent('ben')]);
  const bin = join(testRoot(), 'bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  bare = `${bin}:/usr/bin:/bin`;
});

async function runExample(command: string, args: string[], path = process.env.PATH): Promise<string> {
  const child = spawn(command, args, {
    cwd: REPO,
    env: { ...ann.env, PATH: path },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let stderr = '';
  child.stderr!.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  let accepted: Promise<unknown> | null = null;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    output += `${line}\n`;
    const invite = /^invite (\S+)$/.exec(line)?.[1];
    // The other side accepts what the example handed on.
    if (invite && !accepted) accepted = ben.json(['accept', invite, '--wait', '20s']);
  });
  const code = await exited;
  expect(code, `${output}\n${stderr}`).toBe(0);
  expect(accepted).not.toBeNull();
  return output;
}

describe('examples', () => {
  it('examples/pair.sh (pairlink wait and --json, no jq), with pairlink on PATH as the README says', async () => {
    // README, "The CLI": in a clone, export PATH="$PWD/dist/bin:$PATH".
    const output = await runExample('sh', ['examples/pair.sh'], `${join(REPO, 'dist', 'bin')}:${bare}`);
    expect(output).toMatch(/^paired with ben$/m);
    expect(output).toMatch(/"name":"ben"/);
  });

  it("examples/pair.sh from a clone without pairlink on PATH: the clone's built CLI", async () => {
    const found = spawnSync('sh', ['-c', 'command -v pairlink'], { env: { PATH: bare } });
    expect(found.status, 'no pairlink on this PATH').not.toBe(0);
    const output = await runExample('sh', ['examples/pair.sh'], bare);
    expect(output).toMatch(/^paired with ben$/m);
  });

  it('examples/pair.py (Python standard library over the Unix socket)', async () => {
    const output = await runExample('python3', ['examples/pair.py']);
    expect(output).toMatch(/^paired with ben$/m);
    expect(JSON.parse(output.trim().split('\n').at(-1)!)).toContainEqual(
      expect.objectContaining({ name: 'ben' }),
    );
  });

  it('examples/pair.ts (pairlink/client)', async () => {
    const output = await runExample(process.execPath, ['dist/examples/pair.js']);
    expect(output).toMatch(/^paired with ben$/m);
    expect(JSON.parse(output.trim().split('\n').at(-1)!)).toContainEqual(
      expect.objectContaining({ name: 'ben' }),
    );
  });
});
