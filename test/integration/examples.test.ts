import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
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
let bin: string;
beforeAll(async () => {
  [ann, ben] = await Promise.all([fleet.agent('ann'), fleet.agent('ben')]);
  // `pairlink` on PATH, as an installed package puts it there.
  bin = join(testRoot(), 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'pairlink'), `#!/bin/sh\nexec '${process.execPath}' '${PAIRLINK_BIN}' "$@"\n`);
  chmodSync(join(bin, 'pairlink'), 0o755);
});

async function runExample(command: string, args: string[]): Promise<string> {
  const child = spawn(command, args, {
    cwd: REPO,
    env: { ...ann.env, PATH: `${bin}:${process.env.PATH}` },
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
  it('examples/pair.sh (pairlink wait and --json, no jq)', async () => {
    const output = await runExample('sh', ['examples/pair.sh']);
    expect(output).toMatch(/^paired with ben$/m);
    expect(output).toMatch(/"name":"ben"/);
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
