import { describe, expect, it } from 'vitest';
import {
  type CallOutcome,
  type Connection,
  connectionDispatcher,
  MAX_FRAME_BYTES,
  MAX_IN_FLIGHT,
  type RpcHandlers,
} from '../../agent/rpc-dispatch.js';
import { PairlinkError } from '../../src/errors.js';
import { METHOD_DESCRIPTIONS } from '../../src/rpc/protocol.js';

// The agent's JSON-RPC protocol layer in memory (agent/rpc-dispatch.ts): lines in, answer lines
// out, no socket and no agent. The edges where the json-rpc-2.0 package behaves otherwise are
// here (docs/ARCHITECTURE.md §Agent); test/integration/rpc-socket-edges.test.ts runs the same
// rules through a real agent's socket.

interface Answer {
  jsonrpc: string;
  id: unknown;
  result?: unknown;
  error?: { code: number; message: string; data?: { code?: string } };
}

/** A dispatcher over methods that answer `{ ok: <method> }`, with a few that fail or look at the connection. */
function setUp() {
  const calls: string[] = [];
  const failures: CallOutcome[] = [];
  const methods = Object.fromEntries(
    Object.keys(METHOD_DESCRIPTIONS).map((name) => [
      name,
      async () => {
        calls.push(name);
        return { ok: name };
      },
    ]),
  ) as unknown as RpcHandlers;
  methods['invite.cancel'] = async ({ id }) => {
    throw new PairlinkError('UNKNOWN_ID', `no invite ${id}`);
  };
  methods['invite.get'] = async () => {
    throw new Error('a private detail\n    at somewhere.js:1:1');
  };
  methods['events.subscribe'] = async (_params, connection) => {
    connection.subscribed = true;
    return { subscribed: true };
  };
  const connection: Connection = { id: 7, subscribed: false };
  const lines = connectionDispatcher(methods, connection, (outcome) => failures.push(outcome));
  /** Runs one line: how many requests it counted, and its answer parsed (null: none due). */
  const run = async (line: string) => {
    const { count, done } = lines.run(line);
    const answer = await done;
    return { count, answer: answer === null ? null : (JSON.parse(answer) as Answer | Answer[]) };
  };
  return { run, lines, calls, failures, connection };
}

describe('the JSON-RPC dispatcher, in memory', () => {
  it('answers each malformed request with the error the spec names', async () => {
    const { run } = setUp();
    const cases: [string, number][] = [
      ['{"jsonrpc":"2.0","id":1,"method":"agent.info"', -32700],
      ['not json', -32700],
      ['[]', -32600],
      ['42', -32600],
      ['{"jsonrpc":"1.0","id":1,"method":"agent.info"}', -32600],
      ['{"jsonrpc":"2.0","id":1,"method":7}', -32600],
      ['{"jsonrpc":"2.0","id":1,"method":"agent.info","params":"x"}', -32600],
      ['{"jsonrpc":"2.0","id":1,"method":"no.such"}', -32601],
      ['{"jsonrpc":"2.0","id":1,"method":"__proto__"}', -32601],
      ['{"jsonrpc":"2.0","id":1,"method":"peer.list","params":[1]}', -32602],
    ];
    for (const [line, code] of cases) {
      const { answer } = await run(line);
      expect((answer as Answer).error?.code, line).toBe(code);
    }
  });

  it('refuses an id that is an object or nests deep, answering with id null, never echoing it', async () => {
    const { run, calls } = setUp();
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    for (const id of ['{"a":1}', deep, `"${'x'.repeat(257)}"`]) {
      const { answer } = await run(`{"jsonrpc":"2.0","id":${id},"method":"agent.info"}`);
      expect(answer).toMatchObject({ id: null, error: { code: -32600 } });
    }
    expect(calls).toEqual([]);
  });

  it('answers a one-element batch with an array, and [null] with an array holding one error', async () => {
    const { run } = setUp();
    const one = await run('[{"jsonrpc":"2.0","id":1,"method":"agent.info"}]');
    expect(one.answer).toEqual([{ jsonrpc: '2.0', id: 1, result: { ok: 'agent.info' } }]);
    const nulls = await run('[null]');
    expect(nulls.answer).toEqual([
      expect.objectContaining({ id: null, error: expect.objectContaining({ code: -32600 }) }),
    ]);
  });

  it('counts a batch by its entries, and refuses one over the in-flight limit whole', async () => {
    const { run, calls } = setUp();
    const batch = (n: number) =>
      JSON.stringify(Array.from({ length: n }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'peer.list' })));
    const over = await run(batch(MAX_IN_FLIGHT + 1));
    expect(over.count).toBe(1);
    expect((over.answer as Answer).error?.data?.code).toBe('TOO_LARGE');
    expect(calls).toEqual([]);
    const full = await run(batch(MAX_IN_FLIGHT));
    expect(full.count).toBe(MAX_IN_FLIGHT);
    expect(full.answer).toHaveLength(MAX_IN_FLIGHT);
  });

  it('answers no notification, and nothing for a batch of notifications only', async () => {
    const { run, calls } = setUp();
    expect((await run('{"jsonrpc":"2.0","method":"agent.info"}')).answer).toBeNull();
    const batch = await run(
      '[{"jsonrpc":"2.0","method":"agent.info"},{"jsonrpc":"2.0","method":"peer.list"}]',
    );
    expect(batch).toEqual({ count: 2, answer: null });
    expect(calls).toEqual(['agent.info', 'agent.info', 'peer.list']);
  });

  it('refuses a line over 1 MiB as TOO_LARGE before parsing it', async () => {
    const { run, lines, calls } = setUp();
    const pad = 'x'.repeat(MAX_FRAME_BYTES);
    const { answer } = await run(`{"jsonrpc":"2.0","id":1,"method":"agent.info","params":{"pad":"${pad}"}}`);
    expect(answer).toMatchObject({ id: null, error: { data: { code: 'TOO_LARGE' } } });
    expect(JSON.parse(lines.tooLarge())).toMatchObject({ id: null, error: { data: { code: 'TOO_LARGE' } } });
    expect(calls).toEqual([]);
  });

  it('checks params with the strict schema before the method runs, and hands it the connection', async () => {
    const { run, calls, connection } = setUp();
    const typo = await run('{"jsonrpc":"2.0","id":1,"method":"invite.list","params":{"al":true}}');
    expect(typo.answer).toMatchObject({ id: 1, error: { code: -32602, data: { code: 'INVALID_PARAMS' } } });
    expect(calls).toEqual([]);
    expect(connection.subscribed).toBe(false);
    const subscribed = await run('{"jsonrpc":"2.0","id":"s","method":"events.subscribe"}');
    expect(subscribed.answer).toEqual({ jsonrpc: '2.0', id: 's', result: { subscribed: true } });
    expect(connection.subscribed).toBe(true);
  });

  it('turns a failure into one error answer: a PairlinkError keeps its code, anything else says nothing', async () => {
    const { run, failures } = setUp();
    const unknown = await run('{"jsonrpc":"2.0","id":1,"method":"invite.cancel","params":{"id":"nope"}}');
    expect(unknown.answer).toMatchObject({
      id: 1,
      error: { message: 'no invite nope', data: { code: 'UNKNOWN_ID' } },
    });
    const internal = await run('{"jsonrpc":"2.0","id":2,"method":"invite.get","params":{"id":"x"}}');
    expect(internal.answer).toMatchObject({
      id: 2,
      error: { message: 'internal error', data: { code: 'INTERNAL' } },
    });
    expect(JSON.stringify(internal.answer)).not.toContain('private');
    expect(failures.map(({ ms: _ms, ...rest }) => rest)).toEqual([
      { method: 'invite.cancel', code: 'UNKNOWN_ID' },
      { method: 'invite.get', code: 'INTERNAL', detail: 'a private detail' },
    ]);
  });
});
