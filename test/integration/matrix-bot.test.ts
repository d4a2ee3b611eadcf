import { mkdtempSync, statSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { MatrixBot } from '../../bots/matrix/bot.js';
import { MATRIX_CONFIG_SCHEMA } from '../../bots/matrix/config.js';
import { FakeHomeserver, type FakeMatrixUser, type MatrixEvent } from '../fakes/matrix/fake-homeserver.js';
import { type AgentProcess, startAgent, testRoot } from '../support/agent-process.js';
import { startBotProcess } from '../support/bot-process.js';
import { freePort } from '../support/free-port.js';
import { type RelayProcess, startRelayProcess } from '../support/relay-process.js';

// The real matrix-bot-sdk, unmodified (with the E2EE stand-in), against test/fakes/matrix; real
// agents and a real relay.

let hs: FakeHomeserver;
let relay: RelayProcess;
let root: string;
let agentA: AgentProcess;
let agentB: AgentProcess;
let botA: MatrixBot;
const bots: MatrixBot[] = [];
let room: string;
let botUserA: FakeMatrixUser;
let botUserB: FakeMatrixUser;
let alice: FakeMatrixUser; // power 100 in the room
let dave: FakeMatrixUser; // power 50
let bob: FakeMatrixUser; // power 0
let carol: FakeMatrixUser; // creates a room-v12 room
let mallory: FakeMatrixUser; // another server, not allowlisted

async function bot(user: FakeMatrixUser, agent: AgentProcess, extra: Record<string, unknown> = {}) {
  const config = MATRIX_CONFIG_SCHEMA.parse({ homeserverUrl: hs.url, userId: user.userId, ...extra });
  const instance = new MatrixBot(
    config,
    user.token,
    { agentSocket: agent.socket, stateDir: join(root, `bot-${user.displayName}`) },
    pino({ level: 'silent' }),
  );
  await instance.start();
  bots.push(instance);
  return instance;
}

const configA = {
  joinFrom: { userIds: ['@alice:fake.test', '@carol:fake.test'] },
  allow: { invites: { userIds: ['@bob:fake.test'] } },
};

/** Sends a message as a test user through the client-server API. */
async function say(user: FakeMatrixUser, roomId: string, body: string, extra: Record<string, unknown> = {}) {
  const txn = `t${Math.random().toString(36).slice(2)}`;
  const res = await fetch(
    `${hs.url}/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${txn}`,
    {
      method: 'PUT',
      headers: { authorization: `Bearer ${user.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ msgtype: 'm.text', body, ...extra }),
    },
  );
  expect(res.status).toBe(200);
  return ((await res.json()) as { event_id: string }).event_id;
}

function repliesTo(roomId: string, eventId: string): MatrixEvent[] {
  return hs.timeline(roomId).filter((e) => {
    const rel = e.content['m.relates_to'] as { 'm.in_reply_to'?: { event_id?: string } } | undefined;
    return e.type === 'm.room.message' && rel?.['m.in_reply_to']?.event_id === eventId;
  });
}

function reactionsTo(roomId: string, eventId: string): string[] {
  return hs
    .timeline(roomId)
    .filter((e) => e.type === 'm.reaction' && !e.unsigned?.redacted_because)
    .map((e) => e.content['m.relates_to'] as { event_id: string; key: string })
    .filter((r) => r.event_id === eventId)
    .map((r) => r.key);
}

async function replyTo(roomId: string, eventId: string, what: string): Promise<MatrixEvent> {
  return hs.until(() => repliesTo(roomId, eventId).find((e) => e.content.msgtype === 'm.notice'), what);
}

beforeAll(async () => {
  hs = new FakeHomeserver();
  await hs.start();
  relay = await startRelayProcess();
  root = testRoot();
  [agentA, agentB] = await Promise.all([
    startAgent(root, 'agent-a', relay.url),
    startAgent(root, 'agent-b', relay.url),
  ]);
  botUserA = hs.addUser('pairlink-a');
  botUserB = hs.addUser('pairlink-b');
  alice = hs.addUser('alice');
  dave = hs.addUser('dave');
  bob = hs.addUser('bob');
  carol = hs.addUser('carol');
  mallory = hs.addUser('mallory', 'evil.test');
  room = hs.createRoom(alice, {
    name: 'ops',
    power_level_content_override: { users: { [alice.userId]: 100, [dave.userId]: 50 } },
  });
  for (const u of [dave, bob]) {
    hs.invite(alice, room, u.userId);
    hs.join(u, room);
  }
  botA = await bot(botUserA, agentA, configA);
  // Bot B answers a different prefix, so the two bots in one room are told apart.
  await bot(botUserB, agentB, { prefix: '!pb', joinFrom: { servers: ['fake.test'] } });
}, 60_000);

afterAll(async () => {
  await Promise.all(bots.map((b) => b.stop()));
  await Promise.all([agentA, agentB].map((a) => a?.stop()));
  await relay?.stop();
  await hs?.stop();
});

describe('the Matrix bot (matrix-bot-sdk against a fake homeserver)', () => {
  it('joins rooms it is invited to by allowlisted users or servers, and declines others', async () => {
    hs.invite(alice, room, botUserA.userId);
    hs.invite(alice, room, botUserB.userId);
    await hs.until(() => hs.membership(room, botUserA.userId) === 'join', 'bot A joining');
    await hs.until(() => hs.membership(room, botUserB.userId) === 'join', 'bot B joining');

    const elsewhere = hs.createRoom(mallory, { name: 'bait' });
    hs.invite(mallory, elsewhere, botUserA.userId);
    await hs.until(() => hs.membership(elsewhere, botUserA.userId) === 'leave', 'the declined invite');
  });

  it('!pair invite on bot A, accept on bot B by mention: both agents paired, A’s notice edited, QR redacted', async () => {
    const command = await say(alice, room, '!pair invite');
    const notice = await replyTo(room, command, 'the invite notice');
    expect(notice.content.msgtype).toBe('m.notice');
    expect(notice.content['m.mentions']).toEqual({ user_ids: [alice.userId] });
    expect(String(notice.content.body)).toMatch(/pairlink invite/);
    expect(String(notice.content.body)).toMatch(
      /Expires \d{4}-\d\d-\d\d \d\d:\d\d UTC \(in \d+ (minutes|hours)\)/,
    );
    expect(String(notice.content.formatted_body)).toContain('<strong>pairlink invite</strong>');
    const image = await hs.until(
      () => repliesTo(room, command).find((e) => e.content.msgtype === 'm.image'),
      'the QR image',
    );
    const mxc = String(image.content.url);
    expect(mxc).toMatch(/^mxc:\/\/fake\.test\//);
    const media = hs.media.get(mxc.split('/').at(-1)!)!;
    expect(media.contentType).toBe('image/png');
    expect(media.data.subarray(1, 4).toString()).toBe('PNG');
    expect(image.content.info).toMatchObject({ mimetype: 'image/png', size: media.data.length });
    await hs.until(() => reactionsTo(room, command).includes('✅'), 'the check mark');
    expect(reactionsTo(room, command)).not.toContain('⏳'); // the hourglass was redacted

    const link = String(notice.content.body).match(/Link: (\S+)/)![1]!;
    const accept = await say(dave, room, `pairlink-b: accept ${link}`, {
      'm.mentions': { user_ids: [botUserB.userId] },
    });
    const paired = await hs.until(
      () => repliesTo(room, accept).find((e) => String(e.content.body).includes('Paired')),
      'bot B’s reply',
    );
    expect(String(paired.content.body)).toContain('agent-a');
    expect(paired.sender).toBe(botUserB.userId);
    await hs.until(
      () => String(hs.shown(room, notice.event_id)?.body).includes('Paired with agent-b'),
      'the m.replace edit',
    );
    const edit = hs
      .timeline(room)
      .find((e) => (e.content['m.relates_to'] as { rel_type?: string })?.rel_type === 'm.replace')!;
    expect(edit.sender).toBe(botUserA.userId);
    expect(String(edit.content.body).startsWith('* ')).toBe(true);
    await hs.until(() => image.unsigned?.redacted_because, 'the QR image redaction');
    expect((await agentA.json<{ name: string }[]>(['peers'])).value.map((p) => p.name)).toEqual(['agent-b']);
    expect((await agentB.json<{ name: string }[]>(['peers'])).value.map((p) => p.name)).toEqual(['agent-a']);
  });

  it('refuses a user below the power level, in the command’s thread, with a cross; an allowlist lets one through', async () => {
    const root = await say(alice, room, 'a thread about laptops');
    const command = await say(bob, room, '!pair invite', {
      'm.relates_to': {
        rel_type: 'm.thread',
        event_id: root,
        is_falling_back: true,
        'm.in_reply_to': { event_id: root },
      },
    });
    const refusal = await replyTo(room, command, 'the refusal');
    expect(String(refusal.content.body)).toMatch(/not allowed/);
    expect(refusal.content['m.relates_to']).toMatchObject({ rel_type: 'm.thread', event_id: root });
    await hs.until(() => reactionsTo(room, command).includes('❌'), 'the cross');
    expect(repliesTo(room, command)).toHaveLength(1); // the refusal only: no invite was posted

    // The allowlist lets bob list invites, and only that.
    const listed = await say(bob, room, '!pair invites');
    await hs.until(() => reactionsTo(room, listed).includes('✅'), 'the allowlisted answer');
  });

  it('allows a room-v12 creator, who has no entry in the power levels, in her room only', async () => {
    const v12 = hs.createRoom(carol, { room_version: '12', name: 'v12' });
    expect(v12).not.toContain(':'); // v12 room ids are the create event's hash
    hs.invite(carol, v12, botUserA.userId);
    await hs.until(() => hs.membership(v12, botUserA.userId) === 'join', 'bot A joining the v12 room');
    const command = await say(carol, v12, '!pair invites');
    const reply = await replyTo(v12, command, 'the answer');
    expect(String(reply.content.body)).not.toMatch(/not allowed/);
    await hs.until(() => reactionsTo(v12, command).includes('✅'), 'the check mark');

    // Power is per room: carol cannot cancel, from her room, an invite posted in the ops room.
    const minted = await say(alice, room, '!pair invite');
    const notice = await replyTo(room, minted, 'the invite notice');
    const id = String(notice.content.body).match(/invite `?([A-Z0-9]+)`?/)![1]!;
    await hs.until(() => reactionsTo(room, minted).includes('✅'), 'the minted invite');
    const cancel = await say(carol, v12, `!pair cancel ${id}`);
    expect(String((await replyTo(v12, cancel, 'the refusal')).content.body)).toMatch(/another room/);
    expect((await agentA.json<{ id: string }[]>(['invites'])).value.map((i) => i.id)).toContain(id);
    const own = await say(alice, room, `!pair cancel ${id}`);
    await hs.until(() => reactionsTo(room, own).includes('✅'), 'the cancel in the right room');
  });

  it('retries a 429, honouring retry_after_ms and Retry-After', async () => {
    for (const [ms, how] of [
      [700, 'body'],
      [1000, 'header'],
    ] as const) {
      hs.rateLimitNext('PUT', /\/send\/m\.room\.message\//, ms, how, botUserA);
      const command = await say(alice, room, '!pair peers');
      const reply = await replyTo(room, command, 'the reply after a 429');
      expect(String(reply.content.body)).toContain('agent-b');
      const limited = hs.limited.at(-1)!;
      // The retry is the same request (same transaction id, so the send stays idempotent).
      const retry = await hs.until(
        () => hs.requests.find((r) => r.path === limited.path && r.at > limited.at && r.status === 200),
        'the retry',
      );
      expect(retry.at - limited.at).toBeGreaterThanOrEqual(ms - 50);
    }
  });

  it('ignores events from before it started; after a restart it still edits its earlier invite', async () => {
    const command = await say(alice, room, '!pair invite 10m 2');
    const notice = await replyTo(room, command, 'the invite notice');
    const id = String(notice.content.body).match(/invite `?([A-Z0-9]+)`?/)![1]!;
    await hs.until(() => reactionsTo(room, command).includes('✅'), 'the check mark');
    await botA.stop();
    bots.splice(bots.indexOf(botA), 1);
    for (const file of ['matrix-sync.json', 'matrix-posts.json'])
      expect(statSync(join(root, 'bot-pairlink-a', file)).mode & 0o777).toBe(0o600);

    const old = await say(alice, room, '!pair peers'); // while the bot is down
    botA = await bot(botUserA, agentA, configA);
    const fresh = await say(alice, room, `!pair cancel ${id}`);
    await replyTo(room, fresh, 'the cancel reply');
    await hs.until(
      () => String(hs.shown(room, notice.event_id)?.body).includes('Cancelled.'),
      'the edit after the restart',
    );
    expect(repliesTo(room, old)).toEqual([]);
    expect(reactionsTo(room, old)).toEqual([]);
  });

  it('answers new commands even when the homeserver’s clock is behind (ages, not timestamps)', async () => {
    hs.clockSkewMs = -120_000;
    try {
      const command = await say(alice, room, '!pair invites');
      await replyTo(room, command, 'the answer from a skewed server');
    } finally {
      hs.clockSkewMs = 0;
    }
  });

  it('answers an event delivered twice only once', async () => {
    const command = await say(alice, room, '!pair invites');
    await replyTo(room, command, 'the answer');
    hs.redeliver(room, command);
    const probe = await say(alice, room, '!pair peers'); // later than the duplicate
    await replyTo(room, probe, 'the probe’s answer');
    expect(repliesTo(room, command)).toHaveLength(1);
  });

  it('says once that an encrypted room is not supported, and answers nothing there', async () => {
    const secret = hs.createRoom(alice, {
      name: 'secret',
      initial_state: [{ type: 'm.room.encryption', content: { algorithm: 'm.megolm.v1.aes-sha2' } }],
    });
    hs.invite(alice, secret, botUserA.userId);
    const notice = await hs.until(
      () => hs.timeline(secret).find((e) => e.sender === botUserA.userId && e.type === 'm.room.message'),
      'the E2EE notice',
    );
    expect(String(notice.content.body)).toMatch(/Encrypted rooms are not supported/);
    hs.sendEvent(alice, secret, 'm.room.encrypted', { algorithm: 'm.megolm.v1.aes-sha2', ciphertext: 'x' });
    const probe = await say(alice, room, '!pair help'); // a later event, in another room, as a clock
    const help = await replyTo(room, probe, 'the help');
    expect(String(help.content.body)).toMatch(/Encrypted rooms are not supported/);
    expect(String(help.content.body)).toContain('!pair invite [ttl] [uses] [url|code]');
    expect(
      hs.timeline(secret).filter((e) => e.sender === botUserA.userId && e.type === 'm.room.message'),
    ).toHaveLength(1);
  });

  it('never posts an invite into an encrypted room, even for a plaintext command there', async () => {
    const vault = hs.createRoom(alice, {
      name: 'vault',
      initial_state: [{ type: 'm.room.encryption', content: { algorithm: 'm.megolm.v1.aes-sha2' } }],
    });
    hs.invite(alice, vault, botUserA.userId);
    await hs.until(() => hs.membership(vault, botUserA.userId) === 'join', 'the bot joining');
    const pendingBefore = (await agentA.json<unknown[]>(['invites'])).value.length;
    // Any client that does not encrypt can send this into an encrypted room.
    const command = await say(alice, vault, '!pair invite');
    const probe = await say(alice, room, '!pair peers'); // a later event elsewhere, as a clock
    await replyTo(room, probe, 'the probe’s answer');
    const fromBot = hs
      .timeline(vault)
      .filter((e) => e.sender === botUserA.userId && e.type === 'm.room.message');
    expect(fromBot.map((e) => String(e.content.body))).toEqual([
      expect.stringMatching(/Encrypted rooms are not supported/),
    ]);
    expect(JSON.stringify(hs.timeline(vault))).not.toMatch(/pairlink invite|\/i#|pairlink:\/\//);
    expect(repliesTo(vault, command)).toHaveLength(0);
    expect((await agentA.json<unknown[]>(['invites'])).value).toHaveLength(pendingBefore);
  });

  it('when a room turns encryption on, its live invites are cancelled and their messages redacted', async () => {
    const lounge = hs.createRoom(alice, { name: 'lounge' });
    hs.invite(alice, lounge, botUserA.userId);
    await hs.until(() => hs.membership(lounge, botUserA.userId) === 'join', 'the bot joining');
    const command = await say(alice, lounge, '!pair invite');
    const notice = await replyTo(lounge, command, 'the invite notice');
    const image = await hs.until(
      () => repliesTo(lounge, command).find((e) => e.content.msgtype === 'm.image'),
      'the QR image',
    );
    const id = String(notice.content.body).match(/invite\*?\*? `?(\w+)`?/)![1]!;
    hs.setState(alice, lounge, 'm.room.encryption', { algorithm: 'm.megolm.v1.aes-sha2' });
    await hs.until(
      () => notice.unsigned?.redacted_because && image.unsigned?.redacted_because,
      'both redactions',
    );
    const status = (await agentA.json<{ id: string; status: string }[]>(['invites', '--all'])).value.find(
      (i) => i.id === id,
    );
    expect(status?.status).toBe('cancelled');
    await hs.until(
      () =>
        hs
          .timeline(lounge)
          .find(
            (e) =>
              e.sender === botUserA.userId &&
              /Encrypted rooms are not supported/.test(String(e.content.body)),
          ),
      'the notice',
    );
  });

  it('behind an E2EE proxy (e2eeProxy: true) an encrypted room is served like any other', async () => {
    const proxyUser = hs.addUser('pairlink-proxied');
    const proxied = await bot(proxyUser, agentB, {
      prefix: '!pp',
      joinFrom: { servers: ['fake.test'] },
      e2eeProxy: true,
    });
    const sealed = hs.createRoom(alice, {
      name: 'sealed',
      initial_state: [{ type: 'm.room.encryption', content: { algorithm: 'm.megolm.v1.aes-sha2' } }],
    });
    hs.invite(alice, sealed, proxyUser.userId);
    await hs.until(() => hs.membership(sealed, proxyUser.userId) === 'join', 'the bot joining');
    // The proxy hands the bot decrypted events: a plain m.room.message.
    const command = await say(alice, sealed, '!pp invite');
    const notice = await replyTo(sealed, command, 'the invite notice');
    expect(String(notice.content.body)).toMatch(/pairlink invite/);
    expect(
      hs.timeline(sealed).filter((e) => /Encrypted rooms are not supported/.test(String(e.content.body))),
    ).toHaveLength(0);
    expect(notice.sender).toBe(proxyUser.userId);
    await proxied.stop();
  });

  it('a moderator redacting an invite notice cancels the invite and takes the QR image down too', async () => {
    const command = await say(alice, room, '!pair invite');
    const notice = await replyTo(room, command, 'the invite notice');
    const image = await hs.until(
      () => repliesTo(room, command).find((e) => e.content.msgtype === 'm.image'),
      'the QR image',
    );
    const id = String(notice.content.body).match(/invite\*?\*? `?(\w+)`?/)![1]!;
    await hs.until(() => botA.invites.store.get(id)?.where.imageId, 'the image remembered');
    const res = await fetch(
      `${hs.url}/_matrix/client/v3/rooms/${encodeURIComponent(room)}/redact/${encodeURIComponent(notice.event_id)}/r${Date.now()}`,
      {
        method: 'PUT',
        headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ reason: 'not here' }),
      },
    );
    expect(res.status).toBe(200);
    await hs.until(() => image.unsigned?.redacted_because, 'the QR image redaction');
    await hs.until(() => (botA.invites.store.get(id) ? undefined : true), 'the entry to end');
    const status = (await agentA.json<{ id: string; status: string }[]>(['invites', '--all'])).value.find(
      (i) => i.id === id,
    );
    expect(status?.status).toBe('cancelled');
  });

  it('SIGTERM right after the QR image: the command finishes (no ⏳ left) and the image is redacted later', async () => {
    // Each phase is timed and named in the failure. The budget only guards against a hang: it
    // exceeds the phases' own guards (15 s per wait, the stop's 10 s grace), so a slow phase fails
    // by name. Here, at load 18 on 2 cores, the phases took 8-10 s in all.
    const phases: string[] = [];
    onTestFailed(() => console.error(`phases: ${phases.join(', ')}`));
    let mark = Date.now();
    const phase = <T>(name: string, work: Promise<T>): Promise<T> =>
      work.finally(() => {
        phases.push(`${name} ${Date.now() - mark} ms`);
        mark = Date.now();
      });
    try {
      const user = hs.addUser('pairlink-stopper');
      const config = { prefix: '!ps', joinFrom: { userIds: [alice.userId] } };
      const first = await phase('first start', bot(user, agentA, config));
      hs.invite(alice, room, user.userId);
      await phase(
        'join',
        hs.until(() => hs.membership(room, user.userId) === 'join', 'the bot joining'),
      );
      const command = await say(alice, room, '!ps invite');
      const image = await phase(
        'QR image',
        hs.until(() => repliesTo(room, command).find((e) => e.content.msgtype === 'm.image'), 'the QR image'),
      );
      await phase('stop', first.stop()); // what SIGTERM does
      expect(reactionsTo(room, command)).not.toContain('⏳');
      expect(reactionsTo(room, command)).toContain('✅');
      const notice = repliesTo(room, command).find((e) => e.content.msgtype === 'm.notice')!;
      const id = String(notice.content.body).match(/invite\*?\*? `?(\w+)`?/)![1]!;
      // A new run of the bot remembers the image, and takes it down when the invite ends.
      const second = await phase('second start', bot(user, agentA, config));
      expect(second.invites.store.get(id)?.where.imageId).toBe(image.event_id);
      await phase('cancel', agentA.cli(['cancel', id]));
      await phase(
        'redaction',
        hs.until(() => image.unsigned?.redacted_because, 'the QR image redaction after the restart'),
      );
      await second.stop();
    } catch (error) {
      throw new Error(`${(error as Error).message} (phases: ${phases.join(', ')})`);
    }
  }, 120_000);

  it('!pair accept that answers "Still pending" is followed by a reply with the end', async () => {
    const invite = (await agentA.json<{ url: string }>(['invite'])).value;
    await agentA.stop();
    try {
      const command = await say(dave, room, `!pb accept ${invite.url}`);
      await hs.until(
        () => repliesTo(room, command).find((e) => String(e.content.body).includes('Still pending')),
        'the pending answer',
        20_000,
      );
      await agentA.restart();
      const end = await hs.until(
        () => repliesTo(room, command).find((e) => String(e.content.body).includes('Paired with')),
        'the follow-up',
        30_000,
      );
      expect(end.content['m.mentions']).toEqual({ user_ids: [dave.userId] });
    } finally {
      if (agentA.child.exitCode !== null) await agentA.restart();
    }
  }, 60_000);

  it('details: an oversized command is answered, a backticked id cancels, a failed power-levels lookup is an error', async () => {
    const long = await say(alice, room, `!pair invite ${'x'.repeat(5000)}`);
    const tooLong = await replyTo(room, long, 'the too-long answer');
    expect(String(tooLong.content.body)).toMatch(/too long for a command/);

    const command = await say(alice, room, '!pair invite');
    const notice = await replyTo(room, command, 'the invite notice');
    const id = String(notice.content.body).match(/invite\*?\*? `?(\w+)`?/)![1]!;
    const cancel = await say(alice, room, `!pair cancel \`${id}\``);
    const cancelled = await replyTo(room, cancel, 'the cancel answer');
    expect(String(cancelled.content.body)).toContain(`Invite \`${id}\` cancelled`);

    // The power levels cannot be read (a 500): that is an error, not "no power levels" (which
    // would make the room's creator a level-100 moderator whatever the room says).
    hs.failNext('GET', /\/state\/m\.room\.power_levels/, 500);
    const refused = await say(alice, room, '!pair invites');
    const answer = await replyTo(room, refused, 'the answer');
    expect(String(answer.content.body)).toMatch(/power levels/);
    expect(reactionsTo(room, refused)).toContain('❌');
  });

  it('refuses to start with a wrong token or another account’s token, saying which', async () => {
    const config = MATRIX_CONFIG_SCHEMA.parse({ homeserverUrl: hs.url, userId: botUserA.userId });
    const paths = { agentSocket: agentA.socket, stateDir: join(root, 'bot-refused') };
    const real = botUserA.token;
    // Unknown, one character off, one short, one long: each refused the same way, never echoed.
    for (const token of [
      'syt_wrong_token',
      `${real.slice(0, -1)}${real.endsWith('x') ? 'y' : 'x'}`,
      real.slice(0, -1),
      `${real}x`,
    ]) {
      const wrong = new MatrixBot(config, token, paths, pino({ level: 'silent' }));
      const error = await wrong.start().catch((e: Error & { code?: string }) => e);
      await wrong.stop();
      expect(error).toMatchObject({ code: 'UNAUTHORIZED', message: /refused the token/ });
      expect((error as Error).message).not.toContain(token);
    }
    const other = new MatrixBot(config, bob.token, paths, pino({ level: 'silent' }));
    await expect(other.start()).rejects.toThrow(/belongs to @bob:fake\.test, not to @pairlink-a:fake\.test/);
    await other.stop();
  });

  it('`pairlink bot matrix` as a process: --help, /healthz, 0600 state, a clean SIGTERM', async () => {
    const help = await agentA.cli(['bot', '--help']);
    for (const option of [
      'homeserverUrl',
      'userId',
      'prefix',
      'powerLevel',
      'joinFrom',
      'healthPort',
      'stateDir',
    ])
      expect(help.stdout).toContain(option);
    const user = hs.addUser('pairlink-c');
    hs.invite(alice, room, user.userId);
    const port = await freePort();
    const dir = mkdtempSync(join(root, 'bot-c-'));
    const bot = startBotProcess(
      'matrix',
      dir,
      {
        homeserverUrl: hs.url,
        userId: user.userId,
        agentSocket: agentB.socket,
        stateDir: join(dir, 'state'),
        prefix: '!pc',
        joinFrom: { userIds: [alice.userId] },
        healthPort: port,
      },
      { MATRIX_ACCESS_TOKEN: user.token },
    );
    let code: number | null;
    try {
      expect(await bot.healthy()).toEqual({ status: 'ok', sync: true, agent: true });
      await hs.until(() => hs.membership(room, user.userId) === 'join', 'bot C joining');
      const command = await say(alice, room, '!pc peers');
      await replyTo(room, command, 'bot C’s answer');
      expect(statSync(join(dir, 'state', 'matrix-sync.json')).mode & 0o777).toBe(0o600);
      expect(statSync(join(dir, 'state')).mode & 0o777).toBe(0o700);
    } finally {
      // The long-poll under way at SIGTERM is aborted, not waited out (it would end answered).
      // One waiting with nothing to deliver: a poll with news pending (the echo of the bot's own
      // reply) is answered at once, whatever the bot does.
      const parked = () =>
        hs.requests.filter((r) => r.user === user.userId && r.path.endsWith('/sync') && !r.ended && r.parked);
      await hs.until(() => parked().length > 0, "bot C's long-poll waiting with nothing to deliver");
      const polling = parked();
      code = await bot.terminate();
      await hs.until(() => polling.every((r) => r.ended), 'the long-poll to end');
      expect(polling.map((r) => r.ended)).toEqual(polling.map(() => 'aborted'));
    }
    expect(code).toBe(0);
    const output = bot.output();
    expect(output).toContain('matrix bot shutting down');
    expect(output).toMatch(/encrypted rooms get one notice and nothing else/);
    expect(output).not.toContain(user.token);
    // Starting, syncing and joining an unencrypted room are ordinary: no warnings.
    const warnings = output.split('\n').filter((l) => /"level":(40|50)/.test(l));
    expect(warnings).toEqual([]);
  });
});
