import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { beforeAll, describe, expect, it } from 'vitest';
import { type AgentProcess, relayWithAgents } from '../support/agent-process.js';
import { PAIRLINK_BIN } from '../support/relay-process.js';
import { waitFor } from '../support/wait-for.js';

// The CLI for shell scripts: `pairlink events --json` (NDJSON) and `pairlink wait`.

const fleet = relayWithAgents();
let ann: AgentProcess;
let ben: AgentProcess;
beforeAll(async () => {
  [ann, ben] = await Promise.all([fleet.agent('ann'), fleet.agent('ben')]);
});

function spawnCli(agent: AgentProcess, args: string[]) {
  const child = spawn(process.execPath, [PAIRLINK_BIN, ...args], {
    env: agent.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => lines.push(l));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, lines, exited };
}

describe('scripting the CLI', () => {
  it('pairlink wait returns when the invite is paired (issuer side) and when the accept is (acceptor side)', async () => {
    const invite = (await ann.json<{ id: string; url: string }>(['invite'])).value;
    const waiting = spawnCli(ann, ['wait', invite.id, '--timeout', '30s', '--json']);
    await new Promise((r) => setTimeout(r, 300));
    const accepted = await ben.json<{ status: string }>(['accept', invite.url, '--wait', '15s']);
    expect(accepted.value.status).toBe('paired');
    expect(await waiting.exited).toBe(0);
    expect(JSON.parse(waiting.lines.at(-1)!)).toEqual({ id: invite.id, status: 'paired', peer: 'ben' });

    // Timing out is exit 4 with status pending; an unknown id is exit 1.
    const other = (await ann.json<{ id: string }>(['invite'])).value;
    const timedOut = await ann.cli(['wait', other.id, '--timeout', '1s', '--json']);
    expect(timedOut.code).toBe(4);
    expect(JSON.parse(timedOut.stdout)).toMatchObject({ status: 'pending' });
    expect((await ann.cli(['wait', 'nosuchid', '--timeout', '1s'])).code).toBe(1);

    // Acceptor side: the issuer is away, accept answers pending; wait returns once it is back.
    const later = (await ann.json<{ url: string }>(['invite'])).value;
    await ann.stop();
    const pending = await ben.json<{ status: string; acceptId: string }>([
      'accept',
      later.url,
      '--wait',
      '1s',
    ]);
    expect(pending.value.status).toBe('pending');
    const acceptWait = spawnCli(ben, ['wait', pending.value.acceptId, '--timeout', '30s', '--json']);
    await ann.restart();
    expect(await acceptWait.exited).toBe(0);
    expect(JSON.parse(acceptWait.lines.at(-1)!)).toMatchObject({
      id: pending.value.acceptId,
      status: 'paired',
      peer: 'ann',
    });
  }, 60_000);

  it('pairlink events --json streams invite progress and peer removals as NDJSON', async () => {
    const events = spawnCli(ann, ['events', '--json']);
    // The stream is live once it carries an event: throwaway invites are minted until one of
    // theirs shows up (a process that started slowly would otherwise miss the first events).
    const probes: string[] = [];
    await waitFor(async () => {
      if (events.lines.some((l) => probes.some((id) => l.includes(id)))) return true;
      probes.push((await ann.json<{ id: string }>(['invite'])).value.id);
      return false;
    }, 'the event stream to carry a probe invite');
    const invite = (await ann.json<{ id: string; url: string }>(['invite'])).value;
    await ben.json(['accept', invite.url, '--wait', '15s']);
    const benDid = (await ben.json<{ did: string }>(['whoami'])).value.did;
    await waitFor(() => events.lines.some((l) => l.includes('"paired"')), 'the paired event');
    expect((await ann.cli(['unpair', benDid])).code).toBe(0);
    await waitFor(() => events.lines.some((l) => l.includes('peer.removed')), 'the removal event');
    events.child.kill('SIGTERM');
    expect(await events.exited).toBe(0);
    const parsed = events.lines.map(
      (l) => JSON.parse(l) as { method: string; params: Record<string, unknown> },
    );
    expect(parsed.map((e) => e.method)).toContain('invite.progress');
    expect(parsed).toContainEqual({
      method: 'invite.progress',
      params: expect.objectContaining({ id: invite.id, role: 'issuer', status: 'published' }),
    });
    expect(parsed).toContainEqual({
      method: 'invite.progress',
      params: expect.objectContaining({ id: invite.id, status: 'paired' }),
    });
    expect(parsed).toContainEqual({
      method: 'peer.removed',
      params: expect.objectContaining({ did: benDid, name: 'ben' }),
    });
  });

  it('`pairlink invite > invite.txt` then `pairlink accept < invite.txt` pairs: a pipe gets only the invite', async () => {
    const [cid, dot] = await Promise.all([fleet.agent('cid'), fleet.agent('dot')]);
    for (const args of [['invite'], ['invite', '--format', 'code']]) {
      const minted = await cid.cli(args);
      expect(minted.code).toBe(0);
      const accept = spawn(process.execPath, [PAIRLINK_BIN, 'accept', '--wait', '30s'], {
        env: dot.env,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      accept.stdout.on('data', (chunk: Buffer) => (out += chunk));
      accept.stderr.on('data', (chunk: Buffer) => (err += chunk));
      const exited = new Promise<number | null>((resolve) => accept.on('exit', (code) => resolve(code)));
      accept.stdin.end(minted.stdout);
      expect(await exited, `${args.join(' ')}: ${err}`).toBe(0);
      expect(out).toContain('Paired with cid');
      // The rest (id, expiry, what to run on the other machine) is for the person: on stderr.
      expect(minted.stderr).toContain('on the other machine: pairlink accept');
    }
  }, 90_000);
});
