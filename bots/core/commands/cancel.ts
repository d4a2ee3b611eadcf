import type { Answer, CommandContext } from '../run-command.js';

/** Cancels a pending invite at the agent; its posted message, if any, follows by progress. */
export async function cancelInvite<W extends Record<string, string>>(
  { agent }: CommandContext<W>,
  id: string,
): Promise<Answer> {
  await agent.call('invite.cancel', { id });
  return { lines: [`Invite \`${id}\` cancelled.`] };
}
