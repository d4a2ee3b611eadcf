import { describe, expect, it } from 'vitest';
import { checkedRelayLookup } from '../../io/relay-lookup.js';
import {
  checkRelayAddress,
  checkRelayUrl,
  DEFAULT_RELAY_SETTINGS,
  type RelaySettings,
} from '../../src/invite/relay-policy.js';

/** The relay-URL policy (docs/SECURITY.md §Relay URLs from invites): each refused case, and what passes. */
const SERVER = 'https://relay.example.org'; // an agent on a server
const DEV = 'http://127.0.0.1:7457'; // an agent on the embedded local relay
const check = (url: string, own = SERVER, settings: Partial<RelaySettings> = {}) =>
  checkRelayUrl(url, own, { ...DEFAULT_RELAY_SETTINGS, ...settings });

describe('relay URLs from invites', () => {
  it.each([
    ['ftp://relay.example.org', 'is not http(s)'],
    ['file:///etc/passwd', 'is not http(s)'],
    ['javascript:alert(1)', 'is not http(s)'],
    ['https://user:pw@relay.example.org', 'user name or password'],
    ['https://relay.example.org/?x=1', 'query or fragment'],
    ['https://relay.example.org/#x', 'query or fragment'],
    ['https://relay.example.org/a%2fb', 'plain prefix'],
    ['http://relay.example.org', 'plain http'],
    ['http://10.0.0.5:7457', 'plain http'],
    ['https://169.254.169.254', 'metadata'],
    ['https://[fd00:ec2::254]', 'metadata'],
    ['https://metadata.google.internal', 'metadata'],
    ['https://metadata.google.internal.', 'metadata'],
    ['https://100.100.100.200', 'metadata'],
    ['https://169.254.10.1', 'link-local'],
    ['https://[fe80::1]', 'link-local'],
    ['https://[febf::1]', 'link-local'],
    ['https://0.0.0.0', 'unspecified'],
    ['https://0', 'unspecified'],
    ['https://[::]', 'unspecified'],
    ['https://224.0.0.1', 'multicast'],
    ['https://[ff02::1]', 'multicast'],
    ['https://255.255.255.255', 'broadcast'],
    ['https://[::ffff:169.254.169.254]', 'metadata'],
    ['https://[::ffff:a9fe:a9fe]', 'metadata'],
    ['https://[::ffff:127.0.0.1]', 'loopback'],
    ['https://[64:ff9b::169.254.169.254]', 'metadata'],
    ['https://0xa9.0xfe.0xa9.0xfe', 'metadata'],
    ['https://2852039166', 'metadata'],
    ['https://127.0.0.1:7457', 'loopback'],
    ['https://[::1]:7457', 'loopback'],
    ['https://localhost:7457', 'loopback'],
    ['https://relay.localhost', 'loopback'],
  ])('refuses %s (%s)', (url, reason) => {
    const verdict = check(url);
    expect(verdict.ok).toBe(false);
    expect(verdict.ok ? '' : verdict.reason).toContain(reason);
  });

  it('takes https anywhere else, LAN addresses included', () => {
    expect(check('https://relay.example.net')).toEqual({ ok: true, origin: 'https://relay.example.net' });
    expect(check('https://relay.example.net:8443/pairlink/').ok).toBe(true);
    expect(check('https://10.0.0.5').ok).toBe(true);
    expect(check('https://[2001:db8::1]').ok).toBe(true);
  });

  it("this agent's own relay passes as the operator configured it", () => {
    expect(check('http://relay.lan:7457', 'http://relay.lan:7457').ok).toBe(true);
    expect(check('http://relay.lan:7457/other', 'http://relay.lan:7457').ok).toBe(false);
  });

  it('plain http to loopback only when its own relay is plain http on loopback (development)', () => {
    expect(check('http://127.0.0.1:9000', DEV).ok).toBe(true);
    expect(check('http://localhost:9000', 'http://[::1]:7457').ok).toBe(true);
    expect(check('http://127.0.0.1:9000', 'https://localhost:7457').ok).toBe(false);
    expect(check('http://relay.example.net', DEV).ok).toBe(false);
    expect(check('https://169.254.169.254', DEV).ok).toBe(false);
  });

  it('allowInsecureRelays opens plain http to other hosts, never to the never-addresses or loopback', () => {
    const lan = { allowInsecureRelays: true };
    expect(check('http://192.168.1.20:7457', SERVER, lan).ok).toBe(true);
    expect(check('http://169.254.169.254', SERVER, lan).ok).toBe(false);
    expect(check('http://127.0.0.1:7457', SERVER, lan).ok).toBe(false);
  });

  it('allowRelays and denyRelays: origins or host patterns, deny first', () => {
    const settings = {
      allowRelays: ['https://relay.example.net', '*.corp.example'],
      denyRelays: ['bad.corp.example'],
    };
    expect(check('https://relay.example.net', SERVER, settings).ok).toBe(true);
    expect(check('https://a.corp.example', SERVER, settings).ok).toBe(true);
    expect(check('https://corp.example', SERVER, settings)).toMatchObject({ ok: false });
    expect(check('https://relay.example.net:444', SERVER, settings)).toMatchObject({ ok: false });
    const denied = check('https://bad.corp.example', SERVER, settings);
    expect(denied.ok ? '' : denied.reason).toContain('denyRelays');
    const other = check('https://relay.example.com', SERVER, settings);
    expect(other.ok ? '' : other.reason).toContain('allowRelays');
    // An http:// origin listed as written is allowed; allow-listing never opens metadata.
    expect(check('http://relay.lan:7457', SERVER, { allowRelays: ['http://relay.lan:7457'] }).ok).toBe(true);
    expect(check('https://169.254.169.254', SERVER, { allowRelays: ['169.254.169.254'] }).ok).toBe(false);
  });

  it('addresses a name resolves to, at connect time', () => {
    expect(checkRelayAddress('169.254.169.254', SERVER).ok).toBe(false);
    expect(checkRelayAddress('::ffff:169.254.169.254', SERVER).ok).toBe(false);
    expect(checkRelayAddress('fe80::1', SERVER).ok).toBe(false);
    expect(checkRelayAddress('127.0.0.1', SERVER).ok).toBe(false);
    expect(checkRelayAddress('127.0.0.1', DEV).ok).toBe(true);
    expect(checkRelayAddress('203.0.113.7', SERVER).ok).toBe(true);
  });

  it('a bracketed IPv6 host (as URL.hostname gives it) is checked and resolved as its address', async () => {
    expect(checkRelayAddress('[::1]', SERVER).ok).toBe(false);
    expect(checkRelayAddress('[::1]', 'http://[::1]:7457').ok).toBe(true);
    expect(checkRelayAddress('[2001:db8::1]', SERVER).ok).toBe(true);
    expect(checkRelayAddress('[fe80::1]', SERVER).ok).toBe(false);
    expect(check('http://[::1]:17457', 'http://[::1]:17457').ok).toBe(true);
    const resolve = (host: string, own: string) =>
      new Promise((done) =>
        checkedRelayLookup(own)(host, { all: true }, (error, addresses) => done(error ?? addresses)),
      );
    expect(await resolve('[::1]', 'http://[::1]:7457')).toEqual([{ address: '::1', family: 6 }]);
    expect(await resolve('[2001:db8::1]', SERVER)).toEqual([{ address: '2001:db8::1', family: 6 }]);
    expect(await resolve('[::1]', SERVER)).toMatchObject({ code: 'RELAY_REFUSED' });
  });
});
