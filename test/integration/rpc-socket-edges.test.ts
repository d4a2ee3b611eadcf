import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type AgentProcess, relayWithAgents, testRoot } from '../support/agent-process.js';
import { PAIRLINK_BIN } from '../support/relay-process.js';
import { waitFor } from '../support/wait-for.js';

// The agent's JSON-RPC socket under abuse (docs/SECURITY.md §Local socket): every oversized or
// malformed request gets a JSON-RPC error, nothing reaches the log as a stack, batches count per entry.

const MIB = 1024 * 1024;
const fleet = relayWithAgents();
let agent: AgentProcess;
beforeAll(async () => {
  agent = await fleet.agent('edge');
});

interface Answer {
  jsonrpc: string;
  id: unknown;
  result?: unknown;
  error?: { code: number; message: string; data?: { code?: string } };
}

/** Opens a raw connection and collects every answer line. */
function raw(path: string) {
  const socket: Socket = createConnection(path);
  const lines: string[] = [];
  let buffered = '';
  let closed = false;
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    let nl = buffered.indexOf('\n');
    while (nl >= 0) {
      lines.push(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
      nl = buffered.indexOf('\n');
    }
  });
  socket.on('close', () => {
    closed = true;
  });
  socket.on('error', () => undefined);
  return {
    socket,
    lines,
    get closed() {
      return closed;
    },
    async next(count = 1, ms = 10_000): Promise<unknown[]> {
      const deadline = Date.now() + ms;
      while (lines.length < count) {
        if (Date.now() > deadline) throw new Error(`expected ${count} answers, got ${lines.length}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return lines.splice(0, count).map((l) => JSON.parse(l) as unknown);
    },
  };
}

describe('JSON-RPC socket edges', () => {
  it('a line between 1 MiB and 1 MiB + 64 KiB gets a TOO_LARGE error, not silence', async () => {
    for (const size of [MIB + 1, MIB + 32 * 1024, MIB + 64 * 1024 - 1]) {
      const c = raw(agent.socket);
      const filler = 'x'.repeat(size - 60);
      c.socket.write(`{"jsonrpc":"2.0","id":1,"method":"agent.info","params":{"pad":"${filler}"}}\n`);
      const [answer] = (await c.next()) as Answer[];
      expect(answer?.error?.data?.code).toBe('TOO_LARGE');
      c.socket.destroy();
    }
  });

  it('a request whose id nests 100,000 deep gets an Invalid Request error and no stack overflow', async () => {
    const c = raw(agent.socket);
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    c.socket.write(`{"jsonrpc":"2.0","id":${deep},"method":"agent.info"}\n`);
    const [answer] = (await c.next()) as Answer[];
    expect(answer?.error?.code).toBe(-32600);
    expect(answer?.id).toBeNull();
    // Deep nesting inside params too: a clear error, the connection still works.
    c.socket.write(`{"jsonrpc":"2.0","id":2,"method":"peer.list","params":{"a":${deep}}}\n`);
    const [second] = (await c.next()) as Answer[];
    expect(second?.id).toBe(2);
    expect(second?.error?.data?.code).toBe('INVALID_PARAMS');
    c.socket.write('{"jsonrpc":"2.0","id":3,"method":"agent.info"}\n');
    const [third] = (await c.next()) as Answer[];
    expect(third?.id).toBe(3);
    expect(third?.result).toBeDefined();
    c.socket.destroy();
    expect(agent.logs.join('\n')).not.toContain('Maximum call stack');
  });

  it('malformed requests each get the JSON-RPC error the spec names', async () => {
    const c = raw(agent.socket);
    const cases: [string, number][] = [
      ['{"jsonrpc":"2.0","id":1,"method":"agent.info"', -32700],
      ['not json', -32700],
      ['[]', -32600],
      ['42', -32600],
      ['{"jsonrpc":"1.0","id":1,"method":"agent.info"}', -32600],
      ['{"jsonrpc":"2.0","id":{"a":1},"method":"agent.info"}', -32600],
      ['{"jsonrpc":"2.0","id":1,"method":7}', -32600],
      ['{"jsonrpc":"2.0","id":1,"method":"no.such"}', -32601],
      ['{"jsonrpc":"2.0","id":1,"method":"__proto__"}', -32601],
      ['{"jsonrpc":"2.0","id":1,"method":"peer.list","params":[1]}', -32602],
    ];
    for (const [line] of cases) c.socket.write(`${line}\n`);
    const answers = (await c.next(cases.length)) as Answer[];
    const byCode = answers.map((a) => a.error?.code).sort();
    expect(byCode).toEqual(cases.map(([, code]) => code).sort());
    c.socket.destroy();
  });

  it('failed calls are logged as one structured line each, with no stack trace', async () => {
    const c = raw(agent.socket);
    const batch = Array.from({ length: 200 }, (_, i) => ({
      jsonrpc: '2.0',
      id: i,
      method: 'invite.cancel',
      params: { id: `nope${i}` },
    }));
    const before = agent.logs.length;
    c.socket.write(`${JSON.stringify(batch)}\n`);
    const [answers] = (await c.next()) as Answer[][];
    expect(answers).toHaveLength(200);
    expect(answers!.every((a) => a.error?.data?.code === 'UNKNOWN_ID')).toBe(true);
    // The log lines follow the answers: wait for all 200 before reading them.
    await waitFor(
      () => agent.logs.slice(before).filter((l) => l.includes('rpc call failed')).length >= 200,
      'a log line per failed call',
    );
    const written = agent.logs.slice(before);
    expect(written.join('\n')).not.toMatch(/\n\s+at |at .*\.js:\d+/);
    for (const line of written) expect(() => JSON.parse(line)).not.toThrow();
    c.socket.destroy();
  });

  it('the in-flight limit counts batch entries: a batch over 256 entries is refused whole', async () => {
    const c = raw(agent.socket);
    const batch = (n: number, from: number) =>
      Array.from({ length: n }, (_, i) => ({ jsonrpc: '2.0', id: from + i, method: 'agent.info' }));
    c.socket.write(`${JSON.stringify(batch(257, 0))}\n`);
    const [refused] = (await c.next()) as Answer[];
    expect(refused?.error?.data?.code).toBe('TOO_LARGE');
    c.socket.write(`${JSON.stringify(batch(256, 1000))}\n`);
    const [ok] = (await c.next()) as Answer[][];
    expect(ok).toHaveLength(256);
    c.socket.destroy();
  });

  it('notifications get no answer, and a batch of only notifications gets nothing back', async () => {
    const c = raw(agent.socket);
    c.socket.write('{"jsonrpc":"2.0","method":"agent.info"}\n');
    c.socket.write('[{"jsonrpc":"2.0","method":"agent.info"},{"jsonrpc":"2.0","method":"peer.list"}]\n');
    c.socket.write('{"jsonrpc":"2.0","id":"last","method":"agent.info"}\n');
    const [answer] = (await c.next()) as Answer[];
    expect(answer?.id).toBe('last');
    // A later request as a clock: anything due for the notifications would come before its answer.
    c.socket.write('{"jsonrpc":"2.0","id":"probe","method":"agent.info"}\n');
    const [probe] = (await c.next()) as Answer[];
    expect(probe?.id).toBe('probe');
    expect(c.lines).toHaveLength(0);
    c.socket.destroy();
  });
});

describe('the socket path', () => {
  function startOn(socket: string): Promise<{ code: number | null; output: string }> {
    return new Promise((resolve) => {
      const root = testRoot();
      const child = spawn(
        process.execPath,
        [PAIRLINK_BIN, 'agent', '--name', 'intruded', '--relay', fleet.relay.url],
        {
          env: {
            ...process.env,
            PAIRLINK_HOME: join(root, 'home'),
            PAIRLINK_SOCKET: socket,
            PAIRLINK_KEYSTORE: 'file',
            PAIRLINK_PASSPHRASE: 'pw',
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let output = '';
      child.stdout!.on('data', (d) => {
        output += d;
        if (output.includes('"agent ready"')) child.kill('SIGTERM');
      });
      child.stderr!.on('data', (d) => {
        output += d;
      });
      child.on('exit', (code) => resolve({ code, output }));
    });
  }

  it('a plain file at the socket path is left alone and the agent refuses to start', async () => {
    const root = testRoot();
    const path = join(root, 'agent.sock');
    writeFileSync(path, 'precious data\n');
    const { code, output } = await startOn(path);
    expect(code).not.toBe(0);
    expect(output).toMatch(/not a socket/);
    expect(await readFile(path, 'utf8')).toBe('precious data\n');
  });

  it('a symlink at the socket path is not followed or removed', async () => {
    const root = testRoot();
    const target = join(root, 'target.txt');
    writeFileSync(target, 'keep me\n');
    const path = join(root, 'agent.sock');
    const { symlinkSync, lstatSync } = await import('node:fs');
    symlinkSync(target, path);
    const { code, output } = await startOn(path);
    expect(code).not.toBe(0);
    expect(output).toMatch(/not a socket/);
    expect(lstatSync(path).isSymbolicLink()).toBe(true);
    expect(await readFile(target, 'utf8')).toBe('keep me\n');
  });

  it('a stale socket (nothing listening) is replaced and the agent starts', async () => {
    const root = testRoot();
    const path = join(root, 'agent.sock');
    const { createServer } = await import('node:net');
    const stale = createServer();
    await new Promise<void>((r) => stale.listen(path, () => r()));
    // Close the listener but leave the socket file, as a SIGKILLed agent does.
    (stale as unknown as { _handle: { close(): void } })._handle.close();
    const { output } = await startOn(path);
    expect(output).toContain('"agent ready"');
  });
});
