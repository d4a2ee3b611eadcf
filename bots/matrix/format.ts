import { PairlinkError } from '../../src/errors.js';
import { acceptRelay, acceptText } from '../core/commands/accept.js';
import type { InviteOptions } from '../core/commands/invite.js';

/** A Matrix message body: plain `body` and `org.matrix.custom.html` `formatted_body`. */
export interface Formatted {
  readonly body: string;
  readonly format: 'org.matrix.custom.html';
  readonly formatted_body: string;
}

const escapeHtml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The bot core's light markup (`**bold**`, `` `code` ``) as plain text and as HTML. */
export function formatted(lines: readonly string[]): Formatted {
  const text = lines.join('\n');
  const body = text.replace(/\*\*(.+?)\*\*/g, '$1');
  const html = escapeHtml(text)
    .replace(/\*\*(.+?)\*\*/g, '<strong>$1</strong>')
    .replace(/`([^`]+)`/g, '<code>$1</code>')
    .replace(/\n/g, '<br>');
  return { body, format: 'org.matrix.custom.html', formatted_body: html };
}

/** "2026-11-22 06:40 UTC (in 10 minutes)": absolute UTC and relative to `now`. */
export function expiryText(iso: string, now = Date.now()): string {
  const date = new Date(iso);
  const absolute = `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  const seconds = Math.round((date.getTime() - now) / 1000);
  const size = Math.abs(seconds);
  const [n, unit] =
    size < 90
      ? [size, 'second']
      : size < 90 * 60
        ? [Math.round(size / 60), 'minute']
        : size < 36 * 3600
          ? [Math.round(size / 3600), 'hour']
          : [Math.round(size / 86400), 'day'];
  const amount = `${n} ${unit}${n === 1 ? '' : 's'}`;
  return `${absolute} (${seconds >= 0 ? `in ${amount}` : `${amount} ago`})`;
}

/**
 * The command text when a message is addressed to the bot: it starts with the prefix, or with
 * one of the bot's names (display name, localpart, user id) followed by `:` or `,`, or mentions
 * the bot in `m.mentions` and starts with its name. Null otherwise.
 */
export function addressed(body: string, prefix: string, names: readonly string[]): string | null {
  const text = body.trim();
  if (text === prefix || text.startsWith(`${prefix} `) || text.startsWith(`${prefix}\n`))
    return text.slice(prefix.length).trim();
  const lower = text.toLowerCase();
  for (const name of names) {
    if (!name) continue;
    const n = name.toLowerCase();
    if (lower.startsWith(n) && /^[:,]?(\s|$)/.test(text.slice(n.length)))
      return text.slice(n.length).replace(/^[:,]/, '').trim();
  }
  return null;
}

/**
 * `invite [ttl] [uses] [url|code]` in any order, as the bot core's invite options: the ttl has a
 * unit (30s, 10m, 24h, 7d), the uses are a bare number.
 */
export function inviteArgs(args: readonly string[]): InviteOptions {
  const options: { ttl?: string; uses?: number; format?: string } = {};
  for (const arg of args) {
    const word = arg.toLowerCase();
    if ((word === 'url' || word === 'code') && options.format === undefined) options.format = word;
    else if (/^\d{1,4}$/.test(word) && options.uses === undefined) options.uses = Number(word);
    else if (/^\d{1,9}[smhd]$/.test(word) && options.ttl === undefined) options.ttl = word;
    else
      throw new PairlinkError(
        'INVALID_PARAMS',
        `I did not understand “${arg.slice(0, 40)}”: invite takes [ttl] [uses] [url|code], e.g. invite 10m 1 code`,
      );
  }
  return options;
}

/**
 * `accept <link or code> [relay]`: the invite, and the relay when one follows it. A code may be
 * typed with spaces (`ABCD EFGH JKLM`), so the relay is the last of two or more words when it
 * has a character no code has (`:`, `/` or `.`): a URL, or a host name given without its scheme,
 * which acceptRelay then refuses with a clear sentence rather than reading it as part of the code.
 */
export function acceptArgs(args: readonly string[]): { invite: string; relay?: string } {
  const last = args.at(-1);
  if (args.length < 2 || last === undefined || !/[:/.]/.test(last))
    return { invite: acceptText(args.join(' ')) };
  const invite = acceptText(args.slice(0, -1).join(' '));
  const relay = acceptRelay(last);
  return relay ? { invite, relay } : { invite };
}

/** Width and height of a PNG (from its IHDR chunk), for `m.image` info. */
export function pngSize(png: Buffer): { w: number; h: number } {
  return { w: png.readUInt32BE(16), h: png.readUInt32BE(20) };
}
