import { describe, expect, it } from 'vitest';
import { peerListLines } from '../../bots/core/render.js';
import type { PeerInfo } from '../../src/rpc/protocol.js';

const peer = (name: string, more: Partial<PeerInfo> = {}): PeerInfo => ({
  did: `did:key:z6Mk${name}`,
  name,
  fingerprint: 'ab12',
  pairedAt: '2026-12-01T10:00:00.000Z',
  relayUrl: 'https://relay.example.org',
  relation: 'peer',
  confirmed: true,
  inbox: true,
  ...more,
});

describe("the bots' /peers and !pair peers", () => {
  it('show each peer’s states: last contact, unconfirmed, no inbox (a one-sided unpair), device', () => {
    expect(
      peerListLines([
        peer('ann', { lastContact: '2026-12-06T14:05:09.000Z' }),
        peer('ben', { confirmed: false, inbox: false }),
        peer('laptop', { relation: 'device', inbox: false }),
      ]),
    ).toEqual([
      '**ann** `did:key:z6Mkann` · last contact 2026-12-06 14:05 UTC',
      '**ben** `did:key:z6Mkben` · unconfirmed: it never acknowledged the pairing · no inbox: an unpair reaches only this side · no contact since pairing',
      '**laptop** `did:key:z6Mklaptop` · another device of this identity · no contact since pairing',
    ]);
  });

  it('say how many more there are past the first 20', () => {
    const many = Array.from({ length: 23 }, (_, i) => peer(`p${i}`));
    const lines = peerListLines(many);
    expect(lines).toHaveLength(21);
    expect(lines.at(-1)).toBe('…and 3 more (`pairlink peers` lists them all)');
    expect(peerListLines([])).toEqual(['No peers yet.']);
  });

  it('fit in one chat message (Discord takes 2,000 characters) however long the names', () => {
    const long = Array.from({ length: 20 }, (_, i) =>
      peer(`${'n'.repeat(60)}${i}`, { confirmed: false, inbox: false }),
    );
    const lines = peerListLines(long);
    expect(lines.join('\n').length).toBeLessThanOrEqual(2000);
    expect(lines.at(-1)).toMatch(/^…and \d+ more/);
  });
});
