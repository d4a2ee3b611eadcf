import { formatDuration, parseDuration } from '../../../src/duration.js';
import { PairlinkError } from '../../../src/errors.js';
import { ttlRange } from '../../../src/invite/invite-policy.js';
import type { InviteView } from '../render.js';
import type { Answer, CommandContext } from '../run-command.js';

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

/** Invite options and, in a chat that has them, whether only the minter should see it. */
export interface InviteRequest extends InviteOptions {
  readonly privately?: boolean | undefined;
}

/**
 * Mints an invite and posts it where it was asked for; the posted message is then kept in step
 * with the agent (LiveInvites). An invite that cannot be posted is cancelled: nobody could see it.
 */
export async function mintInvite<W extends Record<string, string>>(
  context: CommandContext<W>,
  options: InviteRequest,
): Promise<Answer> {
  const { agent, invites, surface } = context;
  const privately = options.privately === true;
  const cannot = surface.cannotPost?.(privately) ?? null;
  if (cannot !== null) return { lines: [cannot], outcome: 'failed missing permissions' };
  const params = inviteParams(options);
  const invite = await agent.call('invite.create', {
    ...params,
    creator: { kind: 'bot', ...surface.creator },
  });
  context.note(invite.id);
  const view: InviteView = {
    invite: { ...invite, ...(params.label ? { label: params.label } : {}) },
    minter: surface.mention,
    state: 'open',
  };
  const posted = await surface.postInvite(view, privately);
  if (posted.status === 'shown') return { lines: null };
  if (posted.status === 'refused') {
    await invites.cancelUnseen(invite.id);
    return { lines: [posted.line], outcome: posted.outcome };
  }
  // Remembered at once, so that commands about it (a cancel from another room, say) and its
  // progress find it while the adapter finishes posting (Matrix: the QR image).
  await invites.posted({ where: posted.where, minterId: surface.userId, view });
  await posted.finish?.();
  return { lines: posted.answer ? [posted.answer] : null };
}
