import { describe, expect, it } from 'vitest';
import { type AcceptForm, type InviteView, inviteLines } from '../../bots/core/render.js';
import { DEFAULT_RELAY_URL } from '../../src/config/schema.js';

const other = 'https://relay.example.org';
const form: AcceptForm = (relay) =>
  relay ? `/accept invite:<the code> relay:${relay}` : '/accept invite:<the link or code>';
const at = (iso: string) => iso.slice(0, 10);

function view(invite: Partial<InviteView['invite']>, state: InviteView['state'] = 'open'): InviteView {
  return {
    invite: { id: 'ID1', expiresAt: '2026-12-06T08:00:00.000Z', usesLeft: 1, ...invite },
    minter: 'mod',
    state,
  };
}

describe('an invite message and its relay', () => {
  it('a code on another relay than the default: the relay beside it, in both accept commands', () => {
    expect(inviteLines(view({ code: 'ABCD-EFGH-JKLM', relayUrl: other }), at, form)).toEqual([
      '**pairlink invite** `ID1` from mod',
      'Code: `ABCD-EFGH-JKLM`',
      `Relay: \`${other}\` (a code carries none: give this one when accepting)`,
      'Expires 2026-12-06 · 1 use left',
      `Accept with: \`/accept invite:<the code> relay:${other}\` (or run \`pairlink accept --relay ${other}\` and paste it)`,
      'Waiting for someone to accept.',
    ]);
  });

  it('a code on the default relay, a link anywhere, and a message remembered without its relay: none shown', () => {
    const plain = 'Accept with: `/accept invite:<the link or code>` (or run `pairlink accept` and paste it)';
    for (const invite of [
      { code: 'ABCD-EFGH-JKLM', relayUrl: DEFAULT_RELAY_URL },
      { url: `${other}/i#x`, relayUrl: other },
      { code: 'ABCD-EFGH-JKLM' },
    ]) {
      const lines = inviteLines(view(invite), at, form);
      expect(lines).toContain(plain);
      expect(lines.join('\n')).not.toMatch(/Relay|--relay/);
    }
  });

  it('a finished invite shows neither its code nor its relay', () => {
    const lines = inviteLines(view({ code: 'ABCD-EFGH-JKLM', relayUrl: other }, 'expired'), at, form);
    expect(lines.join('\n')).not.toMatch(/ABCD|relay/i);
  });
});
