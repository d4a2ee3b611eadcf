import { readFileSync, symlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { testRoot } from '../support/agent-process.js';
import { freePort } from '../support/free-port.js';
import {
  README,
  REPO,
  type ShStep,
  readmeSection as section,
  shBlocks,
  startSh,
} from '../support/readme-steps.js';

// README.md read top to bottom by a newcomer: `npm start` in one terminal, then the commands of
// "Try it: two agents on one machine" as written there, each terminal's block run by sh in a
// directory laid out like a built clone. Only the relay port differs (a free one, not 7457).

const started: ShStep[] = [];
afterAll(() => Promise.all(started.map((step) => step.stop())));

/** Runs `script` with sh in `cwd` (its own process group, stopped after the tests). */
function sh(cwd: string, script: string, env: NodeJS.ProcessEnv): ShStep {
  const step = startSh(cwd, script, env);
  started.push(step);
  return step;
}

describe('README: from a fresh clone to a pairing', () => {
  it('the second agent of "Try it" has a name of its own', () => {
    const agentLine = shBlocks(section('Try it: two agents on one machine'))
      .join('\n')
      .replace(/\\\n\s*/g, '')
      .split('\n')
      .find((line) => /\bpairlink agent\b/.test(line));
    expect(agentLine).toMatch(/\bPAIRLINK_NAME=\S+/);
  });

  it('the commands, as written, pair two agents that know each other by name', async () => {
    // A directory laid out like a clone after `npm ci`: the built dist/ (with its node_modules).
    const clone = testRoot();
    symlinkSync(join(REPO, 'dist'), join(clone, 'dist'));
    const env: NodeJS.ProcessEnv = Object.fromEntries(
      Object.entries(process.env).filter(([key]) => !key.startsWith('PAIRLINK_')),
    );
    const port = await freePort();

    // Terminal 1: `npm start` (which runs `node dist/bin/pairlink.cjs up`), on a free port.
    expect(shBlocks(section('The two commands'))[0]).toContain('npm start');
    expect(JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).scripts.start).toBe(
      'node dist/bin/pairlink.cjs up',
    );
    const up = sh(clone, `node dist/bin/pairlink.cjs up --port ${port}`, env);
    const home = (await up.until(/^ {2}home +(\S+)$/m))[1];
    // The README says where the first agent's home is.
    const stated = README.match(/agent's home in `\.\/([^`]+)`/)?.[1];
    expect(home).toBe(join(clone, stated ?? '(not stated)'));

    const [second, pairing] = shBlocks(section('Try it: two agents on one machine'));
    // Terminal 2: the second agent (the README's relay is the default, 127.0.0.1:7457; here the
    // free port, by the environment the agent also reads).
    const agent = sh(clone, second!, { ...env, PAIRLINK_RELAY: `http://127.0.0.1:${port}` });
    await agent.until(/agent ready/);

    // Terminal 3: invite, accept (the link pasted on stdin, as `pairlink accept` reads it), peers.
    const steps = sh(clone, pairing!, env);
    const link = (await steps.until(/^(http:\/\/127\.0\.0\.1:\d+\/i#\S+)$/m))[1]!;
    steps.child.stdin!.end(`${link}\n`);
    expect(await steps.exited, steps.output()).toBe(0);
    expect(steps.output()).toMatch(new RegExp(`^Paired with ${hostname()} \\(did:key:`, 'm'));
    // The first agent's peer list shows the second by its own name.
    expect(steps.output()).toMatch(/^second {2}did:key:/m);
  }, 90_000);
});
