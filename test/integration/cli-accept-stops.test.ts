import { beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../client/index.js';
import { mintUrlInvite } from '../../src/handshake/mint.js';
import { resolveInvitePolicy } from '../../src/invite/invite-policy.js';
import { spawnAccept } from '../support/accept-process.js';
import { type AgentProcess, relayWithAgents } from '../support/agent-process.js';
import { makeParty } from '../support/pairing-harness.js';
import { startRelayProcess } from '../support/relay-process.js';
import { waitFor } from '../support/wait-for.js';

// How `pairlink accept` ends when it cannot pair now: stopped by Ctrl-C while the issuer's agent
// is away (the accept goes on in the agent, and it says so), and on a link whose relay is down
// (it fails at once, naming the relay).

const fleet = relayWithAgents();
let ben: AgentProcess;
beforeAll(async () => {
  ben = await fleet.agent('ben');
});

/** A link from an agent that is stopped now: the accept's hello waits at the relay, unanswered. */
async function linkOfStoppedIssuer(name: string): Promise<string> {
  const issuer = await fleet.agent(name);
  const { url } = (await issuer.json<{ url: string }>(['invite'])).value;
  await issuer.stop();
  return url;
}

/**
 * Ben's clients with a request in flight, by connection id, the asker's own left out. A new one
 * is a `pairlink accept` that sent its first request, so it has its signals caught already.
 */
async function clientsAsking(): Promise<Set<number>> {
  const client = await connect({ socket: ben.socket });
  try {
    const info = await client.agentInfo();
    return new Set(
      info.connections.filter((c) => c.id !== info.connection && c.pendingRequests > 0).map((c) => c.id),
    );
  } finally {
    client.close();
  }
}

/** The accept `id` as the agent has it now. */
async function acceptNow(id: string) {
  return (await ben.json<{ status: string; acceptId: string }>(['accept', '--follow', id, '--wait', '0s']))
    .value;
}

describe('Ctrl-C while pairlink accept waits', () => {
  it('says the accept goes on in the agent, names it and how to follow it, and exits 130', async () => {
    const link = await linkOfStoppedIssuer('ann');
    const run = spawnAccept(ben.env, ['--wait', '10m'], { stdin: link });
    await waitFor(() => run.output().stderr.includes('Pairing…'), '"Pairing…"');
    run.child.kill('SIGINT');
    const code = await run.exited;
    const { stdout, stderr } = run.output();
    const said =
      /^Stopped waiting: accept (\w+) goes on in the agent and may still pair; follow it with `pairlink wait \1`\.$/m.exec(
        stderr,
      );
    expect({ code, said: said !== null }, stderr).toEqual({ code: 130, said: true });
    expect(stdout).toBe('');
    expect(await acceptNow(said![1]!)).toMatchObject({ status: 'pending', acceptId: said![1] });
  }, 90_000);

  it('with --json: the accept id and status pending, exit 130 (SIGTERM: 143)', async () => {
    for (const [signal, exit] of [
      ['SIGINT', 130],
      ['SIGTERM', 143],
    ] as const) {
      const link = await linkOfStoppedIssuer(`cy-${signal}`);
      // A killed CLI's wait stays in flight at the agent until it ends: only a new one counts.
      const before = await clientsAsking();
      const run = spawnAccept(ben.env, ['--wait', '10m', '--json'], { stdin: link });
      await waitFor(
        async () => [...(await clientsAsking())].some((id) => !before.has(id)),
        'pairlink accept asking the agent',
      );
      run.child.kill(signal);
      const code = await run.exited;
      const { stdout, stderr } = run.output();
      expect({ code, stderr }, stdout).toEqual({ code: exit, stderr: '' });
      const printed = JSON.parse(stdout) as { status: string; acceptId: string };
      expect(printed.status).toBe('pending');
      expect(await acceptNow(printed.acceptId)).toMatchObject({ status: 'pending' });
    }
  }, 120_000);
});

describe('a link whose relay is down', () => {
  it('fails at once naming the relay (origin only), exit 3, text and --json', async () => {
    const down = await startRelayProcess();
    await down.stop();
    const now = Math.floor(Date.now() / 1000);
    const zed = makeParty('zed', now, down.url);
    const link = mintUrlInvite(
      zed.identity,
      resolveInvitePolicy({ ttlSeconds: 600 }),
      down.url,
      now,
      zed.random,
    ).webUrl;
    const origin = new URL(down.url).origin;
    const fragment = new URL(link).hash.slice(1);

    const text = spawnAccept(ben.env, [], { stdin: link });
    const textCode = await text.exited;
    const said = text.output();
    expect({ code: textCode, stdout: said.stdout }, said.stderr).toEqual({ code: 3, stdout: '' });
    expect(said.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(new RegExp(`^pairlink: The relay cannot be reached.*relay ${origin}: `)),
    ]);

    const json = spawnAccept(ben.env, ['--json'], { stdin: link });
    const jsonCode = await json.exited;
    const printed = JSON.parse(json.output().stdout) as { error: { code: string; message: string } };
    expect(jsonCode).toBe(3);
    expect(printed.error.code).toBe('RELAY_UNREACHABLE');
    expect(printed.error.message).toContain(`relay ${origin}: `);
    expect(`${said.stderr}${json.output().stdout}`).not.toContain(fragment);
  }, 90_000);
});
