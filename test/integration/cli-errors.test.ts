import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PairlinkClient, type PairlinkError } from '../../client/index.js';
import { formatShortCode, parseShortCode } from '../../src/invite/short-code.js';
import { type AgentProcess, relayWithAgents } from '../support/agent-process.js';
import { waitFor } from '../support/wait-for.js';

// Errors that fit what the person did, through real agents on a real relay: the agent's JSON-RPC
// protocol errors keep their own codes, unknown ids and dids are named as such, a code of one's own
// is refused before it costs a guess, and a code burned by wrong guesses says so on both sides.

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

async function clientOf(agent: AgentProcess): Promise<PairlinkClient> {
  const client = await PairlinkClient.connect({ socket: agent.socket });
  clients.push(client);
  return client;
}

/** The stable code a call is refused with ('OK' when it is not refused). */
function refusal(call: Promise<unknown>): Promise<string> {
  return call.then(
    () => 'OK',
    (error: PairlinkError) => error.code,
  );
}

describe('JSON-RPC protocol errors keep their codes (not INTERNAL)', () => {
  it('an unknown method is METHOD_NOT_FOUND, params that are not structured INVALID_REQUEST', async () => {
    const unknown = await ann.cli(['rpc', 'nosuch.method', '--json']);
    expect(unknown.code).toBe(1);
    expect(JSON.parse(unknown.stdout).error.code).toBe('METHOD_NOT_FOUND');
    const human = await ann.cli(['rpc', 'nosuch.method']);
    expect(human.stderr).toMatch(/^pairlink: The agent has no method by that name; .*agent\.methods/);
    expect(human.stderr).not.toMatch(/bug/);

    const nullParams = await ann.cli(['rpc', 'peer.list', 'null', '--json']);
    expect(JSON.parse(nullParams.stdout).error.code).toBe('INVALID_REQUEST');
    const badParams = await ann.cli(['rpc', 'peer.list', '{"x":1}', '--json']);
    expect(JSON.parse(badParams.stdout).error.code).toBe('INVALID_PARAMS');
  });
});

describe('ids and dids this agent does not know', () => {
  it('cancel NOSUCHID is UNKNOWN_ID and does not send the issuer to "its issuer"', async () => {
    const json = await ann.json<{ error: { code: string } }>(['cancel', 'NOSUCHID']);
    expect(json.code).toBe(1);
    expect(json.value.error.code).toBe('UNKNOWN_ID');
    const human = await ann.cli(['cancel', 'NOSUCHID']);
    expect(human.stderr).toMatch(/^pairlink: This agent has no invite or accept with that id/);
    expect(human.stderr).not.toContain('ask its issuer');
    // `pairlink wait` still tells an unknown id (exit 1) from an accept id.
    expect((await ann.cli(['wait', 'NOSUCHID', '--timeout', '1s'])).code).toBe(1);
  });

  it('unpair not-a-did is INVALID_PARAMS naming a did:key; an unknown valid did stays removed:false', async () => {
    const json = await ann.json<{ error?: { code: string; message: string } }>(['unpair', 'not-a-did']);
    expect(json.code).toBe(1);
    expect(json.value.error?.code).toBe('INVALID_PARAMS');
    expect(json.value.error?.message).toMatch(/not a did:key/);
    const client = await clientOf(ann);
    const stranger = (await (await clientOf(ben)).call('identity.get', {})).did;
    expect(await client.call('peer.remove', { did: stranger })).toEqual({ removed: false, notified: false });
  });
});

describe('confirming a security code', () => {
  it('says what happened in words, not the session state name', async () => {
    const invite = (await ann.json<{ id: string; url: string }>(['invite', '--require-sas'])).value;
    const benClient = await clientOf(ben);
    const accepting = benClient.call('invite.accept', { invite: invite.url, waitSeconds: 30 });
    await waitFor(async () => {
      const list = (await ann.json<{ id: string; sessions: { status: string }[] }[]>(['invites'])).value;
      return list.find((i) => i.id === invite.id)?.sessions.find((s) => s.status === 'awaitingSas');
    }, 'the session to wait for the code');
    const confirmed = await ann.cli(['confirm', invite.id, 'yes']);
    expect(confirmed.code).toBe(0);
    expect(confirmed.stdout).not.toMatch(/awaiting|session \w+\./);
    expect(confirmed.stdout).toMatch(/^Confirmed: ben (is paired|is pinned here)/);
    expect((await accepting).status).toBe('paired');
  });
});

describe('short codes', () => {
  it("accepting one's own code is refused locally and costs none of its guesses", async () => {
    const created = (await ann.json<{ id: string; code: string }>(['invite', '--format', 'code'])).value;
    const client = await clientOf(ann);
    expect(await refusal(client.call('invite.accept', { invite: created.code }))).toBe('SELF_PAIRING');
    const summary = await client.call('invite.get', { id: created.id });
    expect(summary.failedAttempts).toBe(0);
    expect(summary.status).toBe('pending');
  });

  it('a code burned by three wrong guesses says so to the acceptor and in the issuer’s invites', async () => {
    const created = (await ann.json<{ id: string; code: string }>(['invite', '--format', 'code'])).value;
    const right = parseShortCode(created.code);
    const benClient = await clientOf(ben);
    for (const secret of ['00000000', '11111111', '22222222']) {
      const wrong = formatShortCode({ nameplate: right.nameplate, secret });
      expect(await refusal(benClient.call('invite.accept', { invite: wrong }))).toBe('WRONG_CODE');
    }
    // Whether or not the issuer has closed the burned invite's mailbox yet, the answer is the same.
    expect(await refusal(benClient.call('invite.accept', { invite: created.code }))).toBe('INVITE_BURNED');
    const annClient = await clientOf(ann);
    const ended = await waitFor(async () => {
      const summary = await annClient.call('invite.get', { id: created.id });
      return summary.status === 'pending' ? undefined : summary;
    }, 'the issuer to burn the invite');
    expect(ended).toMatchObject({ status: 'failed', failedAttempts: 3, error: 'INVITE_BURNED' });
    const listed = await ann.cli(['invites', '--all']);
    expect(listed.stdout).toMatch(new RegExp(`${created.id}.*burned after 3 failed code attempts`));
  });
});
