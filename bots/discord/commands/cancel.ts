import { ApplicationCommandOptionType, InteractionContextType } from 'discord.js';
import { cancelInvite } from '../../core/commands/cancel.js';
import { MANAGE_GUILD, type SlashCommand } from './slash-command.js';

/** /cancel id:<id>: cancels a pending invite (the invite's Cancel button does too). */
export const cancel = {
  data: {
    name: 'cancel',
    description: 'Cancel a pending invite',
    default_member_permissions: MANAGE_GUILD,
    contexts: [InteractionContextType.Guild],
    options: [
      {
        type: ApplicationCommandOptionType.String,
        name: 'id',
        description: 'The invite id',
        required: true,
        max_length: 20,
      },
    ],
  },
  request: ({ options }) => {
    const id = options.getString('id', true);
    return { action: 'cancel', invite: id, run: (context) => cancelInvite(context, id) };
  },
} as const satisfies SlashCommand;
