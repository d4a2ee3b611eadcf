import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PairlinkClient } from '../../client/index.js';
import type { InviteProgress } from '../../src/rpc/protocol.js';
import { type AgentProcess, relayWithAgents } from '../support/agent-process.js';
import { waitFor } from '../support/wait-for.js';

// Security codes, device mode, notifications and expiry, each through real agents and a relay.

interface Created {
  id: string;
  url?: string;
  code?: string;
}
interface Pending {
  status: string;
  acceptId?: string;
  sas?: { digits: string; emoji: string };
  peer?: { did: string; name: string };
}
interface Summary {
  id: string;
  status: string;
  sessions: { sessionId: string; status: string; sas?: { digits: string; emoji: string } }[];
}

const fleet = relayWithAgents();
const agent = (name: string) => fleet.agent(name);
const clients: PairlinkClient[] = [];
afterAll(() => {
  for (const client of clients) client.close();
});

/** Every invite.progress notification the agent sends on one subscribed connection. */
async function progressOf(target: AgentProcess): Promise<InviteProgress[]> {
  const client = await PairlinkClient.connect({ socket: target.socket });
  clients.push(client);
  const seen: InviteProgress[] = [];
  client.onEvent((e) => {
    if (e.method === 'invite.progress') seen.push(e.params);
  });
  expect(await client.call('events.subscribe', {})).toEqual({ subscribed: true });
  return seen;
}

/** Waits until the invite has a session showing its security code. */
function waitingSession(issuer: AgentProcess, id: string) {
  return waitFor(async () => {
    const list = (await issuer.json<Summary[]>(['invites'])).value;
    // The issuer knows the code once the hello arrives, and may confirm before or after the acceptor.
    return list
      .find((i) => i.id === id)
      ?.sessions.find((s) => (s.status === 'awaitingSas' || s.status === 'awaitingConfirm') && s.sas);
  }, 'the issuer to show the security code');
}

describe('security codes (SAS) through the CLI', () => {
  let ann: AgentProcess;
  let ben: AgentProcess;
  beforeAll(async () => {
    [ann, ben] = await Promise.all([agent('ann'), agent('ben')]);
  });

  it('both sides see the same code; both confirm; then both are paired', async () => {
    const invite = await ann.json<Created>(['invite', '--require-sas']);
    const accepted = await ben.json<Pending>(['accept', invite.value.url!, '--require-sas', '--wait', '10s']);
    expect(accepted.code).toBe(4); // pending: waiting for the code to be confirmed
    expect(accepted.value.status).toBe('pending');
    expect(accepted.value.sas?.digits).toMatch(/^\d{6}$/);
    const session = await waitingSession(ann, invite.value.id);
    expect(session.sas).toEqual(accepted.value.sas);
    expect((await ann.cli(['confirm', invite.value.id, 'yes'])).code).toBe(0);
    const confirmed = await ben.json<Pending>(['confirm', accepted.value.acceptId!, 'yes']);
    expect(confirmed.code).toBe(0);
    expect(confirmed.value).toMatchObject({ status: 'paired', peer: { name: 'ann' } });
    const annPeers = await waitFor(async () => {
      const peers = (await ann.json<{ name: string }[]>(['peers'])).value;
      return peers.length > 0 ? peers : undefined;
    }, 'ann to pin ben');
    expect(annPeers.map((p) => p.name)).toEqual(['ben']);
  });

  it('only the issuer asks for the code: the acceptor shows it while it waits, then is paired', async () => {
    const dana = await agent('dana');
    const invite = await ann.json<Created>(['invite', '--require-sas']);
    const accepting = dana.cli(['accept', invite.value.url!, '--wait', '30s']);
    const session = await waitingSession(ann, invite.value.id);
    expect((await ann.cli(['confirm', invite.value.id, 'yes'])).code).toBe(0);
    const accepted = await accepting;
    expect(accepted.code).toBe(0);
    // The acceptor's operator had the code to read out to the issuer's before it was confirmed.
    // (progress goes to stderr, the outcome to stdout)
    expect(accepted.stderr).toContain(`Security code: ${session.sas!.digits}  ${session.sas!.emoji}`);
    expect(accepted.stderr).toMatch(/read it to the issuer's operator/);
    expect(accepted.stdout).toMatch(/^Paired with ann/m);
  });

  it('with --json too, the acceptor writes the code the issuer must hear to stderr as it arrives (one JSON line)', async () => {
    const erin = await agent('erin');
    const invite = await ann.json<Created>(['invite', '--require-sas']);
    const accepting = erin.cli(['accept', invite.value.url!, '--wait', '30s', '--json']);
    const session = await waitingSession(ann, invite.value.id);
    expect((await ann.cli(['confirm', invite.value.id, 'yes'])).code).toBe(0);
    const accepted = await accepting;
    expect(accepted.code).toBe(0);
    expect(JSON.parse(accepted.stdout)).toMatchObject({ status: 'paired', peer: { name: 'ann' } });
    const lines = accepted.stderr
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line));
    expect(lines).toEqual([{ status: 'sasShown', acceptId: expect.any(String), sas: session.sas }]);
  });

  it('following an accept that already waits for its code answers with the code, not at the end of --wait', async () => {
    const invite = await ann.json<Created>(['invite', '--require-sas']);
    const accepted = await ben.json<Pending>(['accept', invite.value.url!, '--require-sas', '--wait', '10s']);
    expect(accepted.value.sas).toBeDefined(); // the 'sas' progress has gone out before the follow starts
    // Waited the whole 10 minutes before (the test's own timeout ends it).
    const followed = await ben.json<Pending>([
      'accept',
      '--follow',
      accepted.value.acceptId!,
      '--wait',
      '10m',
    ]);
    expect(followed.code).toBe(4);
    expect(followed.value).toMatchObject({ status: 'pending', sas: accepted.value.sas });
    expect((await ben.cli(['confirm', accepted.value.acceptId!, 'no'])).code).toBe(0);
  }, 60_000);

  it('a rejected code pins nothing on either side', async () => {
    const annBefore = (await ann.json<{ name: string }[]>(['peers'])).value.map((p) => p.name);
    const cleo = await agent('cleo');
    const invite = await ann.json<Created>(['invite', '--require-sas']);
    const accepted = await cleo.json<Pending>([
      'accept',
      invite.value.url!,
      '--require-sas',
      '--wait',
      '10s',
    ]);
    expect(accepted.value.sas).toBeDefined();
    await waitingSession(ann, invite.value.id);
    const rejected = await cleo.cli(['confirm', accepted.value.acceptId!, 'no']);
    expect(rejected.stdout).toMatch(/Rejected/);
    await waitFor(async () => {
      const list = (await ann.json<Summary[]>(['invites', '--all'])).value;
      const s = list.find((i) => i.id === invite.value.id)?.sessions[0];
      return s?.status === 'failed' ? s : undefined;
    }, 'the issuer to see the rejection');
    expect((await cleo.json<unknown[]>(['peers'])).value).toEqual([]);
    expect((await ann.json<{ name: string }[]>(['peers'])).value.map((p) => p.name)).toEqual(annBefore);
  });
});

describe('invite output', () => {
  it('draws the link as a QR code with --qr (and not when piped without it)', async () => {
    const kit = await agent('kit');
    const piped = await kit.cli(['invite']);
    expect(piped.stdout).not.toMatch(/[█▀▄]/);
    const drawn = await kit.cli(['invite', '--qr']);
    const lines = drawn.stdout.split('\n');
    const qrLines = lines.filter((l) => /^[ █▀▄]+$/.test(l) && /[█▀▄]/.test(l));
    // Half blocks: two modules per character cell, so a version 9+ symbol is 27+ rows high.
    expect(qrLines.length).toBeGreaterThanOrEqual(25);
    expect(new Set(qrLines.map((l) => l.length)).size, drawn.stdout).toBe(1); // every row equally wide
    expect(lines.some((l) => l.startsWith('http://'))).toBe(true);
  });
});

describe('device mode through two agents', () => {
  it('after both confirm the code, the new device holds the same identity and name', async () => {
    const [desk, laptop] = await Promise.all([agent('desk'), agent('laptop')]);
    const deskId = (await desk.json<{ did: string }>(['whoami'])).value.did;
    expect((await laptop.json<{ did: string }>(['whoami'])).value.did).not.toBe(deskId);
    const invite = await desk.json<Created>(['invite', '--mode', 'device']);
    // Device invites always require the code, whatever the acceptor asked for.
    const accepted = await laptop.json<Pending>(['accept', invite.value.url!, '--wait', '10s']);
    expect(accepted.code).toBe(4);
    expect(accepted.value.sas).toBeDefined();
    await waitingSession(desk, invite.value.id);
    expect((await desk.cli(['confirm', invite.value.id, 'yes'])).code).toBe(0);
    expect((await laptop.json<Pending>(['confirm', accepted.value.acceptId!, 'yes'])).value.status).toBe(
      'paired',
    );
    expect((await laptop.json<{ did: string; name: string }>(['whoami'])).value).toEqual({
      did: deskId,
      name: 'desk',
    });
    // The identity secret moved into the laptop's keystore: it survives a restart.
    await laptop.restart();
    expect((await laptop.json<{ did: string }>(['whoami'])).value.did).toBe(deskId);
  });
});

describe('invite.progress notifications and expiry', () => {
  it('a subscribed connection hears published, then paired, on both sides', async () => {
    const [fay, gus] = await Promise.all([agent('fay'), agent('gus')]);
    const fayEvents = await progressOf(fay);
    const gusEvents = await progressOf(gus);
    const invite = await fay.json<Created>(['invite']);
    expect((await gus.json<Pending>(['accept', invite.value.url!])).value.status).toBe('paired');
    await waitFor(async () => (fayEvents.some((e) => e.status === 'paired') ? true : undefined), 'paired');
    const mine = fayEvents.filter((e) => e.id === invite.value.id).map((e) => e.status);
    expect(mine[0]).toBe('published');
    expect(mine).toContain('paired');
    const paired = fayEvents.find((e) => e.status === 'paired')!;
    expect(paired).toMatchObject({ role: 'issuer', peer: { name: 'gus' } });
    expect(Number.isNaN(Date.parse(paired.at))).toBe(false);
    expect(gusEvents.find((e) => e.status === 'paired')).toMatchObject({
      role: 'acceptor',
      peer: { name: 'fay' },
    });
  });

  it('an expired invite is reported, refused with INVITE_EXPIRED (by link and by code), and pins nothing', async () => {
    const [hal, ivy] = await Promise.all([agent('hal'), agent('ivy')]);
    const events = await progressOf(hal);
    const byUrl = await hal.json<Created>(['invite', '--ttl', '30s']);
    const byCode = await hal.json<Created>(['invite', '--format', 'code', '--ttl', '30s']);
    await waitFor(
      async () => (events.filter((e) => e.status === 'expired').length === 2 ? true : undefined),
      'both invites to expire',
      { deadlineMs: 90_000 }, // 30 s of TTL, then a guard against a hang
    );
    const list = (await hal.json<Summary[]>(['invites', '--all'])).value;
    expect(list.filter((i) => [byUrl.value.id, byCode.value.id].includes(i.id)).map((i) => i.status)).toEqual(
      ['expired', 'expired'],
    );
    const late = await ivy.json<{ error: { code: string } }>(['accept', byUrl.value.url!]);
    expect(late).toMatchObject({ code: 1, value: { error: { code: 'INVITE_EXPIRED' } } });
    const lateCode = await ivy.json<{ error: { code: string } }>([
      'accept',
      byCode.value.code!,
      '--wait',
      '10s',
    ]);
    expect(lateCode.code).toBe(1);
    // The issuer keeps the code's mailbox through a grace period and answers "expired"; after
    // that the relay forgets it and the answer is "not found". Either way: refused.
    expect(['INVITE_EXPIRED', 'INVITE_NOT_FOUND']).toContain(lateCode.value.error.code);
    expect((await ivy.json<unknown[]>(['peers'])).value).toEqual([]);
    expect((await hal.json<unknown[]>(['peers'])).value).toEqual([]);
  }, 120_000);
});
