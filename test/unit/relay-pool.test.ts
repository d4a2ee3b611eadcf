import { describe, expect, it } from 'vitest';
import { RelayPool } from '../../agent/relay-pool.js';
import type { RelayTransport } from '../../agent/relay-transport.js';
import { PairlinkError } from '../../src/errors.js';

/** A transport that only records that it was opened and closed: the pool's bookkeeping is under test. */
function recordingFactory() {
  const opened: string[] = [];
  const closed: string[] = [];
  const factory = (url: string) => {
    opened.push(url);
    return {
      watchCount: 0,
      socketCount: 0,
      connected: false,
      close: () => closed.push(url),
    } as unknown as RelayTransport;
  };
  return { opened, closed, factory };
}

const handlers = {
  onMessage() {},
  onMailboxGone() {},
  onConnectionChange() {},
  onTrouble() {},
};

describe('RelayPool', () => {
  it('opens a relay on demand, once, and closes it in a sweep when nothing uses it', () => {
    const { opened, closed, factory } = recordingFactory();
    const pool = new RelayPool('https://home.example/', factory, handlers);
    pool.get('https://other.example');
    pool.get('https://other.example/');
    expect(opened).toEqual(['https://home.example', 'https://other.example']);
    pool.sweep(new Set());
    expect(closed).toEqual(['https://other.example']);
    expect(pool.size).toBe(1);
  });

  it('opens nothing once closed: a post or receipt still in flight when the agent stops gets AGENT_UNAVAILABLE, not a new connection', async () => {
    const { opened, closed, factory } = recordingFactory();
    const pool = new RelayPool('https://home.example', factory, handlers);
    pool.close();
    expect(closed).toEqual(['https://home.example']);
    const refused = (run: () => unknown) => {
      try {
        run();
      } catch (error) {
        return (error as PairlinkError).code;
      }
      return 'opened';
    };
    expect(refused(() => pool.get('https://other.example'))).toBe('AGENT_UNAVAILABLE');
    expect(refused(() => pool.home)).toBe('AGENT_UNAVAILABLE');
    await expect(pool.holding('https://other.example', async () => 'ran')).rejects.toBeInstanceOf(
      PairlinkError,
    );
    expect(opened).toEqual(['https://home.example']);
  });
});
