/**
 * What a chat bot adds to minting an invite, with real parts on loopback: one relay, one agent,
 * and the real discord.js and matrix-bot-sdk clients (in this process) against the test fakes.
 *  - baseline: `invite.create` straight over the agent's JSON-RPC socket;
 *  - the QR PNG the bots attach (qrcode), alone;
 *  - Discord: a `/invite` interaction → the invite message posted in the channel (with its QR);
 *  - Matrix: a `!pair invite` message → the bot's notice in the room (its QR image follows).
 * Each is run sequentially; medians and p90s, and each median's ratio to the baseline's.
 * Run: npm run bench:bots
 */
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { qrPng } from '../bots/core/qr-png.js';
import { DiscordBot } from '../bots/discord/bot.js';
import { DISCORD_CONFIG_SCHEMA } from '../bots/discord/config.js';
import { MatrixBot } from '../bots/matrix/bot.js';
import { MATRIX_CONFIG_SCHEMA } from '../bots/matrix/config.js';
import { PairlinkClient } from '../client/index.js';
import { FakeDiscord, PERMISSIONS } from '../test/fakes/discord/fake-discord.js';
import { FakeHomeserver } from '../test/fakes/matrix/fake-homeserver.js';
import { startAgent, testRoot } from '../test/support/agent-process.js';
import { startRelayProcess } from '../test/support/relay-process.js';
import { median, quantile } from './stats.js';

const RUNS = Number(process.env.BENCH_BOT_RUNS ?? 40);
const silent = pino({ level: 'silent' });

async function timed(
  label: string,
  once: () => Promise<unknown>,
): Promise<{ label: string; times: number[] }> {
  for (let i = 0; i < 3; i++) await once(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    await once();
    times.push(performance.now() - started);
  }
  return { label, times: times.sort((a, b) => a - b) };
}

const relay = await startRelayProcess();
const root = testRoot();
const agent = await startAgent(root, 'bench-agent', relay.url);
const client = await PairlinkClient.connect({ socket: agent.socket });
const discord = new FakeDiscord();
await discord.start();
const hs = new FakeHomeserver();
await hs.start();
const bots: { stop(): Promise<void> }[] = [];
try {
  const app = discord.addApp('bench');
  const discordBot = new DiscordBot(
    DISCORD_CONFIG_SCHEMA.parse({ apiUrl: discord.api }),
    app.token,
    { agentSocket: agent.socket, stateDir: mkdtempSync(join(root, 'discord-')) },
    silent,
  );
  await discordBot.start();
  bots.push(discordBot);
  const mod = { id: '100000000000000001', username: 'mod', permissions: PERMISSIONS.manageGuild };

  const botUser = hs.addUser('bench-bot');
  const alice = hs.addUser('alice');
  const room = hs.createRoom(alice, { name: 'bench', invite: [botUser.userId] });
  const matrixBot = new MatrixBot(
    MATRIX_CONFIG_SCHEMA.parse({
      homeserverUrl: hs.url,
      userId: botUser.userId,
      joinFrom: { userIds: [alice.userId] },
    }),
    botUser.token,
    { agentSocket: agent.socket, stateDir: mkdtempSync(join(root, 'matrix-')) },
    silent,
  );
  await matrixBot.start();
  bots.push(matrixBot);
  await hs.until(() => hs.membership(room, botUser.userId) === 'join', 'the bot joining');

  const results = [
    await timed('baseline: invite.create over JSON-RPC', () => client.call('invite.create', {})),
    await timed('QR PNG of an invite link (1-bit, own encoder)', () =>
      qrPng(
        'https://relay.example.org/i#AYBnoA35FRSANLI4GUftTdt2YGVx_VQWayC31hj0jacgG2sD2JgAAciy23M5GtNRMBR5y',
      ),
    ),
    await timed('Discord: /invite → message in the channel', async () => {
      const before = discord.channelMessages(app).length;
      discord.slashCommand(app, mod, 'invite');
      await discord.until(() => discord.channelMessages(app).length > before, 'the invite');
    }),
    await timed('Matrix: !pair invite → notice in the room', async () => {
      const sent = hs.sendEvent(alice, room, 'm.room.message', { msgtype: 'm.text', body: '!pair invite' });
      await hs.until(
        () =>
          hs
            .timeline(room)
            .find(
              (e) =>
                e.sender === botUser.userId &&
                (e.content['m.relates_to'] as { 'm.in_reply_to'?: { event_id?: string } } | undefined)?.[
                  'm.in_reply_to'
                ]?.event_id === sent.event_id,
            ),
        'the notice',
      );
    }),
  ];
  const base = median(results[0]!.times);
  console.log(
    `bots: ${RUNS} sequential runs each (after 3 warm-up), one agent, real relay, fakes on loopback`,
  );
  for (const { label, times } of results) {
    console.log(
      `${label.padEnd(46)} p50 ${median(times).toFixed(1).padStart(7)} ms   p90 ${quantile(times, 0.9).toFixed(1).padStart(7)} ms   ×${(median(times) / base).toFixed(1)} baseline`,
    );
  }
} finally {
  client.close();
  await Promise.all(bots.map((b) => b.stop()));
  await agent.stop();
  await relay.stop();
  await discord.stop();
  await hs.stop();
}
