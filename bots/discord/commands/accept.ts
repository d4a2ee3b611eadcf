import { ApplicationCommandOptionType, InteractionContextType } from 'discord.js';
import { MAX_RELAY_URL_BYTES } from '../../../src/identity/card.js';
import { MAX_INVITE_TEXT_LENGTH } from '../../../src/invite/invite-url.js';
import { acceptInvite } from '../../core/commands/accept.js';
import { MANAGE_GUILD, type SlashCommand } from './slash-command.js';

/** /accept invite:<link or code> [relay:<url>]: pairs this bot's agent with the invite's issuer. */
export const accept = {
  data: {
    name: 'accept',
    description: 'Accept a pairlink invite with this bot’s agent',
    default_member_permissions: MANAGE_GUILD,
    contexts: [InteractionContextType.Guild],
    options: [
      {
        type: ApplicationCommandOptionType.String,
        name: 'invite',
        description: 'The invite link or code',
        required: true,
        max_length: MAX_INVITE_TEXT_LENGTH,
      },
      {
        type: ApplicationCommandOptionType.String,
        name: 'relay',
        description: 'For a code: the relay shown beside it (a link names its own)',
        required: false,
        max_length: MAX_RELAY_URL_BYTES,
      },
    ],
  },
  request: ({ options }) => ({
    action: 'accept',
    run: (context) =>
      acceptInvite(
        context,
        options.getString('invite') ?? undefined,
        options.getString('relay') ?? undefined,
      ),
  }),
} as const satisfies SlashCommand;
