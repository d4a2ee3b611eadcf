import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../cli/main.js';
import { checkPublicUrl, otherMachineLines } from '../../cli/public-url.js';
import { captureIo } from '../support/capture-io.js';

// `pairlink up --host ADDR --public-url URL` (README, "Two machines"): each mistake in them is one
// sentence and exit 2, decided before anything listens or any file is written.

/** Runs `pairlink up ARGS` in-process with a --dir that must stay unwritten. */
async function up(args: string[]) {
  const io = captureIo();
  const dir = join(mkdtempSync(join(tmpdir(), 'pl-up-')), 'never-created');
  const code = await main(['up', '--dir', dir, ...args], io);
  expect(existsSync(dir), 'up wrote its directory').toBe(false);
  return { code, err: io.stderr.join('\n'), out: io.stdout.join('\n') };
}

describe('pairlink up --host / --public-url', () => {
  it.each([
    [['--public-url', '192.0.2.1:7457'], /--public-url must be a URL like http:\/\/192\.0\.2\.1:7457/],
    [['--public-url', 'ftp://192.0.2.1'], /--public-url must be an http:\/\/ or https:\/\/ URL, not ftp:/],
    [['--public-url', 'https://me:pw@relay.example'], /must not carry a user name or password/],
    [['--public-url', 'https://relay.example/?x=1'], /must not carry a query or fragment/],
    [['--public-url', 'https://relay.example/#x'], /must not carry a query or fragment/],
    [
      ['--public-url', 'http://0.0.0.0:7457'],
      /names 0\.0\.0\.0, an unspecified address, which other agents refuse/,
    ],
    [['--public-url', 'http://169.254.1.1:7457'], /a link-local address/],
    [['--host', 'relay.example'], /--host must be an IP address of this machine/],
    [['--host', '0.0.0.0'], /--host 0\.0\.0\.0 listens on every address: --public-url must say/],
    [['--host', '::'], /--host :: listens on every address: --public-url must say/],
  ])('up %j is a usage error (exit 2) with one sentence', async (args, sentence) => {
    const result = await up(args);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(sentence);
    expect(result.err).not.toMatch(/\n\s+at /); // no stack trace
    expect(result.out).toBe('');
  });

  it('reads the relay settings of `pairlink agent` from the environment, checked up front', async () => {
    const saved = process.env.PAIRLINK_ALLOW_INSECURE_RELAYS;
    process.env.PAIRLINK_ALLOW_INSECURE_RELAYS = 'yes';
    try {
      const result = await up([]);
      expect(result.code).toBe(2);
      expect(result.err).toMatch(/PAIRLINK_ALLOW_INSECURE_RELAYS must be 1 or 0/);
    } finally {
      if (saved === undefined) delete process.env.PAIRLINK_ALLOW_INSECURE_RELAYS;
      else process.env.PAIRLINK_ALLOW_INSECURE_RELAYS = saved;
    }
  });

  it('a public URL is kept in the canonical form invites carry', () => {
    expect(checkPublicUrl('http://192.0.2.1:7457/')).toBe('http://192.0.2.1:7457');
    expect(checkPublicUrl('HTTPS://Relay.Example/pairlink/')).toBe('https://relay.example/pairlink');
    expect(checkPublicUrl('https://relay.example:443')).toBe('https://relay.example');
    expect(checkPublicUrl('http://[2001:db8::1]:7457')).toBe('http://[2001:db8::1]:7457');
  });

  it('tells what to run on the other machine: the plain-http opt-in in plain sight, none for https', () => {
    const http = otherMachineLines('http://192.0.2.1:7457').join('\n');
    expect(http).toContain('the links name this relay at http://192.0.2.1:7457');
    expect(http).toMatch(/^ {2}PAIRLINK_ALLOW_INSECURE_RELAYS=1 pairlink up\b/m);
    expect(http).toMatch(/^ {2}pairlink accept\b/m);
    const https = otherMachineLines('https://relay.example').join('\n');
    expect(https).toContain('the links name this relay at https://relay.example');
    expect(https).toMatch(/^ {2}pairlink up\b/m);
    expect(https).not.toContain('PAIRLINK_ALLOW_INSECURE_RELAYS');
  });
});
