import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { mintCodeInvite, mintUrlInvite } from '../../src/handshake/mint.js';
import { resolveInvitePolicy } from '../../src/invite/invite-policy.js';
import { spawnAccept } from '../support/accept-process.js';
import { type AgentProcess, relayWithAgents } from '../support/agent-process.js';
import { makeParty } from '../support/pairing-harness.js';
import { PAIRLINK_BIN } from '../support/relay-process.js';

// No path of the CLI (nor of the agent it talks to) leaves a promise rejection unhandled: a user's
// mistake is one sentence and an exit code, never a stack trace. The fast refusals are the ones
// that raced here (an expired link crashed `pairlink accept` in 6 runs of 10), so each case runs
// RUNS times, a few at once, against one real agent and relay.

const RUNS = 20;
const AT_ONCE = 4;

/** What Node prints for an uncaught error, and what the CLI's last-resort guard prints. */
const CRASH = [/^\s+at /m, /Node\.js v\d/, /\.c?js:\d+/, /a bug; please report it/];

const fleet = relayWithAgents();
let ben: AgentProcess;
beforeAll(async () => {
  ben = await fleet.agent('ben');
});

interface Case {
  readonly name: string;
  readonly args: string[];
  readonly stdin?: string;
  readonly exit: number;
  /** The one line on stderr (or the JSON error's code with --json). */
  readonly says: RegExp;
}

/** Invites that fail: an expired link, one naming a relay the agent will not contact, a live one cut short, an unknown code. */
function invites(relayUrl: string) {
  const now = Math.floor(Date.now() / 1000);
  const zed = makeParty('zed', now, relayUrl);
  const policy = resolveInvitePolicy({ ttlSeconds: 60 });
  const link = (at: number, relay: string) =>
    mintUrlInvite(zed.identity, policy, relay, at, zed.random).webUrl;
  const live = link(now, relayUrl);
  return {
    expired: link(now - 3600, relayUrl),
    metadataRelay: link(now, 'http://169.254.169.254'),
    truncated: live.slice(0, live.length - 9),
    unknownCode: mintCodeInvite(
      resolveInvitePolicy({ format: 'code' }),
      'ZZZ',
      zed.random(16),
      now,
      zed.random,
    ).text,
  };
}

function cases(relayUrl: string): Case[] {
  const i = invites(relayUrl);
  const wrongCheck = `${i.unknownCode.slice(0, -1)}${i.unknownCode.endsWith('0') ? '1' : '0'}`;
  return [
    { name: 'expired link as the argument', args: [i.expired], exit: 1, says: /invite has expired/ },
    { name: 'expired link on stdin', args: ['-'], stdin: `${i.expired}\n`, exit: 1, says: /has expired/ },
    { name: 'expired link piped, no argument', args: [], stdin: i.expired, exit: 1, says: /has expired/ },
    { name: 'expired link, --json', args: [i.expired, '--json'], exit: 1, says: /"INVITE_EXPIRED"/ },
    {
      name: 'a link naming a cloud-metadata relay',
      args: [i.metadataRelay],
      exit: 1,
      says: /will not contact that relay/,
    },
    { name: 'a truncated link', args: [i.truncated], exit: 1, says: /not a pairlink invite|signature/ },
    { name: 'a link with nothing after #', args: [`${relayUrl}/i#`], exit: 1, says: /not a pairlink invite/ },
    { name: '"hello world"', args: ['hello world'], exit: 1, says: /not a pairlink invite/ },
    { name: 'a code with a wrong check character', args: [wrongCheck], exit: 1, says: /code has a typo/ },
    { name: 'a code nobody minted', args: [i.unknownCode], exit: 1, says: /no longer there/ },
    { name: 'nothing on stdin', args: ['-'], stdin: '', exit: 2, says: /no invite given/ },
  ];
}

/** Runs one refusal to its end: stdin is closed (empty unless the case gives one). */
async function runAccept(args: string[], stdin: string | undefined) {
  const run = spawnAccept(ben.env, args, { stdin: stdin ?? '' });
  const code = await run.exited;
  return { code, ...run.output() };
}

describe('pairlink accept refuses bad invites in one sentence, every time', () => {
  it(`each refusal ${RUNS} times: its exit code, one line, no stack trace, no "Pairing…"`, async () => {
    const all = cases(fleet.relay.url);
    const runs = all.flatMap((c) => Array.from({ length: RUNS }, () => c));
    const failures: string[] = [];
    for (let start = 0; start < runs.length; start += AT_ONCE) {
      const batch = runs.slice(start, start + AT_ONCE);
      const results = await Promise.all(batch.map((c) => runAccept(c.args, c.stdin)));
      results.forEach((result, n) => {
        const c = batch[n]!;
        const output = `${result.stdout}${result.stderr}`;
        const json = c.args.includes('--json');
        const lines = (json ? result.stdout : result.stderr).trim().split('\n');
        const problem =
          result.code !== c.exit
            ? `exit ${result.code}`
            : CRASH.find((pattern) => pattern.test(output))
              ? 'a stack trace or crash'
              : output.includes('Pairing…')
                ? '"Pairing…" before the refusal'
                : lines.length !== 1 || !c.says.test(lines[0]!)
                  ? 'not the one expected line'
                  : null;
        if (problem) failures.push(`${c.name}: ${problem}\n${output}`);
      });
    }
    expect(`${failures.length} of ${runs.length} runs failed\n${failures.slice(0, 3).join('\n---\n')}`).toBe(
      `0 of ${runs.length} runs failed\n`,
    );
  }, 300_000);
});

describe('the last resort', () => {
  it('a rejection nobody handled is one line that says it is a bug, exit 1, no stack', async () => {
    // What bin/pairlink.ts installs first; the test above shows that no real path reaches it.
    const guard = pathToFileURL(join(dirname(PAIRLINK_BIN), '..', 'cli', 'rejection-guard.js')).href;
    const script = [
      `import { installRejectionGuard } from ${JSON.stringify(guard)};`,
      `import { PairlinkError } from ${JSON.stringify(new URL('../src/errors.js', guard).href)};`,
      'installRejectionGuard();',
      "Promise.reject(new PairlinkError('INVITE_EXPIRED', 'invite has expired'));",
    ].join('\n');
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(1);
    expect(output).toBe(
      'pairlink: Something went wrong inside pairlink (a bug; please report it): an unhandled rejection (INVITE_EXPIRED: invite has expired)\n',
    );
  });
});
