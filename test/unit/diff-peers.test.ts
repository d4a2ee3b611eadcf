import { describe, expect, it } from 'vitest';
import type { PeerRecord } from '../../agent/state/agent-state.js';
import { diffPeers } from '../../agent/state/state-changes.js';

// What a save appends for the peers (agent/state/durable-state.ts): the records that are not the
// same object as in the last save, and the dids gone; in one pass when the list kept its order.

const peer = (did: string, name = did): PeerRecord => ({
  did,
  name,
  card: new Uint8Array(1),
  pairedAt: '2026-12-06T00:00:00.000Z',
  relayUrl: 'https://relay.example',
  relation: 'peer',
});
const [a, b, c] = [peer('a'), peer('b'), peer('c')];

describe('diffPeers', () => {
  it('the same list: nothing', () => {
    const list = [a, b, c];
    expect(diffPeers(list, list)).toEqual({ put: [], del: [] });
    expect(diffPeers(list, [a, b, c])).toEqual({ put: [], del: [] });
  });

  it('records changed in place: those alone', () => {
    const b2 = { ...b, lastCounter: 1 };
    const c2 = { ...c, lastCounter: 1 };
    expect(diffPeers([a, b, c], [a, b2, c2])).toEqual({ put: [b2, c2], del: [] });
  });

  it('a peer removed, added, replaced under another did, or the order changed', () => {
    const d = peer('d');
    expect(diffPeers([a, b, c], [a, c])).toEqual({ put: [], del: ['b'] });
    expect(diffPeers([a, b], [a, b, d])).toEqual({ put: [d], del: [] });
    expect(diffPeers([a, b, c], [a, d, c])).toEqual({ put: [d], del: ['b'] });
    expect(diffPeers([a, b, c], [c, b, a])).toEqual({ put: [], del: [] });
    const a2 = { ...a, name: 'renamed' };
    expect(diffPeers([a, b], [b, a2])).toEqual({ put: [a2], del: [] });
  });
});
