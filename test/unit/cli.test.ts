import { describe, expect, it } from 'vitest';
import { integrityLine } from '../../cli/commands/log.js';
import { main } from '../../cli/main.js';
import { mintCodeInvite, mintUrlInvite } from '../../src/handshake/mint.js';
import { resolveInvitePolicy } from '../../src/invite/invite-policy.js';
import { captureIo } from '../support/capture-io.js';
import { makeParty } from '../support/pairing-harness.js';

describe('pairlink CLI', () => {
  it('demo pairs by URL and by code and says so in JSON', async () => {
    const io = captureIo();
    expect(await main(['demo', '--json'], io)).toBe(0);
    const result = JSON.parse(io.stdout.join(''));
    expect(result.paired).toBe(true);
    expect(result.url.issuerPinned).toEqual([result.url.acceptor]);
    expect(result.url.acceptorPinned).toEqual([result.url.issuer]);
    expect(result.code.code).toMatch(/^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
    expect(result.code.sas.digits).toMatch(/^\d{6}$/);
  });

  it('inspect verifies an invite locally; a tampered one fails with a stable code', async () => {
    const now = Math.floor(Date.now() / 1000);
    const alice = makeParty('alice', now);
    const { webUrl } = mintUrlInvite(
      alice.identity,
      resolveInvitePolicy({}),
      'https://relay.example',
      now,
      alice.random,
    );
    const ok = captureIo();
    expect(await main(['inspect', webUrl, '--json'], ok)).toBe(0);
    expect(JSON.parse(ok.stdout[0]!)).toMatchObject({ form: 'url', issuer: { did: alice.identity.did } });
    const tampered = `${webUrl.slice(0, -3)}${webUrl.at(-3) === 'A' ? 'B' : 'A'}${webUrl.slice(-2)}`;
    const bad = captureIo();
    expect(await main(['inspect', tampered, '--json'], bad)).toBe(1);
    expect(JSON.parse(bad.stdout[0]!).error.code).toMatch(/BAD_SIGNATURE|MALFORMED/);
    const human = captureIo();
    expect(await main(['inspect', tampered], human)).toBe(1);
    expect(human.stderr[0]).toMatch(/^pairlink: /);
  });

  it('inspect says whether this agent would accept the relay a link or code names (the relay-URL policy)', async () => {
    const now = Math.floor(Date.now() / 1000);
    const alice = makeParty('alice', now);
    const link = (relay: string) =>
      mintUrlInvite(alice.identity, resolveInvitePolicy({}), relay, now, alice.random).webUrl;
    const inspect = async (url: string, own: string) => {
      const io = captureIo();
      expect(await main(['inspect', url, '--agent-relay', own, '--json'], io)).toBe(0);
      return JSON.parse(io.stdout[0]!).relayCheck;
    };
    expect(await inspect(link('https://relay.example'), 'https://relay.example')).toEqual({ accepted: true });
    expect(await inspect(link('https://169.254.169.254'), 'https://relay.example')).toEqual({
      accepted: false,
      reason: 'https://169.254.169.254 is a metadata address',
    });
    // Another relay than the agent's own: a link is accepted on the relay it names.
    expect(await inspect(link('https://other.example'), 'https://relay.example')).toEqual({ accepted: true });
    const human = captureIo();
    await main(
      ['inspect', link('http://relay.example.net'), '--agent-relay', 'https://relay.example'],
      human,
    );
    expect(human.stdout.join('')).toContain('would refuse it: http://relay.example.net is plain http');
    // A code names no relay: --relay says which, and is checked the same way.
    const code = mintCodeInvite(
      resolveInvitePolicy({ format: 'code' }),
      '4ZZ',
      new Uint8Array(16),
      now,
      alice.random,
    ).text;
    const codeIo = captureIo();
    expect(
      await main(
        ['inspect', code, '--relay', 'https://10.0.0.1', '--agent-relay', 'https://relay.example', '--json'],
        codeIo,
      ),
    ).toBe(0);
    expect(JSON.parse(codeIo.stdout[0]!)).toMatchObject({
      form: 'code',
      relayUrl: 'https://10.0.0.1',
      relayCheck: { accepted: true },
    });
    const metadata = captureIo();
    await main(
      ['inspect', code, '--relay', 'http://169.254.169.254', '--agent-relay', 'https://relay.example'],
      metadata,
    );
    expect(metadata.stdout.join('')).toContain(
      'would refuse it: http://169.254.169.254 is a metadata address',
    );
    expect(
      await main(['inspect', link('https://relay.example'), '--relay', 'https://relay.example'], captureIo()),
    ).toBe(2);
  });

  it('usage errors exit 2 with a message', async () => {
    const io = captureIo();
    expect(await main(['inspect', '--bogus'], io)).toBe(2);
    expect(io.stderr.join('\n')).toContain('Usage: pairlink inspect');
    expect(await main(['nope', '--json'], io)).toBe(2);
    expect(JSON.parse(io.stdout.at(-1)!).error.code).toBe('INVALID_PARAMS');
    expect(await main(['--help'], io)).toBe(0);
  });

  it('pairlink log says in one sentence whether the history is intact, or where it was altered', () => {
    expect(integrityLine({ ok: true, checked: 3, beforeChain: 2 })).toBe(
      'History intact: 3 entries checked (2 older entries were written before the chain and cannot be checked).',
    );
    expect(
      integrityLine({ ok: false, checked: 2, beforeChain: 0, brokenAt: 1, reason: 'missing', missing: 1 }),
    ).toBe('Warning: the history was altered: entry 1 is missing (lines were deleted).');
    expect(
      integrityLine({ ok: false, checked: 2, beforeChain: 0, brokenAt: 2, reason: 'truncated', missing: 3 }),
    ).toBe(
      'Warning: the history was altered: the last 3 entries (from 2 on) are missing (the log was cut short).',
    );
  });
});
