import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiscordBot } from '../../bots/discord/bot.js';
import { DISCORD_CONFIG_SCHEMA } from '../../bots/discord/config.js';
import { MatrixBot } from '../../bots/matrix/bot.js';
import { MATRIX_CONFIG_SCHEMA } from '../../bots/matrix/config.js';
import { ERROR_TEXT } from '../../src/error-text.js';
import {
  type FakeApp,
  FakeDiscord,
  type FakeUser,
  PERMISSIONS,
  type StoredMessage,
} from '../fakes/discord/fake-discord.js';
import { FakeHomeserver, type FakeMatrixUser, type MatrixEvent } from '../fakes/matrix/fake-homeserver.js';
import { type AgentProcess, startAgent, testRoot } from '../support/agent-process.js';
import { type RelayProcess, startRelayProcess } from '../support/relay-process.js';

/**
 * A code carries no relay. Two agents, each on its own relay process (as two organisations would
 * run them), each behind a Discord bot and a Matrix bot (the real discord.js and matrix-bot-sdk
 * against test/fakes): a code a bot posts shows its relay and the commands that accept it there,
 * and the other bot's accept with that relay pairs the two agents.
 */

let relayA: RelayProcess;
let relayB: RelayProcess;
let agentA: AgentProcess;
let agentB: AgentProcess;
let root: string;
let discord: FakeDiscord;
let hs: FakeHomeserver;
let appA: FakeApp;
let appB: FakeApp;
let room: string;
let alice: FakeMatrixUser;
const stoppers: (() => Promise<void>)[] = [];

const moderator: FakeUser = {
  id: '100000000000000001',
  username: 'mod',
  permissions: PERMISSIONS.manageGuild,
};
/** The agent's policy never contacts a cloud metadata name, whatever relay it runs on itself. */
const REFUSED_RELAY = 'http://metadata.google.internal';
const refusedLine = `${ERROR_TEXT.RELAY_REFUSED} ${REFUSED_RELAY} is a metadata address`;
const notUrlLine = `${ERROR_TEXT.INVALID_PARAMS} the relay is a URL such as https://relay.example.org`;

async function discordBot(app: FakeApp, agent: AgentProcess): Promise<DiscordBot> {
  const bot = new DiscordBot(
    DISCORD_CONFIG_SCHEMA.parse({ apiUrl: discord.api }),
    app.token,
    { agentSocket: agent.socket, stateDir: join(root, `discord-${app.username}`) },
    pino({ level: 'silent' }),
  );
  await bot.start();
  stoppers.push(() => bot.stop());
  // Registered, so the fake Discord sends only the options the definitions declare.
  await bot.register(discord.guildId);
  return bot;
}

async function matrixBot(user: FakeMatrixUser, agent: AgentProcess, prefix: string): Promise<MatrixBot> {
  const bot = new MatrixBot(
    MATRIX_CONFIG_SCHEMA.parse({
      homeserverUrl: hs.url,
      userId: user.userId,
      prefix,
      joinFrom: { userIds: [alice.userId] },
    }),
    user.token,
    { agentSocket: agent.socket, stateDir: join(root, `matrix-${user.displayName}`) },
    pino({ level: 'silent' }),
  );
  await bot.start();
  stoppers.push(() => bot.stop());
  hs.invite(alice, room, user.userId);
  await hs.until(() => hs.membership(room, user.userId) === 'join', `${user.displayName} joining`);
  return bot;
}

/** The deferred reply of an interaction once it has content. */
function discordReply(token: string, what: string): Promise<StoredMessage> {
  return discord.until(() => {
    const reply = discord.responseTo(token);
    return reply?.content ? reply : undefined;
  }, what);
}

async function say(user: FakeMatrixUser, body: string): Promise<string> {
  const res = await fetch(
    `${hs.url}/_matrix/client/v3/rooms/${encodeURIComponent(room)}/send/m.room.message/t${Math.random().toString(36).slice(2)}`,
    {
      method: 'PUT',
      headers: { authorization: `Bearer ${user.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ msgtype: 'm.text', body }),
    },
  );
  expect(res.status).toBe(200);
  return ((await res.json()) as { event_id: string }).event_id;
}

/** The bot's notices replying to a command. */
function noticesTo(eventId: string): MatrixEvent[] {
  return hs.timeline(room).filter((e) => {
    const rel = e.content['m.relates_to'] as { 'm.in_reply_to'?: { event_id?: string } } | undefined;
    return e.content.msgtype === 'm.notice' && rel?.['m.in_reply_to']?.event_id === eventId;
  });
}

const codeIn = (text: string) => /Code: `([^`]+)`/.exec(text)![1]!;

beforeAll(async () => {
  [relayA, relayB] = await Promise.all([startRelayProcess(), startRelayProcess()]);
  root = testRoot();
  [agentA, agentB] = await Promise.all([
    startAgent(root, 'agent-a', relayA.url),
    startAgent(root, 'agent-b', relayB.url),
  ]);
  discord = new FakeDiscord();
  hs = new FakeHomeserver();
  await Promise.all([discord.start(), hs.start()]);
  appA = discord.addApp('pairlink-a');
  appB = discord.addApp('pairlink-b');
  alice = hs.addUser('alice');
  room = hs.createRoom(alice, {
    name: 'ops',
    power_level_content_override: { users: { [alice.userId]: 100 } },
  });
  await Promise.all([discordBot(appA, agentA), discordBot(appB, agentB)]);
  await matrixBot(hs.addUser('pairlink-a'), agentA, '!pa');
  await matrixBot(hs.addUser('pairlink-b'), agentB, '!pb');
}, 90_000);

afterAll(async () => {
  await Promise.all(stoppers.map((stop) => stop()));
  await Promise.all([agentA, agentB].map((a) => a?.stop()));
  await Promise.all([relayA, relayB].map((r) => r?.stop()));
  await Promise.all([discord?.stop(), hs?.stop()]);
});

describe('Discord: a code shows its relay, and /accept takes one', () => {
  let posted: StoredMessage;

  it("a code on A's relay shows the relay beside it and the commands that accept it there; a link shows none", async () => {
    discord.slashCommand(appA, moderator, 'invite', { format: 'code' });
    posted = await discord.until(() => discord.channelMessages(appA)[0], 'the code in the channel');
    expect(posted.content).toContain(`Relay: \`${relayA.url}\``);
    expect(posted.content).toContain(`\`/accept invite:<the code> relay:${relayA.url}\``);
    expect(posted.content).toContain(`\`pairlink accept --relay ${relayA.url}\``);

    // Shown only to the member: the same lines.
    const privately = discord.slashCommand(appA, moderator, 'invite', { format: 'code', private: true });
    const reply = await discordReply(privately, 'the private code');
    expect(reply.content).toContain(`Relay: \`${relayA.url}\``);
    expect(reply.content).toContain(`\`pairlink accept --relay ${relayA.url}\``);

    discord.slashCommand(appA, moderator, 'invite');
    const link = await discord.until(() => discord.channelMessages(appA)[1], 'the link in the channel');
    expect(link.content).toContain('Link: ');
    expect(link.content).not.toContain('Relay:');
    expect(link.content).not.toContain('--relay');
  });

  it("/accept invite:<code> relay:<A's relay> on B, whose agent's own relay is another, pairs them", async () => {
    const token = discord.slashCommand(appB, moderator, 'accept', {
      invite: codeIn(posted.content),
      relay: relayA.url,
    });
    await discord.until(
      () => discord.responseTo(token)?.content.includes('Paired with **agent-a**'),
      'the accept reply',
      30_000,
    );
    await discord.until(() => posted.content.includes('Paired with **agent-b**'), 'A’s message edited');
    expect((await agentB.json<{ name: string }[]>(['peers'])).value.map((p) => p.name)).toContain('agent-a');
  }, 60_000);

  it('/accept with a relay the agent refuses, or that is no URL, answers one sentence', async () => {
    const { code } = (await agentA.json<{ code: string }>(['invite', '--format', 'code'])).value;
    for (const [relay, line] of [
      [REFUSED_RELAY, refusedLine],
      ['relay.example.org', notUrlLine],
    ] as const) {
      const token = discord.slashCommand(appB, moderator, 'accept', { invite: code, relay });
      const reply = await discordReply(token, 'the refusal');
      expect(reply.content).toBe(line);
      expect(reply.edits).toBe(1); // the deferred reply, edited once: never "Pairing…" first
    }
  });
});

describe('Matrix: a code shows its relay, and `accept <code> <relay>` takes one', () => {
  let notice: MatrixEvent;

  it("a code on B's relay shows the relay beside it and the commands that accept it there", async () => {
    const command = await say(alice, '!pb invite code');
    notice = await hs.until(() => noticesTo(command)[0], 'the invite notice');
    const body = String(notice.content.body);
    expect(body).toContain(`Relay: \`${relayB.url}\``);
    expect(body).toContain(`\`!pb accept <the code> ${relayB.url}\``);
    expect(body).toContain(`\`pairlink accept --relay ${relayB.url}\``);
  });

  it("`!pa accept <code> <B's relay>` on A, whose agent's own relay is another, pairs them", async () => {
    const command = await say(alice, `!pa accept ${codeIn(String(notice.content.body))} ${relayB.url}`);
    await hs.until(
      () => noticesTo(command).find((e) => String(e.content.body).includes('Paired with agent-b')),
      'bot A’s reply',
      30_000,
    );
    await hs.until(
      () => String(hs.shown(room, notice.event_id)?.body).includes('Paired with agent-a'),
      'B’s notice edited',
    );
  }, 60_000);

  it('a relay the agent refuses, or that is no URL, is one sentence', async () => {
    const { code } = (await agentB.json<{ code: string }>(['invite', '--format', 'code'])).value;
    for (const [relay, line] of [
      [REFUSED_RELAY, refusedLine],
      ['relay.example.org', notUrlLine],
    ] as const) {
      const command = await say(alice, `!pa accept ${code} ${relay}`);
      const reply = await hs.until(() => noticesTo(command)[0], 'the refusal');
      expect(reply.content.body).toBe(line);
      expect(noticesTo(command)).toHaveLength(1);
    }
  });
});
