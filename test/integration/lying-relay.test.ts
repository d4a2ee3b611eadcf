import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, type LostMailboxRetry } from '../../agent/agent.js';
import { FileKeystore } from '../../agent/keystore/file-keystore.js';
import { PairlinkClient } from '../../client/index.js';
import { relayConnector } from '../../relay/client/relay-connection.js';
import { startAgent, testRoot } from '../support/agent-process.js';
import { type LyingRelay, startLyingRelay } from '../support/lying-relay.js';
import { waitFor } from '../support/wait-for.js';

/**
 * A relay that answers every create with `created` and every watch with `not_found` (a relay
 * named by a stranger may): the agent backs off, gives up after a bounded number of losses with
 * RELAY_UNRELIABLE and one line naming the relay, and SIGTERM still ends it at once.
 */
let relay: LyingRelay;
beforeAll(async () => {
  relay = await startLyingRelay();
});
afterAll(async () => {
  await relay.close();
});

/** A fast schedule, so the whole bounded run takes milliseconds; the bound is what is checked. */
const FAST: LostMailboxRetry = { baseMs: 1, ceilingMs: 8, maxLosses: 8 };

async function agentOnLyingRelay(name: string) {
  const home = mkdtempSync(join(tmpdir(), `pl-lying-${name}-`));
  const lines: { msg: string; level: number; repeated?: number; relay?: string }[] = [];
  const logger = pino(
    { level: 'info' },
    { write: (line: string) => lines.push(JSON.parse(line) as (typeof lines)[number]) },
  );
  const agent = await Agent.start({
    stateFile: join(home, 'state.json'),
    keystore: await FileKeystore.open(join(home, 'keystore.json'), `passphrase of ${name}`),
    relayUrl: relay.url,
    transport: relayConnector(() => undefined),
    name,
    logger,
    lostMailboxRetry: FAST,
  });
  return { agent, lines };
}

/**
 * Warnings about invites and accepts. The agent's own inbox is on the same lying relay, and its
 * retries (with their own backoff, agent/agent-inbox.ts) say so in lines of their own.
 */
const aboutRecords = (l: { level: number; msg: string }) => l.level >= 40 && !l.msg.includes('the inbox');

describe('a relay that says "created" and then "not found" for ever', () => {
  it('the invite and the accept each end RELAY_UNRELIABLE after a bounded number of rounds, with bounded log lines', async () => {
    const issuer = await agentOnLyingRelay('issuer');
    const before = relay.counts.creates;
    const invite = await issuer.agent.createInvite({ ttlSeconds: 600 });
    const failedInvite = await waitFor(
      () => {
        const found = issuer.agent.findInvite(invite.id);
        return found.issuer.status === 'failed' ? found : null;
      },
      'the invite to fail',
      { deadlineMs: 20_000 },
    );
    expect(failedInvite.issuer.failure).toBe('RELAY_UNRELIABLE');
    // The first create, then one re-create per loss up to the bound: never more.
    const issuerRounds = relay.counts.creates - before;
    expect(issuerRounds).toBeLessThanOrEqual(1 + FAST.maxLosses);
    const warnings = issuer.lines.filter(aboutRecords);
    expect(warnings.map((l) => l.msg)).toEqual([
      'the relay lost an invite mailbox; re-creating it',
      'the relay kept saying it created a mailbox and then that it had none; gave up on it (RELAY_UNRELIABLE)',
    ]);
    expect(warnings[1]?.relay).toBe(new URL(relay.url).origin);
    await issuer.agent.stop();

    const acceptor = await agentOnLyingRelay('acceptor');
    const acceptBefore = relay.counts.creates;
    const accept = await acceptor.agent.startAccept(invite.url!, false);
    const failedAccept = await waitFor(
      () => {
        const found = acceptor.agent.findAccept(accept.id);
        return found.acceptor.phase === 'failed' ? found : null;
      },
      'the accept to fail',
      { deadlineMs: 20_000 },
    );
    expect(failedAccept.acceptor.failure).toBe('RELAY_UNRELIABLE');
    expect(relay.counts.creates - acceptBefore).toBeLessThanOrEqual(1 + FAST.maxLosses);
    expect(acceptor.lines.filter(aboutRecords)).toHaveLength(1);
    await acceptor.agent.stop();
  });

  it('SIGTERM ends an agent at once while it is retrying against the relay', async () => {
    const root = testRoot();
    const issuerProcess = await startAgent(root, 'issuer', relay.url);
    const issuer = await PairlinkClient.connect({ socket: issuerProcess.socket });
    const invite = await issuer.call('invite.create', { ttlSeconds: 600 });
    issuer.close();
    await issuerProcess.stop();
    const acceptorProcess = await startAgent(root, 'acceptor', relay.url);
    const acceptor = await PairlinkClient.connect({ socket: acceptorProcess.socket });
    const before = relay.counts.creates;
    await acceptor.call('invite.accept', { invite: invite.url!, waitSeconds: 0 });
    acceptor.close();
    // In the middle of the losses: the reply box opened, lost, and opened again.
    await waitFor(() => relay.counts.creates >= before + 2, 'the relay to lose the reply box twice');
    const child = acceptorProcess.child;
    const atSigterm = relay.counts.creates;
    const exited = new Promise<'exited'>((resolve) => child.once('exit', () => resolve('exited')));
    child.kill('SIGTERM');
    // Only a guard against a hang (generous on purpose): an agent that ignores SIGTERM never exits.
    let guard: NodeJS.Timeout | undefined;
    const ignored = new Promise<'ignored'>((resolve) => {
      guard = setTimeout(() => resolve('ignored'), 30_000);
    });
    const outcome = await Promise.race([exited, ignored]);
    clearTimeout(guard);
    if (outcome === 'ignored') child.kill('SIGKILL');
    expect(outcome).toBe('exited');
    expect(child.exitCode).toBe(0);
    // Honoured at once: nothing new is asked of the relay after SIGTERM (one create may be in flight).
    expect(relay.counts.creates - atSigterm).toBeLessThanOrEqual(1);
  }, 60_000);
});
