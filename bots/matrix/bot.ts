import type { Server } from 'node:http';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { PairlinkError } from '../../src/errors.js';
import { AgentLink } from '../core/agent-link.js';
import type { EditResult } from '../core/chat-surface.js';
import { acceptInvite } from '../core/commands/accept.js';
import { cancelInvite } from '../core/commands/cancel.js';
import { helpLines } from '../core/commands/help.js';
import { mintInvite } from '../core/commands/invite.js';
import { listInvites } from '../core/commands/invites.js';
import { listPeers } from '../core/commands/peers.js';
import { startHealthServer } from '../core/health.js';
import { LiveInvites } from '../core/live-invites.js';
import { BOT_ACTIONS, type BotAction } from '../core/policy.js';
import { isFinished, type PostedInvite } from '../core/posted-invites.js';
import { type CommandRequest, runCommand } from '../core/run-command.js';
import { startupError } from '../core/startup-error.js';
import type { MatrixConfig } from './config.js';
import { EncryptionGuard } from './encryption-guard.js';
import { acceptArgs, addressed, inviteArgs } from './format.js';
import { abortRequests, installRequestWrapper } from './requests.js';
import { editNotice, inviteText, type RoomEvent, redact, reply, type Where } from './room-messages.js';
import { RoomPower } from './room-power.js';
import { RoomSurface } from './room-surface.js';
import { routeSdkLogs } from './sdk-logs.js';
import { FileSyncStorage } from './storage.js';
import { SyncClient, sentAt } from './sync-client.js';

const MAX_BODY = 4000;
/** How long a graceful stop waits for the commands under way. */
const STOP_GRACE_MS = 10_000;
const HEALTHY_SYNC_MS = 75_000;

/**
 * The Matrix bot (matrix-bot-sdk, unencrypted rooms only). Commands start with the prefix (default
 * `!pair`) or the bot's name; replies are `m.notice` replies (in the command's thread when there is
 * one) with explicit mentions, and a reaction shows progress (⏳, then ✅ or ❌). `invite` posts
 * the invite as a notice and its QR code as an `m.image`; the notice is edited (`m.replace`) as
 * the invite changes, and the image is redacted once the invite is finished.
 */
export class MatrixBot {
  readonly agent: AgentLink;
  private client: SyncClient | null = null;
  private storage: FileSyncStorage | null = null;
  private live: LiveInvites<Where> | null = null;
  private health: Server | null = null;
  private stopRetryLog: (() => void) | null = null;
  private startedAt = 0;
  private userId = '';
  private names: string[] = [];
  private stopping = false;
  /** Commands and events being handled: a graceful stop waits for them (bounded). */
  private readonly inflight = new Set<Promise<void>>();
  private readonly guard: EncryptionGuard;
  private readonly power: RoomPower;

  constructor(
    private readonly config: MatrixConfig,
    private readonly token: string,
    private readonly paths: { readonly agentSocket: string; readonly stateDir: string },
    private readonly log: Logger,
  ) {
    this.agent = new AgentLink(paths.agentSocket, 10_000, log);
    this.guard = new EncryptionGuard(
      () => this.matrix,
      () => this.invites,
      config.e2eeProxy,
      log,
    );
    this.power = new RoomPower(() => this.matrix, config.powerLevel);
  }

  get invites(): LiveInvites<Where> {
    if (!this.live) throw new Error('start the bot first');
    return this.live;
  }

  private get matrix(): SyncClient {
    if (!this.client) throw new Error('start the bot first');
    return this.client;
  }

  async start(): Promise<void> {
    routeSdkLogs(this.log);
    this.stopRetryLog = installRequestWrapper((waitMs, attempt) =>
      this.log.info({ waitMs, attempt }, 'rate limited by the homeserver; retrying'),
    );
    this.storage = await FileSyncStorage.open(join(this.paths.stateDir, 'matrix-sync.json'));
    this.client = new SyncClient(this.config.homeserverUrl, this.token, this.storage);
    const whoami = await this.client.getWhoAmI().catch((error: unknown) => {
      throw startupError(error, 'the homeserver', this.config.homeserverUrl);
    });
    if (whoami.user_id !== this.config.userId) {
      throw new PairlinkError(
        'INVALID_PARAMS',
        `the access token belongs to ${whoami.user_id}, not to ${this.config.userId} (userId in the config)`,
      );
    }
    this.userId = whoami.user_id;
    const profile = (await this.client.getUserProfile(this.userId).catch(() => ({}))) as {
      displayname?: string;
    };
    this.names = [profile.displayname ?? '', this.userId.slice(1).split(':')[0]!, this.userId];
    this.live = await LiveInvites.open<Where>(
      join(this.paths.stateDir, 'matrix-posts.json'),
      this.agent,
      (entry) => this.editPosted(entry),
      this.log,
    );
    await this.agent.start();
    this.client.on('room.invite', (roomId: string, event: RoomEvent) =>
      this.safely('an invitation', () => this.onRoomInvite(roomId, event)),
    );
    this.client.on('room.event', (roomId: string, event: RoomEvent) =>
      this.safely('an event', () => this.onRoomEvent(roomId, event)),
    );
    this.startedAt = Date.now();
    await this.client.start({
      presence: { not_types: ['*'] },
      room: { ephemeral: { not_types: ['*'] }, timeline: { limit: 20 } },
    });
    if (this.config.healthPort > 0) {
      this.health = await startHealthServer(this.config.healthPort, async () => {
        const synced = this.synced();
        const agent = await this.agent.answers();
        return { ok: synced && agent, sync: synced, agent };
      });
    }
    if (!this.config.e2eeProxy)
      this.log.info(
        'end-to-end encryption is unavailable in this build: encrypted rooms get one notice and nothing else',
      );
    this.log.info({ user: this.userId }, 'matrix bot ready');
  }

  /** Synced within the last 75 s (the long-poll returns at least every 30 s) and the agent answers. */
  async healthy(): Promise<boolean> {
    return this.synced() && (await this.agent.answers());
  }

  private synced(): boolean {
    return this.client !== null && Date.now() - this.client.lastSyncAt < HEALTHY_SYNC_MS;
  }

  /**
   * Stops taking commands, lets the commands under way finish (at most STOP_GRACE_MS: their QR
   * image is remembered, their ⏳ replaced by ✅ or ❌), then stops syncing (aborting the
   * long-poll), lets edits under way finish, saves, disconnects.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.health?.close();
    this.client?.stop();
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.inflight]),
      new Promise((resolve) => {
        grace = setTimeout(resolve, STOP_GRACE_MS);
      }),
    ]);
    clearTimeout(grace);
    this.client?.removeAllListeners();
    abortRequests(this.token);
    await this.live?.idle();
    await this.storage?.flush();
    this.stopRetryLog?.();
    this.agent.close();
  }

  private safely(what: string, task: () => Promise<void>): void {
    const run = task().catch((error: Error) =>
      this.log.warn({ err: error.message }, `handling ${what} failed`),
    );
    this.inflight.add(run);
    void run.finally(() => this.inflight.delete(run));
  }

  // ---- rooms ---------------------------------------------------------------------------------

  /** Joins when the inviter (or the inviter's server) is allowlisted; declines otherwise. */
  private async onRoomInvite(roomId: string, event: RoomEvent): Promise<void> {
    if (this.stopping) return;
    const sender = event.sender;
    const server = sender.slice(sender.indexOf(':') + 1);
    const { userIds, servers } = this.config.joinFrom;
    if (!userIds.includes(sender) && !servers.includes(server)) {
      this.log.info(
        { room: roomId, inviter: sender },
        'declining an invitation from someone not on joinFrom',
      );
      await this.matrix.leaveRoom(roomId, 'pairlink joins rooms only when invited by its operators');
      return;
    }
    await this.matrix.joinRoom(roomId);
    this.log.info({ room: roomId, inviter: sender }, 'joined a room');
    await this.guard.joined(roomId);
  }

  /**
   * Someone (a moderator) redacted an invite's notice: a clear signal that it should not be used.
   * The invite is cancelled, its QR image redacted, and the entry forgotten.
   */
  private async onRedaction(roomId: string, event: RoomEvent): Promise<void> {
    const redacts =
      (event as RoomEvent & { redacts?: string }).redacts ?? (event.content.redacts as string | undefined);
    if (!redacts) return;
    for (const id of this.invites.store.ids()) {
      const entry = this.invites.store.get(id);
      if (!entry || entry.where.roomId !== roomId || entry.where.eventId !== redacts) continue;
      await this.guard.withdraw(id, roomId, [entry.where.imageId], 'the invite was withdrawn');
      this.log.info(
        { room: roomId, invite: id, by: event.sender },
        'invite notice redacted: invite cancelled',
      );
    }
  }

  private async onRoomEvent(roomId: string, event: RoomEvent): Promise<void> {
    if (this.stopping || !event?.event_id || event.sender === this.userId) return;
    // Events from before the bot started are history, not commands.
    if (sentAt(event) < this.startedAt) return;
    if (event.type === 'm.room.encryption') {
      await this.guard.enabled(roomId);
      return;
    }
    if (event.type === 'm.room.redaction') {
      await this.onRedaction(roomId, event);
      return;
    }
    if (event.type === 'm.room.encrypted') {
      await this.guard.encryptedEvent(roomId);
      return;
    }
    if (event.type !== 'm.room.message') return;
    const content = event.content ?? {};
    if (content.msgtype !== 'm.text' || typeof content.body !== 'string') return;
    if (content.body.length > MAX_BODY) {
      // Addressed to the bot but too long to be a command: say why instead of staying silent.
      if (
        addressed(content.body.slice(0, 200), this.config.prefix, this.names) !== null &&
        !this.storage!.seen(event.event_id)
      )
        await reply(this.matrix, roomId, event, [
          `That message is too long for a command (over ${MAX_BODY} characters).`,
        ]);
      return;
    }
    const relation = content['m.relates_to'] as { rel_type?: string } | undefined;
    if (relation?.rel_type === 'm.replace') return; // an edit of a message, not a new command
    const text = addressed(content.body, this.config.prefix, this.names);
    if (text === null) return;
    if (this.storage!.seen(event.event_id)) return; // a duplicate delivery
    // A plaintext command in an encrypted room (any client that does not encrypt can send one):
    // nothing is answered there but the one notice, and certainly no invite.
    if (await this.guard.isEncrypted(roomId)) {
      await this.guard.tell(roomId);
      return;
    }
    await this.command(roomId, event, text);
  }

  // ---- commands ------------------------------------------------------------------------------

  private async command(roomId: string, event: RoomEvent, text: string): Promise<void> {
    const [first = 'help', ...words] = text.split(/\s+/).filter(Boolean);
    const name = first.toLowerCase();
    if (name === 'help') {
      await reply(this.matrix, roomId, event, this.helpLines());
      return;
    }
    if (!(BOT_ACTIONS as readonly string[]).includes(name)) {
      await reply(this.matrix, roomId, event, [
        `I don’t know “${first.slice(0, 40)}”. Try \`${this.config.prefix} help\`.`,
      ]);
      return;
    }
    const surface = new RoomSurface(this.room, roomId, event);
    const request = this.request(name as BotAction, words);
    const posted = request.minterId !== undefined ? this.invites.store.get(request.invite ?? '') : undefined;
    if (posted && posted.where.roomId !== roomId) {
      // Power is per room: an invite is cancelled where it was posted, by that room's standards.
      await surface.refuse('That invite was posted in another room: cancel it there.');
      return;
    }
    await runCommand(
      { agent: this.agent, invites: this.invites, log: this.log, allow: this.config.allow },
      surface,
      request,
    );
  }

  /** A command's words as the bot core's request. */
  private request(action: BotAction, words: string[]): CommandRequest<Where> {
    switch (action) {
      case 'invite':
        return { action, run: (context) => mintInvite(context, inviteArgs(words)) };
      case 'accept':
        return {
          action,
          run: (context) => {
            const { invite, relay } = acceptArgs(words);
            return acceptInvite(context, invite, relay);
          },
        };
      case 'invites':
        return { action, run: listInvites };
      case 'cancel': {
        // Ids are shown in backticks (or quoted): "`ID`" pasted back into a cancel works.
        const args = words.map((a) => a.replace(/^[`'"“”‘’]+|[`'"“”‘’]+$/g, ''));
        const id = args[0];
        const minterId = id ? this.invites.store.get(id)?.minterId : undefined;
        return {
          action,
          ...(id ? { invite: id } : {}),
          ...(minterId !== undefined ? { minterId } : {}),
          run: (context) => {
            if (!id || args.length > 1)
              throw new PairlinkError('INVALID_PARAMS', 'cancel takes one invite id');
            return cancelInvite(context, id);
          },
        };
      }
      case 'peers':
        return { action, run: listPeers };
    }
  }

  /** The parts a room command uses. */
  private get room() {
    const bot = this;
    return {
      get matrix() {
        return bot.matrix;
      },
      config: this.config,
      guard: this.guard,
      power: this.power,
      invites: this.invites,
      log: this.log,
      get stopping() {
        return bot.stopping;
      },
    };
  }

  /** Edits the invite notice; a finished invite's QR image is redacted. */
  private async editPosted(entry: PostedInvite<Where>): Promise<EditResult> {
    // Never a plaintext edit into a room that turned encryption on (its invites are cancelled).
    if (this.guard.blocksEdits(entry.where.roomId)) return { status: 'edited' };
    const edited = await editNotice(this.matrix, entry, inviteText(this.config.prefix, entry.view));
    if (edited.status === 'edited' && isFinished(entry.view.state) && entry.where.imageId) {
      await redact(
        this.matrix,
        entry.where.roomId,
        entry.where.imageId,
        'the invite is no longer open',
        (error) => this.log.warn({ err: error.message }, 'redacting a QR image failed'),
      );
    }
    return edited;
  }

  // ---- helpers -------------------------------------------------------------------------------

  private helpLines(): string[] {
    const p = this.config.prefix;
    return helpLines(
      {
        invite: `\`${p} invite [ttl] [uses] [url|code]\` (e.g. \`${p} invite 10m 1 code\`)`,
        accept: `\`${p} accept <link or code> [relay URL]\``,
        invites: `\`${p} invites\``,
        cancel: `\`${p} cancel <id>\``,
        peers: `\`${p} peers\``,
      },
      `power level ${this.config.powerLevel} or more in this room, or the allowlist`,
      ['Encrypted rooms are not supported: end-to-end encryption is unavailable in this build.'],
    );
  }
}
