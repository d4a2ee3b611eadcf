import { formatDuration, parseDuration } from '../../src/duration.js';
import { PairlinkError } from '../../src/errors.js';
import { MAX_RELAY_URL_BYTES } from '../../src/identity/card.js';
import { ttlRange } from '../../src/invite/invite-policy.js';

/** Uses a chat invite may ask for (a narrower bound than the agent's own MAX_INVITE_USES). */
export const CHAT_MAX_USES = 100;

/** The options of an invite command, as a chat user typed them. */
export interface InviteOptions {
  readonly ttl?: string | undefined;
  readonly uses?: number | undefined;
  readonly format?: string | undefined;
  readonly note?: string | undefined;
}

/** Validated invite.create params, or INVALID_PARAMS with a message fit for a chat reply. */
export function inviteParams(options: InviteOptions): {
  ttlSeconds?: number;
  uses?: number;
  format?: 'url' | 'code';
  label?: string;
} {
  const out: { ttlSeconds?: number; uses?: number; format?: 'url' | 'code'; label?: string } = {};
  if (options.ttl !== undefined) {
    try {
      out.ttlSeconds = parseDuration(options.ttl, 'ttl');
    } catch (error) {
      throw new PairlinkError('INVALID_PARAMS', (error as Error).message);
    }
  }
  if (options.uses !== undefined) {
    if (!Number.isInteger(options.uses) || options.uses < 1 || options.uses > CHAT_MAX_USES)
      throw new PairlinkError('INVALID_PARAMS', `uses is a whole number from 1 to ${CHAT_MAX_USES}`);
    out.uses = options.uses;
  }
  if (options.format !== undefined) {
    if (options.format !== 'url' && options.format !== 'code')
      throw new PairlinkError('INVALID_PARAMS', 'format is url or code');
    out.format = options.format;
  }
  if (out.ttlSeconds !== undefined) {
    const { min, max } = ttlRange(out.format ?? 'url', 'peer');
    if (out.ttlSeconds < min || out.ttlSeconds > max)
      throw new PairlinkError(
        'INVALID_PARAMS',
        `the ttl is ${formatDuration(min)} to ${formatDuration(max)} for ${out.format === 'code' ? 'a code' : 'a link'}, not ${options.ttl}`,
      );
  }
  if (options.note !== undefined) {
    const note = options.note.trim();
    if (note.length > 100) throw new PairlinkError('INVALID_PARAMS', 'the note is at most 100 characters');
    if (note) out.label = note;
  }
  return out;
}

/** An accept argument: one invite link or code, trimmed, bounded. */
export function acceptText(text: string | undefined): string {
  const invite = (text ?? '').trim();
  if (!invite) throw new PairlinkError('INVALID_PARAMS', 'give the invite link or code to accept');
  if (invite.length > 1000) throw new PairlinkError('INVALID_PARAMS', 'that is too long to be an invite');
  return invite;
}

/**
 * An accept's relay option (for a code: the relay its issuer minted it on), trimmed, bounded, an
 * http(s) URL; undefined when not given. Whether the agent may contact it is the agent's call
 * (RELAY_REFUSED), by its operator's relay policy.
 */
export function acceptRelay(text: string | undefined): string | undefined {
  const relay = (text ?? '').trim();
  if (!relay) return undefined;
  if (relay.length > MAX_RELAY_URL_BYTES)
    throw new PairlinkError('INVALID_PARAMS', `a relay URL is at most ${MAX_RELAY_URL_BYTES} characters`);
  if (!/^https?:\/\//i.test(relay) || !URL.canParse(relay))
    throw new PairlinkError('INVALID_PARAMS', 'the relay is a URL such as https://relay.example.org');
  return relay;
}

/** How each command is typed in one chat (e.g. "`/accept invite:<link or code>`"). */
export type CommandUsage = Record<'invite' | 'accept' | 'invites' | 'cancel' | 'peers', string>;

/** The help text, in the bot core's light markup; `who` says who may use the commands there. */
export function helpLines(usage: CommandUsage, who: string, notes: readonly string[] = []): string[] {
  return [
    '**pairlink**: pairs this bot’s agent with other agents, one paste each.',
    `${usage.invite}: mint an invite here`,
    `${usage.accept}: pair this bot’s agent with the invite’s issuer (give a code’s relay when one is shown beside it)`,
    `${usage.invites}: pending invites · ${usage.cancel}: cancel one · ${usage.peers}: paired agents`,
    `Who may: ${who}; an invite’s minter may always cancel it.`,
    ...notes,
  ];
}
