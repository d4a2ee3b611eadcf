import {
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  type Client,
  DiscordAPIError,
  MessageFlags,
  PermissionFlagsBits,
  Routes,
  time,
} from 'discord.js';
import type { Logger } from 'pino';
import type { ChatSurface, PostResult } from '../core/chat-surface.js';
import type { Actor } from '../core/policy.js';
import type { InviteView } from '../core/render.js';
import { inviteMessage, restMessage, type Where } from './invite-message.js';
import { POST_NEEDS } from './permissions.js';

/** How long a pending /accept is followed: interaction tokens live 15 minutes. */
const ACCEPT_FOLLOW_MS = 14 * 60_000;

/**
 * One slash command or button press as the command flow sees it: answers are ephemeral (deferred
 * at once, then edited), an invite is a channel message posted through REST with its QR image
 * (so it stays editable past the 15-minute interaction token), and Discord's refusals are results.
 */
export class InteractionSurface implements ChatSurface<Where> {
  readonly followMs = ACCEPT_FOLLOW_MS;

  constructor(
    private readonly interaction: ChatInputCommandInteraction | ButtonInteraction,
    private readonly client: Client,
    private readonly log: Pick<Logger, 'info' | 'warn'>,
  ) {}

  get logFields() {
    return { chat: 'discord', channel: this.interaction.channelId };
  }

  get userId(): string {
    return this.interaction.user.id;
  }

  get mention(): string {
    return `<@${this.interaction.user.id}>`;
  }

  get creator() {
    const { user, channelId } = this.interaction;
    return {
      chat: 'discord' as const,
      user: `${user.username} (${user.id})`.slice(0, 200),
      ...(channelId ? { channel: channelId } : {}),
    };
  }

  async actor(): Promise<Actor> {
    const roles = this.interaction.member?.roles;
    const roleIds = Array.isArray(roles) ? roles : roles ? [...roles.cache.keys()] : [];
    return {
      userId: this.interaction.user.id,
      roleIds,
      isModerator: this.interaction.memberPermissions?.has(PermissionFlagsBits.ManageGuild) ?? false,
    };
  }

  refusal(_action: string, minterOnly: boolean): string {
    return minterOnly
      ? 'Only the member who minted this invite (or a server manager) can cancel it.'
      : 'Sorry, you are not allowed to use this command here.';
  }

  async refuse(line: string): Promise<void> {
    await this.interaction.reply({ content: line, flags: MessageFlags.Ephemeral });
  }

  async begin(): Promise<void> {
    await this.interaction.deferReply({ flags: MessageFlags.Ephemeral });
  }

  async interim(line: string): Promise<void> {
    await this.interaction.editReply({ content: line });
  }

  async reply(lines: readonly string[]): Promise<void> {
    await this.interaction.editReply({ content: lines.join('\n') });
  }

  async end(): Promise<void> {}

  tellLater(lines: readonly string[]): Promise<void> {
    return this.interaction.editReply({ content: lines.join('\n') }).then(
      () => undefined,
      (error: Error) => this.log.warn({ err: error.message }, 'editing the accept reply failed'),
    );
  }

  formatTime(iso: string): string {
    return time(new Date(iso), 'R');
  }

  /** Before anything is minted: can the bot post here at all? (app_permissions, from Discord) */
  cannotPost(privately: boolean): string | null {
    const { appPermissions, channelId } = this.interaction;
    const missing = privately ? [] : POST_NEEDS.filter(([bit]) => appPermissions && !appPermissions.has(bit));
    if (missing.length === 0) return null;
    const names = missing.map(([, name]) => name);
    this.log.info({ channel: channelId, missing: names }, 'cannot post an invite here');
    return `I cannot post invites in <#${channelId}>: I need the ${names.join(', ')} permission${names.length > 1 ? 's' : ''} there. Ask a server admin to grant ${names.length > 1 ? 'them' : 'it'}, or use \`/invite private:true\` to get an invite only you can see.`;
  }

  async postInvite(view: InviteView, privately: boolean): Promise<PostResult<Where>> {
    const { channelId } = this.interaction;
    const body = await inviteMessage(view, this.userId, true);
    if (privately || !channelId) {
      await this.interaction.editReply(body);
      return { status: 'shown' };
    }
    let message: { id: string };
    try {
      message = (await this.client.rest.post(Routes.channelMessages(channelId), {
        body: restMessage(body),
        files: body.files.map((f) => ({
          name: f.name!,
          data: f.attachment as Buffer,
          contentType: 'image/png',
        })),
      })) as { id: string };
    } catch (error) {
      // Whatever Discord refused, nobody can see the invite: the command flow cancels it.
      const why =
        error instanceof DiscordAPIError && error.code === 50013
          ? `I am missing a permission in <#${channelId}> (Discord: Missing Permissions). I need ${POST_NEEDS.map(([, n]) => n).join(', ')} there.`
          : `I could not post it in <#${channelId}> (${error instanceof Error ? error.message.slice(0, 200) : 'error'}).`;
      this.log.warn(
        { channel: channelId, invite: view.invite.id, err: (error as Error).message },
        'posting an invite failed; cancelled it',
      );
      return {
        status: 'refused',
        line: `${why} The invite was cancelled; nothing was posted.`,
        outcome: 'failed post refused',
      };
    }
    return {
      status: 'posted',
      where: { channelId, messageId: message.id },
      answer: `Invite \`${view.invite.id}\` posted in this channel.`,
    };
  }
}
