import { describe, expect, it } from 'vitest';
import { chooseLogFormat, prettyDestination, prettyLogLine } from '../../cli/log-format.js';

// The readable log format of `pairlink agent` and `pairlink up` in a terminal (cli/log-format.ts).

describe('the log format', () => {
  it('is readable in a terminal and JSON elsewhere, unless the flag or PAIRLINK_LOG_FORMAT says', () => {
    expect(chooseLogFormat(undefined, {}, true)).toBe('pretty');
    expect(chooseLogFormat(undefined, {}, false)).toBe('json');
    expect(chooseLogFormat('json', {}, true)).toBe('json');
    expect(chooseLogFormat(undefined, { PAIRLINK_LOG_FORMAT: 'pretty' }, false)).toBe('pretty');
    expect(chooseLogFormat('json', { PAIRLINK_LOG_FORMAT: 'pretty' }, false)).toBe('json');
    expect(chooseLogFormat('yaml', {}, true)).toBeNull();
  });

  it('puts time, level and message first, then key=value pairs, nested keys dotted, odd values quoted', () => {
    const time = new Date(2026, 0, 2, 3, 4, 5, 67).getTime();
    const line = JSON.stringify({
      level: 30,
      time,
      service: 'pairlink-agent',
      role: 'issuer',
      peer: { did: 'did:key:z6Mk', name: 'Ann B' },
      ms: 17,
      msg: 'pairing paired',
    });
    expect(prettyLogLine(line)).toBe(
      '03:04:05.067 INFO  pairing paired  role=issuer peer.did=did:key:z6Mk peer.name="Ann B" ms=17',
    );
    expect(prettyLogLine(JSON.stringify({ level: 40, time, msg: 'relay lost a mailbox' }))).toBe(
      '03:04:05.067 WARN  relay lost a mailbox',
    );
    expect(prettyLogLine('not json')).toBe('not json');
  });

  it('writes each entry of a chunk as its own line', () => {
    const out: string[] = [];
    const destination = prettyDestination((text) => out.push(text));
    destination.write(`${JSON.stringify({ level: 50, time: 0, msg: 'a' })}\n`);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/^\d\d:\d\d:\d\d\.000 ERROR a\n$/);
  });
});
