import { MAX_RELAY_URL_BYTES } from '../../src/identity/card.js';
import { CHAT_MAX_USES } from '../core/commands.js';

/**
 * The slash commands, as data (Discord's application command JSON). Handlers are in bot.ts.
 * default_member_permissions "32" (Manage Server): members without it do not see the commands
 * unless a server admin grants them, and the bot checks its own allowlists as well.
 */
const MANAGE_GUILD = String(1 << 5);
const STRING = 3;
const INTEGER = 4;
const BOOLEAN = 5;

export const COMMAND_DEFINITIONS = [
  {
    name: 'invite',
    description: 'Mint a pairlink invite into this channel',
    default_member_permissions: MANAGE_GUILD,
    contexts: [0],
    options: [
      {
        type: STRING,
        name: 'ttl',
        description: 'Lifetime, e.g. 10m, 24h (default: the agent’s)',
        required: false,
        max_length: 10,
      },
      {
        type: INTEGER,
        name: 'uses',
        description: 'How many peers may use it (default 1)',
        required: false,
        min_value: 1,
        max_value: CHAT_MAX_USES,
      },
      {
        type: STRING,
        name: 'format',
        description: 'A link or a short code',
        required: false,
        choices: [
          { name: 'link', value: 'url' },
          { name: 'code', value: 'code' },
        ],
      },
      {
        type: STRING,
        name: 'note',
        description: 'A note shown with the invite',
        required: false,
        max_length: 100,
      },
      { type: BOOLEAN, name: 'private', description: 'Show the invite only to you', required: false },
    ],
  },
  {
    name: 'accept',
    description: 'Accept a pairlink invite with this bot’s agent',
    default_member_permissions: MANAGE_GUILD,
    contexts: [0],
    options: [
      {
        type: STRING,
        name: 'invite',
        description: 'The invite link or code',
        required: true,
        max_length: 1000,
      },
      {
        type: STRING,
        name: 'relay',
        description: 'For a code: the relay shown beside it (a link names its own)',
        required: false,
        max_length: MAX_RELAY_URL_BYTES,
      },
    ],
  },
  {
    name: 'invites',
    description: 'List this agent’s pending invites',
    default_member_permissions: MANAGE_GUILD,
    contexts: [0],
  },
  {
    name: 'cancel',
    description: 'Cancel a pending invite',
    default_member_permissions: MANAGE_GUILD,
    contexts: [0],
    options: [{ type: STRING, name: 'id', description: 'The invite id', required: true, max_length: 20 }],
  },
  {
    name: 'peers',
    description: 'List this agent’s paired peers',
    default_member_permissions: MANAGE_GUILD,
    contexts: [0],
  },
  {
    name: 'help',
    description: 'What the pairlink bot does and who may use it',
    // Visible to every member: it only explains.
    default_member_permissions: null,
    contexts: [0],
  },
] as const;

/** Button custom ids: `pairlink:cancel:<invite id>:<minter user id>` (stateless across restarts). */
export const CANCEL_PREFIX = 'pairlink:cancel:';
