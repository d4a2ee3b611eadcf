import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/errors.js';
import { applicationErrorNumber, errorCodeOfAnswer, RPC_PROTOCOL_ERRORS } from '../../src/rpc/errors.js';
import { METHOD_DESCRIPTIONS } from '../../src/rpc/protocol.js';
import { PARAM_SCHEMAS } from '../../src/rpc/schemas.js';

describe('JSON-RPC contract', () => {
  it('names the methods scripts depend on, each with a description and a param schema', () => {
    const required = [
      'agent.info',
      'identity.get',
      'invite.create',
      'invite.list',
      'invite.cancel',
      'invite.accept',
      'peer.list',
      'peer.remove',
    ];
    for (const name of required) expect(Object.keys(METHOD_DESCRIPTIONS)).toContain(name);
    expect(Object.keys(PARAM_SCHEMAS).sort()).toEqual(Object.keys(METHOD_DESCRIPTIONS).sort());
  });

  it('gives every error code a distinct number outside the reserved range, but the protocol errors theirs', () => {
    const protocol = {
      PARSE_ERROR: RPC_PROTOCOL_ERRORS.parseError,
      INVALID_REQUEST: RPC_PROTOCOL_ERRORS.invalidRequest,
      METHOD_NOT_FOUND: RPC_PROTOCOL_ERRORS.methodNotFound,
      INVALID_PARAMS: RPC_PROTOCOL_ERRORS.invalidParams,
      INTERNAL: RPC_PROTOCOL_ERRORS.internalError,
    } as const;
    const numbers = ERROR_CODES.filter((c) => !Object.hasOwn(protocol, c)).map(applicationErrorNumber);
    expect(new Set(numbers).size).toBe(numbers.length);
    for (const n of numbers) expect(n < -32768 || n > -32000).toBe(true);
    for (const [code, number] of Object.entries(protocol)) {
      expect(applicationErrorNumber(code as keyof typeof protocol)).toBe(number);
      // pairlink/client reads the code back from the number when data.code is missing or unknown.
      expect(errorCodeOfAnswer({ code: number, data: { code: 'FROM_A_NEWER_AGENT' } })).toBe(code);
    }
    expect(errorCodeOfAnswer({ code: 1003, data: { code: 'BAD_SIGNATURE' } })).toBe('BAD_SIGNATURE');
    expect(errorCodeOfAnswer({ code: 1999 })).toBe('INTERNAL');
  });

  it('refuses unknown keys and out-of-range values in params', () => {
    expect(PARAM_SCHEMAS['invite.create'].safeParse({ ttlSeconds: 600, format: 'code' }).success).toBe(true);
    expect(PARAM_SCHEMAS['invite.create'].safeParse({ ttl: 600 }).success).toBe(false);
    expect(PARAM_SCHEMAS['invite.create'].safeParse({ uses: 0 }).success).toBe(false);
    expect(PARAM_SCHEMAS['invite.create'].safeParse({ format: 'qr' }).success).toBe(false);
    expect(PARAM_SCHEMAS['invite.accept'].safeParse({ invite: 'x'.repeat(2000) }).success).toBe(false);
    expect(PARAM_SCHEMAS['agent.info'].safeParse({ extra: 1 }).success).toBe(false);
  });
});
