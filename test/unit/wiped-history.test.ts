import { cpSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import { FINISHED_SECRETS_ON_DISK_SECONDS } from '../../agent/state/durable-state.js';
import { acceptorDeadline } from '../../src/handshake/deadlines.js';
import { formatShortCode, parseShortCode } from '../../src/invite/short-code.js';
import { FakeRelay, ManualClock } from '../support/fake-relay.js';
import { agentOn, eventually } from '../support/hosted-agent.js';
import { persistedState, StateSecrets, writeState } from '../support/state-secrets.js';

/**
 * A stolen state directory (docs/SECURITY.md): once an invite or an accept is finished, nothing
 * in the agent's state, on disk or in memory, before or after a restart, holds a secret of it:
 * not the link's or the code's secret, not the link or code text, no ephemeral or session
 * secret, no mailbox capability. What the operator and scripts read stays.
 */

/** Gathers what is secret in both agents now and at every progress event. */
function watchSecrets(...agents: Agent[]): StateSecrets {
  const secrets = new StateSecrets();
  for (const agent of agents) {
    secrets.gather(agent.snapshot);
    agent.onProgress(() => secrets.gather(agent.snapshot));
  }
  return secrets;
}

/** Every secret found in an agent's home on disk, then in its memory and on disk after a restart. */
async function leaksAcrossRestart(
  relay: FakeRelay,
  clock: ManualClock,
  secrets: StateSecrets,
  homes: { name: string; home: string; ids: { invite?: string; accept?: string } }[],
): Promise<{ stopped: string[]; restarted: string[]; reloaded: string[] }> {
  const stopped = [];
  for (const { name, home } of homes) stopped.push(...secrets.leaksIn(await persistedState(home, name)));
  const restarted = [];
  const agents: Agent[] = [];
  for (const { name, home, ids } of homes) {
    const { agent } = await agentOn(relay, clock, name, home);
    agents.push(agent);
    restarted.push(...secrets.leaksIn(agent.snapshot));
    if (ids.invite) restarted.push(...secrets.leaksIn(agent.findInvite(ids.invite)));
    if (ids.accept) restarted.push(...secrets.leaksIn(agent.findAccept(ids.accept)));
  }
  await Promise.all(agents.map((a) => a.stop()));
  const reloaded = [];
  for (const { name, home } of homes) reloaded.push(...secrets.leaksIn(await persistedState(home, name)));
  return { stopped, restarted, reloaded };
}

const noLeaks = { stopped: [], restarted: [], reloaded: [] };

/** The log a home's state.json names (a compaction names a new one). */
const logOf = (home: string) =>
  (JSON.parse(readFileSync(join(home, 'state.json'), 'utf8')) as { log: string }).log;

/** A copy of a running agent's home, as a thief or a backup would take it. */
function copyOf(home: string): string {
  const copy = mkdtempSync(join(tmpdir(), 'pl-stolen-'));
  cpSync(home, copy, { recursive: true });
  return copy;
}

describe('finished records keep no secret (state on disk and in memory, across a restart)', () => {
  for (const format of ['url', 'code'] as const) {
    it(`a ${format === 'url' ? 'link' : 'code'} paired with the SAS compared: no secret of it is left on either side`, async () => {
      const clock = new ManualClock(1_800_000_000);
      const relay = new FakeRelay(clock);
      const { agent: alice, home: aliceHome } = await agentOn(relay, clock, 'alice');
      const { agent: bob, home: bobHome } = await agentOn(relay, clock, 'bob');
      const secrets = watchSecrets(alice, bob);
      const invite = await alice.createInvite({ format, requireSas: true });
      const accept = await bob.startAccept(invite.url ?? invite.code!, true);
      secrets.gather(alice.snapshot);
      secrets.gather(bob.snapshot);
      await eventually(() => bob.findAccept(accept.id).acceptor.phase === 'awaitingSas');
      // Both sides hold their ephemeral and session secrets now.
      secrets.gather(alice.snapshot);
      secrets.gather(bob.snapshot);
      const sessionId = Object.keys(alice.findInvite(invite.id).issuer.sessions)[0]!;
      await alice.issuerEvent(invite.id, { type: 'sasConfirmed', sessionId: Buffer.from(sessionId, 'hex') });
      await bob.acceptorEvent(accept.id, { type: 'sasConfirmed' });
      await eventually(() => alice.snapshot.invites.length === 0 && bob.snapshot.accepts.length === 0);
      expect(secrets.texts.size).toBeGreaterThanOrEqual(2);
      expect(secrets.bytes.size).toBeGreaterThanOrEqual(9);
      // While the agents run, the files lose them within FINISHED_SECRETS_ON_DISK_SECONDS.
      const logs = [logOf(aliceHome), logOf(bobHome)];
      clock.advance(1);
      clock.advance(FINISHED_SECRETS_ON_DISK_SECONDS);
      await eventually(() => logOf(aliceHome) !== logs[0] && logOf(bobHome) !== logs[1]);
      expect([
        ...secrets.leaksIn(await persistedState(copyOf(aliceHome), 'alice')),
        ...secrets.leaksIn(await persistedState(copyOf(bobHome), 'bob')),
      ]).toEqual([]);
      await Promise.all([alice.stop(), bob.stop()]);

      const leaks = await leaksAcrossRestart(relay, clock, secrets, [
        { name: 'alice', home: aliceHome, ids: { invite: invite.id } },
        { name: 'bob', home: bobHome, ids: { accept: accept.id } },
      ]);
      expect(leaks).toEqual(noLeaks);

      // What the operator and scripts read is still there.
      const { agent: again } = await agentOn(relay, clock, 'alice', aliceHome);
      const kept = again.findInvite(invite.id);
      expect([kept.format, kept.issuer.status, kept.issuer.usesLeft]).toEqual([format, 'used', 0]);
      expect(Object.values(kept.issuer.sessions).map((s) => s.phase)).toEqual(['completed']);
      expect(kept.sas[sessionId]?.digits).toMatch(/^\d{6}$/);
      expect(again.snapshot.peers.map((p) => [p.name, p.confirmed])).toEqual([['bob', true]]);
      await again.stop();
      const { agent: bobAgain } = await agentOn(relay, clock, 'bob', bobHome);
      const done = bobAgain.findAccept(accept.id);
      expect([done.acceptor.phase, done.createdAt]).toEqual(['paired', accept.createdAt]);
      expect(done.acceptor.issuerCard).toBeDefined();
      await bobAgain.stop();
    });
  }

  it('a wrong code (failed), its invite cancelled, and a link expired mid-pairing: no secret of any is left', async () => {
    const clock = new ManualClock(1_800_000_000);
    const relay = new FakeRelay(clock);
    const { agent: alice, home: aliceHome } = await agentOn(relay, clock, 'alice');
    const { agent: bob, home: bobHome } = await agentOn(relay, clock, 'bob');
    const secrets = watchSecrets(alice, bob);
    const coded = await alice.createInvite({ format: 'code' });
    const real = parseShortCode(coded.code!);
    const wrongSecret = `${real.secret[0] === '0' ? '1' : '0'}${real.secret.slice(1)}`;
    const wrong = await bob.startAccept(
      formatShortCode({ nameplate: real.nameplate, secret: wrongSecret }),
      false,
    );
    secrets.gather(bob.snapshot);
    await eventually(() => bob.findAccept(wrong.id).acceptor.phase === 'failed');
    await eventually(() => alice.findInvite(coded.id).issuer.failedAttempts === 1);
    await alice.issuerEvent(coded.id, { type: 'cancelRequested' });

    const linked = await alice.createInvite({ ttlSeconds: 60 });
    const late = await bob.startAccept(linked.url!, true);
    await eventually(() => bob.findAccept(late.id).acceptor.phase === 'awaitingSas');
    secrets.gather(alice.snapshot);
    secrets.gather(bob.snapshot);
    clock.seconds = acceptorDeadline(linked.issuer.expiresAt);
    clock.advance(1);
    await eventually(() => alice.snapshot.invites.length === 0 && bob.snapshot.accepts.length === 0);
    await Promise.all([alice.stop(), bob.stop()]);
    expect(secrets.size).toBeGreaterThanOrEqual(20);

    const leaks = await leaksAcrossRestart(relay, clock, secrets, [
      { name: 'alice', home: aliceHome, ids: { invite: coded.id } },
      { name: 'bob', home: bobHome, ids: { accept: wrong.id } },
    ]);
    expect(leaks).toEqual(noLeaks);

    const { agent: again } = await agentOn(relay, clock, 'alice', aliceHome);
    const cancelled = again.findInvite(coded.id);
    expect([cancelled.issuer.status, cancelled.issuer.failedAttempts]).toEqual(['cancelled', 1]);
    expect(Object.values(cancelled.issuer.sessions).map((s) => [s.phase, s.failure])).toEqual([
      ['failed', 'WRONG_CODE'],
    ]);
    const expired = again.findInvite(linked.id);
    expect(expired.issuer.status).toBe('expired');
    expect(Object.values(expired.issuer.sessions).map((s) => [s.phase, s.failure])).toEqual([
      ['failed', 'TIMEOUT'],
    ]);
    await again.stop();
    const { agent: bobAgain } = await agentOn(relay, clock, 'bob', bobHome);
    expect(bobAgain.findAccept(wrong.id).acceptor.failure).toBe('WRONG_CODE');
    expect(bobAgain.findAccept(late.id).acceptor.failure).toBe('TIMEOUT');
    await bobAgain.stop();
  });

  it("the previous version's files, with finished records that kept their secrets: wiped at the first load", async () => {
    const clock = new ManualClock(1_800_000_000);
    const relay = new FakeRelay(clock);
    const { agent: alice, home: aliceHome } = await agentOn(relay, clock, 'alice');
    const { agent: bob, home: bobHome } = await agentOn(relay, clock, 'bob');
    const invite = await alice.createInvite({ requireSas: true });
    const accept = await bob.startAccept(invite.url!, true);
    await eventually(() => bob.findAccept(accept.id).acceptor.phase === 'awaitingSas');
    await Promise.all([alice.stop(), bob.stop()]);
    const secrets = new StateSecrets();
    secrets.gather(alice.snapshot);
    secrets.gather(bob.snapshot);
    expect(secrets.size).toBeGreaterThanOrEqual(12);
    // Finished with every secret still in them: the invite in the snapshot's history, the accept
    // finished by a log entry (as the previous version wrote them, and more).
    const invited = alice.snapshot.invites[0]!;
    const cancelled = { ...invited, issuer: { ...invited.issuer, status: 'cancelled' as const } };
    await writeState(
      aliceHome,
      'alice',
      { state: { ...alice.snapshot, invites: [] }, history: { invites: [cancelled], accepts: [] } },
      [],
    );
    const accepted = bob.snapshot.accepts[0]!;
    const rejected = {
      ...accepted,
      acceptor: { ...accepted.acceptor, phase: 'failed' as const, failure: 'SAS_REJECTED' as const },
    };
    await writeState(bobHome, 'bob', { state: bob.snapshot, history: { invites: [], accepts: [] } }, [
      { name: 'bob', createdAt: bob.snapshot.createdAt, done: { accepts: [rejected] } },
    ]);
    expect(secrets.leaksIn(await persistedState(aliceHome, 'alice')).length).toBeGreaterThan(0);
    expect(secrets.leaksIn(await persistedState(bobHome, 'bob')).length).toBeGreaterThan(0);

    const leaks = await leaksAcrossRestart(relay, clock, secrets, [
      { name: 'alice', home: aliceHome, ids: { invite: invite.id } },
      { name: 'bob', home: bobHome, ids: { accept: accept.id } },
    ]);
    expect({ ...leaks, stopped: [] }).toEqual(noLeaks);

    const { agent: again } = await agentOn(relay, clock, 'alice', aliceHome);
    expect(again.findInvite(invite.id).issuer.status).toBe('cancelled');
    await again.stop();
    const { agent: bobAgain } = await agentOn(relay, clock, 'bob', bobHome);
    expect(bobAgain.findAccept(accept.id).acceptor.failure).toBe('SAS_REJECTED');
    expect(bobAgain.snapshot.accepts).toEqual([]);
    await bobAgain.stop();
  });
});
