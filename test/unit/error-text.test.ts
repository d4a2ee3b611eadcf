import { describe, expect, it } from 'vitest';
import { inviteParams } from '../../bots/core/commands/invite.js';
import { errorLine } from '../../bots/core/render.js';
import { startupError } from '../../bots/core/startup-error.js';
import { relayRefusalCode } from '../../relay/wire/relay-answers.js';
import { describeError, ERROR_TEXT } from '../../src/error-text.js';
import { ERROR_CODES, PairlinkError } from '../../src/errors.js';
import { parseShortCode } from '../../src/invite/short-code.js';
import { PARAM_SCHEMAS } from '../../src/rpc/schemas.js';

// One error vocabulary (the CLI and both bots): every code has a sentence a person understands,
// and the codes say what happened.

describe('the error table', () => {
  it('every stable code has its own sentence: what happened and what to do', () => {
    const sentences = new Set<string>();
    for (const code of ERROR_CODES) {
      const text = ERROR_TEXT[code];
      expect(text, code).toMatch(/^[A-Z].{15,}[.:]$/);
      expect(text).not.toContain(code); // a sentence, not the code again
      sentences.add(text);
    }
    expect(sentences.size).toBe(ERROR_CODES.length);
    expect(Object.keys(ERROR_TEXT).sort()).toEqual([...ERROR_CODES].sort());
  });

  it('the CLI and the bots say the same thing, without repeating the code as detail', () => {
    const used = new PairlinkError('INVITE_NOT_FOUND', 'pairing failed: INVITE_NOT_FOUND');
    expect(errorLine(used)).toBe(ERROR_TEXT.INVITE_NOT_FOUND);
    expect(describeError(used).text).toBe(ERROR_TEXT.INVITE_NOT_FOUND);
    const detailed = new PairlinkError('RELAY_UNREACHABLE', 'connect ECONNREFUSED 127.0.0.1:1');
    expect(errorLine(detailed)).toBe(`${ERROR_TEXT.RELAY_UNREACHABLE} (connect ECONNREFUSED 127.0.0.1:1)`);
    expect(errorLine(new Error('boom'))).toMatch(/^Something went wrong inside pairlink .*: boom$/);
  });

  it('codes say what happened: not-an-invite, a short ttl, relay statuses, a bad session id', () => {
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return (error as PairlinkError).code;
      }
      return 'OK';
    };
    expect(code(() => parseShortCode('this-is-not-an-invite'))).toBe('MALFORMED');
    expect(errorLine(new PairlinkError('INVALID_PARAMS', 'x'))).toMatch(/^That request is not valid: x$/);
    expect(() => inviteParams({ ttl: '10s' })).toThrow(/the ttl is 30s to 7d for a link, not 10s/);
    expect(() => inviteParams({ ttl: '2h', format: 'code' })).toThrow(/30s to 1h for a code/);
    expect(relayRefusalCode('bad_request', 400)).toBe('RELAY_PROTOCOL');
    expect(relayRefusalCode('unavailable', 503)).toBe('RELAY_BUSY');
    expect(relayRefusalCode('crowded', 409)).toBe('CROWDED');
    expect(relayRefusalCode('full', 409)).toBe('MAILBOX_FULL');
    expect(relayRefusalCode('exists', 409)).toBe('RELAY_PROTOCOL');
    expect(relayRefusalCode('not_found', 404)).toBe('INVITE_NOT_FOUND');
    expect(startupError({ code: 'ECONNREFUSED' }, 'Discord', 'https://discord.example').code).toBe(
      'CHAT_UNREACHABLE',
    );
    expect(startupError({ status: 401 }, 'Discord', 'https://discord.example').code).toBe('UNAUTHORIZED');
    // A paragraph of instructions that starts with the sentence is shown whole, once.
    const howTo = new PairlinkError(
      'KEYSTORE_UNAVAILABLE',
      `${ERROR_TEXT.KEYSTORE_UNAVAILABLE.slice(0, -1)}. Either:\n  - set PAIRLINK_PASSPHRASE`,
    );
    expect(describeError(howTo).text).toBe(howTo.message);
    const parsed = PARAM_SCHEMAS['invite.confirmSas'].safeParse({ id: 'abc', sessionId: 'zz', match: true });
    expect(parsed.success).toBe(false);
  });
});
