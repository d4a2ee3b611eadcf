import { describe, expect, it } from 'vitest';
import { warmHandshake } from '../../agent/warm-up.js';

describe('handshake warm-up at agent start', () => {
  it('runs whole pairings in memory, one per event-loop turn, and stops when told', async () => {
    let turns = 0;
    const ticker = setInterval(() => turns++, 0);
    expect(await warmHandshake(() => false, 6)).toBe(6); // every round a whole pairing, ended paired
    clearInterval(ticker);
    expect(turns).toBeGreaterThan(0); // timers ran in between: the loop was not held
    let asked = 0;
    expect(await warmHandshake(() => asked++ >= 3, 10)).toBe(3); // stopped after 3 of 10
  });

  it('stops at once for an agent that is already stopping', async () => {
    let asked = 0;
    const stopping = () => ++asked > 0;
    expect(await warmHandshake(stopping)).toBe(0); // not one pairing
    expect(asked).toBe(1); // asked once, before the first round
  });
});
