import { looksLikeInviteUrl, parseInviteUrl, type UrlInvite } from './invite-url.js';
import { parseShortCode, type ShortCode } from './short-code.js';

/** What a person pasted, read: a verified invite link, or a well-formed short code. */
export type InviteText =
  | { readonly form: 'url'; readonly invite: UrlInvite }
  | { readonly form: 'code'; readonly code: ShortCode };

/**
 * Reads invite text as pasted (whitespace around it ignored): a link (`pairlink://…` or
 * `https://…/i#…`, anything with `://`) is parsed and verified by parseInviteUrl at `now`,
 * anything else is a short code for parseShortCode. The one place that tells the two apart, for
 * the agent's accept and `pairlink inspect`; each parser checks its own size bound first
 * (MAX_INVITE_TEXT_LENGTH for a link, a code's 13 symbols) and fails with its own stable code.
 */
export function parseInviteText(text: string, now: number): InviteText {
  const trimmed = text.trim();
  return looksLikeInviteUrl(trimmed)
    ? { form: 'url', invite: parseInviteUrl(trimmed, now) }
    : { form: 'code', code: parseShortCode(trimmed) };
}
