import { describe, expect, it } from 'vitest';
import { integrityLine } from '../../cli/commands/log.js';
import { main } from '../../cli/main.js';
import { mintUrlInvite } from '../../src/handshake/mint.js';
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

  it('inspect says whether this agent would accept the relay a link names (the relay-URL policy)', async () => {
    const now = Math.floor(Date.now() / 1000);
    const alice = makeParty('alice', now);
    const link = (relay: string) =>
      mintUrlInvite(alice.identity, resolveInvitePolicy({}), relay, now, alice.random).webUrl;
    const inspect = async (url: string, own: string) => {
      const io = captureIo();
      expect(await main(['inspect', url, '--relay', own, '--json'], io)).toBe(0);
      return JSON.parse(io.stdout[0]!).relayCheck;
    };
    expect(await inspect(link('https://relay.example'), 'https://relay.example')).toEqual({ accepted: true });
    expect(await inspect(link('https://169.254.169.254'), 'https://relay.example')).toEqual({
      accepted: false,
      reason: 'https://169.254.169.254 is a metadata address',
    });
    expect((await inspect(link('https://other.example'), 'https://relay.example')).reason).toContain(
      'another relay',
    );
    const human = captureIo();
    await main(['inspect', link('http://relay.example.net'), '--relay', 'https://relay.example'], human);
    expect(human.stdout.join('')).toContain('would refuse it: http://relay.example.net is plain http');
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
