import { inviteListLines } from '../render.js';
import type { Answer, CommandContext } from '../run-command.js';

/** The agent's pending invites, with expiries as the chat shows times. */
export async function listInvites<W extends Record<string, string>>({
  agent,
  surface,
}: CommandContext<W>): Promise<Answer> {
  const invites = await agent.call('invite.list', {});
  return { lines: inviteListLines(invites, (iso) => surface.formatTime(iso)) };
}
