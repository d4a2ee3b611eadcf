import { LogService } from 'matrix-bot-sdk';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { acceptArgs, addressed, expiryText, formatted, inviteArgs } from '../../bots/matrix/format.js';
import { powerLevelOf } from '../../bots/matrix/power.js';
import { retryAfterMs } from '../../bots/matrix/requests.js';
import { routeSdkLogs } from '../../bots/matrix/sdk-logs.js';

const create = (version: string, sender = '@c:x', extra: Record<string, unknown> = {}) => ({
  sender,
  content: { room_version: version, ...(Number(version) < 11 ? { creator: sender } : {}), ...extra },
});

describe('Matrix power levels (spec rules)', () => {
  it('reads users, then users_default, then 0; numeric strings of old rooms count', () => {
    const levels = { users: { '@a:x': 100, '@s:x': '75' }, users_default: 10 };
    expect(powerLevelOf('@a:x', create('10'), levels)).toBe(100);
    expect(powerLevelOf('@s:x', create('10'), levels)).toBe(75);
    expect(powerLevelOf('@b:x', create('10'), levels)).toBe(10);
    expect(powerLevelOf('@b:x', create('10'), { users: {} })).toBe(0);
    expect(powerLevelOf('@b:x', create('10'), { users: { '@b:x': 'lots' } })).toBe(0);
  });

  it('without a power levels event: the creator 100, others 0', () => {
    expect(powerLevelOf('@c:x', create('9'), null)).toBe(100);
    expect(powerLevelOf('@c:x', create('11'), null)).toBe(100); // v11: the create event's sender
    expect(powerLevelOf('@d:x', create('11'), null)).toBe(0);
  });

  it('room v12: creators and additional creators outrank everyone, whatever the power levels say', () => {
    const v12 = create('12', '@c:x', { additional_creators: ['@e:x'] });
    const levels = { users: { '@c:x': 0, '@a:x': 100 }, users_default: 0 };
    expect(powerLevelOf('@c:x', v12, levels)).toBe(Number.POSITIVE_INFINITY);
    expect(powerLevelOf('@e:x', v12, levels)).toBe(Number.POSITIVE_INFINITY);
    expect(powerLevelOf('@a:x', v12, levels)).toBe(100);
    // Before v12 the creator is an ordinary user once power levels exist.
    expect(powerLevelOf('@c:x', create('11', '@c:x'), levels)).toBe(0);
  });
});

describe('Matrix message parts', () => {
  it('answers its prefix and its names, nothing else', () => {
    const names = ['PairLink Bot', 'pairlink', '@pairlink:x'];
    expect(addressed('!pair invite 10m', '!pair', names)).toBe('invite 10m');
    expect(addressed('!pair', '!pair', names)).toBe('');
    expect(addressed('!pairs invite', '!pair', names)).toBeNull();
    expect(addressed('pairlink bot: peers', '!pair', names)).toBe('peers');
    expect(addressed('PairLink Bot, accept X', '!pair', names)).toBe('accept X');
    expect(addressed('@pairlink:x invites', '!pair', names)).toBe('invites');
    expect(addressed('pairlinked: hi', '!pair', names)).toBeNull();
    expect(addressed('hello !pair invite', '!pair', names)).toBeNull();
  });

  it('parses invite arguments in any order and refuses the rest clearly', () => {
    expect(inviteArgs(['code', '10m', '3'])).toEqual({ format: 'code', ttl: '10m', uses: 3 });
    expect(inviteArgs([])).toEqual({});
    expect(() => inviteArgs(['soon'])).toThrow(/did not understand “soon”/);
    expect(() => inviteArgs(['url', 'code'])).toThrow(/did not understand “code”/);
  });

  it('parses accept arguments: a code (spaces allowed), then a relay when the last word has : / or .', () => {
    const relay = 'https://relay.example.org';
    expect(acceptArgs(['ABCD-EFGH-JKLM'])).toEqual({ invite: 'ABCD-EFGH-JKLM' });
    expect(acceptArgs(['ABCD', 'EFGH', 'JKLM'])).toEqual({ invite: 'ABCD EFGH JKLM' });
    expect(acceptArgs(['ABCD-EFGH-JKLM', relay])).toEqual({ invite: 'ABCD-EFGH-JKLM', relay });
    expect(acceptArgs(['ABCD', 'EFGH', 'JKLM', relay])).toEqual({ invite: 'ABCD EFGH JKLM', relay });
    // A link alone is the invite; a link and a relay are both there for the agent to compare.
    expect(acceptArgs(['https://x.example/i#k'])).toEqual({ invite: 'https://x.example/i#k' });
    expect(acceptArgs(['https://x.example/i#k', relay])).toEqual({ invite: 'https://x.example/i#k', relay });
    expect(() => acceptArgs(['ABCD-EFGH-JKLM', 'relay.example.org'])).toThrow(/the relay is a URL such as/);
    expect(() => acceptArgs(['ABCD-EFGH-JKLM', 'ftp://relay.example.org'])).toThrow(/the relay is a URL/);
    expect(() => acceptArgs(['ABCD-EFGH-JKLM', `https://${'r'.repeat(200)}.org`])).toThrow(/at most 200/);
    expect(() => acceptArgs([])).toThrow(/give the invite link or code/);
  });

  it('formats markup as plain text and escaped HTML', () => {
    const out = formatted(['**hi** `<b>`', 'x & y']);
    expect(out.body).toBe('hi `<b>`\nx & y');
    expect(out.formatted_body).toBe('<strong>hi</strong> <code>&lt;b&gt;</code><br>x &amp; y');
  });

  it('gives expiry as absolute UTC and relative time', () => {
    const now = Date.UTC(2026, 10, 22, 6, 0, 0);
    expect(expiryText('2026-11-22T06:10:00.000Z', now)).toBe('2026-11-22 06:10 UTC (in 10 minutes)');
    expect(expiryText('2026-11-23T06:00:00.000Z', now)).toBe('2026-11-23 06:00 UTC (in 24 hours)');
    expect(expiryText('2026-11-22T05:59:00.000Z', now)).toBe('2026-11-22 05:59 UTC (60 seconds ago)');
  });

  it('reads a 429’s wait from Retry-After (seconds or date), else retry_after_ms, else 1 s', () => {
    expect(retryAfterMs({ 'retry-after': '2' }, { retry_after_ms: 500 })).toBe(2000);
    const now = Date.UTC(2026, 0, 1);
    expect(retryAfterMs({ 'retry-after': new Date(now + 3000).toUTCString() }, null, now)).toBe(3000);
    expect(retryAfterMs({}, '{"errcode":"M_LIMIT_EXCEEDED","retry_after_ms":750}')).toBe(750);
    expect(retryAfterMs(undefined, 'not json')).toBe(1000);
  });
});

describe("matrix-bot-sdk's log lines in ours", () => {
  it('each is one JSON object with one msg: the SDK module as a field, its text as the message', () => {
    const lines: string[] = [];
    const log = pino({ level: 'debug' }, { write: (line: string) => lines.push(line) });
    routeSdkLogs(log);
    LogService.error('MatrixHttpClient', 'request failed:', new Error('socket hang up'));
    LogService.warn('MatrixClientLite', { errcode: 'M_LIMIT_EXCEEDED' });
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line.match(/"msg":/g)).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: 40,
      module: 'MatrixHttpClient',
      msg: 'matrix-bot-sdk: request failed: socket hang up',
    });
    expect(JSON.parse(lines[1]!)).toMatchObject({
      level: 20,
      msg: 'matrix-bot-sdk: {"errcode":"M_LIMIT_EXCEEDED"}',
    });
  });
});
