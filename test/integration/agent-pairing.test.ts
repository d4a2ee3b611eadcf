import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type AgentProcess, relayWithAgents, startAgent } from '../support/agent-process.js';
import { waitFor } from '../support/wait-for.js';

interface Created {
  id: string;
  url?: string;
  code?: string;
  expiresAt: string;
  usesLeft: number;
}
interface Peer {
  did: string;
  name: string;
  pairedAt: string;
}

const fleet = relayWithAgents();
const agent = (name: string) => fleet.agent(name);

describe('two agents pair through a real relay, driven by the CLI', () => {
  let alice: AgentProcess;
  let bob: AgentProcess;
  let carol: AgentProcess;
  beforeAll(async () => {
    [alice, bob, carol] = await Promise.all([agent('alice'), agent('bob'), agent('carol')]);
  });

  it('pairs by invite URL; JSON shapes are as documented; both list each other', async () => {
    const me = await alice.json<{ did: string; name: string }>(['whoami']);
    expect(Object.keys(me.value).sort()).toEqual(['did', 'name']);
    const invite = await alice.json<Created>(['invite']);
    expect(invite.code).toBe(0);
    expect(Object.keys(invite.value).sort()).toEqual([
      'customUrl',
      'expiresAt',
      'id',
      'relayUrl',
      'url',
      'usesLeft',
    ]);
    expect(invite.value.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/i#/);
    const accepted = await bob.json<{ status: string; peer: { did: string; name: string } }>([
      'accept',
      invite.value.url!,
    ]);
    expect(accepted).toEqual({
      code: 0,
      value: { status: 'paired', peer: { did: me.value.did, name: 'alice' } },
    });
    const bobMe = await bob.json<{ did: string }>(['whoami']);
    const alicePeers = await alice.json<Peer[]>(['peers']);
    expect(alicePeers.value.map((p) => [p.did, p.name])).toEqual([[bobMe.value.did, 'bob']]);
    expect(Object.keys(alicePeers.value[0]!).sort()).toEqual([
      'confirmed',
      'did',
      'inbox',
      'name',
      'pairedAt',
    ]);
    expect((await bob.json<Peer[]>(['peers'])).value.map((p) => p.did)).toEqual([me.value.did]);
  });

  it('pairs by short code', async () => {
    const invite = await carol.json<Created>(['invite', '--format', 'code']);
    expect(invite.value.code).toMatch(/^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4,5}$/);
    const accepted = await bob.json<{ status: string }>(['accept', invite.value.code!.toLowerCase()]);
    expect(accepted.value.status).toBe('paired');
    expect((await carol.json<Peer[]>(['peers'])).value.map((p) => p.name)).toEqual(['bob']);
  });

  it('a wrong code fails with WRONG_CODE and pins nothing on either side', async () => {
    const names = async (a: AgentProcess) => (await a.json<Peer[]>(['peers'])).value.map((p) => p.name);
    const [aliceBefore, carolBefore] = [await names(alice), await names(carol)];
    const invite = await carol.json<Created>(['invite', '--format', 'code']);
    const code = invite.value.code!;
    // Change one secret symbol and recompute nothing: the check character must catch it locally…
    const typo = `${code.slice(0, 5)}${code[5] === '0' ? '1' : '0'}${code.slice(6)}`;
    const local = await alice.json<{ error: { code: string } }>(['accept', typo]);
    expect(local.code).toBe(1);
    expect(local.value.error.code).toBe('CODE_TYPO');
    // …while a well-formed code with a wrong secret reaches the issuer and fails both sides.
    const { formatShortCode, parseShortCode } = await import('../../src/invite/short-code.js');
    const parsed = parseShortCode(code);
    const wrong = formatShortCode({
      ...parsed,
      secret: parsed.secret === '00000000' ? '11111111' : '00000000',
    });
    const failed = await alice.json<{ error: { code: string } }>(['accept', wrong]);
    expect(failed.code).toBe(1);
    expect(failed.value.error.code).toBe('WRONG_CODE');
    const invites = await carol.json<{ id: string; sessions: { error?: string }[] }[]>([
      'rpc',
      'invite.list',
    ]);
    const mine = invites.value.find((i) => i.id === invite.value.id)!;
    expect(mine.sessions.map((s) => s.error)).toEqual(['WRONG_CODE']);
    expect(await names(alice)).toEqual(aliceBefore);
    expect(await names(carol)).toEqual(carolBefore);
  });

  it('tampered, reused and cancelled invites fail with their codes and pin nothing', async () => {
    const bobBefore = (await bob.json<Peer[]>(['peers'])).value.map((p) => p.name).sort();
    const invite = await alice.json<Created>(['invite']);
    const url = invite.value.url!;
    const tampered = `${url.slice(0, -2)}${url.at(-2) === 'A' ? 'B' : 'A'}${url.at(-1)}`;
    const t = await carol.json<{ error: { code: string } }>(['accept', tampered]);
    expect(t.code).toBe(1);
    expect(['BAD_SIGNATURE', 'MALFORMED']).toContain(t.value.error.code);
    expect((await carol.json<{ status: string }>(['accept', url])).value.status).toBe('paired');
    // The issuer refuses a used invite (INVITE_USED) until carol's ack is in, then closes the
    // mailbox, after which the relay says only "not found".
    const reused = await bob.json<{ error: { code: string } }>(['accept', url]);
    expect(reused.code).toBe(1);
    expect(['INVITE_USED', 'INVITE_NOT_FOUND']).toContain(reused.value.error.code);
    const second = await alice.json<Created>(['invite']);
    expect((await alice.json(['cancel', second.value.id])).code).toBe(0);
    const cancelled = await bob.json<{ error: { code: string } }>([
      'accept',
      second.value.url!,
      '--wait',
      '5s',
    ]);
    expect(cancelled.code).not.toBe(0);
    expect(['INVITE_NOT_FOUND', 'INVITE_CANCELLED']).toContain(cancelled.value.error.code);
    const bobPeers = (await bob.json<Peer[]>(['peers'])).value.map((p) => p.name).sort();
    expect(bobPeers).toEqual(bobBefore); // neither the reused nor the cancelled invite pinned anything
  });

  it('keeps secrets out of plain sight: the state file is sealed, files are 0600 in a 0700 home', async () => {
    const { statSync } = await import('node:fs');
    const files = readdirSync(alice.home, { recursive: true, withFileTypes: true });
    // The sealed snapshot and its append-only log of changes (finished pairings included).
    expect(files.some((f) => f.isFile() && /^state\.json\.[0-9a-f]{32}\.log$/.test(f.name))).toBe(true);
    for (const entry of [
      { path: alice.home, dir: true },
      ...files.map((f) => ({ path: join(f.parentPath, f.name), dir: f.isDirectory() })),
    ]) {
      expect(statSync(entry.path).mode & 0o777).toBe(entry.dir ? 0o700 : 0o600);
      if (entry.dir) continue;
      const text = readFileSync(entry.path, 'utf8');
      expect(text).not.toContain('alice'); // even names and peers are sealed
      expect(text).not.toContain('did:key');
    }
    expect(statSync(alice.socket).mode & 0o777).toBe(0o600);
  });
});

describe('async pairing across an issuer restart', () => {
  it('an accept made while the issuer is down completes when it comes back', async () => {
    const [dora, eve] = await Promise.all([agent('dora'), agent('eve')]);
    const invite = await dora.json<Created>(['invite']);
    await dora.stop();
    const pending = await eve.cli(['accept', invite.value.url!, '--wait', '2s', '--json']);
    expect(pending.code).toBe(4);
    expect(JSON.parse(pending.stdout).status).toBe('pending');
    await dora.restart();
    const evePeers = await waitFor(async () => {
      const peers = (await eve.json<Peer[]>(['peers'])).value;
      return peers.length > 0 ? peers : undefined;
    }, 'eve to pin dora');
    expect(evePeers.map((p) => p.name)).toEqual(['dora']);
    expect((await dora.json<Peer[]>(['peers'])).value.map((p) => p.name)).toEqual(['eve']);
  });
});

describe('the JSON-RPC socket, raw', () => {
  it('answers -32601, -32700, batches and invalid params with stable codes, and keeps serving', async () => {
    const frank = await agent('frank');
    const { createConnection } = await import('node:net');
    const socket = createConnection(frank.socket);
    const lines: Record<string, unknown>[] = [];
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let i = buffered.indexOf('\n');
      while (i >= 0) {
        lines.push(JSON.parse(buffered.slice(0, i)) as Record<string, unknown>);
        buffered = buffered.slice(i + 1);
        i = buffered.indexOf('\n');
      }
    });
    await new Promise((r) => socket.once('connect', r));
    const waitFor = async (n: number) => {
      const deadline = Date.now() + 5000;
      while (lines.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      return lines[n - 1]!;
    };
    socket.write('{"jsonrpc":"2.0","id":1,"method":"no.such"}\n');
    expect(((await waitFor(1)).error as { code: number }).code).toBe(-32601);
    socket.write('{not json\n');
    expect(((await waitFor(2)).error as { code: number }).code).toBe(-32700);
    socket.write(
      '[{"jsonrpc":"2.0","id":3,"method":"agent.info"},{"jsonrpc":"2.0","id":4,"method":"identity.get"},{"jsonrpc":"2.0","method":"agent.info"}]\n',
    );
    const batch = (await waitFor(3)) as unknown as { id: number; result: { did: string } }[];
    expect(batch.map((r) => r.id)).toEqual([3, 4]);
    expect(batch[0]!.result.did).toBe(batch[1]!.result.did);
    socket.write('{"jsonrpc":"2.0","id":5,"method":"invite.create","params":{"ttl":5}}\n');
    const invalid = (await waitFor(4)).error as { code: number; data: { code: string } };
    expect(invalid.code).toBe(-32602);
    expect(invalid.data.code).toBe('INVALID_PARAMS');
    socket.write('{"jsonrpc":"2.0","id":6,"method":"invite.cancel","params":{"id":"NOPE"}}\n');
    expect(((await waitFor(5)).error as { data: { code: string } }).data.code).toBe('UNKNOWN_ID');
    socket.write('{"jsonrpc":"2.0","id":7,"method":"agent.methods"}\n');
    const methods = (await waitFor(6)).result as { name: string }[];
    expect(methods.map((m) => m.name)).toContain('invite.accept');
    socket.end();
  });

  it('a second agent on the same socket refuses to start', async () => {
    const gina = await agent('gina');
    await expect(startAgent(fleet.root, 'gina', fleet.relay.url)).rejects.toThrow(/already listening/);
    expect((await gina.json<{ name: string }>(['whoami'])).value.name).toBe('gina');
  });
});

describe('agent configuration', () => {
  it('takes invite defaults from the config file; explicit options still win', async () => {
    const configFile = join(fleet.root, 'short-codes.json');
    writeFileSync(configFile, JSON.stringify({ invites: { format: 'code', codeTtlSeconds: 120 } }));
    const hana = await fleet.agent('hana', {}, ['--config', configFile]);
    // Minted between `before` and `after` (whole seconds), so it expires 120 s after some instant
    // between them, however long the CLI took.
    const before = Math.floor(Date.now() / 1000) * 1000;
    const byDefault = await hana.json<Created>(['invite']);
    const after = Date.now();
    expect(byDefault.value.code).toBeDefined();
    const expiresAt = Date.parse(byDefault.value.expiresAt);
    expect(expiresAt).toBeGreaterThanOrEqual(before + 120_000);
    expect(expiresAt).toBeLessThanOrEqual(after + 120_000);
    expect((await hana.json<Created>(['invite', '--format', 'url'])).value.url).toBeDefined();
  });
});
