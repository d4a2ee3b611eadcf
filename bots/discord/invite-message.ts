import {
  ActionRowBuilder,
  AttachmentBuilder,
  ButtonBuilder,
  ButtonStyle,
  type Client,
  DiscordAPIError,
  Routes,
  time,
} from 'discord.js';
import type { EditResult } from '../core/chat-surface.js';
import type { PostedInvite } from '../core/posted-invites.js';
import { qrPng } from '../core/qr-png.js';
import { type InviteView, inviteLines } from '../core/render.js';

/** Where an invite's channel message is, to edit it when the invite changes. */
export type Where = { channelId: string; messageId: string };

/** Button custom ids: `pairlink:cancel:<invite id>:<minter user id>` (stateless across restarts). */
export const CANCEL_PREFIX = 'pairlink:cancel:';

/** The invite and minter a Cancel button names (empty strings when it names none). */
export function cancelButtonTarget(customId: string): { inviteId: string; minterId: string } {
  const [inviteId = '', minterId = ''] = customId.slice(CANCEL_PREFIX.length).split(':');
  return { inviteId, minterId };
}

/** An invite message: its text, its Cancel button while open, and its QR image when asked for. */
export async function inviteMessage(view: InviteView, minterId: string, withQr: boolean) {
  const open = view.state === 'open' || view.state === 'accepted';
  const content = inviteLines(
    view,
    (iso) => {
      const date = new Date(iso);
      return `${time(date, 'f')} (${time(date, 'R')})`;
    },
    (relay) => (relay ? `/accept invite:<the code> relay:${relay}` : '/accept invite:<the link or code>'),
  ).join('\n');
  const components = open
    ? [
        new ActionRowBuilder<ButtonBuilder>().addComponents(
          new ButtonBuilder()
            .setCustomId(`${CANCEL_PREFIX}${view.invite.id}:${minterId}`)
            .setLabel('Cancel')
            .setStyle(ButtonStyle.Danger),
        ),
      ]
    : [];
  const files =
    withQr && view.invite.url
      ? [new AttachmentBuilder(await qrPng(view.invite.url), { name: `pairlink-${view.invite.id}.png` })]
      : [];
  return { content, components, files };
}

/** A message body for the REST API; mentions in it are shown but never ping anyone. */
export function restMessage(body: { content: string; components: { toJSON(): unknown }[] }) {
  return {
    content: body.content,
    components: body.components.map((c) => c.toJSON()),
    allowed_mentions: { parse: [] },
  };
}

/** Discord's answer for a message or channel that no longer exists, or that the bot can no longer see. */
export function isGone(error: unknown): boolean {
  return (
    error instanceof DiscordAPIError &&
    (error.status === 404 || error.code === 10008 || error.code === 10003 || error.code === 50001)
  );
}

/**
 * Edits a posted invite through REST (the interaction token would expire). A message a moderator
 * deleted (or a channel that is gone) is `gone`: deleting it is a moderator's clear signal that
 * the invite should not be used, and nobody can see it any more anyway.
 */
export async function editInviteMessage(client: Client, entry: PostedInvite<Where>): Promise<EditResult> {
  const body = await inviteMessage(entry.view, entry.minterId, false);
  try {
    await client.rest.patch(Routes.channelMessage(entry.where.channelId, entry.where.messageId), {
      body: restMessage(body),
    });
    return { status: 'edited' };
  } catch (error) {
    if (!isGone(error)) throw error;
    return { status: 'gone', reason: `Discord: ${(error as Error).message}` };
  }
}
