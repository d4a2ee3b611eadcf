import type { MatrixClient } from 'matrix-bot-sdk';
import type { Logger } from 'pino';
import { PairlinkError } from '../../src/errors.js';
import type { ChatSurface, PostResult } from '../core/chat-surface.js';
import type { LiveInvites } from '../core/live-invites.js';
import type { Actor } from '../core/policy.js';
import { errorLine, type InviteView } from '../core/render.js';
import type { MatrixConfig } from './config.js';
import type { EncryptionGuard } from './encryption-guard.js';
import { expiryText, formatted } from './format.js';
import {
  inviteText,
  postQr,
  type RoomEvent,
  react,
  redact,
  relation,
  reply,
  type Where,
} from './room-messages.js';
import type { RoomPower } from './room-power.js';

/** How long a pending accept is followed to tell the member how it ended. */
const ACCEPT_FOLLOW_MS = 30 * 60_000;

/** The parts of the Matrix bot a room command uses. */
export interface RoomBot {
  readonly matrix: MatrixClient;
  readonly config: MatrixConfig;
  readonly guard: EncryptionGuard;
  readonly power: RoomPower;
  readonly invites: LiveInvites<Where>;
  readonly log: Pick<Logger, 'info' | 'warn'>;
  readonly stopping: boolean;
}

/**
 * One command in a room as the command flow sees it: replies are `m.notice` replies (in the
 * command's thread when there is one) that mention the sender, a reaction shows progress (⏳,
 * then ✅ or ❌), and an invite is a notice plus its QR code as an `m.image`.
 */
export class RoomSurface implements ChatSurface<Where> {
  readonly followMs = ACCEPT_FOLLOW_MS;
  private hourglass = '';

  constructor(
    private readonly bot: RoomBot,
    private readonly roomId: string,
    private readonly event: RoomEvent,
  ) {}

  get logFields() {
    return { chat: 'matrix', room: this.roomId };
  }

  get userId(): string {
    return this.event.sender;
  }

  get mention(): string {
    return this.event.sender;
  }

  get creator() {
    return {
      chat: 'matrix' as const,
      user: this.event.sender.slice(0, 200),
      channel: this.roomId.slice(0, 200),
    };
  }

  actor(): Promise<Actor> {
    return this.bot.power.actor(this.roomId, this.event.sender);
  }

  refusal(action: string): string {
    return action === 'cancel'
      ? 'Sorry: only the member who minted this invite, or someone with enough power here, can cancel it.'
      : `Sorry, you are not allowed to use \`${action}\` here (it needs power level ${this.bot.config.powerLevel}, or the allowlist).`;
  }

  async refuse(line: string): Promise<void> {
    await react(this.bot.matrix, this.roomId, this.event.event_id, '❌');
    await this.reply([line]);
  }

  async begin(): Promise<void> {
    this.hourglass = await react(this.bot.matrix, this.roomId, this.event.event_id, '⏳');
  }

  async reply(lines: readonly string[]): Promise<void> {
    await reply(this.bot.matrix, this.roomId, this.event, lines);
  }

  async end(ok: boolean): Promise<void> {
    // The reactions are decoration: one that cannot be sent or taken down changes no answer.
    if (this.hourglass) await redact(this.bot.matrix, this.roomId, this.hourglass);
    await react(this.bot.matrix, this.roomId, this.event.event_id, ok ? '✅' : '❌');
  }

  async tellLater(lines: readonly string[]): Promise<void> {
    if (this.bot.stopping) return;
    await reply(this.bot.matrix, this.roomId, this.event, lines).then(
      () => undefined,
      (error: Error) => this.bot.log.warn({ err: error.message }, 'telling the end of an accept failed'),
    );
  }

  formatTime(iso: string): string {
    return expiryText(iso);
  }

  /** The notice (a reply to the command), then, once it is remembered, the QR image. */
  async postInvite(view: InviteView): Promise<PostResult<Where>> {
    const { matrix, config, guard } = this.bot;
    const { roomId, event } = this;
    // Checked again just before posting: the room may have turned encryption on meanwhile.
    if (await guard.isEncrypted(roomId)) {
      const refusal = new PairlinkError(
        'UNAUTHORIZED',
        'this room is encrypted now: no invite is posted here',
      );
      return { status: 'refused', line: errorLine(refusal), outcome: 'failed UNAUTHORIZED' };
    }
    const eventId = await matrix.sendMessage(roomId, {
      msgtype: 'm.notice',
      ...formatted(inviteText(config.prefix, view)),
      'm.relates_to': relation(event),
      'm.mentions': { user_ids: [event.sender] },
    });
    return {
      status: 'posted',
      where: { roomId, eventId, imageId: '' },
      finish: () => this.postImage(view, eventId),
    };
  }

  private async postImage(view: InviteView, eventId: string): Promise<void> {
    const { matrix, invites, log } = this.bot;
    const { id, url } = view.invite;
    if (!url) return;
    const imageId = await postQr(matrix, this.roomId, this.event, id, url).catch((error: Error) => {
      // The notice has the link and is what gets edited: go on without the image.
      log.warn({ err: error.message }, 'posting the QR image failed');
      return '';
    });
    if (!imageId) return;
    const open = await invites.relocate(id, { roomId: this.roomId, eventId, imageId });
    // Finished before its image was up (cancelled at once, say): the image goes too.
    if (!open) await redact(matrix, this.roomId, imageId, 'the invite is no longer open');
  }
}
