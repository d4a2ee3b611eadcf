import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PairlinkClient } from '../../client/index.js';
import { type AgentProcess, relayWithAgents } from '../support/agent-process.js';
import { PAIRLINK_BIN } from '../support/relay-process.js';
import { waitFor } from '../support/wait-for.js';

// What the agent's log tells a person: one line per pairing outcome (ids, peer, ms; never a link,
// a code or a secret), no spurious failures from `pairlink wait`, and readable lines in a terminal.

const fleet = relayWithAgents();
let ann: AgentProcess;
let ben: AgentProcess;
const clients: PairlinkClient[] = [];
beforeAll(async () => {
  [ann, ben] = await Promise.all([fleet.agent('ann'), fleet.agent('ben')]);
});
afterAll(() => {
  for (const client of clients) client.close();
});

type Entry = Record<string, unknown> & { msg?: string };

function entries(agent: AgentProcess): Entry[] {
  return agent.logs.flatMap((line) => {
    try {
      return [JSON.parse(line) as Entry];
    } catch {
      return [];
    }
  });
}

/** Waits until the agent has logged an entry that `match` accepts, and returns it. */
function logged(agent: AgentProcess, match: (e: Entry) => boolean, what: string): Promise<Entry> {
  return waitFor(() => entries(agent).find(match), `${agent.name} to log ${what}`);
}

async function clientOf(agent: AgentProcess): Promise<PairlinkClient> {
  const client = await PairlinkClient.connect({ socket: agent.socket });
  clients.push(client);
  return client;
}

describe('the pairing outcome line', () => {
  it('each side logs one line when a pairing ends: ids, the peer, ms, and never the invite', async () => {
    const issuer = await clientOf(ann);
    const acceptor = await clientOf(ben);
    const invite = await issuer.createInvite({});
    const accepted = await acceptor.accept({ invite: invite.url!, waitSeconds: 15 });
    expect(accepted.status).toBe('paired');
    const [annDid, benDid] = [(await issuer.identity()).did, (await acceptor.identity()).did];

    const issuerLine = await logged(ann, (e) => e.msg === 'pairing paired', 'pairing paired');
    expect(issuerLine).toMatchObject({
      level: 30,
      role: 'issuer',
      invite: invite.id,
      peer: { did: benDid, name: 'ben' },
    });
    expect(issuerLine.ms).toEqual(expect.any(Number));
    const acceptorLine = await logged(ben, (e) => e.msg === 'pairing paired', 'pairing paired');
    expect(acceptorLine).toMatchObject({
      role: 'acceptor',
      accept: accepted.acceptId,
      peer: { did: annDid, name: 'ann' },
    });
    expect(acceptorLine.ms).toEqual(expect.any(Number));
    expect(entries(ann).filter((e) => e.msg === 'pairing paired')).toHaveLength(1);

    // A cancelled invite is an outcome too.
    const cancelled = await issuer.createInvite({ format: 'code' });
    await issuer.cancelInvite(cancelled.id);
    await logged(ann, (e) => e.msg === 'pairing cancelled' && e.invite === cancelled.id, 'pairing cancelled');

    // Secrets never reach the log: not the link, its fragment, the code or its secret part.
    const secret = new URL(invite.url!).hash.slice(1);
    for (const line of [...ann.logs, ...ben.logs]) {
      expect(line).not.toContain(secret);
      expect(line).not.toContain(cancelled.code!);
    }
  });
});

describe('pairlink wait on an accept id', () => {
  it('does not make the agent log a failed invite.get', async () => {
    const invite = await (await clientOf(ann)).createInvite({});
    const accepted = await (await clientOf(ben)).accept({ invite: invite.url!, waitSeconds: 15 });
    const waited = await ben.cli(['wait', accepted.acceptId, '--timeout', '10s', '--json']);
    expect(JSON.parse(waited.stdout)).toMatchObject({ status: 'paired' });
    // A call that does fail, after the wait: once its line is in, so is anything wait caused.
    const marker = await ben.cli(['rpc', 'invite.cancel', '{"id":"ZZZZZZZZ"}']);
    expect(marker.code).toBe(1);
    await logged(
      ben,
      (e) => (e.rpc as { method?: string } | undefined)?.method === 'invite.cancel',
      'the failed invite.cancel',
    );
    const spurious = entries(ben).filter(
      (e) => e.msg === 'rpc call failed' && JSON.stringify(e.rpc).includes('invite.get'),
    );
    expect(spurious).toEqual([]);
  });
});

describe('the agent in a terminal', () => {
  /** Runs `pairlink agent` in a pseudo-terminal (script(1)) until it is ready; its screen lines. */
  async function inTerminal(
    name: string,
    extra: string[],
  ): Promise<{ lines: string[]; status: number | null }> {
    const env = {
      ...ann.env,
      PAIRLINK_HOME: join(fleet.root, name),
      PAIRLINK_SOCKET: join(fleet.root, `${name}.sock`),
    };
    const command = [process.execPath, PAIRLINK_BIN, 'agent', '--relay', fleet.relay.url, ...extra]
      .map((arg) => `'${arg}'`)
      .join(' ');
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    let screen = '';
    child.stdout.on('data', (chunk) => {
      screen += String(chunk);
      if (/agent ready/.test(screen)) process.kill(-child.pid!, 'SIGTERM');
    });
    const status = await new Promise<number | null>((resolve) => child.once('close', resolve));
    return { lines: screen.split(/\r?\n/).filter(Boolean), status };
  }

  it('prints readable lines, not JSON; --log-format json keeps JSON; another format is a usage error', async () => {
    const pretty = await inTerminal('tty-pretty', []);
    const ready = pretty.lines.find((l) => l.includes('agent ready'));
    expect(ready, pretty.lines.join('\n')).toMatch(
      /^\d\d:\d\d:\d\d\.\d{3} INFO +agent ready {2}did=did:key:\S+ socket=\S+ relay=http/,
    );
    expect(pretty.lines.filter((l) => l.startsWith('{'))).toEqual([]);

    const json = await inTerminal('tty-json', ['--log-format', 'json']);
    expect(JSON.parse(json.lines.find((l) => l.includes('agent ready'))!)).toMatchObject({
      msg: 'agent ready',
    });

    const wrong = await ann.cli(['agent', '--log-format', 'yaml']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/--log-format .*json or pretty/);
  });
});
