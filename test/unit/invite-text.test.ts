import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { acceptText } from '../../bots/core/commands/accept.js';
import { accept as discordAccept } from '../../bots/discord/commands/accept.js';
import { main } from '../../cli/main.js';
import { mintCodeInvite, mintUrlInvite } from '../../src/handshake/mint.js';
import { resolveInvitePolicy } from '../../src/invite/invite-policy.js';
import { parseInviteText } from '../../src/invite/invite-text.js';
import { MAX_INVITE_TEXT_LENGTH } from '../../src/invite/invite-url.js';
import { PARAM_SCHEMAS } from '../../src/rpc/schemas.js';
import { captureIo } from '../support/capture-io.js';
import { makeParty } from '../support/pairing-harness.js';

const NOW = 1_800_000_000;

/** The stable code `parse` throws with, or 'OK'. */
function codeOf(parse: () => unknown): string {
  try {
    parse();
  } catch (error) {
    return (error as { code?: string }).code ?? 'not a PairlinkError';
  }
  return 'OK';
}

describe('parseInviteText: the one place that tells a link from a code', () => {
  const alice = makeParty('alice', NOW);
  const link = mintUrlInvite(
    alice.identity,
    resolveInvitePolicy({}),
    'https://relay.example',
    NOW,
    alice.random,
  );
  const code = mintCodeInvite(
    resolveInvitePolicy({ format: 'code' }),
    'K7Q',
    new Uint8Array(16),
    NOW,
    alice.random,
  );

  it('a link, in either form and with whitespace around it, is a verified invite', () => {
    for (const text of [link.webUrl, `  ${link.customUrl}\n`]) {
      const parsed = parseInviteText(text, NOW);
      expect(parsed.form).toBe('url');
      if (parsed.form === 'url') expect(parsed.invite.issuerDid).toBe(alice.identity.did);
    }
  });

  it('anything else is read as a code: case, hyphens and spaces as typed', () => {
    const typed = ` ${code.text.toLowerCase().replaceAll('-', ' ')} `;
    expect(parseInviteText(typed, NOW)).toEqual({
      form: 'code',
      code: { nameplate: 'K7Q', secret: expect.any(String) },
    });
  });

  it('each form fails with its own parser’s code', () => {
    expect(codeOf(() => parseInviteText(`${link.webUrl.slice(0, -2)}AA`, NOW))).toBe('BAD_SIGNATURE');
    expect(codeOf(() => parseInviteText(`${link.webUrl}${'A'.repeat(MAX_INVITE_TEXT_LENGTH)}`, NOW))).toBe(
      'TOO_LARGE',
    );
    expect(codeOf(() => parseInviteText(link.webUrl, NOW + 30 * 86_400))).toBe('INVITE_EXPIRED');
    const typo = code.text.slice(0, -1) + (code.text.endsWith('0') ? '1' : '0');
    expect(codeOf(() => parseInviteText(typo, NOW))).toBe('CODE_TYPO');
    expect(codeOf(() => parseInviteText('not an invite', NOW))).toBe('MALFORMED');
  });
});

describe('one bound for invite text, at every surface that takes it', () => {
  const atBound = 'A'.repeat(MAX_INVITE_TEXT_LENGTH);
  const overBound = 'A'.repeat(MAX_INVITE_TEXT_LENGTH + 1);

  it('the RPC schema, the bots and the Discord command definition take the same longest text', () => {
    const schema = PARAM_SCHEMAS['invite.accept'];
    expect(schema.safeParse({ invite: atBound }).success).toBe(true);
    expect(schema.safeParse({ invite: overBound }).success).toBe(false);
    expect(acceptText(atBound)).toBe(atBound);
    expect(() => acceptText(overBound)).toThrow(/too long to be an invite/);
    const option = discordAccept.data.options.find((o) => o.name === 'invite');
    expect(option?.max_length).toBe(MAX_INVITE_TEXT_LENGTH);
  });

  it('pairlink accept refuses a longer one itself, before it looks for an agent', async () => {
    // No agent at this socket: an invite the CLI sent on would fail for that instead.
    const dir = mkdtempSync(join(tmpdir(), 'pairlink-invite-text-'));
    const socket = process.env.PAIRLINK_SOCKET;
    process.env.PAIRLINK_SOCKET = join(dir, 'agent.sock');
    try {
      const io = captureIo();
      expect(await main(['accept', overBound], io)).toBe(2);
      expect(io.stderr.join('\n')).toMatch(/the invite is too long/);
    } finally {
      if (socket === undefined) delete process.env.PAIRLINK_SOCKET;
      else process.env.PAIRLINK_SOCKET = socket;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
