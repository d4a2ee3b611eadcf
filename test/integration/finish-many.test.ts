import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FINISHED_RECORDS_KEPT } from '../../agent/state/durable-state.js';
import { connect, type PairlinkClient } from '../../client/index.js';
import { type AgentProcess, startAgent, testRoot } from '../support/agent-process.js';
import { type RelayProcess, startRelayProcess } from '../support/relay-process.js';

// Many records finishing at once: concurrent calls share one save (group commit), and that save
// moves every record it finished into the history, which keeps the last FINISHED_RECORDS_KEPT of
// each kind. Each call still answers what it answers alone, however many others finished with it.

const MANY = 250;

let relay: RelayProcess;
let agents: AgentProcess[] = [];
let ann: PairlinkClient;
let ben: PairlinkClient;
beforeAll(async () => {
  // Each invite and accept costs mailboxes at the relay: lift its rate limits, not what is tested here.
  const unlimited = {
    ipRatePerSecond: 1e6,
    ipBurst: 1e6,
    mailboxRatePerSecond: 1e6,
    mailboxBurst: 1e6,
    maxMailboxesPerIp: 1e6,
  };
  relay = await startRelayProcess([], { PAIRLINK_RELAY_LIMITS: JSON.stringify(unlimited) });
  const root = testRoot();
  agents = await Promise.all([startAgent(root, 'ann', relay.url), startAgent(root, 'ben', relay.url)]);
  ann = await connect({ socket: agents[0]!.socket });
  ben = await connect({ socket: agents[1]!.socket });
});
afterAll(async () => {
  ann?.close();
  ben?.close();
  await Promise.all(agents.map((a) => a.stop()));
  await relay?.stop();
});

/** Runs every call at once; resolves with each one's answer, or its error code. */
async function allAtOnce<T>(calls: (() => Promise<T>)[]): Promise<(T | { failed: string })[]> {
  const settled = await Promise.allSettled(calls.map((call) => call()));
  return settled.map((s) =>
    s.status === 'fulfilled' ? s.value : { failed: String((s.reason as { code?: unknown }).code) },
  );
}

/**
 * Subscribes to ann's events on a connection of its own (the calls' answers do not crowd it), and
 * resolves once ann's agent has reported `status` for every invite in `ids`.
 */
async function progressOf(ids: readonly string[], status: string): Promise<() => Promise<void>> {
  const events = await connect({ socket: agents[0]!.socket });
  const waiting = new Set(ids);
  const seen = new Promise<void>((resolve) => {
    events.onEvent((event) => {
      if (event.method === 'invite.progress' && event.params.status === status)
        waiting.delete(event.params.id);
      if (waiting.size === 0) resolve();
    });
  });
  await events.subscribe();
  return async () => {
    await seen;
    events.close();
  };
}

/**
 * `count` invites of ann's, each accepted by ben up to the SAS: ben's own check (`acceptor`), or
 * ann's (`issuer`: ben's accepts stay pending until ann's operator answers).
 */
async function awaitingSas(count: number, side: 'issuer' | 'acceptor') {
  const invites = await Promise.all(
    Array.from({ length: count }, () => ann.createInvite({ requireSas: side === 'issuer' })),
  );
  // Ann's 'sas' events say when her side of each pairing waits for her operator.
  const shown =
    side === 'issuer'
      ? await progressOf(
          invites.map((i) => i.id),
          'sas',
        )
      : null;
  const accepts = await Promise.all(
    invites.map((i) =>
      ben.call('invite.accept', {
        invite: i.url!,
        requireSas: side === 'acceptor',
        waitSeconds: side === 'acceptor' ? 60 : 0,
      }),
    ),
  );
  if (shown) await shown();
  else for (const accept of accepts) expect(accept.confirmSas).toBe(true);
  return { invites, accepts };
}

describe(`${MANY} records finishing at once`, () => {
  it('invite.cancel of every pending invite: each answers its invite, cancelled; none is left pending', async () => {
    expect(MANY).toBeGreaterThan(FINISHED_RECORDS_KEPT);
    const creator = { kind: 'script', user: 'finish-many' } as const;
    const created = await Promise.all(Array.from({ length: MANY }, () => ann.createInvite({ creator })));
    const ids = created.map((c) => c.id);
    expect(new Set(ids).size).toBe(MANY);

    const answers = await allAtOnce(ids.map((id) => () => ann.cancelInvite(id)));
    expect(answers.filter((a) => 'failed' in a)).toEqual([]);
    expect(answers.map((a) => ('id' in a ? [a.id, a.status] : a))).toEqual(
      ids.map((id) => [id, 'cancelled']),
    );
    const pending = await ann.listInvites({});
    expect(pending.filter((i) => ids.includes(i.id))).toEqual([]);
    // The history says who minted each cancelled invite, as it does for one cancelled alone.
    const cancelled = (await ann.history()).filter((e) => e.event === 'cancelled' && ids.includes(e.invite!));
    const byInvite = new Map(cancelled.map((e) => [e.invite, e.by]));
    expect(cancelled).toHaveLength(MANY);
    expect(ids.filter((id) => byInvite.get(id)?.user !== creator.user)).toEqual([]);
    // A second cancel answers as it does for one invite: already cancelled while the history
    // holds it (the last FINISHED_RECORDS_KEPT), unknown after that; never a success.
    const again = await allAtOnce(ids.map((id) => () => ann.cancelInvite(id)));
    const count = (code: string) => again.filter((a) => 'failed' in a && a.failed === code).length;
    expect([count('INVITE_CANCELLED'), count('UNKNOWN_ID')]).toEqual([
      FINISHED_RECORDS_KEPT,
      MANY - FINISHED_RECORDS_KEPT,
    ]);
  });

  it('accept.confirmSas rejecting every accept: each answers SAS_REJECTED', async () => {
    const { accepts } = await awaitingSas(MANY, 'acceptor');
    const answers = await allAtOnce(
      accepts.map((a) => () => ben.call('accept.confirmSas', { acceptId: a.acceptId, match: false })),
    );
    expect(answers).toEqual(accepts.map(() => ({ failed: 'SAS_REJECTED' })));
  });

  it('accept.get waiting on every accept while the issuer rejects them all: each answers SAS_REJECTED', async () => {
    const { invites, accepts } = await awaitingSas(MANY, 'issuer');
    const waiting = allAtOnce(
      accepts.map((a) => () => ben.call('accept.get', { acceptId: a.acceptId, waitSeconds: 60 })),
    );
    const sessions = await Promise.all(invites.map((i) => ann.getInvite(i.id)));
    const rejected = await allAtOnce(
      sessions.map(
        (s) => () =>
          ann.call('invite.confirmSas', { id: s.id, sessionId: s.sessions[0]!.sessionId, match: false }),
      ),
    );
    expect(rejected.filter((r) => 'failed' in r)).toEqual([]);
    expect(await waiting).toEqual(accepts.map(() => ({ failed: 'SAS_REJECTED' })));
  });
});
