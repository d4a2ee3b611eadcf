import { InteractionContextType } from 'discord.js';
import { helpLines } from '../../core/commands/help.js';
import type { SlashCommand } from './slash-command.js';

/** /help: what the bot does and who may use it; answered at once, ephemerally, to anyone. */
export const help = {
  data: {
    name: 'help',
    description: 'What the pairlink bot does and who may use it',
    // Visible to every member: it only explains.
    default_member_permissions: null,
    contexts: [InteractionContextType.Guild],
  },
} as const satisfies SlashCommand;

/** The help text, in Discord's markup. */
export function helpText(): string {
  return helpLines(
    {
      invite: '`/invite [ttl] [uses] [format] [note] [private]`',
      accept: '`/accept invite:<link or code> [relay:<url>]`',
      invites: '`/invites`',
      cancel: '`/cancel id:<id>` (or the invite’s Cancel button)',
      peers: '`/peers`',
    },
    'members with Manage Server, or the allowlists in the bot’s config',
  ).join('\n');
}
