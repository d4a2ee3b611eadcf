import type { MatrixClient } from 'matrix-bot-sdk';
import type { EditResult } from '../core/chat-surface.js';
import type { PostedInvite } from '../core/posted-invites.js';
import { qrPng } from '../core/qr-png.js';
import { type InviteView, inviteLines } from '../core/render.js';
import { expiryText, formatted, pngSize } from './format.js';

/** A room event as the sync hands it to the bot. */
export interface RoomEvent {
  readonly event_id: string;
  readonly type: string;
  readonly sender: string;
  readonly origin_server_ts: number;
  readonly content: Record<string, unknown>;
  readonly unsigned?: { readonly age?: number };
}

/** Where an invite message is: its room, the notice, and the QR image (empty: none). */
export type Where = { roomId: string; eventId: string; imageId: string };

/** The homeserver's error, as matrix-bot-sdk throws it. */
export type HomeserverError = { statusCode?: number; body?: { errcode?: string } } | undefined;

/** The homeserver's answer for a state event (or anything) that does not exist. */
export function isNotFound(error: HomeserverError): boolean {
  return error?.statusCode === 404 || error?.body?.errcode === 'M_NOT_FOUND';
}

/** How a reply relates to a command: in the command's thread when it has one, else a plain reply. */
export function relation(event: RoomEvent): Record<string, unknown> {
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

/** An m.notice reply: in the command's thread when it has one, mentioning the sender. */
export function reply(
  matrix: MatrixClient,
  roomId: string,
  event: RoomEvent,
  lines: readonly string[],
): Promise<string> {
  return matrix.sendMessage(roomId, {
    msgtype: 'm.notice',
    ...formatted(lines),
    'm.relates_to': relation(event),
    'm.mentions': { user_ids: [event.sender] },
  });
}

/** Reacts; the reaction's event id, or '' when the reaction could not be sent (it is decoration). */
export function react(matrix: MatrixClient, roomId: string, eventId: string, key: string): Promise<string> {
  return matrix
    .sendEvent(roomId, 'm.reaction', {
      'm.relates_to': { rel_type: 'm.annotation', event_id: eventId, key },
    })
    .then(
      (id) => id,
      () => '',
    );
}

/**
 * Redacts an event of the bot's; false when the homeserver refused (told to `warn` when given):
 * a redaction that fails leaves an image or a reaction up, never a command unanswered.
 */
export function redact(
  matrix: MatrixClient,
  roomId: string,
  eventId: string,
  reason?: string,
  warn?: (error: Error) => void,
): Promise<boolean> {
  return matrix.redactEvent(roomId, eventId, reason).then(
    () => true,
    (error: Error) => {
      warn?.(error);
      return false;
    },
  );
}

/** An invite notice's lines, with the accept command as typed in Matrix. */
export function inviteText(prefix: string, view: InviteView): string[] {
  const accept = `${prefix} accept`;
  return inviteLines(
    view,
    (iso) => expiryText(iso),
    (relay) => (relay ? `${accept} <the code> ${relay}` : `${accept} <the link or code>`),
  );
}

/** Uploads the QR code and posts it as an `m.image` next to the notice; returns its event id. */
export async function postQr(
  matrix: MatrixClient,
  roomId: string,
  event: RoomEvent,
  id: string,
  link: string,
): Promise<string> {
  const png = await qrPng(link);
  const name = `pairlink-${id}.png`;
  const url = await matrix.uploadContent(png, 'image/png', name);
  return matrix.sendMessage(roomId, {
    msgtype: 'm.image',
    body: name,
    url,
    info: { mimetype: 'image/png', size: png.length, ...pngSize(png) },
    'm.relates_to': relation(event),
    'm.mentions': {},
  });
}

/** The notice's m.replace edit; a room the bot can no longer post in (left, kicked, gone) is `gone`. */
export async function editNotice(
  matrix: MatrixClient,
  entry: PostedInvite<Where>,
  lines: readonly string[],
): Promise<EditResult> {
  const text = formatted(lines);
  try {
    await matrix.sendMessage(entry.where.roomId, {
      msgtype: 'm.notice',
      body: `* ${text.body}`,
      format: text.format,
      formatted_body: `* ${text.formatted_body}`,
      'm.new_content': { msgtype: 'm.notice', ...text, 'm.mentions': {} },
      'm.relates_to': { rel_type: 'm.replace', event_id: entry.where.eventId },
      'm.mentions': {},
    });
    return { status: 'edited' };
  } catch (error) {
    const e = error as HomeserverError;
    if (e?.statusCode === 404 || e?.statusCode === 403 || e?.body?.errcode === 'M_FORBIDDEN')
      return { status: 'gone', reason: `homeserver: ${(error as Error).message ?? 'gone'}` };
    throw error;
  }
}
