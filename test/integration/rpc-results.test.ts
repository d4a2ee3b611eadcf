import { afterAll, describe, expect, it } from 'vitest';
import { connect, type PairlinkClient, type PairlinkEvent } from '../../client/index.js';
import type { RpcMethodName, RpcMethods } from '../../src/rpc/protocol.js';
import { NOTIFICATION_SCHEMAS, RESULT_SCHEMAS } from '../../src/rpc/schemas.js';
import { relayWithAgents } from '../support/agent-process.js';
import { waitFor } from '../support/wait-for.js';

// What real agents answer, method by method, against the result schemas that rpc.discover and
// docs/RPC.md are generated from: a field the agent sends but the contract does not declare (or
// declares differently) fails here, so the published contract cannot drift from the agent.

const fleet = relayWithAgents();
const clients: PairlinkClient[] = [];
afterAll(() => {
  for (const c of clients) c.close();
});

/** Parses `value` with the method's result schema; parsing strips undeclared keys, so equality is strict. */
function conforms<M extends RpcMethodName>(method: M, value: RpcMethods[M]['result']): void {
  const parsed = RESULT_SCHEMAS[method].safeParse(value);
  expect(parsed.error?.issues ?? [], method).toEqual([]);
  expect(parsed.data, `${method}: every field the agent sends is declared`).toEqual(value);
}

describe('RPC results match the published schemas', () => {
  it('for every method, through a pairing by URL and by code', async () => {
    const [ann, ben] = await Promise.all([fleet.agent('ann'), fleet.agent('ben')]);
    const a = await connect({ socket: ann.socket });
    const b = await connect({ socket: ben.socket });
    clients.push(a, b);
    const seen: PairlinkEvent[] = [];
    a.onEvent((e) => seen.push(e));
    await a.subscribe();
    const seen2: RpcMethodName[] = [];
    const check = async <M extends RpcMethodName>(
      client: PairlinkClient,
      method: M,
      params: RpcMethods[M]['params'],
    ) => {
      const result = await client.call(method, params);
      conforms(method, result);
      seen2.push(method);
      return result;
    };
    await check(a, 'rpc.discover', {});
    await check(a, 'agent.info', {});
    await check(a, 'agent.methods', {});
    await check(a, 'identity.get', {});
    const url = await check(a, 'invite.create', {
      label: 'results',
      creator: { kind: 'script', user: 'ci' },
    });
    await check(a, 'invite.get', { id: url.id });
    const accepted = await check(b, 'invite.accept', { invite: url.url!, waitSeconds: 20 });
    expect(accepted.status).toBe('paired');
    await check(b, 'accept.get', { acceptId: accepted.acceptId });
    const code = await check(a, 'invite.create', { format: 'code', requireSas: true });
    // The issuer holds its welcome until its operator confirms: the acceptor answers pending.
    const pending = await check(b, 'invite.accept', { invite: code.code!, waitSeconds: 1 });
    expect(pending.sas).toBeDefined();
    const withSas = await check(a, 'invite.get', { id: code.id });
    const session = withSas.sessions.find((s) => s.sas)!;
    // Both agents show the same security code: six digits and seven emoji of the §6.7 table.
    expect(session.sas).toEqual(pending.sas);
    expect(pending.sas!.digits).toMatch(/^\d{6}$/);
    expect(pending.sas!.emoji.split(' ')).toHaveLength(7);
    await check(a, 'invite.confirmSas', { id: code.id, sessionId: session.sessionId, match: true });
    await check(b, 'accept.confirmSas', { acceptId: pending.acceptId, match: true });
    const spare = await check(a, 'invite.create', {});
    await check(a, 'invite.cancel', { id: spare.id });
    await check(a, 'invite.list', { all: true });
    const peers = await check(a, 'peer.list', {});
    expect(peers).toHaveLength(1);
    await check(a, 'peer.get', { did: peers[0]!.did });
    const pong = await check(a, 'peer.ping', { did: peers[0]!.did, waitSeconds: 20 });
    // Paired twice, ann keeps ben's inbox (pins.ts): the pong comes back.
    expect(peers[0]!.inbox).toBe(true);
    expect(pong.reachable).toBe(true);
    // Ben rotates; ann hears it (peer.rotated, through the client) and re-pins him under his new did.
    const rotated = await check(b, 'identity.rotate', { reason: 'scheduled' });
    await waitFor(() => seen.some((e) => e.method === 'peer.rotated'), 'ann to hear peer.rotated');
    expect(seen.find((e) => e.method === 'peer.rotated')?.params).toMatchObject({
      did: rotated.did,
      previousDid: rotated.previousDid,
    });
    expect((await a.call('peer.list', {})).map((p) => p.did)).toEqual([rotated.did]);
    // A device of ann's (cal, by a device invite, both operators confirming the SAS), then revoked.
    const cal = await connect({ socket: (await fleet.agent('cal')).socket });
    clients.push(cal);
    const deviceInvite = await a.call('invite.create', { mode: 'device' });
    const calPending = await cal.call('invite.accept', { invite: deviceInvite.url!, waitSeconds: 5 });
    const calSession = (await a.call('invite.get', { id: deviceInvite.id })).sessions.find((x) => x.sas)!;
    await a.call('invite.confirmSas', { id: deviceInvite.id, sessionId: calSession.sessionId, match: true });
    await cal.call('accept.confirmSas', { acceptId: calPending.acceptId, match: true });
    const devices = await check(a, 'device.list', {});
    expect(devices.map((d) => d.name)).toEqual(['cal']);
    const revoked = await check(a, 'device.revoke', { device: 'cal' });
    expect(revoked.revoked.name).toBe('cal');
    await check(a, 'peer.remove', { did: rotated.did });
    await check(a, 'history.list', {});
    await check(a, 'history.verify', {});
    await check(b, 'events.subscribe', {});
    await check(b, 'events.unsubscribe', {});
    expect(new Set(seen2)).toEqual(new Set(Object.keys(RESULT_SCHEMAS)));
    // And the notifications.
    expect(seen.map((e) => e.method)).toContain('peer.removed');
    expect(seen.map((e) => e.method)).toContain('peer.rotated');
    for (const e of seen) {
      const parsed = NOTIFICATION_SCHEMAS[e.method].safeParse(e.params);
      expect(parsed.error?.issues ?? [], e.method).toEqual([]);
      expect(parsed.data).toEqual(e.params);
    }
  }, 60_000);
});
