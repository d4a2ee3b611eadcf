import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentProcess, startAgent, testRoot } from '../support/agent-process.js';
import { PREVIOUS_VERSION, previousVersionBin, previousVersionPresent } from '../support/previous-version.js';
import { type RelayProcess, startRelayProcess } from '../support/relay-process.js';
import { waitFor } from '../support/wait-for.js';

/**
 * Issue #27 item 4, compatibility with the previous release (round 2, before inboxes): its agent,
 * built from git history and run as a real process, pairs with this one both ways, by link and by
 * code; its relay pairs agents of this version (without inboxes); and the home it wrote (identity, peers, a pending invite, history) loads in this agent,
 * which then makes its inbox and next key without losing anything.
 */
interface Peer {
  did: string;
  name: string;
  confirmed: boolean;
  inbox?: boolean;
}
interface Created {
  id: string;
  url?: string;
  code?: string;
}
interface Entry {
  at: string;
  event: string;
  invite?: string;
  peer?: { did: string };
}

const present = previousVersionPresent();
const running: { relays: RelayProcess[]; agents: AgentProcess[] } = { relays: [], agents: [] };
let bin = '';

afterAll(async () => {
  await Promise.all(running.agents.map((a) => a.stop()));
  await Promise.all(running.relays.map((r) => r.stop()));
});

async function relay(): Promise<RelayProcess> {
  const started = await startRelayProcess();
  running.relays.push(started);
  return started;
}

/** An agent of this version, or of the previous one (`old`), on `relayUrl` with its home under `root`. */
async function agent(root: string, name: string, relayUrl: string, old = false): Promise<AgentProcess> {
  const started = await startAgent(root, name, relayUrl, {}, [], [], [], old ? bin : undefined);
  running.agents.push(started);
  return started;
}

const peers = async (a: AgentProcess) => (await a.json<Peer[]>(['peers'])).value;

/** `issuer` mints a link or a code, `acceptor` accepts it; resolves once both hold a confirmed pin. */
async function pair(issuer: AgentProcess, acceptor: AgentProcess, format: 'url' | 'code'): Promise<void> {
  const invite = (await issuer.json<Created>(['invite', '--format', format])).value;
  const accepted = await acceptor.json<{ status: string }>(['accept', (invite.url ?? invite.code)!]);
  expect(accepted).toMatchObject({ code: 0, value: { status: 'paired' } });
  await waitFor(
    async () => (await peers(issuer)).find((p) => p.name === acceptor.name)?.confirmed,
    `${issuer.name}'s pin of ${acceptor.name} confirmed`,
  );
}

/** The relay's gauge of inboxes it holds (its /metrics, loopback). */
async function inboxes(on: RelayProcess): Promise<number> {
  const text = await (await fetch(`${on.url}/metrics`)).text();
  return Number(/^pairlink_relay_inboxes (\S+)$/m.exec(text)?.[1]);
}

/** The names of the file keystore's entries and the identity's sealed bytes. */
function keystore(home: string): { names: string[]; identity: string } {
  const file = JSON.parse(readFileSync(join(home, 'keystore.json'), 'utf8')) as {
    entries: Record<string, string>;
  };
  return { names: Object.keys(file.entries).sort(), identity: file.entries.identity! };
}

describe.skipIf(!present)(`the previous version (${PREVIOUS_VERSION.slice(0, 7)})`, () => {
  beforeAll(async () => {
    const built = await previousVersionBin();
    bin = built.bin;
    console.info(
      built.builtMs ? `built the previous version in ${built.builtMs} ms` : 'previous version: cached build',
    );
  }, 600_000); // a guard against a hang only: one tsc run of the whole old tree

  it('pairs with this version both ways, by link and by code; this version lists the old peers without an inbox', async () => {
    const on = await relay();
    const root = testRoot();
    const [ann, ben, cal, dan] = await Promise.all([
      agent(root, 'ann', on.url, true),
      agent(root, 'ben', on.url),
      agent(root, 'cal', on.url, true),
      agent(root, 'dan', on.url),
    ]);
    await pair(ann, ben, 'url'); // old issues a link, new accepts
    await pair(ben, cal, 'url'); // new issues a link, old accepts
    await pair(cal, dan, 'code'); // old issues a code, new accepts
    await pair(dan, ann, 'code'); // new issues a code, old accepts

    const view = async (a: AgentProcess) =>
      (await peers(a)).map((p) => [p.name, p.confirmed, p.inbox]).sort();
    // This version: every old peer pinned and confirmed, without an inbox (its unpair stays one-sided).
    expect(await view(ben)).toEqual([
      ['ann', true, false],
      ['cal', true, false],
    ]);
    expect(await view(dan)).toEqual([
      ['ann', true, false],
      ['cal', true, false],
    ]);
    // The previous version knows nothing of inboxes: its peers have no such field.
    expect(await view(ann)).toEqual([
      ['ben', true, undefined],
      ['dan', true, undefined],
    ]);
    expect(await view(cal)).toEqual([
      ['ben', true, undefined],
      ['dan', true, undefined],
    ]);
  }, 120_000); // a guard against a hang only: four agents, four pairings one after another

  it('a relay of the previous version pairs agents of this one, without inboxes, each agent saying so once', async () => {
    const on = await startRelayProcess([], {}, { bin });
    running.relays.push(on);
    const root = testRoot();
    const [ivy, jon] = await Promise.all([agent(root, 'ivy', on.url), agent(root, 'jon', on.url)]);
    const noInboxes = (a: AgentProcess) =>
      a.logs.filter((l) => l.includes('the home relay keeps no inboxes'));
    for (const a of [ivy, jon]) await waitFor(() => noInboxes(a).length > 0, `${a.name}'s no-inbox warning`);
    await pair(ivy, jon, 'url');
    expect((await peers(ivy)).map((p) => [p.name, p.inbox])).toEqual([['jon', false]]);
    expect((await peers(jon)).map((p) => [p.name, p.inbox])).toEqual([['ivy', false]]);
    expect([noInboxes(ivy).length, noInboxes(jon).length]).toEqual([1, 1]);
  });

  it("loads the previous version's home: same identity, peers, pending invite and history; then makes its inbox and next key", async () => {
    const on = await relay();
    const root = testRoot();
    // The previous version writes the home: a peer, a cancelled code, a pending link, history.
    const [oldEve, fay] = await Promise.all([
      agent(root, 'eve', on.url, true),
      agent(root, 'fay', on.url, true),
    ]);
    await pair(oldEve, fay, 'url');
    const cancelled = (await oldEve.json<Created>(['invite', '--format', 'code'])).value;
    expect((await oldEve.cli(['cancel', cancelled.id])).code).toBe(0);
    const pending = (await oldEve.json<Created>(['invite', '--uses', '2'])).value;
    const before = {
      did: (await oldEve.json<{ did: string }>(['whoami'])).value.did,
      peers: (await peers(oldEve)).map((p) => [p.did, p.name]),
      history: (await oldEve.json<Entry[]>(['log'])).value,
      keystore: keystore(oldEve.home),
    };
    expect(before.history.map((e) => e.event)).toEqual(['minted', 'paired', 'minted', 'cancelled', 'minted']);
    expect(before.keystore.names).toEqual(['identity', 'state-key']);
    expect(await oldEve.stop()).toBe(0);
    const inboxesBefore = await inboxes(on);

    // This version on the same home (same passphrase, same socket).
    const eve = await agent(root, 'eve', on.url);
    expect((await eve.json<{ did: string }>(['whoami'])).value.did).toBe(before.did);
    expect((await peers(eve)).map((p) => [p.did, p.name, p.inbox])).toEqual(
      before.peers.map(([did, name]) => [did, name, false]),
    );
    const invites = (await eve.json<{ id: string; status: string }[]>(['invites'])).value;
    expect(invites.map((i) => [i.id, i.status])).toEqual([[pending.id, 'pending']]);
    const history = (await eve.json<Entry[]>(['log'])).value;
    expect(history.slice(0, before.history.length)).toEqual(before.history);
    const verdict = await eve.json<{ ok: boolean; beforeChain: number }>(['log', '--verify']);
    expect(verdict).toMatchObject({ code: 0, value: { ok: true, beforeChain: before.history.length } });
    const text = await eve.cli(['log']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`invite ${pending.id}`);
    expect(text.stdout).toContain('History intact');

    // It makes its inbox on its relay and its next key, and keeps its identity's key as it was.
    await waitFor(async () => (await inboxes(on)) === inboxesBefore + 1, "eve's inbox on the relay");
    expect(keystore(eve.home)).toEqual({
      names: ['identity', 'next-identity', 'state-key'],
      identity: before.keystore.identity,
    });

    // The pending invite is still accepted, by an agent of this version that gets eve's inbox.
    const hal = await agent(root, 'hal', on.url);
    const accepted = await hal.json<{ status: string }>(['accept', pending.url!]);
    expect(accepted).toMatchObject({ code: 0, value: { status: 'paired' } });
    expect((await peers(hal)).map((p) => [p.did, p.inbox])).toEqual([[before.did, true]]);

    // Nothing lost across a restart of this version: peers, history, the chain.
    await eve.restart();
    expect((await eve.json<{ did: string }>(['whoami'])).value.did).toBe(before.did);
    expect((await peers(eve)).map((p) => [p.name, p.inbox]).sort()).toEqual([
      ['fay', false],
      ['hal', true],
    ]);
    const after = (await eve.json<Entry[]>(['log'])).value;
    expect(after.slice(0, before.history.length)).toEqual(before.history);
    expect(after.slice(before.history.length).map((e) => e.event)).toEqual(['paired']);
    expect((await eve.json<{ ok: boolean }>(['log', '--verify'])).value.ok).toBe(true);
  }, 120_000); // a guard against a hang only: five agent starts and three pairings in sequence
});
