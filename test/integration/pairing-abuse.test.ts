import { beforeAll, describe, expect, it } from 'vitest';
import { connect, type InviteProgress } from '../../client/index.js';
import { type AgentProcess, relayWithAgents, startAgent, testRoot } from '../support/agent-process.js';
import { freePort } from '../support/free-port.js';
import { call } from '../support/relay-http.js';
import { startRelayProcess } from '../support/relay-process.js';

// Pairing abuse through real agents and a relay (docs/SECURITY.md): an unpaired peer cannot pin
// itself again through an old invite, strangers' nameplate claims cannot crowd out a code, and
// junk posted through a claim is a failed attempt the issuer sees, and a link outlives a restart
// of a memory relay.

interface Created {
  id: string;
  url?: string;
  code?: string;
  usesLeft: number;
}
interface Summary {
  id: string;
  status: string;
  usesLeft: number;
  failedAttempts?: number;
  sessions: { status: string; error?: string }[];
}
interface Peer {
  did: string;
  name: string;
}

const fleet = relayWithAgents();
let ann: AgentProcess;
let ben: AgentProcess;
let cat: AgentProcess;
beforeAll(async () => {
  [ann, ben, cat] = await Promise.all([fleet.agent('ann'), fleet.agent('ben'), fleet.agent('cat')]);
});

async function summary(agent: AgentProcess, id: string): Promise<Summary> {
  const all = (await agent.json<Summary[]>(['invites', '--all'])).value;
  return all.find((i) => i.id === id)!;
}

describe('an unpaired peer cannot pin itself again', () => {
  it('a repeat acceptor counts as a use, and after unpair every older invite refuses it', async () => {
    const invite = (await ann.json<Created>(['invite', '--uses', '3'])).value;
    const benDid = (await ben.json<{ did: string }>(['whoami'])).value.did;
    expect((await ben.cli(['accept', invite.url!, '--wait', '15s'])).code).toBe(0);
    expect((await summary(ann, invite.id)).usesLeft).toBe(2);
    // Accepting again while still paired is a second use, not a free one.
    expect((await ben.cli(['accept', invite.url!, '--wait', '15s'])).code).toBe(0);
    expect((await summary(ann, invite.id)).usesLeft).toBe(1);

    const older = (await ann.json<Created>(['invite', '--uses', '5'])).value;
    expect((await ann.cli(['unpair', benDid])).code).toBe(0);
    for (let i = 0; i < 4; i++) {
      for (const url of [invite.url!, older.url!]) {
        const again = await ben.json<{ error?: { code: string } }>(['accept', url, '--wait', '15s']);
        expect(again.code).toBe(1);
        expect(again.value.error?.code).toBe('PEER_REMOVED');
      }
    }
    const text = await ben.cli(['accept', older.url!, '--wait', '15s']);
    expect(text.stderr).toMatch(/removed this agent/);
    expect((await ann.json<Peer[]>(['peers'])).value.map((p) => p.did)).not.toContain(benDid);
    expect((await summary(ann, invite.id)).usesLeft).toBe(1);
    expect((await summary(ann, older.id)).usesLeft).toBe(5);

    // Another peer still pairs through the same old invite, and an invite minted after the
    // unpair is the operator's fresh decision: it pairs ben again.
    expect((await cat.cli(['accept', invite.url!, '--wait', '15s'])).code).toBe(0);
    const fresh = (await ann.json<Created>(['invite'])).value;
    expect((await ben.cli(['accept', fresh.url!, '--wait', '15s'])).code).toBe(0);
    expect((await ann.json<Peer[]>(['peers'])).value.map((p) => p.did)).toContain(benDid);
  });
});

describe('a single-use invite stays used', () => {
  it('replayed after the issuer restarts, by a second acceptor and by the first: refused, nothing pinned', async () => {
    const invite = (await ann.json<Created>(['invite'])).value;
    expect((await ben.cli(['accept', invite.url!, '--wait', '15s'])).code).toBe(0);
    const peersBefore = (await ann.json<Peer[]>(['peers'])).value.length;
    await ann.restart();
    for (const agent of [cat, ben]) {
      const again = await agent.json<{ error?: { code: string } }>(['accept', invite.url!, '--wait', '15s']);
      expect(again.code).toBe(1);
      // Used and fully acknowledged, the invite's mailbox is gone from the relay, which answers
      // for it as for any unknown id ("it may have expired or been used").
      expect(['INVITE_USED', 'INVITE_NOT_FOUND']).toContain(again.value.error?.code);
    }
    expect((await summary(ann, invite.id)).status).toBe('used');
    expect((await ann.json<Peer[]>(['peers'])).value).toHaveLength(peersBefore);
  });
});

describe('strangers cannot crowd out a short code', () => {
  it('claims without a CPace message do not count: the right code still pairs after 40 of them', async () => {
    const invite = (await ann.json<Created>(['invite', '--format', 'code'])).value;
    const nameplate = invite.code!.replace(/-/g, '').slice(0, 3);
    for (let i = 0; i < 40; i++) {
      const claim = await call(fleet.relay.url, 'POST', `/v1/nameplates/${nameplate}/claim`, {});
      expect(claim.status).toBe(200);
    }
    expect((await summary(ann, invite.id)).status).toBe('pending');
    const accepted = await ben.json<{ status: string }>(['accept', invite.code!, '--wait', '15s']);
    expect(accepted.value.status).toBe('paired');
  });
});

/** A stranger's claim of `nameplate` that posts `body` to the mailbox it is handed: the post's status. */
async function junkClaim(nameplate: string, body = 'x'): Promise<number> {
  const claim = await call(fleet.relay.url, 'POST', `/v1/nameplates/${nameplate}/claim`, {});
  if (claim.status !== 200) return claim.status;
  const { mailbox, writeCap } = claim.json as { mailbox: string; writeCap: string };
  const posted = await call(fleet.relay.url, 'POST', `/v1/mailboxes/${mailbox}/messages`, {
    body,
    headers: { authorization: `Bearer ${writeCap}` },
  });
  return posted.status;
}

/** The agent's invite.progress events from now on, and a wait for a condition on them. */
async function progressOf(agent: AgentProcess) {
  const client = await connect({ socket: agent.socket });
  const events: InviteProgress[] = [];
  const checks = new Set<() => void>();
  client.onEvent((event) => {
    if (event.method !== 'invite.progress') return;
    events.push(event.params);
    for (const check of checks) check();
  });
  await client.subscribe();
  return {
    events,
    /** Resolves once `done` holds (the test's timeout bounds the wait). */
    until: (done: () => boolean) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (!done()) return;
          checks.delete(check);
          resolve();
        };
        checks.add(check);
        check();
      }),
    close: () => client.close(),
  };
}

interface AuditEntry {
  event: string;
  invite?: string;
  code?: string;
}

describe('junk posted through a nameplate claim is a failed attempt the issuer sees', () => {
  // The acceptor's hello follows the junk in the mailbox, so once it is answered the issuer has
  // read every junk post before it.
  it('two junk posts: two failed attempts shown as they happen (progress, invites, log); the right code still pairs', async () => {
    const progress = await progressOf(ann);
    const invite = (await ann.json<Created>(['invite', '--format', 'code'])).value;
    const nameplate = invite.code!.replace(/-/g, '').slice(0, 3);
    expect([await junkClaim(nameplate), await junkClaim(nameplate)]).toEqual([202, 202]);
    const accepted = await ben.json<{ status: string }>(['accept', invite.code!, '--wait', '15s']);
    expect(accepted.value.status).toBe('paired');
    expect(await summary(ann, invite.id)).toMatchObject({ status: 'used', failedAttempts: 2 });
    const mine = () => progress.events.filter((e) => e.id === invite.id);
    await progress.until(() => mine().some((e) => e.status === 'paired'));
    expect(
      mine()
        .filter((e) => e.status === 'failed')
        .map((e) => e.error?.code),
    ).toEqual(['PROTOCOL_ERROR', 'PROTOCOL_ERROR']);
    const logged = (await ann.json<AuditEntry[]>(['log'])).value.filter((e) => e.invite === invite.id);
    expect(logged.map((e) => `${e.event} ${e.code ?? ''}`.trim())).toEqual([
      'minted',
      'failed PROTOCOL_ERROR',
      'failed PROTOCOL_ERROR',
      'paired',
    ]);
    progress.close();
  });

  it('a third burns the code, as three wrong codes do: the invite ends failed and nobody pairs', async () => {
    const progress = await progressOf(ann);
    const invite = (await ann.json<Created>(['invite', '--format', 'code'])).value;
    const nameplate = invite.code!.replace(/-/g, '').slice(0, 3);
    for (let i = 0; i < 3; i++) expect(await junkClaim(nameplate)).toBe(202);
    const refused = await ben.json<{ status?: string; error?: { code: string } }>([
      'accept',
      invite.code!,
      '--wait',
      '15s',
    ]);
    expect(refused.value.status).toBeUndefined();
    // Burned before the hello was read: gone from the relay, or refused in an abort.
    expect(['INVITE_NOT_FOUND', 'INVITE_USED']).toContain(refused.value.error?.code);
    expect(await summary(ann, invite.id)).toMatchObject({ status: 'failed', failedAttempts: 3 });
    const mine = () => progress.events.filter((e) => e.id === invite.id && e.status === 'failed');
    await progress.until(() => mine().length === 4);
    expect(mine().map((e) => e.error?.code)).toEqual([
      'PROTOCOL_ERROR',
      'PROTOCOL_ERROR',
      'PROTOCOL_ERROR',
      'INVITE_BURNED',
    ]);
    progress.close();
  });
});

describe('a link outlives a restart of a memory relay', () => {
  it('an acceptor that finds the mailbox gone right after the restart finds it again once the issuer puts it back', async () => {
    const port = await freePort();
    let relay = await startRelayProcess(['--port', String(port)]);
    const root = testRoot();
    const [ivy, jo] = await Promise.all([
      startAgent(root, 'ivy', relay.url),
      startAgent(root, 'jo', relay.url),
    ]);
    try {
      const invite = (await ivy.json<Created>(['invite'])).value;
      // The relay restarts (losing every mailbox) while the issuer's agent is down, so nothing can
      // put the invite's mailbox back before the acceptor posts its hello.
      await ivy.stop();
      await relay.stop();
      relay = await startRelayProcess(['--port', String(port)]);
      const accepted = await jo.json<{ status?: string; acceptId?: string; error?: { code: string } }>([
        'accept',
        invite.url!,
        '--wait',
        '1s',
      ]);
      expect(accepted.value.error?.code).toBeUndefined();
      expect(accepted.value.status).toBe('pending');
      await ivy.restart();
      const waited = await jo.json<{ status: string; error?: string }>([
        'wait',
        accepted.value.acceptId!,
        '--timeout',
        '90s',
      ]);
      expect(waited.value).toMatchObject({ status: 'paired', peer: 'ivy' });
    } finally {
      await Promise.all([ivy.stop(), jo.stop()]);
      await relay.stop();
    }
  }, 150_000);
});
