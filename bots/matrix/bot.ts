import type { Server } from 'node:http';
import { join } from 'node:path';
import { MatrixClient } from 'matrix-bot-sdk';
import type { Logger } from 'pino';
import { PairlinkError } from '../../src/errors.js';
import type { InviteCreated } from '../../src/rpc/protocol.js';
import { AgentLink, followAccept } from '../core/agent-link.js';
import { helpLines, inviteParams } from '../core/commands.js';
import { startHealthServer } from '../core/health.js';
import { LiveInvites, MessageGone } from '../core/live-invites.js';
import { type Actor, type BotAction, mayCancel, mayDo } from '../core/policy.js';
import { isFinished, type PostedInvite } from '../core/posted-invites.js';
import { qrPng } from '../core/qr-png.js';
import {
  acceptLine,
  errorLine,
  type InviteView,
  inviteLines,
  inviteListLines,
  peerListLines,
} from '../core/render.js';
import { startupError } from '../core/startup-error.js';
import type { MatrixConfig } from './config.js';
import { acceptArgs, addressed, expiryText, formatted, inviteArgs, pngSize } from './format.js';
import { powerLevelOf } from './power.js';
import { abortRequests, installRequestWrapper } from './requests.js';
import { routeSdkLogs } from './sdk-logs.js';
import { FileSyncStorage } from './storage.js';

/** Where an invite message is: its room, the notice, and the QR image (empty: none). */
type Where = { roomId: string; eventId: string; imageId: string };

interface RoomEvent {
  readonly event_id: string;
  readonly type: string;
  readonly sender: string;
  readonly origin_server_ts: number;
  readonly content: Record<string, unknown>;
  readonly unsigned?: { readonly age?: number };
}

const E2EE_NOTICE =
  'Encrypted rooms are not supported: end-to-end encryption is unavailable in this build of pairlink, so I cannot read this room and will not answer here.';
const MAX_BODY = 4000;
/** How long a pending accept is followed to tell the member how it ended. */
const ACCEPT_FOLLOW_MS = 30 * 60_000;
/** How long a graceful stop waits for the commands under way. */
const STOP_GRACE_MS = 10_000;
const HEALTHY_SYNC_MS = 75_000;
const COMMANDS = ['invite', 'accept', 'invites', 'cancel', 'peers'] as const;

/** matrix-bot-sdk's client, saving the sync token after each sync is processed, and timing syncs. */
class SyncClient extends MatrixClient {
  lastSyncAt = 0;

  constructor(homeserverUrl: string, accessToken: string, storage: FileSyncStorage) {
    super(homeserverUrl, accessToken, storage);
    this.persistTokenAfterSync = true;
  }

  override async doSync(token: string): Promise<unknown> {
    const response = await super.doSync(token);
    this.lastSyncAt = Date.now();
    return response;
  }
}

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
  /** The invite each command minted (by the command's event id), for its log line. */
  private readonly lastMinted = new Map<string, string>();
  /** Commands and events being handled: a graceful stop waits for them (bounded). */
  private readonly inflight = new Set<Promise<void>>();
  /** Rooms told (this run) that encryption is not supported. */
  private readonly encrypted = new Set<string>();
  /** Rooms known to be encrypted (encryption, once on, cannot be turned off). */
  private readonly encryptedRooms = new Set<string>();
  private readonly createEvents = new Map<string, { sender: string; content: Record<string, unknown> }>();

  constructor(
    private readonly config: MatrixConfig,
    private readonly token: string,
    private readonly paths: { readonly agentSocket: string; readonly stateDir: string },
    private readonly log: Logger,
  ) {
    this.agent = new AgentLink(paths.agentSocket, 10_000, log);
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
    const encrypted = await this.matrix.getRoomStateEvent(roomId, 'm.room.encryption', '').then(
      () => true,
      () => false,
    );
    if (encrypted) {
      this.encryptedRooms.add(roomId);
      if (!this.config.e2eeProxy) await this.saysEncrypted(roomId);
    }
  }

  /**
   * Whether a room is encrypted, asked of the homeserver each time unless already known (a room
   * can turn encryption on at any moment). A failed lookup counts as encrypted: the bot does not
   * post an invite where it cannot tell.
   */
  private async isEncrypted(roomId: string): Promise<boolean> {
    if (this.config.e2eeProxy) return false;
    if (this.encryptedRooms.has(roomId)) return true;
    const encrypted = await this.matrix.getRoomStateEvent(roomId, 'm.room.encryption', '').then(
      () => true,
      (error: { statusCode?: number; body?: { errcode?: string } }) => !isNotFound(error),
    );
    if (encrypted) this.encryptedRooms.add(roomId);
    return encrypted;
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
      await this.withdraw(id, roomId, [entry.where.imageId], 'the invite was withdrawn');
      this.log.info(
        { room: roomId, invite: id, by: event.sender },
        'invite notice redacted: invite cancelled',
      );
    }
  }

  /**
   * A room turned encryption on: its live invites were posted in clear, and the bot cannot post
   * there any more. Each is cancelled at the agent and its notice and QR image are redacted, so
   * the link does not stay readable in a room whose members now expect end-to-end encryption.
   */
  private async onEncryptionEnabled(roomId: string): Promise<void> {
    this.encryptedRooms.add(roomId);
    if (this.config.e2eeProxy) return;
    for (const id of this.invites.store.ids()) {
      const entry = this.invites.store.get(id);
      if (!entry || entry.where.roomId !== roomId) continue;
      await this.withdraw(
        id,
        roomId,
        [entry.where.eventId, entry.where.imageId],
        'the room is now encrypted: the invite was cancelled',
      );
      this.log.info({ room: roomId, invite: id }, 'room became encrypted: invite cancelled and redacted');
    }
    await this.saysEncrypted(roomId);
  }

  /** Cancels an invite at the agent, forgets its message, and redacts the given events of it. */
  private async withdraw(id: string, roomId: string, eventIds: string[], reason: string): Promise<void> {
    await this.agent.call('invite.cancel', { id }).catch(() => undefined);
    await this.invites.forget(id);
    for (const eventId of eventIds.filter(Boolean))
      await this.matrix
        .redactEvent(roomId, eventId, reason)
        .catch((error: Error) => this.log.warn({ err: error.message }, 'redacting an invite failed'));
  }

  /** Says once per room (per run) that encrypted rooms are not supported. */
  private async saysEncrypted(roomId: string): Promise<void> {
    if (this.encrypted.has(roomId)) return;
    this.encrypted.add(roomId);
    await this.matrix.sendMessage(roomId, { msgtype: 'm.notice', body: E2EE_NOTICE, 'm.mentions': {} });
  }

  private async onRoomEvent(roomId: string, event: RoomEvent): Promise<void> {
    if (this.stopping || !event?.event_id || event.sender === this.userId) return;
    // Events from before the bot started are history, not commands.
    if (sentAt(event) < this.startedAt) return;
    if (event.type === 'm.room.encryption') {
      await this.onEncryptionEnabled(roomId);
      return;
    }
    if (event.type === 'm.room.redaction') {
      await this.onRedaction(roomId, event);
      return;
    }
    if (event.type === 'm.room.encrypted') {
      this.encryptedRooms.add(roomId);
      // Behind a decrypting proxy an encrypted event is one it could not decrypt: say nothing.
      if (!this.config.e2eeProxy) await this.saysEncrypted(roomId);
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
        await this.reply(roomId, event, [
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
    if (await this.isEncrypted(roomId)) {
      await this.saysEncrypted(roomId);
      return;
    }
    await this.command(roomId, event, text);
  }

  // ---- commands ------------------------------------------------------------------------------

  private async command(roomId: string, event: RoomEvent, text: string): Promise<void> {
    const [first = 'help', ...words] = text.split(/\s+/).filter(Boolean);
    const name = first.toLowerCase();
    // Ids are shown in backticks (or quoted): "`ID`" pasted back into a cancel works.
    const args = name === 'cancel' ? words.map((a) => a.replace(/^[`'"“”‘’]+|[`'"“”‘’]+$/g, '')) : words;
    if (name === 'help') {
      await this.reply(roomId, event, this.helpLines());
      return;
    }
    if (!(COMMANDS as readonly string[]).includes(name)) {
      await this.reply(roomId, event, [
        `I don’t know “${first.slice(0, 40)}”. Try \`${this.config.prefix} help\`.`,
      ]);
      return;
    }
    const action = name as BotAction;
    let actor: Actor;
    try {
      actor = await this.actor(roomId, event.sender);
    } catch (error) {
      await this.react(roomId, event.event_id, '❌');
      await this.reply(roomId, event, [errorLine(error)]);
      return;
    }
    const posted = action === 'cancel' && args[0] ? this.invites.store.get(args[0]) : undefined;
    if (posted && posted.where.roomId !== roomId) {
      // Power is per room: an invite is cancelled where it was posted, by that room's standards.
      await this.react(roomId, event.event_id, '❌');
      await this.reply(roomId, event, ['That invite was posted in another room: cancel it there.']);
      return;
    }
    const minter = posted?.minterId;
    const allowed =
      mayDo(actor, action, this.config.allow) || (minter !== undefined && mayCancel(actor, minter));
    if (!allowed) {
      await this.react(roomId, event.event_id, '❌');
      await this.reply(roomId, event, [
        action === 'cancel'
          ? 'Sorry: only the member who minted this invite, or someone with enough power here, can cancel it.'
          : `Sorry, you are not allowed to use \`${action}\` here (it needs power level ${this.config.powerLevel}, or the allowlist).`,
      ]);
      return;
    }
    const hourglass = await this.react(roomId, event.event_id, '⏳');
    let ok = true;
    let outcome = 'ok';
    const started = Date.now();
    try {
      const lines = await this.run(roomId, event, action, args);
      if (lines) await this.reply(roomId, event, lines);
    } catch (error) {
      ok = false;
      outcome = `failed ${(error as { code?: string }).code ?? 'INTERNAL'}`;
      await this.reply(roomId, event, [errorLine(error)]);
    } finally {
      if (hourglass) await this.matrix.redactEvent(roomId, hourglass).catch(() => undefined);
      await this.react(roomId, event.event_id, ok ? '✅' : '❌');
      // One line per command: who, where, what, which invite, how it ended (never a link or code).
      const invite = this.lastMinted.get(event.event_id) ?? (action === 'cancel' ? args[0] : undefined);
      this.lastMinted.delete(event.event_id);
      this.log.info(
        {
          chat: 'matrix',
          room: roomId,
          user: event.sender,
          command: action,
          ...(invite ? { invite: invite.slice(0, 40) } : {}),
          outcome,
          ms: Date.now() - started,
        },
        'command',
      );
    }
  }

  /** Runs a command; returns the reply's lines (the invite command posts its own message). */
  private async run(
    roomId: string,
    event: RoomEvent,
    action: BotAction,
    args: string[],
  ): Promise<string[] | null> {
    switch (action) {
      case 'invite':
        await this.mint(roomId, event, args);
        return null;
      case 'accept': {
        const { invite, relay } = acceptArgs(args);
        const result = await this.agent.call('invite.accept', {
          invite,
          waitSeconds: 8,
          ...(relay ? { relay } : {}),
        });
        // Still pending: follow it, and tell the member how it ended (a reply that mentions them).
        if (result.status === 'pending') void this.followUp(roomId, event, result.acceptId);
        return [acceptLine(result)];
      }
      case 'invites':
        return inviteListLines(await this.agent.call('invite.list', {}), (iso) => expiryText(iso));
      case 'cancel': {
        const id = args[0];
        if (!id || args.length > 1) throw new PairlinkError('INVALID_PARAMS', 'cancel takes one invite id');
        await this.agent.call('invite.cancel', { id });
        return [`Invite \`${id}\` cancelled.`];
      }
      case 'peers':
        return peerListLines(await this.agent.call('peer.list', {}));
    }
  }

  private async followUp(roomId: string, event: RoomEvent, acceptId: string): Promise<void> {
    const end = await followAccept(this.agent, acceptId, ACCEPT_FOLLOW_MS);
    if (end === null || this.stopping) return;
    const line = end instanceof Error ? `The pairing did not complete. ${errorLine(end)}` : acceptLine(end);
    this.log.info(
      { chat: 'matrix', accept: acceptId, outcome: end instanceof Error ? 'failed' : end.status },
      'accept ended',
    );
    await this.reply(roomId, event, [line]).catch((error: Error) =>
      this.log.warn({ err: error.message }, 'telling the end of an accept failed'),
    );
  }

  /** Mints an invite and posts it: the notice (reply to the command), then the QR image. */
  private async mint(roomId: string, event: RoomEvent, args: string[]): Promise<void> {
    const params = inviteParams(inviteArgs(args));
    const invite: InviteCreated = await this.agent.call('invite.create', {
      ...params,
      creator: {
        kind: 'bot',
        chat: 'matrix',
        user: event.sender.slice(0, 200),
        channel: roomId.slice(0, 200),
      },
    });
    this.lastMinted.set(event.event_id, invite.id);
    // Checked again just before posting: the room may have turned encryption on meanwhile.
    if (await this.isEncrypted(roomId)) {
      await this.agent.call('invite.cancel', { id: invite.id }).catch(() => undefined);
      throw new PairlinkError('UNAUTHORIZED', 'this room is encrypted now: no invite is posted here');
    }
    const view: InviteView = { invite, minter: event.sender, state: 'open' };
    const eventId = await this.matrix.sendMessage(roomId, {
      msgtype: 'm.notice',
      ...formatted(this.inviteText(view)),
      'm.relates_to': this.relation(event),
      'm.mentions': { user_ids: [event.sender] },
    });
    // Remembered at once, so that commands about it (a cancel from another room, say) and its
    // progress find it while the QR image is still being posted.
    await this.invites.posted({ where: { roomId, eventId, imageId: '' }, minterId: event.sender, view });
    if (!invite.url) return;
    const imageId = await this.postQr(roomId, event, invite.id, invite.url).catch((error: Error) => {
      // The notice has the link and is what gets edited: go on without the image.
      this.log.warn({ err: error.message }, 'posting the QR image failed');
      return '';
    });
    if (!imageId) return;
    const open = await this.invites.relocate(invite.id, { roomId, eventId, imageId });
    // Finished before its image was up (cancelled at once, say): the image goes too.
    if (!open) await this.matrix.redactEvent(roomId, imageId, 'the invite is no longer open').catch(() => '');
  }

  /** Uploads the QR code and posts it as an `m.image` next to the notice; returns its event id. */
  private async postQr(roomId: string, event: RoomEvent, id: string, link: string): Promise<string> {
    const png = await qrPng(link);
    const name = `pairlink-${id}.png`;
    const url = await this.matrix.uploadContent(png, 'image/png', name);
    return this.matrix.sendMessage(roomId, {
      msgtype: 'm.image',
      body: name,
      url,
      info: { mimetype: 'image/png', size: png.length, ...pngSize(png) },
      'm.relates_to': this.relation(event),
      'm.mentions': {},
    });
  }

  private inviteText(view: InviteView): string[] {
    const accept = `${this.config.prefix} accept`;
    return inviteLines(
      view,
      (iso) => expiryText(iso),
      (relay) => (relay ? `${accept} <the code> ${relay}` : `${accept} <the link or code>`),
    );
  }

  /** Edits the invite notice; a finished invite's QR image is redacted. */
  private async editPosted(entry: PostedInvite<Where>): Promise<void> {
    // Never a plaintext edit into a room that turned encryption on (its invites are cancelled).
    if (this.encryptedRooms.has(entry.where.roomId) && !this.config.e2eeProxy) return;
    const text = formatted(this.inviteText(entry.view));
    await this.editNotice(entry, text);
    if (isFinished(entry.view.state) && entry.where.imageId) {
      await this.matrix
        .redactEvent(entry.where.roomId, entry.where.imageId, 'the invite is no longer open')
        .catch((error: Error) => this.log.warn({ err: error.message }, 'redacting a QR image failed'));
    }
  }

  /** The m.replace edit; a room the bot can no longer post in (left, kicked, gone) ends the entry. */
  private async editNotice(entry: PostedInvite<Where>, text: ReturnType<typeof formatted>): Promise<void> {
    const gone = (error: { statusCode?: number; body?: { errcode?: string } }) =>
      error?.statusCode === 404 || error?.statusCode === 403 || error?.body?.errcode === 'M_FORBIDDEN';
    await this.matrix
      .sendMessage(entry.where.roomId, {
        msgtype: 'm.notice',
        body: `* ${text.body}`,
        format: text.format,
        formatted_body: `* ${text.formatted_body}`,
        'm.new_content': { msgtype: 'm.notice', ...text, 'm.mentions': {} },
        'm.relates_to': { rel_type: 'm.replace', event_id: entry.where.eventId },
        'm.mentions': {},
      })
      .catch(async (error) => {
        if (!gone(error)) throw error;
        await this.agent.call('invite.cancel', { id: entry.view.invite.id }).catch(() => undefined);
        throw new MessageGone(`homeserver: ${(error as Error).message ?? 'gone'}`);
      });
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

  /** An m.notice reply: in the command's thread when it has one, mentioning the sender. */
  private reply(roomId: string, event: RoomEvent, lines: string[]): Promise<string> {
    return this.matrix.sendMessage(roomId, {
      msgtype: 'm.notice',
      ...formatted(lines),
      'm.relates_to': this.relation(event),
      'm.mentions': { user_ids: [event.sender] },
    });
  }

  private relation(event: RoomEvent): Record<string, unknown> {
    const rel = event.content['m.relates_to'] as { rel_type?: string; event_id?: string } | undefined;
    if (rel?.rel_type === 'm.thread' && typeof rel.event_id === 'string')
      return {
        rel_type: 'm.thread',
        event_id: rel.event_id,
        is_falling_back: false,
        'm.in_reply_to': { event_id: event.event_id },
      };
    return { 'm.in_reply_to': { event_id: event.event_id } };
  }

  /** Reacts; returns the reaction's event id, or '' when the reaction could not be sent. */
  private react(roomId: string, eventId: string, key: string): Promise<string> {
    return this.matrix
      .sendEvent(roomId, 'm.reaction', {
        'm.relates_to': { rel_type: 'm.annotation', event_id: eventId, key },
      })
      .catch(() => '');
  }

  /** The sender as the policy sees them: moderator when their power level reaches the threshold. */
  private async actor(roomId: string, userId: string): Promise<Actor> {
    const create = await this.createEvent(roomId);
    // Only "there is no such event" means no power levels; any other failure is an error, never
    // a default (a demoted creator of a pre-v12 room would otherwise be read as level 100).
    const levels = (await this.matrix
      .getRoomStateEvent(roomId, 'm.room.power_levels', '')
      .catch((error: { statusCode?: number; body?: { errcode?: string } }) => {
        if (isNotFound(error)) return null;
        throw new PairlinkError(
          'CHAT_UNREACHABLE',
          `could not read this room's power levels (${error?.body?.errcode ?? error?.statusCode ?? 'error'}); try again`,
        );
      })) as Record<string, unknown> | null;
    return {
      userId,
      roleIds: [],
      isModerator: powerLevelOf(userId, create, levels) >= this.config.powerLevel,
    };
  }

  /**
   * The room's create event (it never changes, so it is cached). Asked for whole with
   * `?format=event` (spec v1.16); a server that answers with the content only still gives the
   * creator through `creator` in room versions before 11.
   */
  private async createEvent(roomId: string): Promise<{ sender: string; content: Record<string, unknown> }> {
    const cached = this.createEvents.get(roomId);
    if (cached) return cached;
    const raw = (await this.matrix.doRequest(
      'GET',
      `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.create/`,
      { format: 'event' },
    )) as Record<string, unknown>;
    const event =
      typeof raw.sender === 'string' && raw.content && typeof raw.content === 'object'
        ? { sender: raw.sender, content: raw.content as Record<string, unknown> }
        : { sender: typeof raw.creator === 'string' ? raw.creator : '', content: raw };
    this.createEvents.set(roomId, event);
    return event;
  }
}

/** The homeserver's answer for a state event (or anything) that does not exist. */
function isNotFound(error: { statusCode?: number; body?: { errcode?: string } } | undefined): boolean {
  return error?.statusCode === 404 || error?.body?.errcode === 'M_NOT_FOUND';
}

/**
 * When the event was sent, by this machine's clock: now minus `unsigned.age` (which the server
 * computes when it serves the event), so a homeserver whose clock is off does not make new
 * commands look old; `origin_server_ts` when the server gives no age.
 */
function sentAt(event: RoomEvent): number {
  const age = event.unsigned?.age;
  if (typeof age === 'number' && Number.isFinite(age) && age >= 0) return Date.now() - age;
  return typeof event.origin_server_ts === 'number' ? event.origin_server_ts : 0;
}
