import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.js';
import { mintUrlInvite } from '../../src/handshake/mint.js';
import { resolveInvitePolicy } from '../../src/invite/invite-policy.js';
import { formatShortCode, parseShortCode } from '../../src/invite/short-code.js';
import { captureIo } from '../support/capture-io.js';
import { makeParty } from '../support/pairing-harness.js';

// A person's mistakes get a headline that says what they did, the exit code for it, and never
// "a bug". None of these needs an agent: each is decided before the CLI would connect to one.

/** Runs the CLI and returns its exit code with everything it printed. */
async function run(args: string[]) {
  const io = captureIo();
  const code = await main(args, io);
  return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
}

describe('pairlink inspect', () => {
  it('an expired link is INVITE_EXPIRED (exit 1), even within the clock-skew allowance', async () => {
    const now = Math.floor(Date.now() / 1000);
    const minted = now - 100; // minted 100 s ago with a 30 s life: expired 70 s ago
    const alice = makeParty('alice', minted);
    const { webUrl } = mintUrlInvite(
      alice.identity,
      resolveInvitePolicy({ ttlSeconds: 30 }),
      'https://relay.example',
      minted,
      alice.random,
    );
    const json = await run(['inspect', webUrl, '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.out).error.code).toBe('INVITE_EXPIRED');
    const human = await run(['inspect', webUrl]);
    expect(human.code).toBe(1);
    expect(human.out).not.toContain('Valid');
    expect(human.err).toMatch(/^pairlink: That invite has expired.*expired at \d{4}-/);
  });

  it('a code with a typo says it has a typo (CODE_TYPO), not that it is no pairlink code', async () => {
    const good = formatShortCode({ nameplate: 'K7Q', secret: 'ABCDEFGH' });
    const last = good.at(-1) === '0' ? '1' : '0';
    const typo = `${good.slice(0, -1)}${last}`;
    expect(() => parseShortCode(typo)).toThrow();
    const json = await run(['inspect', typo, '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.out).error.code).toBe('CODE_TYPO');
    const human = await run(['inspect', typo]);
    expect(human.err).toMatch(/^pairlink: That code has a typo/);
    expect(human.err).not.toContain('not a pairlink');
  });
});

describe('pairlink invite: flags out of range are usage errors with the range in words', () => {
  it.each([
    [['--ttl', '5s'], '--ttl is between 30s and 7d'],
    [['--ttl', '400d'], '--ttl is between 30s and 7d'],
    [['--ttl', '2h', '--format', 'code'], '--ttl is between 30s and 1h for a code'],
    [['--ttl', '20m', '--mode', 'device'], '--ttl is between 30s and 15m for a device invite'],
    [['--uses', '0'], '--uses is between 1 and 1000'],
    [['--uses', '1001'], '--uses is between 1 and 1000'],
  ])('invite %j', async (flags, range) => {
    const result = await run(['invite', ...flags]);
    expect(result.code).toBe(2);
    expect(result.err).toContain(range);
    expect(result.err).not.toContain('ttlSeconds');
  });

  it('--help shows the ranges', async () => {
    const help = await run(['invite', '--help']);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/--ttl .*30s to 7d for a link/);
    expect(help.out).toMatch(/30s to 1h for a code/);
    expect(help.out).toMatch(/--uses .*1 to 1000/);
  });
});

describe('command-line typos', () => {
  it('an unknown option is named once, with balanced quotes and a suggestion', async () => {
    const result = await run(['accept', '--wiat', '10s']);
    expect(result.code).toBe(2);
    const first = result.err.split('\n')[0]!;
    expect(first).toBe('pairlink: unknown option --wiat for accept (did you mean --wait?)');
    expect(result.err).toContain('Usage: pairlink accept');
  });

  it('an unknown command suggests the nearest one', async () => {
    const result = await run(['invte', '--json']);
    expect(result.code).toBe(2);
    expect(JSON.parse(result.out).error.message).toBe(
      'unknown command "invte" (did you mean invite? see pairlink --help)',
    );
    const far = await run(['frobnicate']);
    expect(far.err).toBe('pairlink: unknown command "frobnicate" (see pairlink --help)');
  });
});

describe('a port in use', () => {
  let holder: Server | undefined;
  afterEach(() => holder?.close());

  it('names the port and what probably holds it, with the exit code for unavailable (3)', async () => {
    holder = createServer();
    const port = await new Promise<number>((resolve) =>
      holder!.listen(0, '127.0.0.1', () => resolve((holder!.address() as { port: number }).port)),
    );
    const json = await run(['relay', '--host', '127.0.0.1', '--port', String(port), '--json']);
    expect(json.code).toBe(3);
    expect(JSON.parse(json.out.split('\n').at(-1)!).error.code).toBe('PORT_IN_USE');
    const human = await run(['relay', '--host', '127.0.0.1', '--port', String(port)]);
    expect(human.code).toBe(3);
    expect(human.err).toContain(`127.0.0.1:${port}`);
    expect(human.err).toMatch(/another `pairlink up` or `pairlink relay`/);
    expect(human.err).not.toMatch(/bug|EADDRINUSE/);
  });
});
