import { InteractionContextType } from 'discord.js';
import { listInvites } from '../../core/commands/invites.js';
import { MANAGE_GUILD, type SlashCommand } from './slash-command.js';

/** /invites: the agent's pending invites. */
export const invites = {
  data: {
    name: 'invites',
    description: 'List this agent’s pending invites',
    default_member_permissions: MANAGE_GUILD,
    contexts: [InteractionContextType.Guild],
  },
  request: () => ({ action: 'invites', run: listInvites }),
} as const satisfies SlashCommand;
