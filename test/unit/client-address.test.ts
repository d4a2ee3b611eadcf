import { describe, expect, it } from 'vitest';
import { clientAddress } from '../../relay/server/client-address.js';

describe('the client address behind proxies (X-Forwarded-For)', () => {
  it('trusting no proxy, it is the socket peer whatever the header says', () => {
    expect(clientAddress('192.0.2.1', '127.0.0.1', 0)).toBe('127.0.0.1');
  });

  it('trusting one proxy, it is the last entry (the one the proxy wrote)', () => {
    expect(clientAddress('192.0.2.99, 198.51.100.1', '127.0.0.1', 1)).toBe('198.51.100.1');
  });

  it('trusting two (a CDN, then nginx), it is the second from the right: left of it, the client writes', () => {
    expect(clientAddress('198.51.100.1, 203.0.113.10', '127.0.0.1', 2)).toBe('198.51.100.1');
    expect(clientAddress('192.0.2.99, 198.51.100.1, 203.0.113.10', '127.0.0.1', 2)).toBe('198.51.100.1');
    // Repeated headers are one list, in order.
    expect(clientAddress(['192.0.2.99, 198.51.100.1', '203.0.113.10'], '127.0.0.1', 2)).toBe('198.51.100.1');
  });

  it('a list shorter than the hops gives its leftmost entry; no header or an empty one, the peer', () => {
    expect(clientAddress('198.51.100.1', '127.0.0.1', 2)).toBe('198.51.100.1');
    expect(clientAddress(undefined, '127.0.0.1', 2)).toBe('127.0.0.1');
    expect(clientAddress(' , ', '127.0.0.1', 1)).toBe('127.0.0.1');
  });

  it('an entry is cut to 64 characters (it keys a rate-limit bucket)', () => {
    expect(clientAddress('x'.repeat(500), '127.0.0.1', 1)).toHaveLength(64);
  });
});
