import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiscordBot } from '../../bots/discord/bot.js';
import { DISCORD_CONFIG_SCHEMA } from '../../bots/discord/config.js';
import {
  CHANNEL_BITS,
  type FakeApp,
  FakeDiscord,
  type FakeUser,
  PERMISSIONS,
} from '../fakes/discord/fake-discord.js';
import { type AgentProcess, startAgent, testRoot } from '../support/agent-process.js';
import { startBotProcess } from '../support/bot-process.js';
import { freePort } from '../support/free-port.js';
import { PAIRLINK_BIN, type RelayProcess, startRelayProcess } from '../support/relay-process.js';

// The real discord.js client, unmodified, against test/fakes/discord; real agents and relay.

const moderator: FakeUser = {
  id: '100000000000000001',
  username: 'mod',
  permissions: PERMISSIONS.manageGuild,
};
const other: FakeUser = {
  id: '100000000000000002',
  username: 'second-mod',
  permissions: PERMISSIONS.manageGuild,
};
const stranger: FakeUser = { id: '100000000000000003', username: 'stranger' };
const helper: FakeUser = { id: '100000000000000004', username: 'helper', roles: ['200000000000000001'] };

let relay: RelayProcess;
let discord: FakeDiscord;
const agents: AgentProcess[] = [];
const bots: DiscordBot[] = [];
let appA: FakeApp;
let appB: FakeApp;
let agentA: AgentProcess;
let agentB: AgentProcess;
let root: string;
let botA: DiscordBot;
const allowA = { invite: { userIds: [], roleIds: ['200000000000000001'] } };

async function bot(app: FakeApp, agent: AgentProcess, allow = {}): Promise<DiscordBot> {
  const config = DISCORD_CONFIG_SCHEMA.parse({ apiUrl: discord.api, allow });
  const instance = new DiscordBot(
    config,
    app.token,
    { agentSocket: agent.socket, stateDir: join(root, `bot-${app.username}`) },
    pino({ level: 'silent' }),
  );
  await instance.start();
  bots.push(instance);
  return instance;
}

/** The id in a posted invite message. */
const inviteId = (content: string) => content.match(/invite\*\* `([A-Z0-9]+)`/)![1]!;

beforeAll(async () => {
  discord = new FakeDiscord();
  await discord.start();
  relay = await startRelayProcess();
  root = testRoot();
  [agentA, agentB] = await Promise.all([
    startAgent(root, 'agent-a', relay.url),
    startAgent(root, 'agent-b', relay.url),
  ]);
  agents.push(agentA, agentB);
  appA = discord.addApp('pairlink-a');
  appB = discord.addApp('pairlink-b');
  botA = await bot(appA, agentA, allowA);
  await bot(appB, agentB);
}, 60_000);

afterAll(async () => {
  await Promise.all(bots.map((b) => b.stop()));
  await Promise.all(agents.map((a) => a.stop()));
  await relay?.stop();
  await discord?.stop();
});

describe('the Discord bot (discord.js against a fake Discord)', () => {
  it('registers its commands for a guild', async () => {
    expect(await bots[0]!.register(discord.guildId)).toBe(6);
    const names = (discord.commands.get(`${appA.id}:guild:${discord.guildId}`) as { name: string }[]).map(
      (c) => c.name,
    );
    expect(names.sort()).toEqual(['accept', 'cancel', 'help', 'invite', 'invites', 'peers']);
  });

  it('`--register` as a one-shot: says what it registered and exits, without starting the bot', async () => {
    const app = discord.addApp('pairlink-register');
    const dir = mkdtempSync(join(root, 'bot-register-'));
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({ discord: { apiUrl: discord.api, agentSocket: join(dir, 'no-agent.sock') } }),
    );
    const { execFile } = await import('node:child_process');
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
      execFile(
        process.execPath,
        [
          PAIRLINK_BIN,
          'bot',
          'discord',
          '--config',
          join(dir, 'config.json'),
          '--register',
          '--guild',
          discord.guildId,
        ],
        { env: { ...process.env, DISCORD_TOKEN: app.token }, timeout: 20_000 },
        (error, stdout, stderr) =>
          resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      ),
    );
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`Registered 6 commands in server ${discord.guildId}.`);
    expect(`${result.stdout}${result.stderr}`).not.toContain('discord bot ready');
    expect(`${result.stdout}${result.stderr}`).not.toContain(app.token);
  });

  it('/help answers anyone, ephemerally', async () => {
    const token = discord.slashCommand(appA, stranger, 'help');
    const reply = (await discord.until(() => discord.responseTo(token), 'the help'))!;
    expect(reply.content).toContain('/accept invite:<link or code>');
    expect(reply.content).toMatch(/Manage Server/);
    expect(reply.flags & 64).toBe(64);
  });

  it('/invite on bot A posts into the channel; /accept on bot B pairs the agents; A edits its message', async () => {
    const token = discord.slashCommand(appA, moderator, 'invite', { note: 'ops laptop' });
    const posted = await discord.until(() => discord.channelMessages(appA)[0], 'the invite in the channel');
    expect(posted.content).toMatch(/pairlink invite/);
    expect(posted.content).toContain(`<@${moderator.id}>`);
    expect(posted.content).toMatch(/<t:\d+:R>/); // expiry as a Discord timestamp
    expect(posted.attachments.map((a) => a.content_type)).toEqual(['image/png']);
    expect(JSON.stringify(posted.components)).toContain('pairlink:cancel:');
    await discord.until(
      () => discord.responseTo(token)?.content.includes('posted'),
      'the ephemeral confirmation',
    );
    const link = posted.content.match(/Link: (\S+)/)![1]!;

    const acceptToken = discord.slashCommand(appB, other, 'accept', { invite: link });
    const reply = await discord.until(
      () =>
        discord.responseTo(acceptToken)?.content.includes('Paired')
          ? discord.responseTo(acceptToken)
          : undefined,
      'the accept reply',
    );
    expect(reply!.content).toContain('agent-a');
    expect(reply!.flags & 64).toBe(64); // ephemeral
    await discord.until(() => posted.content.includes('Paired with **agent-b**'), 'the invite message edit');
    expect(posted.components).toEqual([]); // no Cancel button once paired
    expect((await agentA.json<{ name: string }[]>(['peers'])).value.map((p) => p.name)).toEqual(['agent-b']);
    expect((await agentB.json<{ name: string }[]>(['peers'])).value.map((p) => p.name)).toEqual(['agent-a']);
  });

  it('pairlink log answers "who let this peer in?": the Discord member who minted, and who joined', async () => {
    const entries = (await agentA.json<Record<string, unknown>[]>(['log'])).value;
    expect((await agentA.json<{ ok: boolean }>(['log', '--verify'])).value.ok).toBe(true);
    const minted = entries.find((e) => e.event === 'minted');
    expect(minted?.by).toEqual({
      kind: 'bot',
      chat: 'discord',
      user: `${moderator.username} (${moderator.id})`,
      channel: discord.channelId,
    });
    const bDid = (await agentB.json<{ did: string }>(['whoami'])).value.did;
    const paired = entries.find((e) => e.event === 'paired' && e.invite === minted?.invite);
    expect(paired).toMatchObject({ role: 'issuer', peer: { did: bDid, name: 'agent-b' }, by: minted?.by });
    const text = (await agentA.cli(['log'])).stdout;
    expect(text).toMatch(
      new RegExp(
        `paired with agent-b \\(${bDid}\\) by ${moderator.username} \\(${moderator.id}\\) via discord`,
      ),
    );
    // The history is sealed on disk: no name or did in the clear.
    const { readFileSync } = await import('node:fs');
    const raw = readFileSync(join(agentA.home, 'audit.log'), 'utf8');
    expect(raw).not.toContain('agent-b');
    expect(raw).not.toContain(moderator.username);
  });

  it('refuses an unauthorized user politely and ephemerally; an allowlisted role may mint', async () => {
    const token = discord.slashCommand(appB, stranger, 'invite');
    const refusal = (await discord.until(() => discord.responseTo(token), 'the refusal'))!;
    expect(refusal.content).toMatch(/not allowed/);
    expect(refusal.flags & 64).toBe(64);
    const before = discord.channelMessages(appA).length;
    discord.slashCommand(appA, helper, 'invite');
    await discord.until(() => discord.channelMessages(appA).length > before, 'the helper’s invite');
  });

  it('Cancel: a non-minter is refused; the minter cancels at the agent and the message is edited', async () => {
    const before = discord.channelMessages(appA).length;
    discord.slashCommand(appA, moderator, 'invite');
    const posted = await discord.until(() => discord.channelMessages(appA)[before], 'the invite');
    const id = inviteId(posted.content);
    const customId = `pairlink:cancel:${id}:${moderator.id}`;
    const refused = discord.pressButton(appA, stranger, posted, customId);
    const refusal = (await discord.until(() => discord.responseTo(refused), 'the refusal'))!;
    expect(refusal.content).toMatch(/Only the member who minted/);
    expect((await agentA.json<{ id: string }[]>(['invites'])).value.map((i) => i.id)).toContain(id);
    const pressed = discord.pressButton(appA, moderator, posted, customId);
    await discord.until(() => discord.responseTo(pressed)?.content.includes('cancelled'), 'the cancel reply');
    await discord.until(() => posted.content.includes('Cancelled.'), 'the edit');
    expect((await agentA.json<{ id: string }[]>(['invites'])).value.map((i) => i.id)).not.toContain(id);
  });

  it('an expired invite edits the message', async () => {
    const before = discord.channelMessages(appA).length;
    discord.slashCommand(appA, moderator, 'invite', { ttl: '30s' });
    const posted = await discord.until(() => discord.channelMessages(appA)[before], 'the invite');
    await discord.until(() => posted.content.includes('Expired'), 'the expiry edit', 45_000);
    expect(posted.components).toEqual([]);
  }, 60_000);

  it('says "agent unavailable" when its agent is down, instead of retrying silently', async () => {
    await agentB.stop();
    try {
      const token = discord.slashCommand(appB, other, 'peers');
      const reply = await discord.until(
        () => (discord.responseTo(token)?.content ? discord.responseTo(token) : undefined),
        'the reply',
      );
      expect(reply!.content).toMatch(/agent is not reachable right now/);
      expect(await bots.find((b) => b.agent.socketPath === agentB.socket)!.healthy()).toBe(false);
    } finally {
      await agentB.restart();
    }
    // The agent is back: the very next command reconnects at once instead of waiting for the
    // backoff timer (which had grown to 30 s, so members saw "unavailable" for 23 s more).
    const token = discord.slashCommand(appB, other, 'peers');
    const reply = await discord.until(
      () => (discord.responseTo(token)?.content ? discord.responseTo(token) : undefined),
      'the reply after the restart',
    );
    expect(reply!.content).not.toMatch(/not reachable|unavailable/);
  });

  it('a restarted bot still edits its earlier invites, and catches up on what happened while it was down', async () => {
    const before = discord.channelMessages(appA).length;
    discord.slashCommand(appA, moderator, 'invite');
    discord.slashCommand(appA, moderator, 'invite');
    await discord.until(() => discord.channelMessages(appA).length >= before + 2, 'two invites');
    const [kept, cancelled] = discord.channelMessages(appA).slice(before);
    await botA.stop();
    bots.splice(bots.indexOf(botA), 1);
    const file = join(root, 'bot-pairlink-a', 'discord-posts.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(root, 'bot-pairlink-a')).mode & 0o777).toBe(0o700);

    // While the bot is down, one invite is cancelled at the agent.
    expect((await agentA.cli(['cancel', inviteId(cancelled!.content)])).code).toBe(0);
    botA = await bot(appA, agentA, allowA);
    await discord.until(() => cancelled!.content.includes('Cancelled.'), 'the catch-up edit');
    expect(cancelled!.components).toEqual([]);

    // After the restart, the other is accepted: the new bot edits the old message.
    const link = kept!.content.match(/Link: (\S+)/)![1]!;
    expect((await agentB.cli(['accept', link])).code).toBe(0);
    await discord.until(() => kept!.content.includes('Paired with **agent-b**'), 'the edit after restart');
    await botA.invites.idle();
    // Finished invites are forgotten.
    expect(botA.invites.store.ids()).not.toContain(inviteId(kept!.content));
    expect(botA.invites.store.ids()).not.toContain(inviteId(cancelled!.content));
  });

  it('honours a 429 from Discord: waits Retry-After, then posts the invite', async () => {
    const before = discord.channelMessages(appA).length;
    discord.rateLimitNext('POST', /^\/channels\/\d+\/messages$/, 1);
    discord.slashCommand(appA, moderator, 'invite');
    await discord.until(() => discord.channelMessages(appA).length > before, 'the invite after the 429');
    const limited = discord.limited.at(-1)!;
    const posts = discord.calls.filter((c) => c.method === 'POST' && c.path === limited.path);
    expect(posts.length).toBeGreaterThanOrEqual(2);
    expect(discord.channelMessages(appA).length).toBe(before + 1); // retried once, posted once
  });

  it('/invite where the bot cannot post: the member is told which permission, in which channel; nothing stays live', async () => {
    const pendingBefore = (await agentA.json<unknown[]>(['invites'])).value.length;
    discord.setAppPermissions(appA, CHANNEL_BITS.viewChannel | CHANNEL_BITS.attachFiles); // no Send Messages
    try {
      const token = discord.slashCommand(appA, moderator, 'invite');
      const reply = await discord.until(
        () => (discord.responseTo(token)?.content ? discord.responseTo(token) : undefined),
        'the explanation',
      );
      expect(reply!.content).toMatch(/I need the Send Messages permission there/);
      expect(reply!.content).toContain(`<#${discord.channelId}>`);
      expect((await agentA.json<unknown[]>(['invites'])).value).toHaveLength(pendingBefore);
    } finally {
      discord.setAppPermissions(
        appA,
        CHANNEL_BITS.viewChannel | CHANNEL_BITS.sendMessages | CHANNEL_BITS.attachFiles,
      );
    }
    // Permissions that looked fine, then a 403 50013 on the post itself: the invite is cancelled.
    discord.refuseNextChannelPost(appA);
    const token = discord.slashCommand(appA, moderator, 'invite');
    const reply = await discord.until(
      () => (discord.responseTo(token)?.content ? discord.responseTo(token) : undefined),
      'the explanation',
    );
    expect(reply!.content).toMatch(/Missing Permissions.*The invite was cancelled/s);
    const all = (await agentA.json<{ id: string; status: string }[]>(['invites', '--all'])).value;
    expect(all.filter((i) => i.status === 'pending')).toHaveLength(pendingBefore);
    expect(all.filter((i) => i.status === 'cancelled').length).toBeGreaterThan(0);
  });

  it('a deleted invite message ends its entry at the first 404, cancels the invite, and is never retried', async () => {
    const before = discord.channelMessages(appA).length;
    discord.slashCommand(appA, moderator, 'invite', { uses: 2 });
    const posted = await discord.until(() => discord.channelMessages(appA)[before], 'the invite');
    const id = /invite\*?\*? `(\w+)`/.exec(posted.content)![1]!;
    await discord.until(() => botA.invites.store.get(id), 'the bot to remember it');
    discord.deleteMessage(posted);
    // Something happens to the invite: the bot tries to edit, gets 404 Unknown Message, and stops.
    const link = /Link: (\S+)/.exec(posted.content)![1]!;
    await agentB.json(['accept', link, '--wait', '10s']);
    await discord.until(() => (botA.invites.store.get(id) ? undefined : true), 'the entry to end');
    const status = (await agentA.json<{ id: string; status: string }[]>(['invites', '--all'])).value.find(
      (i) => i.id === id,
    );
    expect(status?.status).not.toBe('pending');
    const patches = () =>
      discord.calls.filter((c) => c.method === 'PATCH' && c.path.endsWith(`/messages/${posted.id}`)).length;
    expect(patches()).toBe(1);
    await botA.invites.reconcile();
    expect(patches()).toBe(1);
  });

  it('/accept that answers "Still pending" is edited with the end once the issuer comes back', async () => {
    const invite = (await agentA.json<{ url: string }>(['invite'])).value;
    await agentA.stop();
    try {
      const token = discord.slashCommand(appB, moderator, 'accept', { invite: invite.url });
      await discord.until(
        () => discord.responseTo(token)?.content.includes('Still pending'),
        'the pending answer',
        20_000,
      );
      await agentA.restart();
      await discord.until(
        () => discord.responseTo(token)?.content.includes('Paired with **agent-a**'),
        'the reply edited with the end',
        30_000,
      );
    } finally {
      if (agentA.child.exitCode !== null) await agentA.restart();
    }
  }, 60_000);

  it('/accept of something that is no invite answers with the refusal alone, never "Pairing…" first', async () => {
    const token = discord.slashCommand(appB, moderator, 'accept', { invite: 'hello world' });
    await discord.until(
      () => discord.responseTo(token)?.content.includes('not a pairlink invite'),
      'the refusal',
      20_000,
    );
    expect(discord.responseTo(token)?.edits).toBe(1); // the deferred reply, edited once: with the refusal
  });

  it('refuses to start with a token Discord does not know, saying so without the token', async () => {
    const config = DISCORD_CONFIG_SCHEMA.parse({ apiUrl: discord.api });
    const paths = { agentSocket: agentA.socket, stateDir: join(root, 'bot-refused') };
    const real = appA.token;
    // Unknown, one character off, one short, one long, padded: each refused the same way.
    const nearMisses = [
      'not.a.known-token',
      `${real.slice(0, -1)}${real.endsWith('x') ? 'y' : 'x'}`,
      real.slice(0, -1),
      `${real}x`,
      ` ${real}x `,
    ];
    for (const token of nearMisses) {
      const wrong = new DiscordBot(config, token, paths, pino({ level: 'silent' }));
      const error = await wrong.start().catch((e: Error & { code?: string }) => e);
      await wrong.stop();
      expect(error).toMatchObject({ code: 'UNAUTHORIZED', message: /Discord refused the token/ });
      expect((error as Error).message).not.toContain(token.trim());
    }
  });

  it('`pairlink bot discord` as a process: /healthz on loopback, a 0600 state file, a clean SIGTERM', async () => {
    const app = discord.addApp('pairlink-c');
    const port = await freePort();
    const dir = mkdtempSync(join(root, 'bot-c-'));
    const bot = startBotProcess(
      'discord',
      dir,
      { apiUrl: discord.api, agentSocket: agentB.socket, stateDir: join(dir, 'state'), healthPort: port },
      { DISCORD_TOKEN: app.token },
    );
    try {
      expect(await bot.healthy()).toEqual({ status: 'ok', gateway: true, agent: true });
      expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);

      const before = discord.channelMessages(app).length;
      discord.slashCommand(app, moderator, 'invite');
      await discord.until(() => discord.channelMessages(app).length > before, 'the invite');
      await discord.until(() => {
        try {
          return statSync(join(dir, 'state', 'discord-posts.json')).mode;
        } catch {
          return undefined;
        }
      }, 'the state file');
      expect(statSync(join(dir, 'state', 'discord-posts.json')).mode & 0o777).toBe(0o600);
      expect(statSync(join(dir, 'state')).mode & 0o777).toBe(0o700);
    } finally {
      expect(await bot.terminate()).toBe(0);
    }
    expect(bot.output()).toContain('discord bot shutting down');
    expect(bot.output()).not.toContain(app.token); // the token is never logged
    // One structured line per command, with the invite's id and never its link.
    const lines = bot
      .output()
      .split('\n')
      .filter((l) => l.includes('"msg":"command"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const posted = discord.channelMessages(app).at(-1)!;
    const link = /Link: (\S+)/.exec(posted.content)![1]!;
    expect(lines).toContainEqual(
      expect.objectContaining({
        chat: 'discord',
        command: 'invite',
        user: moderator.id,
        outcome: 'ok',
        invite: expect.any(String),
      }),
    );
    expect(bot.output()).not.toContain(link.split('#')[1]!);
    await discord.until(() => !discord.connected(app), 'the gateway disconnect');
  });
});
