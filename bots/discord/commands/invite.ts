import { ApplicationCommandOptionType, InteractionContextType } from 'discord.js';
import { CHAT_MAX_USES, mintInvite } from '../../core/commands/invite.js';
import { MANAGE_GUILD, type SlashCommand } from './slash-command.js';

/** /invite [ttl] [uses] [format] [note] [private]: mints an invite into this channel. */
export const invite = {
  data: {
    name: 'invite',
    description: 'Mint a pairlink invite into this channel',
    default_member_permissions: MANAGE_GUILD,
    contexts: [InteractionContextType.Guild],
    options: [
      {
        type: ApplicationCommandOptionType.String,
        name: 'ttl',
        description: 'Lifetime, e.g. 10m, 24h (default: the agent’s)',
        required: false,
        max_length: 10,
      },
      {
        type: ApplicationCommandOptionType.Integer,
        name: 'uses',
        description: 'How many peers may use it (default 1)',
        required: false,
        min_value: 1,
        max_value: CHAT_MAX_USES,
      },
      {
        type: ApplicationCommandOptionType.String,
        name: 'format',
        description: 'A link or a short code',
        required: false,
        choices: [
          { name: 'link', value: 'url' },
          { name: 'code', value: 'code' },
        ],
      },
      {
        type: ApplicationCommandOptionType.String,
        name: 'note',
        description: 'A note shown with the invite',
        required: false,
        max_length: 100,
      },
      {
        type: ApplicationCommandOptionType.Boolean,
        name: 'private',
        description: 'Show the invite only to you',
        required: false,
      },
    ],
  },
  request: (interaction, config) => {
    const { options } = interaction;
    return {
      action: 'invite',
      run: (context) =>
        mintInvite(context, {
          ttl: options.getString('ttl') ?? undefined,
          uses: options.getInteger('uses') ?? undefined,
          format: options.getString('format') ?? undefined,
          note: options.getString('note') ?? undefined,
          privately: options.getBoolean('private') ?? config.privateInvites,
        }),
    };
  },
} as const satisfies SlashCommand;
